"""Renderings of a report dict that every front end shares: CSV with a header row, and text
cells for human eyes (durations as ``3d 4h``). The CLI's table and the API's CSV use these, so
a report reads the same wherever it is asked for."""

from __future__ import annotations

import csv
import io
from typing import Any

TEXT_COLUMNS = frozenset({"stage", "interval", "campaign", "channel", "template", "source"})


def to_csv(report: dict[str, Any]) -> str:
    """The report's rows as CSV with a header row (``columns``); empty cells for None."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    columns: list[str] = report["columns"]
    writer.writerow(columns)
    writer.writerows(
        ["" if row.get(c) is None else row[c] for c in columns] for row in report["rows"]
    )
    return buffer.getvalue()


def duration_text(seconds: float) -> str:
    """Seconds as the two largest units (``3d 4h``, ``5h 30m``, ``45m 30s``)."""
    parts: list[str] = []
    rest = abs(round(seconds))
    for name, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size or (name == "s" and not parts):
            whole = rest // size
            parts.append(f"{whole}{name}")
            rest -= whole * size
        if len(parts) == 2:
            break
    return ("-" if seconds < 0 else "") + " ".join(parts)


def cell_text(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if column.endswith("_seconds"):
        return duration_text(float(value))
    if isinstance(value, float):
        return f"{value:,.2f}" if column.endswith("_pct") else f"{value:,.4f}"
    return str(value)


def text_rows(report: dict[str, Any]) -> list[list[str]]:
    columns: list[str] = report["columns"]
    return [[cell_text(c, row.get(c)) for c in columns] for row in report["rows"]]


def totals_lines(report: dict[str, Any]) -> list[str]:
    totals: dict[str, Any] = report["totals"]
    if report["report"] == "time_to_sign":
        return [
            f"all {name}: n={s['count']}  p50 {cell_text('p50_seconds', s['p50_seconds'])}"
            f"  p90 {cell_text('p90_seconds', s['p90_seconds'])}"
            for name, s in totals.items()
        ]
    return ["  ".join(f"{k}={cell_text(k, v)}" for k, v in totals.items())]
