"""Hash chaining for append-only logs: each entry's hash covers the previous hash and the entry's
canonical content, so changing, removing or reordering any entry breaks every later link."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot canonicalise {type(value).__name__}")


def canonical(content: Mapping[str, Any]) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=_default)


def link_hash(prev_hash: str, content: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(content)).encode()).hexdigest()


def first_break(entries: list[tuple[str, str, Mapping[str, Any]]]) -> int | None:
    """Index of the first entry whose (prev_hash, hash, content) does not chain, else None."""
    expected_prev = GENESIS
    for index, (prev_hash, entry_hash, content) in enumerate(entries):
        if prev_hash != expected_prev or link_hash(prev_hash, content) != entry_hash:
            return index
        expected_prev = entry_hash
    return None
