"""Where a value sits in a JSON document, as a sender's configuration names it: a dotted path
(``data.document.id``, a number selects an array item: ``signers.0.email``) or a JSON Pointer
(RFC 6901: ``/data/document/id``, with ``~1`` for ``/`` and ``~0`` for ``~``)."""

from __future__ import annotations

from typing import Any

MAX_PATH_LENGTH = 200


class PathSyntaxError(ValueError):
    """A path that names no place (empty, an empty step, too long)."""


class Missing:
    """What ``value_at`` answers when nothing sits at the path (unlike a JSON ``null``)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing()


def parse_path(text: str) -> tuple[str, ...]:
    """The steps of ``text``; ``PathSyntaxError`` when it names no place."""
    if not text or len(text) > MAX_PATH_LENGTH:
        raise PathSyntaxError(f"a path is 1 to {MAX_PATH_LENGTH} characters")
    if text.startswith("/"):
        steps = tuple(step.replace("~1", "/").replace("~0", "~") for step in text[1:].split("/"))
    else:
        steps = tuple(text.split("."))
    if any(step == "" for step in steps):
        raise PathSyntaxError(f"{text!r} has an empty step")
    return steps


def value_at(document: Any, steps: tuple[str, ...]) -> Any:
    """The value at ``steps`` in ``document``, or ``MISSING``."""
    current = document
    for step in steps:
        if isinstance(current, dict):
            if step not in current:
                return MISSING
            current = current[step]
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return MISSING
    return current
