"""Line charts as inline SVG, generated in Python: the status page's pool charts.

Why by hand: the page must work without internet and stay light (no chart library, no
JavaScript to draw), and a chart of a few hundred points is a polyline and some text.
Every series is told apart by its dash pattern and marker as well as its colour, and named
in a legend in text, so the chart reads without colour vision. Each point is a ``circle``
with a ``<title>`` (hover shows time and value) and ``data-at``/``data-value`` (the browser
test counts them against the API's series).
"""
from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from markupsafe import Markup

# Plot area inside the viewBox; the SVG scales to the page's width (viewBox, no fixed size).
WIDTH, HEIGHT = 600, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 36
# One style per series, in order: dash pattern and marker shape differ, not only colour.
STYLES = (("#1f5fa8", "", "circle"), ("#b35c00", "6 4", "square"), ("#5b5b5b", "2 3", "circle"))
# Marks per series at most: a week of scans every 5 minutes is 2016 points, which a chart
# 600 units wide cannot show apart, and which made one pool's charts 660 KB (the page must
# stay under 200 KB with several pools). Beyond this, each mark stands for a time slice.
MAX_POINTS = 60


@dataclass(frozen=True)
class Series:
    name: str  # in the legend and each point's title
    points: Sequence[tuple[datetime, float]]  # oldest first
    # which point of a time slice stands for it when there are too many: the worst one
    # (the lowest runway, the highest utilisation), so thinning never hides a dip
    worst: Callable[[float, float], float] = min


def thin(points: Sequence[tuple[datetime, float]], worst: Callable[[float, float], float],
         limit: int = MAX_POINTS) -> list[tuple[datetime, float]]:
    """At most ``limit`` points: the time span cut into ``limit`` equal slices, each slice
    shown by its worst point. Fewer points than that are returned as they are."""
    if len(points) <= limit:
        return list(points)
    t0, t1 = points[0][0], points[-1][0]
    span = (t1 - t0).total_seconds() or 1.0
    slices: dict[int, tuple[datetime, float]] = {}
    for at, value in points:
        k = min(limit - 1, int(limit * (at - t0).total_seconds() / span))
        kept = slices.get(k)
        if kept is None or worst(value, kept[1]) != kept[1]:
            slices[k] = (at, value)
    return [slices[k] for k in sorted(slices)]


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _time(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%H:%M:%S")


def line_chart(series: Sequence[Series], *, title: str, unit: str = "",
               y_max: float | None = None) -> Markup:
    """An SVG chart of ``series`` over time, its y axis from 0 to ``y_max`` (default: the
    largest value, at least 1). With no points at all, a chart that says so."""
    esc = html.escape
    label = f"{title}" + (f" ({unit})" if unit else "")
    series = [Series(s.name, thin(s.points, s.worst), s.worst) for s in series]
    times = [at for s in series for at, _ in s.points]
    values = [v for s in series for _, v in s.points]
    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{esc(label)}</title>"]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" '
               'fill="none" stroke="#999" stroke-width="1"/>')
    if not times:
        out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
                   'font-size="13">no scans yet</text></svg>')
        return Markup("".join(out))
    t0, t1 = min(times), max(times)
    span = (t1 - t0).total_seconds() or 1.0  # one scan: its point sits at the left edge
    top = y_max if y_max is not None else max(1.0, max(values))

    def xy(at: datetime, value: float) -> tuple[float, float]:
        x = LEFT + plot_w * (at - t0).total_seconds() / span
        y = TOP + plot_h * (1 - min(max(value, 0.0), top) / top)
        return round(x, 1), round(y, 1)

    # y axis: 0, half and top, with the unit; x axis: first and last scan's time (UTC)
    for frac in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - frac)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y}" y2="{y}" stroke="#ddd"/>'
                   f'<text x="{LEFT - 4}" y="{y + 4}" text-anchor="end" font-size="11">'
                   f"{esc(_fmt(top * frac))}</text>")
    out.append(f'<text x="{LEFT}" y="{HEIGHT - 20}" font-size="11">{_time(t0)}</text>'
               f'<text x="{LEFT + plot_w}" y="{HEIGHT - 20}" text-anchor="end" '
               f'font-size="11">{_time(t1)} UTC</text>')
    legend_x = LEFT
    for i, s in enumerate(series):
        colour, dash, marker = STYLES[i % len(STYLES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        coords = [xy(at, v) for at, v in s.points]
        if len(coords) > 1:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash_attr} '
                       f'points="{" ".join(f"{x},{y}" for x, y in coords)}"/>')
        for (at, v), (x, y) in zip(s.points, coords, strict=True):
            tip = f"<title>{esc(s.name)} {esc(_fmt(v))}{esc(unit)} at {_time(at)} UTC</title>"
            attrs = (f'class="point" data-series="{esc(s.name)}" '
                     f'data-at="{esc(at.isoformat())}" data-value="{esc(_fmt(v))}"')
            if marker == "square":
                out.append(f'<rect {attrs} x="{x - 3}" y="{y - 3}" width="6" height="6" '
                           f'fill="{colour}">{tip}</rect>')
            else:
                out.append(f'<circle {attrs} cx="{x}" cy="{y}" r="3" fill="{colour}">'
                           f"{tip}</circle>")
        # the legend: a sample of the line's style, then the name in text
        out.append(f'<line x1="{legend_x}" x2="{legend_x + 24}" y1="{HEIGHT - 6}" '
                   f'y2="{HEIGHT - 6}" stroke="{colour}" stroke-width="2"{dash_attr}/>'
                   f'<text x="{legend_x + 28}" y="{HEIGHT - 2}" font-size="11">'
                   f"{esc(s.name)}</text>")
        legend_x += 40 + 7 * len(s.name)
    out.append("</svg>")
    return Markup("".join(out))
