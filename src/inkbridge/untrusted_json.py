"""Reading JSON from senders we do not trust: webhook bodies, CRM triggers and `/v1` bodies.

``json.loads`` alone accepts more than inkbridge should keep: duplicate keys (the last one
silently wins, so two readers can disagree about a document), lone UTF-16 surrogates from
``\\ud800`` escapes (text no database or encoder accepts later), ``NaN`` and ``Infinity``, escaped
NUL characters (PostgreSQL text cannot hold them), and nesting deep enough to exhaust the
interpreter's recursion limit. ``loads`` refuses all of these with ``UnreadableJson``.

It runs on the webhook hot path, so each check costs close to nothing on ordinary bodies: the
depth check counts brackets in C before it scans anything, and the surrogate/NUL check only walks
the parsed document when the raw text contains an escape that could produce one.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

# Deeper than any vendor document we have seen (DocuSign Connect nests about 6 levels) by far.
DEFAULT_MAX_DEPTH = 32

# A JSON string literal, escapes included (the unrolled form: no backtracking per character).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Bytes that open (+1) or close (-1) a container; everything else is dropped before counting.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
# An escape that may decode to a UTF-16 surrogate or to NUL: only then is the document walked.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")


class UnreadableJson(ValueError):
    """The body is not JSON inkbridge accepts; ``reason`` says why without quoting the body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _depths(body: bytes) -> accumulate[int]:
    """The nesting depth after each bracket of ``body``, brackets inside strings not counted.

    For a body that is not well-formed JSON these are upper bounds, which is all a limit needs.
    """
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return accumulate(_DEPTH_STEP[b] for b in brackets)


def nesting_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in ``body`` (0 for a scalar)."""
    return max(_depths(body), default=0)


def check_depth(body: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """``UnreadableJson`` when ``body`` nests deeper than ``max_depth``; done before parsing."""
    # Fewer brackets in all than the limit cannot nest past it: most bodies stop here.
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return
    # Stops at the first bracket past the limit: a 100k-deep body is refused in microseconds.
    if any(depth > max_depth for depth in _depths(body)):
        raise UnreadableJson(f"the JSON nests deeper than {max_depth} levels")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise UnreadableJson("the JSON repeats a key within one object")
    return document


def _no_constants(name: str) -> Any:
    raise UnreadableJson(f"the JSON holds {name}, which is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise UnreadableJson("the JSON holds a number too large for a float")
    return value


# Built once: ``json.loads`` with hooks builds a decoder (and its scanner) on every call.
_STRICT_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_constant=_no_constants, parse_float=_finite_float
)


def _bad_text(value: Any) -> str | None:
    """Why a string in ``value`` cannot be kept (lone surrogate, NUL), or ``None``."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "the JSON holds a NUL character"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "the JSON holds a lone UTF-16 surrogate"
    return None


def loads(body: bytes | str, max_depth: int = DEFAULT_MAX_DEPTH, *, strict: bool = True) -> Any:
    """The decoded document, or ``UnreadableJson`` (see the module docstring for what fails).

    ``strict=False`` keeps only the limits that protect the reader itself (depth, UTF-8): for
    picking a signature out of a body that is refused, strictly, right after it is verified.
    """
    if not strict:
        return _loads_plain(body, max_depth)
    from_text = isinstance(body, str)
    if isinstance(body, bytes):
        check_depth(body, max_depth)
        try:
            # Strict UTF-8 (RFC 8259): no UTF-16/32 guessing and no encoded surrogates, both of
            # which json.loads would let through from bytes.
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise UnreadableJson("the body is not valid UTF-8") from None
    else:
        check_depth(body.encode("utf-8", "surrogatepass"), max_depth)
        text = body
    try:
        value = _STRICT_DECODER.decode(text)
    except UnreadableJson:
        raise
    except RecursionError:
        # Unreachable with a sane max_depth; kept so a misconfiguration is never a 500.
        raise UnreadableJson("the JSON nests too deeply") from None
    except ValueError:
        # The decoder's message quotes nothing but a position; the reason stays generic.
        raise UnreadableJson("the body is not valid JSON") from None
    # Decoded bytes hold no raw surrogate and the decoder refuses raw NUL, so only an escape
    # (or text handed over already decoded) can bring one in.
    if from_text or _SUSPECT_ESCAPE.search(text):
        reason = _bad_text(value)
        if reason is not None:
            raise UnreadableJson(reason)
    return value


def _loads_plain(body: bytes | str, max_depth: int) -> Any:
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    check_depth(raw, max_depth)
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise UnreadableJson("the body is not valid JSON") from None
