"""Hypothesis strategies for faults and fault schedules: which fault, which stream, how
long, when. Every choice is Hypothesis's, so a failing run replays and shrinks (towards fewer,
shorter, milder faults: kinds are tried in the order listed, mildest first).

```python
@given(schedule=fault_schedules(max_faults=2))
def test_cache_survives(schedule): ...
```
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ._faults import (
    Bandwidth,
    Direction,
    Down,
    Fault,
    Latency,
    LimitData,
    ResetPeer,
    Slicer,
    SlowClose,
    Timeout,
)
from ._inject import FaultSchedule, ScheduledFault
from ._process import Crash, Pause, WorkerCrash

#: Fault kinds a proxy can apply, mildest first (Hypothesis shrinks towards the first).
NETWORK_KINDS = (
    "latency",
    "bandwidth",
    "slicer",
    "slow_close",
    "limit_data",
    "reset_peer",
    "timeout",
    "down",
)
#: Fault kinds that need a server process or a subject's worker.
PROCESS_KINDS = ("pause", "crash", "worker_crash")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidArgument(message)


def faults(
    *,
    kinds: Iterable[str] = NETWORK_KINDS,
    directions: Iterable[Direction] = (Direction.DOWNSTREAM, Direction.UPSTREAM, Direction.BOTH),
    max_ms: int = 200,
    vary_toxicity: bool = False,
) -> st.SearchStrategy[Fault]:
    """Single faults of the given `kinds` (see NETWORK_KINDS and PROCESS_KINDS).

    Args:
        kinds: which faults to draw, e.g. `("latency", "timeout", "crash")`.
        directions: streams a toxic may act on.
        max_ms: upper bound of every time attribute (latency, timeout, delays).
        vary_toxicity: also draw toxicity 0.5 and 0 (default: always 1).
    """
    kinds = tuple(kinds)
    directions = tuple(directions)
    unknown = sorted(set(kinds) - set(NETWORK_KINDS) - set(PROCESS_KINDS))
    _check(
        bool(kinds) and not unknown,
        f"faults(kinds=...): unknown or no kinds {unknown}; "
        f"choose from {NETWORK_KINDS + PROCESS_KINDS}",
    )
    _check(bool(directions), "faults(directions=...) needs at least one Direction")
    _check(isinstance(max_ms, int) and max_ms >= 0, f"faults(max_ms={max_ms!r}): use an int >= 0")
    toxicities = (1.0, 0.5, 0.0) if vary_toxicity else (1.0,)
    return _faults(kinds, directions, toxicities, max_ms)


@st.composite
def _faults(
    draw: st.DrawFn,
    kinds: tuple[str, ...],
    directions: tuple[Direction, ...],
    toxicities: tuple[float, ...],
    max_ms: int,
) -> Fault:
    # Every kind makes the same draws, so the shrinker compares kinds by their position in
    # `kinds` (mildest first) rather than by how many choices each kind happens to need.
    kind = draw(st.sampled_from(kinds))
    ms = draw(st.integers(0, max_ms))
    size = draw(st.integers(0, 4096))
    stream = draw(st.sampled_from(directions))
    toxicity = draw(st.sampled_from(toxicities))
    return _build(kind, ms, size, {"stream": stream, "toxicity": toxicity})


def _build(kind: str, ms: int, size: int, common: dict[str, Any]) -> Fault:
    """The fault of `kind` from two drawn numbers: a time in ms and a size in bytes."""
    if kind == "latency":
        return Latency(ms, min(size, ms), **common)
    if kind == "bandwidth":
        return Bandwidth(min(size, 100), **common)
    if kind == "slicer":
        average = 1 + min(size, 63)
        return Slicer(average, min(ms, average - 1), min(size, 1000), **common)
    if kind == "slow_close":
        return SlowClose(ms, **common)
    if kind == "limit_data":
        return LimitData(size, **common)
    if kind == "reset_peer":
        return ResetPeer(ms, **common)
    if kind == "timeout":
        return Timeout(ms, **common)
    process: dict[str, Fault] = {
        "down": Down(),
        "pause": Pause(),
        "crash": Crash(),
        "worker_crash": WorkerCrash(),
    }
    return process[kind]


def fault_schedules(
    *,
    faults: st.SearchStrategy[Fault] | None = None,
    max_faults: int = 3,
    max_gap_ms: int = 200,
    min_duration_ms: int = 0,
    max_duration_ms: int = 500,
) -> st.SearchStrategy[FaultSchedule]:
    """Schedules of up to `max_faults` faults, one after another: each starts 0..max_gap_ms
    after the previous one ended and lasts min..max_duration_ms.

    Args:
        faults: the strategy for each fault (default: `faults()`, network faults only).
    """
    _check(
        isinstance(max_faults, int) and max_faults >= 0,
        f"fault_schedules(max_faults={max_faults!r}): use an int >= 0",
    )
    _check(
        0 <= min_duration_ms <= max_duration_ms and max_gap_ms >= 0,
        "fault_schedules: need 0 <= min_duration_ms <= max_duration_ms and max_gap_ms >= 0",
    )
    entry = st.tuples(
        st.integers(0, max_gap_ms),
        st.integers(min_duration_ms, max_duration_ms),
        faults if faults is not None else _network_faults(),
    )
    return st.lists(entry, max_size=max_faults).map(_schedule)


def _schedule(items: Sequence[tuple[int, int, Fault]]) -> FaultSchedule:
    entries, end = [], 0
    for gap, duration, fault in items:
        entries.append(ScheduledFault(end + gap, duration, fault))
        end += gap + duration
    return FaultSchedule(tuple(entries))


def _network_faults() -> st.SearchStrategy[Fault]:
    return faults()
