"""The Dataverse Web API ``$batch`` wire format (OData 4.0 multipart/mixed), as the Dynamics
connector writes and reads it.

A batch holds change sets; each change set holds ``application/http`` requests that Dataverse
runs in one transaction. The answer holds one part per change set, in order: a nested
multipart of the responses when the change set succeeded, or the one failing response when it
was rolled back. Lines end in CRLF, as the format requires.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CRLF = "\r\n"


@dataclass(frozen=True)
class Operation:
    """One request inside a change set."""

    method: str
    url: str
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OperationResult:
    """One response inside a batch answer."""

    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def error_code(self) -> str | None:
        """Dataverse's error code (``0x80040217``), never its message."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return code if isinstance(code, str) and len(code) <= 60 else None


def encode_batch(changesets: Sequence[Sequence[Operation]]) -> tuple[str, bytes]:
    """(Content-Type, body) of a ``$batch`` request with one change set per item."""
    batch = f"batch_{uuid.uuid4()}"
    lines: list[str] = []
    for operations in changesets:
        changeset = f"changeset_{uuid.uuid4()}"
        lines += [f"--{batch}", f"Content-Type: multipart/mixed; boundary={changeset}", ""]
        for content_id, op in enumerate(operations, start=1):
            lines += [
                f"--{changeset}",
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                f"Content-ID: {content_id}",
                "",
                f"{op.method} {op.url} HTTP/1.1",
                "Content-Type: application/json; type=entry",
                *(f"{name}: {value}" for name, value in op.headers.items()),
                "",
                json.dumps(op.body, separators=(",", ":")) if op.body is not None else "",
            ]
        lines.append(f"--{changeset}--")
    lines += [f"--{batch}--", ""]
    return f"multipart/mixed; boundary={batch}", CRLF.join(lines).encode()


def boundary_of(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip('"')
    return None


def _split_head(raw: bytes) -> tuple[list[str], bytes]:
    """(header lines, rest) of a MIME part or an HTTP message."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, rest = raw.partition(separator)
        if found:
            return head.decode("latin-1").splitlines(), rest
    return raw.decode("latin-1").splitlines(), b""


def _headers(lines: Sequence[str]) -> dict[str, str]:
    pairs = (line.partition(":") for line in lines if ":" in line)
    return {name.strip().lower(): value.strip() for name, _, value in pairs}


def _parts(body: bytes, boundary: str) -> list[bytes]:
    delimiter = b"--" + boundary.encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        # Each part runs from the line after the delimiter to the CRLF before the next one.
        parts.append(chunk.removeprefix(b"\r\n").removeprefix(b"\n").removesuffix(b"\r\n"))
    return parts


def _http_response(raw: bytes) -> OperationResult:
    lines, body = _split_head(raw)
    status_line = lines[0] if lines else ""
    try:
        status = int(status_line.split(" ")[1])
    except (IndexError, ValueError):
        status = 0
    text = body.strip()
    try:
        parsed: Any = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return OperationResult(status, _headers(lines[1:]), parsed)


def decode_batch(content_type: str, body: bytes) -> list[list[OperationResult]]:
    """The responses of a ``$batch`` answer, grouped as the change sets were sent."""
    boundary = boundary_of(content_type)
    if boundary is None:
        raise ValueError("the batch answer is not multipart")
    groups: list[list[OperationResult]] = []
    for part in _parts(body, boundary):
        head, rest = _split_head(part)
        headers = _headers(head)
        inner = boundary_of(headers.get("content-type", ""))
        if inner is not None:
            groups.append([_http_response(_split_head(p)[1]) for p in _parts(rest, inner)])
        else:
            groups.append([_http_response(rest)])
    return groups
