"""Clocks. Every strategy that reads time takes a `Clock`, so tests can move time explicitly."""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A source of monotonic time in seconds."""

    def now(self) -> float:
        """Return the current time in seconds; never decreases."""
        ...


class MonotonicClock:
    """The real monotonic clock (`time.monotonic`)."""

    def now(self) -> float:
        return time.monotonic()

    def __repr__(self) -> str:
        return "MonotonicClock()"


class ManualClock:
    """A clock that only moves when told to, for deterministic tests of time-based logic.

    `advance()` is thread-safe; the clock never moves backwards.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by `seconds` (must be >= 0) and return the new time."""
        if seconds < 0:
            raise ValueError(f"ManualClock.advance() takes seconds >= 0, got {seconds!r}")
        with self._lock:
            self._now += seconds
            return self._now

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now()!r})"


class OffsetClock:
    """The real monotonic clock plus an offset the test can advance.

    Useful when real I/O needs real time but the model wants to jump ahead (e.g. skip a
    breaker's reset timeout without sleeping).
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.monotonic() + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"OffsetClock.advance() takes seconds >= 0, got {seconds!r}")
        with self._lock:
            self._offset += seconds
        return self.now()
