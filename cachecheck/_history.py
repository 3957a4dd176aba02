"""Jepsen-style histories: what every client invoked, when, and what it saw.

Every write writes a unique value, so any read names exactly the write it saw. The source of
truth's commit log (`Commit`) gives the true version timeline per key.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cachecheck._clock import Clock, MonotonicClock


class OpKind(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    DELETE = "delete"


class Outcome(enum.StrEnum):
    #: Completed and its effect (or its returned value) is known.
    OK = "ok"
    #: Failed with no effect.
    FAIL = "fail"
    #: Indeterminate: it may or may not have taken effect (a timeout on a write).
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Op:
    """One completed (or abandoned) operation.

    `value` is the value written (WRITE), the value returned (READ; None = absent), or None
    (DELETE). `completed_at` is None when the operation never returned (its client crashed).
    """

    index: int
    client: str
    kind: OpKind
    key: str
    value: str | None
    invoked_at: float
    completed_at: float | None
    outcome: Outcome
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    def describe(self) -> str:
        """One human line, e.g. `c1 write k1='v3' ok [0.0012..0.0031]`."""
        shown = "" if self.kind is OpKind.DELETE else f"={self.value!r}"
        end = "…" if self.completed_at is None else f"{self.completed_at:.4f}"
        err = f" ({self.error})" if self.error else ""
        return (
            f"{self.client} {self.kind.value} {self.key}{shown} {self.outcome.value}"
            f" [{self.invoked_at:.4f}..{end}]{err}"
        )


@dataclass(frozen=True, slots=True)
class Commit:
    """One committed change in the source of truth. `value` None is a delete (tombstone)."""

    key: str
    version: int
    value: str | None
    committed_at: float


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to the world rather than a client op: a fault, a crash, a drain."""

    at: float
    name: str
    detail: dict[str, Any] = field(default_factory=dict)


class PendingOp:
    """An invoked operation waiting for its completion. Call exactly one of ok/fail/info."""

    __slots__ = ("_done", "_history", "client", "invoked_at", "key", "kind", "value")

    def __init__(
        self,
        history: History,
        client: str,
        kind: OpKind,
        key: str,
        value: str | None,
        invoked_at: float,
    ) -> None:
        self._history = history
        self._done = False
        self.client = client
        self.kind = kind
        self.key = key
        self.value = value
        self.invoked_at = invoked_at

    def ok(self, value: str | None = None) -> Op:
        """Complete successfully; for a read, `value` is what it returned."""
        return self._finish(Outcome.OK, value if self.kind is OpKind.READ else self.value, None)

    def fail(self, error: str) -> Op:
        """Complete with no effect."""
        return self._finish(
            Outcome.FAIL, self.value if self.kind is not OpKind.READ else None, error
        )

    def info(self, error: str) -> Op:
        """Complete indeterminately (may have taken effect)."""
        return self._finish(
            Outcome.INFO, self.value if self.kind is not OpKind.READ else None, error
        )

    def _finish(self, outcome: Outcome, value: str | None, error: str | None) -> Op:
        if self._done:
            raise RuntimeError(f"operation {self.kind.value} {self.key!r} completed twice")
        self._done = True
        return self._history._complete(self, outcome, value, error)


class History:
    """A thread-safe recorder of operations and events, on one clock."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or MonotonicClock()
        self._ops: list[Op] = []
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def invoke(self, client: str, kind: OpKind, key: str, value: str | None = None) -> PendingOp:
        return PendingOp(self, client, kind, key, value, self.clock.now())

    @contextmanager
    def record(
        self, client: str, kind: OpKind, key: str, value: str | None = None
    ) -> Iterator[PendingOp]:
        """Record one operation around a block.

        The block calls `pending.ok(result)` (reads) or nothing (writes: ok is implied). An
        exception completes a read as FAIL and a write or delete as INFO (it may have applied),
        then propagates.
        """
        pending = self.invoke(client, kind, key, value)
        try:
            yield pending
        except BaseException as exc:
            if not pending._done:
                if kind is OpKind.READ:
                    pending.fail(_describe_error(exc))
                else:
                    pending.info(_describe_error(exc))
            raise
        if not pending._done:
            if kind is OpKind.READ:
                raise RuntimeError("a recorded read must call pending.ok(value)")
            pending.ok()

    def note(self, name: str, **detail: Any) -> Event:
        """Record a world event (fault applied, crash, restart, drain) at the current time."""
        event = Event(self.clock.now(), name, detail)
        with self._lock:
            self._events.append(event)
        return event

    def abandon(self, pending: PendingOp, reason: str = "client crashed") -> Op:
        """Record an operation that never returned (its client died)."""
        op = Op(
            index=-1,
            client=pending.client,
            kind=pending.kind,
            key=pending.key,
            value=pending.value if pending.kind is not OpKind.READ else None,
            invoked_at=pending.invoked_at,
            completed_at=None,
            outcome=Outcome.INFO,
            error=reason,
        )
        pending._done = True
        return self._append(op)

    @property
    def ops(self) -> Sequence[Op]:
        with self._lock:
            return tuple(self._ops)

    @property
    def events(self) -> Sequence[Event]:
        with self._lock:
            return tuple(self._events)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ops)

    def clear(self) -> None:
        with self._lock:
            self._ops.clear()
            self._events.clear()

    def _complete(
        self, pending: PendingOp, outcome: Outcome, value: str | None, error: str | None
    ) -> Op:
        op = Op(
            index=-1,
            client=pending.client,
            kind=pending.kind,
            key=pending.key,
            value=value,
            invoked_at=pending.invoked_at,
            completed_at=self.clock.now(),
            outcome=outcome,
            error=error,
        )
        return self._append(op)

    def _append(self, op: Op) -> Op:
        with self._lock:
            indexed = Op(
                len(self._ops),
                op.client,
                op.kind,
                op.key,
                op.value,
                op.invoked_at,
                op.completed_at,
                op.outcome,
                op.error,
            )
            self._ops.append(indexed)
        return indexed


def _describe_error(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
