"""How golive speaks to a mapped sender: a ``standard_webhooks`` connection whose
``[connections.NAME.mapping]`` gives the sender's own event names and JSON paths (read from the
deployment's ``GET /v1/admin/golive/connections``). Each test delivery is built by inverting the
mapping: the sender's name for the event's kind at the type path, and every field the mapping
reads placed at its path; then signed with the connection's scheme (Standard Webhooks, or an
HMAC-SHA256 of the body in a header)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from inkbridge.domain.events import event_type_named
from inkbridge.domain.json_paths import parse_path
from inkbridge.golive.vendor_bodies import GoliveEvent, NotSpoken
from inkbridge.golive.vendor_formats import JSON, STANDARD, Signed, VendorFormat
from inkbridge.vendor_http.body_hmac import body_signature
from inkbridge.vendor_http.signing import signed_headers


@dataclass(frozen=True)
class SenderFormat:
    """A sender's vocabulary as the deployment declares it (no secret in it)."""

    events: Mapping[str, str]  # the sender's event name -> an inkbridge event
    paths: Mapping[str, str | None]  # type, envelope_id, occurred_at, … -> a path or None
    signature: Mapping[str, Any]  # scheme, header, encoding, prefix

    @classmethod
    def read(cls, mapping: Mapping[str, Any], signature: Mapping[str, Any]) -> SenderFormat:
        events = {str(k): str(v) for k, v in dict(mapping["events"]).items()}
        fields = ("type", "envelope_id", "occurred_at", "recipient_id", "recipient_email")
        paths = {key: mapping.get(key) for key in (*fields, "metadata", "event_id")}
        return cls(events, paths, dict(signature))

    def sender_event(self, kind: str) -> str:
        """The sender's name for the inkbridge event ``kind`` (the first one mapped to it)."""
        for name, target in self.events.items():
            found = event_type_named(target)
            if found is not None and found.value == kind:
                return name
        raise NotSpoken(f"the connection's mapping names no sender event for {kind!r}")

    def document(self, event: GoliveEvent, delivery_id: str) -> dict[str, Any]:
        values: dict[str, Any] = {
            "type": self.sender_event(event.kind),
            "envelope_id": event.envelope_id,
            "occurred_at": event.iso,
            "recipient_id": event.recipient_id,
            "recipient_email": event.recipient_email,
            "metadata": dict(event.metadata),
            "event_id": delivery_id,
        }
        document: dict[str, Any] = {}
        for key, path in self.paths.items():
            if path is not None and values[key] is not None:
                place(document, parse_path(path), values[key])
        return document

    def vendor_format(self) -> VendorFormat:
        scheme = self.signature.get("scheme", "standard_webhooks")
        if scheme == "standard_webhooks":
            return replace(STANDARD, sign=self._standard, tamper_body=_body_extended)
        if scheme == "hmac_sha256":
            return VendorFormat(
                "standard_webhooks",
                self._hmac,
                STANDARD.acknowledgement,
                _body_extended,
                self._hmac_forged,
            )
        raise NotSpoken(f"golive does not sign with the {scheme!r} scheme")

    def _body(self, event: GoliveEvent, delivery_id: str) -> bytes:
        return json.dumps(self.document(event, delivery_id), separators=(",", ":")).encode()

    def _standard(self, event: GoliveEvent, secret: str, delivery_id: str, stamp: int) -> Signed:
        body = self._body(event, delivery_id)
        headers = {"content-type": JSON, **signed_headers(secret, delivery_id, stamp, body)}
        return Signed(body, headers)

    def _hmac(self, event: GoliveEvent, secret: str, delivery_id: str, _stamp: int) -> Signed:
        body = self._body(event, delivery_id)
        header = str(self.signature["header"])
        value = body_signature(secret, body, self._encoding(), self._prefix())
        return Signed(body, {"content-type": JSON, header: value})

    def _hmac_forged(self, signed: Signed) -> Signed:
        # The same body signed under another key: a signature of the right shape that is wrong.
        header = str(self.signature["header"])
        forged = body_signature(
            "golive-not-the-secret", signed.body, self._encoding(), self._prefix()
        )
        return replace(signed, headers={**signed.headers, header: forged})

    def _encoding(self) -> Literal["hex", "base64"]:
        return "base64" if self.signature.get("encoding") == "base64" else "hex"

    def _prefix(self) -> str:
        return str(self.signature.get("prefix") or "")


def _body_extended(signed: Signed) -> Signed:
    # Whitespace after the JSON: the same document, other bytes, so every body signature fails.
    return replace(signed, body=signed.body + b" ")


def place(document: dict[str, Any], steps: tuple[str, ...], value: Any) -> None:
    """Put ``value`` at ``steps`` in ``document``, making the objects (and, where a step is a
    number, the arrays) on the way."""
    current: Any = document
    for step, after in itertools.pairwise(steps):
        empty: Any = [] if after.isdigit() else {}
        current = _child(current, step, empty)
    _set(current, steps[-1], value)


def _child(container: Any, step: str, empty: Any) -> Any:
    if isinstance(container, list):
        index = int(step)
        container.extend(None for _ in range(index + 1 - len(container)))
        if container[index] is None:
            container[index] = empty
        return container[index]
    return container.setdefault(step, empty)


def _set(container: Any, step: str, value: Any) -> None:
    if isinstance(container, list):
        index = int(step)
        container.extend(None for _ in range(index + 1 - len(container)))
        container[index] = value
    else:
        container[step] = value
