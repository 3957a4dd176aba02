"""Inline SVG plots for the HTML report, drawn from `Figure` data with no plotting library.

Every function returns a complete `<svg>` element (fixed size, text in the page's font), so the
report stays one self-contained file.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from cachecheck._report._model import Figure

WIDTH = 640
HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 16, 44
BAR_COLOR = "#4c78a8"
BOUND_COLOR = "#d62728"
MARKER_COLOR = "#9467bd"
STATE_COLORS = ("#54a24b", "#e45756", "#f58518", "#4c78a8", "#b279a2", "#9d755d")
_MAX_BINS = 30


@dataclass(frozen=True)
class _Frame:
    """Maps data coordinates to pixels inside the plot area."""

    x0: float
    x1: float
    y0: float
    y1: float
    width: int = WIDTH
    height: int = HEIGHT

    def x(self, value: float) -> float:
        span = self.x1 - self.x0 or 1.0
        return LEFT + (value - self.x0) / span * (self.width - LEFT - RIGHT)

    def y(self, value: float) -> float:
        span = self.y1 - self.y0 or 1.0
        return self.height - BOTTOM - (value - self.y0) / span * (self.height - TOP - BOTTOM)


def render(figure: Figure) -> str:
    """The figure as an `<svg>` element; an empty figure renders as a short note."""
    if figure.kind == "histogram" and figure.values:
        return _histogram(figure)
    if figure.kind == "series" and figure.points:
        return _series(figure)
    if figure.kind == "states" and figure.segments:
        return _states(figure)
    if figure.kind == "bars" and figure.bars:
        return _bars(figure)
    return f'<p class="empty">{escape(figure.title)}: no data</p>'


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def tick_label(value: float, ticks: Sequence[float]) -> str:
    """A tick's label with as many decimals as the spacing of the ticks needs."""
    step = min((b - a for a, b in itertools.pairwise(ticks) if b > a), default=0.0)
    if step <= 0 or step >= 1:
        return _fmt(value)
    decimals = min(9, max(0, -math.floor(math.log10(step) + 1e-12)))
    return f"{value:.{decimals}f}"


