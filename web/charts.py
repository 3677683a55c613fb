"""Tiny server-side SVG charts (bars and lines) for the dashboard and customer pages.

No chart library and no CDN: the SVG is text in the page. Values are integers (fen, centi-kWh);
``label`` formats the axis and tooltips, so no float touches money on the way. The SVG scales
with its container (viewBox) and prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

Formatter = Callable[[int], str]

PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 12, 12, 28
BRAND = "#1f5fa8"
GRID = "#e4e9ef"


def _nice_top(maximum: int) -> int:
    """A round axis maximum >= ``maximum`` (1, 2, 2.5 or 5 times a power of ten)."""
    if maximum <= 0:
        return 1
    power = 1
    while power * 10 <= maximum:
        power *= 10
    for step in (1, 2, 5, 10):
        if step * power >= maximum:
            return step * power
    return 10 * power


def _frame(width: int, height: int, top: int, label: Formatter, title: str) -> list[str]:
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    inner = height - PAD_TOP - PAD_BOTTOM
    for i in range(5):
        y = PAD_TOP + inner - inner * i // 4
        value = top * i // 4
        parts.append(
            f'<line x1="{PAD_LEFT}" y1="{y}" x2="{width - PAD_RIGHT}" y2="{y}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{PAD_LEFT - 6}" y="{y + 4}" text-anchor="end">{escape(label(value))}</text>'
        )
    return parts


LABEL_WIDTH = 46  # a "MM-DD" label with some air, in viewBox units


def _label_step(count: int, inner_width: int) -> int:
    """Label every n-th point so the axis labels never overlap."""
    return max(1, -(-count * LABEL_WIDTH // max(1, inner_width)))


def bar_chart(
    points: Sequence[tuple[str, int]],
    *,
    label: Formatter = str,
    title: str = "",
    width: int = 640,
    height: int = 220,
    color: str = BRAND,
) -> Markup:
    """Vertical bars, one per (category, value); negative values are drawn as zero."""
    top = _nice_top(max((v for _, v in points), default=0))
    parts = _frame(width, height, top, label, title)
    inner_w = width - PAD_LEFT - PAD_RIGHT
    inner_h = height - PAD_TOP - PAD_BOTTOM
    count = max(1, len(points))
    slot = inner_w / count
    bar = max(2.0, slot * 0.62)
    every = _label_step(count, inner_w)
    for index, (name, value) in enumerate(points):
        h = inner_h * max(0, value) // top
        x = PAD_LEFT + slot * index + (slot - bar) / 2
        y = PAD_TOP + inner_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{bar:.1f}" height="{h}" rx="2" fill="{color}">'
            f"<title>{escape(name)}: {escape(label(value))}</title></rect>"
        )
        if index % every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 8}" text-anchor="middle">'
                f"{escape(name)}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    points: Sequence[tuple[str, int]],
    *,
    label: Formatter = str,
    title: str = "",
    width: int = 640,
    height: int = 220,
    color: str = BRAND,
) -> Markup:
    """A polyline through (category, value) points, e.g. a balance over time."""
    top = _nice_top(max((v for _, v in points), default=0))
    parts = _frame(width, height, top, label, title)
    inner_w = width - PAD_LEFT - PAD_RIGHT
    inner_h = height - PAD_TOP - PAD_BOTTOM
    count = len(points)
    step = inner_w / max(1, count - 1)
    placed = [
        (name, value, PAD_LEFT + step * index, PAD_TOP + inner_h - inner_h * max(0, value) // top)
        for index, (name, value) in enumerate(points)
    ]
    if placed:
        coords = " ".join(f"{x:.1f},{y}" for _, _, x, y in placed)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>')
    every = _label_step(count, inner_w)
    for index, (name, value, x, y) in enumerate(placed):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y}" r="3" fill="{color}">'
            f"<title>{escape(name)}: {escape(label(value))}</title></circle>"
        )
        if index % every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">{escape(name)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
