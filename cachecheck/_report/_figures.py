"""Figures built from what checkers and the world measured (staleness samples, database loads,
TTLs, loss windows). Each builder returns None when there is nothing to plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cachecheck._database import Load
from cachecheck._history import Event
from cachecheck._report._model import Figure

#: Events drawn as markers on time series (expiries, crashes, faults).
MARKED_EVENTS = frozenset(
    {"expire", "redis_crash", "redis_restart", "worker_crash", "connections_reset", "healed"}
)
_SERIES_BUCKETS = 40
_MAX_MARKERS = 30


def staleness_histogram(measurements: Mapping[str, Any]) -> Figure | None:
    """Distribution of read staleness (ms) from the staleness checker's samples."""
    samples = [float(s) for s in measurements.get("staleness_samples_s") or ()]
    if not samples:
        return None
    values = tuple(round(s * 1000.0, 3) for s in samples)
    bound = measurements.get("bound_s")
    fresh = sum(v == 0 for v in values)
    note = (
        f"{fresh} of {len(values)} sampled reads were fresh (0 ms); "
        f"max {_ms(measurements.get('max_staleness_s'))}, "
        f"p99 {_ms(measurements.get('p99_staleness_s'))}"
    )
    return Figure(
        kind="histogram",
        title="Staleness of reads",
        x_label="staleness (ms)",
        y_label="reads",
        values=values,
        bound=None if bound is None else float(bound) * 1000.0,
        note=note,
    )


def loads_over_time(
    loads: Sequence[Load], events: Sequence[Event], origin: float, end: float | None = None
) -> Figure | None:
    """Database loads per time bucket from `origin` to `end` (default: the last load), with
    expiries and faults as markers."""
    if not loads:
        return None
    times = sorted(ld.at - origin for ld in loads)
    span = max(times[-1], (end or origin) - origin, 1e-3)
    width = span / _SERIES_BUCKETS
    counts = [0] * _SERIES_BUCKETS
    for t in times:
        counts[min(int(max(t, 0.0) / width), _SERIES_BUCKETS - 1)] += 1
    points = tuple((round(i * width, 4), float(n)) for i, n in enumerate(counts))
    markers = tuple(
        (round(e.at - origin, 4), e.name)
        for e in events
        if e.name in MARKED_EVENTS and 0 <= e.at - origin <= span
    )[:_MAX_MARKERS]
    return Figure(
        kind="series",
        title="Database loads over time",
        x_label="time since first operation (s)",
        y_label=f"loads per {width * 1000:.3g} ms",
        points=points,
        markers=markers,
        note=f"{len(loads)} loads of the source of truth",
    )


def expiry_histogram(ttls_ms: Mapping[str, int]) -> Figure | None:
    """Remaining TTLs (s) of the cache entries at the end of a run: the expiry spread."""
    values = tuple(round(p / 1000.0, 3) for p in ttls_ms.values() if p > 0)
    if not values:
        return None
    return Figure(
        kind="histogram",
        title="Expiry times of cache entries",
        x_label="time to expiry (s)",
        y_label="entries",
        values=values,
        note=f"{len(values)} entries with a TTL, {len(ttls_ms) - len(values)} without",
    )


def loss_windows(measurements: Mapping[str, Any], persistence: str) -> Figure | None:
    """Per crash, how far back acknowledged writes were lost (ms), labelled by persistence."""
    windows = measurements.get("loss_windows") or ()
    if not windows:
        return None
    bars = tuple(
        (f"{w.get('crash', 'crash')} #{i + 1} ({persistence})", float(w["window_s"]) * 1000.0)
        for i, w in enumerate(windows)
    )
    return Figure(
        kind="bars",
        title="Loss window per crash",
        x_label="loss window (ms)",
        bars=bars,
        note=f"{sum(int(w.get('lost', 0)) for w in windows)} acknowledged writes lost",
    )


def state_timeline(title: str, changes: Sequence[tuple[float, str]], end: float) -> Figure | None:
    """A state timeline (e.g. a breaker's closed/open/half-open) from (time, new state) changes."""
    if not changes:
        return None
    ordered = sorted(changes)
    segments = tuple(
        (start, ordered[i + 1][0] if i + 1 < len(ordered) else max(end, start), state)
        for i, (start, state) in enumerate(ordered)
    )
    return Figure(kind="states", title=title, x_label="time (s)", segments=segments)


def _ms(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "n/a"
    return f"{seconds * 1000:.2f} ms"
