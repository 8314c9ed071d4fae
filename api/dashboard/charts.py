"""Charts as server-rendered SVG: pure functions from numbers to markup (no script, no CDN).

Every function returns a ``Markup`` string that templates insert as is; labels are escaped.
Colours are SVG presentation attributes, so the dashboard's Content-Security-Policy (which
forbids inline styles) holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#1f5fbf", "#c62828", "#1a7f37", "#b35900", "#6a3fb5", "#00838f")


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]  # (x, y); x is usually a Unix time


def _svg(parts: Sequence[str]) -> Markup:
    return Markup("".join(parts))  # noqa: S704 - every label in ``parts`` went through escape()


def _scale(value: float, low: float, high: float, size: float) -> float:
    if high == low:
        return size / 2
    return (value - low) / (high - low) * size


def _fmt(value: float) -> str:
    if abs(value) >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 28) -> Markup:
    """A small trend line (e.g. a host's CPU over its last reports); empty when no values."""
    if not values:
        return _svg(['<svg class="spark" role="img" aria-label="no data"></svg>'])
    low, high = min(values), max(values)
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - _scale(v, low, high, height - 4):.1f}"
        for i, v in enumerate(values)
    )
    label = escape(f"last {_fmt(values[-1])}, min {_fmt(low)}, max {_fmt(high)}")
    return _svg(
        [
            f'<svg class="spark" viewBox="0 0 {width} {height}" role="img" aria-label="{label}">',
            f"<title>{label}</title>",
            f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="1.5" points="{points}"/>',
            "</svg>",
        ]
    )


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    unit: str = "",
    width: int = 640,
    height: int = 220,
    y_min: float | None = None,
    x_labels: tuple[str, str] | None = None,
    marker_x: float | None = None,
    marker_label: str = "",
) -> Markup:
    """Lines over a shared x axis, with a legend, min/max y labels and an optional vertical
    marker (e.g. the moment a deployment happened)."""
    xs = [x for s in series for x, _ in s.points] + ([marker_x] if marker_x is not None else [])
    ys = [y for s in series for _, y in s.points]
    # Room on the left for the longer of the two y labels (about 6.5 px a character at 11 px).
    widest = max((len(_fmt(v) + unit) for v in (min(ys), max(ys))), default=0) if ys else 0
    left, right, top, bottom = max(48, 12 + round(6.5 * widest)), 12, 28, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="{left}" y="16" font-size="13" font-weight="600" fill="#1b1f24">'
        f"{escape(title)}</text>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#d8dde3"/>',
    ]
    if not ys:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
            'font-size="12" fill="#5b6470">no data yet</text></svg>'
        )
        return _svg(parts)
    x_low, x_high = min(xs), max(xs)
    y_low = min(ys) if y_min is None else min(y_min, min(ys))
    y_high = max(ys)
    if y_high == y_low:
        y_high = y_low + 1

    def at(x: float, y: float) -> str:
        px = left + _scale(x, x_low, x_high, plot_w)
        py = top + plot_h - _scale(y, y_low, y_high, plot_h)
        return f"{px:.1f},{py:.1f}"

    for value, y in ((y_high, top + 10), (y_low, top + plot_h)):
        parts.append(
            f'<text x="{left - 6}" y="{y}" text-anchor="end" font-size="11" fill="#5b6470">'
            f"{escape(_fmt(value) + unit)}</text>"
        )
    if x_labels:
        parts.append(
            f'<text x="{left}" y="{height - 8}" font-size="11" fill="#5b6470">'
            f"{escape(x_labels[0])}</text>"
            f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end" font-size="11" '
            f'fill="#5b6470">{escape(x_labels[1])}</text>'
        )
    if marker_x is not None:
        mx = left + _scale(marker_x, x_low, x_high, plot_w)
        parts.append(
            f'<line x1="{mx:.1f}" y1="{top}" x2="{mx:.1f}" y2="{top + plot_h}" '
            'stroke="#5b6470" stroke-dasharray="4 3"/>'
            f'<text x="{mx + 4:.1f}" y="{top + 12}" font-size="11" fill="#5b6470">'
            f"{escape(marker_label)}</text>"
        )
    legend_x = left + 8
    for index, line in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        if len(line.points) == 1:
            cx, cy = at(*line.points[0]).split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
        elif line.points:
            path = " ".join(at(x, y) for x, y in line.points)
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>'
            )
        parts.append(
            f'<rect x="{legend_x}" y="{top + 6}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14}" y="{top + 15}" font-size="11" fill="#1b1f24">'
            f"{escape(line.label)}</text>"
        )
        legend_x += 24 + 7 * len(line.label)
    parts.append("</svg>")
    return _svg(parts)