def histogram_bins(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Equal-width bins over the values: (edges, counts); one bin when all values are equal."""
    lo, hi = min(values), max(values)
    if hi == lo:
        return [lo, lo + (abs(lo) or 1.0)], [len(values)]
    count = max(1, min(_MAX_BINS, math.ceil(math.sqrt(len(values)))))
    width = (hi - lo) / count
    counts = [0] * count
    for v in values:
        counts[min(int((v - lo) / width), count - 1)] += 1
    return [lo + i * width for i in range(count + 1)], counts


def _svg(figure: Figure, body: list[str], height: int = HEIGHT) -> str:
    label = escape(figure.title)
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
            f'width="{WIDTH}" height="{height}" role="img" aria-label="{label}">',
            f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#fff"/>',
            *body,
            "</svg>",
        ]
    )


def _axes(frame: _Frame, figure: Figure, *, y_ticks: bool = True) -> list[str]:
    bottom = frame.height - BOTTOM
    parts = [
        f'<line x1="{LEFT}" y1="{bottom}" x2="{frame.width - RIGHT}" y2="{bottom}" stroke="#333"/>',
    ]
    x_ticks = [t for t in nice_ticks(frame.x0, frame.x1) if frame.x0 <= t <= frame.x1]
    for tick in x_ticks:
        x = frame.x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" '
                     'stroke="#333"/>')  # fmt: skip
        parts.append(_text(x, bottom + 16, tick_label(tick, x_ticks), anchor="middle"))
    if y_ticks:
        parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#333"/>')
        y_values = [t for t in nice_ticks(frame.y0, frame.y1, 4) if frame.y0 <= t <= frame.y1]
        for tick in y_values:
            y = frame.y(tick)
            parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{frame.width - RIGHT}" '
                         f'y2="{y:.1f}" stroke="#eee"/>')  # fmt: skip
            parts.append(_text(LEFT - 6, y + 4, tick_label(tick, y_values), anchor="end"))
        if figure.y_label:
            parts.append(
                f'<text x="14" y="{(TOP + bottom) / 2:.1f}" font-size="11" text-anchor="middle" '
                f'transform="rotate(-90 14 {(TOP + bottom) / 2:.1f})">'
                f"{escape(figure.y_label)}</text>"
            )
    if figure.x_label:
        parts.append(_text((LEFT + frame.width - RIGHT) / 2, frame.height - 8, figure.x_label,
                           anchor="middle"))  # fmt: skip
    return parts


def _histogram(figure: Figure) -> str:
    edges, counts = histogram_bins(figure.values)
    x1 = edges[-1]
    bound = figure.bound
    if bound is not None and edges[0] <= bound <= x1 * 1.5:
        x1 = max(x1, bound)
    frame = _Frame(edges[0], x1, 0.0, max(counts) * 1.1)
    body = _axes(frame, figure)
    for i, n in enumerate(counts):
        if n:
            left, right = frame.x(edges[i]), frame.x(edges[i + 1])
            top = frame.y(n)
            body.append(
                f'<rect x="{left + 0.5:.1f}" y="{top:.1f}" width="{max(right - left - 1, 1):.1f}" '
                f'height="{frame.y(0) - top:.1f}" fill="{BAR_COLOR}">'
                f"<title>{_fmt(edges[i])} to {_fmt(edges[i + 1])}: {n}</title></rect>"
            )
    if bound is not None and edges[0] <= bound <= x1:
        x = frame.x(bound)
        body.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{frame.y(0):.1f}" '
                    f'stroke="{BOUND_COLOR}" stroke-dasharray="4 3"/>')  # fmt: skip
        left_half = x < (LEFT + WIDTH - RIGHT) / 2
        body.append(_text(x + 4 if left_half else x - 4, TOP + 10, f"bound {_fmt(bound)}",
                          anchor="start" if left_half else "end", fill=BOUND_COLOR))  # fmt: skip
    return _svg(figure, body)


def _series(figure: Figure) -> str:
    xs = [p[0] for p in figure.points]
    ys = [p[1] for p in figure.points]
    frame = _Frame(min(xs), max(max(xs), min(xs) + 1e-9), 0.0, max(max(ys), 1.0) * 1.1)
    body = _axes(frame, figure)
    for x_value, label in figure.markers:
        x = frame.x(x_value)
        body.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{frame.y(0):.1f}" '
            f'stroke="{MARKER_COLOR}" stroke-dasharray="2 3" opacity="0.7">'
            f"<title>{escape(label)} at {_fmt(x_value)}</title></line>"
        )
    path = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in figure.points)
    base = f"{frame.x(xs[-1]):.1f},{frame.y(0):.1f} {frame.x(xs[0]):.1f},{frame.y(0):.1f}"
    body.append(f'<polygon points="{path} {base}" fill="{BAR_COLOR}" opacity="0.25"/>')
    body.append(f'<polyline points="{path}" fill="none" stroke="{BAR_COLOR}" stroke-width="2"/>')
    if figure.markers:
        names = sorted({label for _, label in figure.markers})
        body.append(_text(frame.width - RIGHT, TOP + 10, "markers: " + ", ".join(names),
                          anchor="end", fill=MARKER_COLOR))  # fmt: skip
    return _svg(figure, body)


def _states(figure: Figure) -> str:
    states = list(dict.fromkeys(s for _, _, s in figure.segments))
    row = 22
    height = TOP + BOTTOM + row * len(states)
    start = min(a for a, _, _ in figure.segments)
    end = max(b for _, b, _ in figure.segments)
    frame = _Frame(start, max(end, start + 1e-9), 0.0, 1.0, height=height)
    body = _axes(frame, figure, y_ticks=False)
    for i, state in enumerate(states):
        body.append(_text(LEFT - 6, TOP + row * i + 15, state, anchor="end"))
    for a, b, state in figure.segments:
        i = states.index(state)
        color = STATE_COLORS[i % len(STATE_COLORS)]
        x, w = frame.x(a), max(frame.x(b) - frame.x(a), 1.0)
        body.append(
            f'<rect x="{x:.1f}" y="{TOP + row * i + 3}" width="{w:.1f}" height="{row - 6}" '
            f'fill="{color}"><title>{escape(state)}: {_fmt(a)} to {_fmt(b)}</title></rect>'
        )
    return _svg(figure, body, height)


def _bars(figure: Figure) -> str:
    row = 24
    label_width = 220
    height = TOP + BOTTOM + row * len(figure.bars)
    top_value = max(max(v for _, v in figure.bars), 1e-9)
    span = WIDTH - label_width - RIGHT - 60
    body = []
    for i, (label, value) in enumerate(figure.bars):
        y = TOP + row * i
        width = max(value / top_value * span, 1.0)
        body.append(_text(label_width - 8, y + 16, label, anchor="end"))
        body.append(f'<rect x="{label_width}" y="{y + 4}" width="{width:.1f}" height="{row - 8}" '
                    f'fill="{BAR_COLOR}"/>')  # fmt: skip
        body.append(_text(label_width + width + 6, y + 16, _fmt(value)))
    if figure.x_label:
        body.append(_text(label_width + span / 2, height - 8, figure.x_label, anchor="middle"))
    return _svg(figure, body, height)


def _text(x: float, y: float, text: str, *, anchor: str = "start", fill: str = "#333") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" text-anchor="{anchor}" '
        f'fill="{fill}">{escape(text)}</text>'
    )


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.3g}"
    return f"{value:.2g}"
