"""The console's HTML: escaping, the page layout with its navigation, tables with captions,
and form fields with labels. Every value is escaped unless it is ``Raw`` (markup built here)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from urllib.parse import urlencode

from inkbridge.access import ADMIN, DATAMAP_SCOPE
from inkbridge.services.console_sessions import ConsoleSession

CSS_PATH = "/console/assets/console.css"
# Each page with the scope it needs, as its route declares it (the API's scope for the same
# data): a session is shown the links it may follow, never one that answers 403.
NAV: tuple[tuple[str, str, str], ...] = (
    ("/console", "Overview", "read"),
    ("/console/funnel", "Funnel", "read"),
    ("/console/time-to-sign", "Time to sign", "read"),
    ("/console/attribution", "Attribution", "read"),
    ("/console/envelopes", "Envelopes", "read"),
    ("/console/receipts", "Receipts", ADMIN),
    ("/console/dead-letters", "Dead letters", ADMIN),
    ("/console/consent", "Consent", "read"),
    ("/console/data-map", "Data map", DATAMAP_SCOPE),
)

CURRENT = ' aria-current="page"'


class Raw(str):
    """Markup built by the console itself: inserted as is."""


def esc(value: object) -> str:
    if isinstance(value, Raw):
        return value
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return escape(str(value))


def link(href: str, text: object, **params: object) -> Raw:
    query = {k: str(v) for k, v in params.items() if v not in (None, "")}
    target = href + ("?" + urlencode(query) if query else "")
    return Raw(f'<a href="{escape(target)}">{esc(text)}</a>')


def duration(seconds: float | None) -> str:
    """A duration as people read it: 42 s, 3.5 min, 2.1 h, 4.2 d."""
    if seconds is None:
        return "—"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def table(
    caption: str, headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str = "None."
) -> Raw:
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    if not body:
        return Raw(f"<p><strong>{escape(caption)}:</strong> {escape(empty)}</p>")
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    return Raw(
        f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def text_field(name: str, label: str, value: str | None = None, kind: str = "text") -> Raw:
    shown = f' value="{escape(value)}"' if value else ""
    return Raw(
        f'<p><label for="f-{name}">{escape(label)}</label> '
        f'<input id="f-{name}" name="{name}" type="{kind}"{shown}></p>'
    )


def select_field(name: str, label: str, options: Sequence[str], chosen: str) -> Raw:
    items = "".join(
        f'<option value="{escape(o)}"{" selected" if o == chosen else ""}>{escape(o)}</option>'
        for o in options
    )
    return Raw(
        f'<p><label for="f-{name}">{escape(label)}</label> '
        f'<select id="f-{name}" name="{name}">{items}</select></p>'
    )


def filter_form(action: str, fields: Iterable[Raw], button: str = "Apply") -> Raw:
    return Raw(
        f'<form method="get" action="{escape(action)}" class="filters">'
        + "".join(fields)
        + f'<p><button type="submit">{escape(button)}</button></p></form>'
    )


def post_form(action: str, csrf: str, button: str, hidden: dict[str, str] | None = None) -> Raw:
    """A POST form with the session's CSRF token."""
    fields = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in (hidden or {}).items()
    )
    return Raw(
        f'<form method="post" action="{escape(action)}" class="inline">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">{fields}'
        f'<button type="submit">{escape(button)}</button></form>'
    )


def layout(title: str, body: str, session: ConsoleSession | None, current: str = "") -> str:
    nav = ""
    if session is not None:
        items = "".join(
            f'<li><a href="{href}"{CURRENT if href == current else ""}>{label}</a></li>'
            for href, label, scope in NAV
            if session.allows(scope)
        )
        who = (
            f'<div class="who">Signed in as {esc(session.name)} '
            f"({esc(' '.join(sorted(session.scopes)))}) "
            f"{post_form('/console/sign-out', session.csrf_token, 'Sign out')}</div>"
        )
        nav = f'<nav aria-label="Console">{who}<ul>{items}</ul></nav>'
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · inkbridge console</title>"
        f'<link rel="stylesheet" href="{CSS_PATH}"></head><body>'
        f'<header><p class="brand">inkbridge console</p>{nav}</header>'
        f'<main id="main"><h1>{escape(title)}</h1>{body}</main></body></html>'
    )


CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#1b1f24;background:#fff}
header{background:#f6f8fa;border-bottom:1px solid #d0d7de;padding:.5rem 1rem}
.brand{font-weight:700;margin:.2rem 0}
nav ul{list-style:none;padding:0;margin:.3rem 0;display:flex;flex-wrap:wrap;gap:.2rem 1rem}
nav a{color:#0550ae} nav a[aria-current=page]{font-weight:700;color:#1b1f24}
.who{float:right;font-size:.9rem}
main{max-width:72rem;margin:1rem auto;padding:0 1rem}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0 1.2rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d0d7de;font-size:.9rem;
vertical-align:top;overflow-wrap:anywhere}
form.filters{display:flex;flex-wrap:wrap;gap:0 1rem;align-items:end}
form.filters p{margin:.3rem 0} label{display:block;font-size:.85rem;color:#424a53}
input,select{padding:.3rem;font:inherit} form.inline{display:inline}
button{font:inherit;padding:.25rem .7rem;cursor:pointer}
.notice{padding:.5rem .8rem;border-left:4px solid #0969da;background:#ddf4ff}
.error{padding:.5rem .8rem;border-left:4px solid #cf222e;background:#ffebe9}
.figures{display:flex;flex-wrap:wrap;gap:1rem;padding:0;list-style:none}
.figures li{border:1px solid #d0d7de;border-radius:6px;padding:.5rem .8rem;min-width:10rem}
.figures strong{display:block;font-size:1.3rem}
svg text{font-size:12px;fill:#1b1f24} svg .bar{fill:#0969da}
svg.spark polyline{fill:none;stroke:#0969da;stroke-width:1.5}
"""