def bars(
    values: Sequence[tuple[str, float]], *, title: str, unit: str = "", width: int = 640
) -> Markup:
    """Horizontal bars, one per label (e.g. attempts by outcome)."""
    row, left = 22, 160
    height = 28 + row * max(len(values), 1)
    high = max((v for _, v in values), default=0) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        '<text x="0" y="16" font-size="13" font-weight="600" fill="#1b1f24">',
        f"{escape(title)}</text>",
    ]
    for index, (label, value) in enumerate(values):
        y = 26 + index * row
        length = _scale(value, 0, high, width - left - 70)
        parts.append(
            f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" font-size="12" '
            f'fill="#1b1f24">{escape(label)}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{length:.1f}" height="{row - 8}" '
            f'fill="{PALETTE[index % len(PALETTE)]}"/>'
            f'<text x="{left + length + 6:.1f}" y="{y + 13}" font-size="12" fill="#1b1f24">'
            f"{escape(_fmt(value) + unit)}</text>"
        )
    parts.append("</svg>")
    return _svg(parts)


def columns(
    values: Sequence[tuple[str, float | None]],
    *,
    title: str,
    unit: str = "",
    y_max: float | None = None,
    width: int = 640,
    height: int = 200,
) -> Markup:
    """One column per time bucket (e.g. success rate per day); None leaves a gap (no data in
    that bucket). The first, middle and last labels are drawn; every column has a tooltip."""
    left, right, top, bottom = 48, 12, 28, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    known = [v for _, v in values if v is not None]
    high: float = max([*known, y_max or 0.0]) or 1.0
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="{left}" y="16" font-size="13" font-weight="600" fill="#1b1f24">'
        f"{escape(title)}</text>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#d8dde3"/>',
    ]
    for bound, y in ((high, top + 10), (0.0, top + plot_h)):
        parts.append(
            f'<text x="{left - 6}" y="{y}" text-anchor="end" font-size="11" fill="#5b6470">'
            f"{escape(_fmt(bound) + unit)}</text>"
        )
    if not known:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
            'font-size="12" fill="#5b6470">no data yet</text>'
        )
    slot = plot_w / max(len(values), 1)
    gap = min(4.0, slot / 4)
    labelled = {0, len(values) // 2, len(values) - 1}
    for index, (label, value) in enumerate(values):
        x = left + index * slot
        if value is not None:
            size = _scale(value, 0, high, plot_h)
            parts.append(
                f'<rect class="col" x="{x + gap / 2:.1f}" y="{top + plot_h - size:.1f}" '
                f'width="{slot - gap:.1f}" height="{size:.1f}" fill="{PALETTE[0]}">'
                f"<title>{escape(f'{label}: {_fmt(value)}{unit}')}</title></rect>"
            )
        if index in labelled and values:
            anchor = "start" if index == 0 else "end" if index == len(values) - 1 else "middle"
            lx = x if index == 0 else x + slot if index == len(values) - 1 else x + slot / 2
            parts.append(
                f'<text x="{lx:.1f}" y="{height - 8}" text-anchor="{anchor}" font-size="11" '
                f'fill="#5b6470">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return _svg(parts)


def before_after(
    rows: Sequence[tuple[str, float, float]], *, title: str, width: int = 420
) -> Markup:
    """Paired bars per metric: the mean reading before (grey) and after (blue) an action."""
    row, left = 34, 150
    height = 40 + row * max(len(rows), 1)
    high = max((max(abs(b), abs(a)) for _, b, a in rows), default=0) or 1
    span = width - left - 60
    parts = [
        f'<svg class="chart small" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="0" y="14" font-size="12" font-weight="600" fill="#1b1f24">{escape(title)}'
        "</text>",
        f'<rect x="{left}" y="22" width="10" height="8" fill="#9aa4b1"/>'
        f'<text x="{left + 14}" y="30" font-size="11" fill="#5b6470">before</text>'
        f'<rect x="{left + 64}" y="22" width="10" height="8" fill="{PALETTE[0]}"/>'
        f'<text x="{left + 78}" y="30" font-size="11" fill="#5b6470">after</text>',
    ]
    for index, (label, before, after) in enumerate(rows):
        y = 38 + index * row
        parts.append(
            f'<text x="{left - 6}" y="{y + 16}" text-anchor="end" font-size="11" '
            f'fill="#1b1f24">{escape(label)}</text>'
        )
        for offset, value, colour in ((0, before, "#9aa4b1"), (13, after, PALETTE[0])):
            length = _scale(abs(value), 0, high, span)
            parts.append(
                f'<rect x="{left}" y="{y + offset + 2}" width="{length:.1f}" height="11" '
                f'fill="{colour}"/><text x="{left + length + 4:.1f}" y="{y + offset + 12}" '
                f'font-size="10" fill="#1b1f24">{escape(_fmt(value))}</text>'
            )
    parts.append("</svg>")
    return _svg(parts)
