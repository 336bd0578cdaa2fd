"""Bar charts as inline SVG geometry: no script, no CDN, CSP-clean; pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 720, 160
GAP = 0.2  # of each slot left empty between bars
# The band above the tallest bar where the peak's label goes: a label never
# covers a bar.
TOP = 34
# A bar is never wider than this: one day is one slim bar, not a block.
MAX_BAR = 56


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # what a screen reader and the tooltip say


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    peak: str  # the axis' top value, formatted
    first: str  # first and last day, under the axis
    last: str
    width: int = WIDTH
    height: int = HEIGHT
    top: int = TOP  # the bottom of the peak label's band

    @property
    def empty(self) -> bool:
        return not any(b.height > 0 for b in self.bars)


def bar_chart(
    title: str,
    points: Sequence[tuple[str, int]],
    fmt: Callable[[int], str] = str,
) -> Chart:
    """One bar per (day, value); heights scale to the largest value, which
    reaches the top of the bars' area, under the peak's label."""
    peak = max((v for _, v in points), default=0)
    slot = WIDTH / max(len(points), 1)
    width = min(max(slot * (1 - GAP), 1.0), MAX_BAR)
    bars = []
    for i, (day, value) in enumerate(points):
        height = (value / peak) * (HEIGHT - TOP) if peak > 0 else 0.0
        height = max(height, 0.0)  # a negative day (net of refunds) shows none
        bars.append(
            Bar(
                x=round(i * slot + (slot - width) / 2, 2),
                y=round(HEIGHT - height, 2),
                width=round(width, 2),
                height=round(height, 2),
                label=f"{day}: {fmt(value)}",
            )
        )
    return Chart(
        title=title,
        bars=bars,
        peak=fmt(peak),
        first=points[0][0] if points else "",
        last=points[-1][0] if points else "",
    )
