"""Plot-ready figures as plain dicts, in the report's figure format.

Every figure has `kind`, `title`, `x_label`, `y_label` and `note`, plus the data its kind
uses (the others stay empty, so `cachecheck._report.Figure.from_dict` reads every figure):

- `histogram`: `values` (raw samples; the renderer bins them) and optionally `bound` (a
  marker line, e.g. the promised maximum);
- `series`: `points` [[x, y], ...] and optionally `markers` [[x, label], ...] (crashes,
  faults, expiries);
- `states`: `segments` [[start, end, state], ...], a state timeline (a breaker's states);
- `bars`: `bars` [[label, value], ...].

Times on x axes are seconds since the scenario started unless the label says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

#: Markers drawn on one series, at most (the report stays readable).
MAX_MARKERS = 30
#: Points of one series and samples of one histogram, at most (evenly thinned beyond).
MAX_POINTS = 2000


def _thin(items: list[Any]) -> list[Any]:
    if len(items) <= MAX_POINTS:
        return items
    return [items[i * len(items) // MAX_POINTS] for i in range(MAX_POINTS)]


def _figure(kind: str, title: str, x_label: str, y_label: str, note: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "title": title,
        "x_label": x_label,
        "y_label": y_label,
        "values": [],
        "points": [],
        "segments": [],
        "bars": [],
        "markers": [],
        "bound": None,
        "note": note,
    }


def histogram(
    title: str,
    x_label: str,
    values: Iterable[float],
    *,
    y_label: str = "count",
    bound: float | None = None,
    note: str = "",
) -> dict[str, Any] | None:
    """Raw samples to bin; None when there are none."""
    samples = _thin([round(float(v), 4) for v in values])
    if not samples:
        return None
    figure = _figure("histogram", title, x_label, y_label, note)
    figure["values"] = samples
    figure["bound"] = bound
    return figure


def series(
    title: str,
    x_label: str,
    y_label: str,
    points: Iterable[tuple[float, float]],
    *,
    markers: Iterable[tuple[float, str]] = (),
    note: str = "",
) -> dict[str, Any] | None:
    """(x, y) points with optional labelled x markers; None when there are no points."""
    plotted = _thin([[round(float(x), 4), round(float(y), 4)] for x, y in points])
    if not plotted:
        return None
    figure = _figure("series", title, x_label, y_label, note)
    figure["points"] = plotted
    figure["markers"] = [[round(float(x), 4), str(label)] for x, label in markers][:MAX_MARKERS]
    return figure


def states(
    title: str,
    changes: Sequence[tuple[float, str]],
    end: float,
    *,
    note: str = "",
) -> dict[str, Any] | None:
    """A state timeline from (time, new state) changes, the last one lasting until `end`."""
    if not changes:
        return None
    ordered = sorted(changes)
    figure = _figure("states", title, "time (s)", "", note)
    figure["segments"] = [
        [round(start, 4), round(max(ordered[i + 1][0] if i + 1 < len(ordered) else end, start), 4),
         state]
        for i, (start, state) in enumerate(ordered)
    ]  # fmt: skip
    return figure


def bars(
    title: str,
    x_label: str,
    items: Iterable[tuple[str, float]],
    *,
    note: str = "",
) -> dict[str, Any] | None:
    """Labelled values; None when there are none."""
    plotted = [[str(label), round(float(value), 4)] for label, value in items]
    if not plotted:
        return None
    figure = _figure("bars", title, x_label, "", note)
    figure["bars"] = plotted
    return figure


def per_window(
    times: Iterable[float], *, start: float, end: float, width: float
) -> list[tuple[float, float]]:
    """Counts of `times` per window of `width` seconds from `start` to `end` (inclusive of
    every window that begins before `end`), as (window start, count) points."""
    if width <= 0:
        raise ValueError(f"window width must be > 0, got {width!r}")
    count = max(1, int((end - start) / width) + 1)
    buckets = [0] * count
    for t in times:
        index = int((t - start) / width)
        if 0 <= index < count:
            buckets[index] += 1
    return [(start + i * width, float(n)) for i, n in enumerate(buckets)]
