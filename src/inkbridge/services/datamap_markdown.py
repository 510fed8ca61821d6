"""The data map as Markdown, for the README and ``inkbridge datamap --format markdown``: the
stores, the processors, each personal data category column by column, the other categories in
one line each, and the retention windows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value).replace("|", "\\|") or "-"


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines.extend("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows)
    return lines


def _tables_of(columns: Iterable[str]) -> list[str]:
    return sorted({column.split(".", 1)[0] for column in columns})


def to_markdown(data_map: dict[str, Any]) -> str:
    """The map of ``services.datamap.data_map`` as Markdown (ends with a newline)."""
    lines = [f"Regions: {', '.join(data_map['regions'])} (home: {data_map['home_region']}).", ""]
    lines += ["**Stores**", ""]
    lines += _table(
        ("store", "kind", "location", "regions", "holds"),
        (
            (s["name"], s["kind"], f"`{s['location']}`", s["regions"], s["holds"])
            for s in data_map["stores"]
        ),
    )
    lines += ["", "**Processors**", ""]
    lines += _table(
        ("processor", "vendor", "sends to", "regions"),
        (
            (p["name"], p["vendor"], p["hosts"] or "(receives only)", p["regions"])
            for p in data_map["processors"]
        ),
    )
    personal = [c for c in data_map["categories"] if c["category"].startswith("user.")]
    other = [c for c in data_map["categories"] if not c["category"].startswith("user.")]
    lines += ["", "**Personal data**", ""]
    lines += _table(
        ("category", "column", "encrypted", "retention", "readable by"),
        (
            (
                c["category"],
                f"`{col['column']}`",
                col["encrypted"],
                col["retention"],
                col["readable_by"] or "(no API)",
            )
            for c in personal
            for col in c["columns"]
        ),
    )
    lines += ["", "**Other data**", ""]
    lines += _table(
        ("category", "columns", "tables"),
        (
            (c["category"], len(c["columns"]), _tables_of(x["column"] for x in c["columns"]))
            for c in other
        ),
    )
    lines += ["", "**Retention**", ""]
    lines += _table(
        ("category", "window", "tables"),
        ((r["category"], r["window"], _tables_of(r["columns"])) for r in data_map["retention"]),
    )
    return "\n".join(lines) + "\n"
