"""Small charts drawn server-side as inline SVG: horizontal bars with their values written next
to them, and sparklines; each with a title for screen readers (the same figures are always in
a table next to the chart as well)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from inkbridge.web.console.html import Raw

LABEL_WIDTH = 160
BAR_WIDTH = 420
ROW_HEIGHT = 26


def bar_chart(title: str, bars: Sequence[tuple[str, float]], unit: str = "") -> Raw:
    """One bar per (label, value), scaled to the largest value."""
    if not bars:
        return Raw("")
    slug = "chart-" + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    top = max((value for _, value in bars), default=0.0) or 1.0
    height = ROW_HEIGHT * len(bars) + 10
    width = LABEL_WIDTH + BAR_WIDTH + 90
    rows = []
    for i, (label, value) in enumerate(bars):
        y = 5 + i * ROW_HEIGHT
        length = max(BAR_WIDTH * value / top, 0.0)
        shown = f"{value:,.2f}".rstrip("0").rstrip(".") + unit
        rows.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 16}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{y + 3}" width="{length:.1f}" '
            f'height="{ROW_HEIGHT - 8}"></rect>'
            f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 16}">{escape(shown)}</text>'
        )
    summary = "; ".join(
        f"{label}: {value:,.2f}".rstrip("0").rstrip(".") + unit for label, value in bars
    )
    return Raw(
        f'<figure><svg role="img" aria-labelledby="{slug}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{slug}">{escape(title)}: {escape(summary)}</title>'
        + "".join(rows)
        + f"</svg><figcaption>{escape(title)}</figcaption></figure>"
    )


SPARK_WIDTH = 150
SPARK_HEIGHT = 28


def sparkline(title: str, values: Sequence[int]) -> Raw:
    """A small line of ``values`` (oldest first), scaled to the largest; its title reads them
    out for screen readers."""
    if not values:
        return Raw("")
    top = max(values) or 1
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{SPARK_HEIGHT - 2 - (SPARK_HEIGHT - 4) * v / top:.1f}"
        for i, v in enumerate(values)
    )
    summary = ", ".join(str(v) for v in values)
    return Raw(
        f'<svg class="spark" role="img" width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}" '
        f'viewBox="0 0 {SPARK_WIDTH} {SPARK_HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}: {escape(summary)}</title>"
        f'<polyline points="{points}"></polyline></svg>'
    )
