"""Provider webhooks as the tests see them: what each emulator sent and inkbridge's answer
(``Recorder``), and what the tests send by hand — exact copies, copies with one byte changed,
copies re-signed with an older key, and correctly signed forgeries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from inkbridge_emulators._book import iso
from inkbridge_emulators.docusign_state import ds_time
from tests.acceptance.provider_vendors import (
    DOCUMENSO_SECRET,
    DOCUSEAL_KEYS,
    DOCUSIGN_CONNECT_KEYS,
    DROPBOX_API_KEY,
    PANDADOC_SHARED_KEY,
    hmac_hex,
)


def multipart_json(body: bytes) -> dict[str, Any]:
    """The ``json`` form field of a Dropbox Sign callback (the only field it has)."""
    part = body.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]
    return dict(json.loads(part))


def multipart_body(document: dict[str, Any]) -> tuple[bytes, str]:
    """A Dropbox Sign callback body carrying ``document``, and its content type."""
    boundary = secrets.token_hex(16)
    text = json.dumps(document, separators=(",", ":"))
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="json"\r\n\r\n'
        f"{text}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    return body, f"multipart/form-data; boundary={boundary}"


def describe(provider: str, body: bytes) -> tuple[str | None, str | None]:
    """(provider envelope id, vendor event) of a webhook body, read the vendor's way."""
    if provider == "dropbox_sign":
        document = multipart_json(body)
        request_id = document["signature_request"]["signature_request_id"]
        return str(request_id), str(document["event"]["event_type"])
    data = json.loads(body)
    if provider == "docusign":
        return str(data["data"]["envelopeId"]), str(data["event"])
    if provider == "acrobat_sign":
        return str(data["agreement"]["id"]), str(data["event"])
    if provider == "pandadoc":
        first = data[0]["data"]
        events = "+".join(f"{item['event']}:{item['data'].get('status')}" for item in data)
        return str(first["id"]), events
    if provider == "documenso":
        return str(data["payload"]["envelopeId"]), str(data["event"])
    event = str(data["event_type"])  # docuseal
    inner = data["data"]
    submission = inner.get("submission_id") if event.startswith("form.") else inner.get("id")
    return str(submission), event


@dataclass(frozen=True)
class Delivery:
    """One webhook request an emulator sent to inkbridge, and inkbridge's answer to it."""

    provider: str
    method: str
    url: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    status: int
    answer_headers: dict[str, str]  # lower-cased names
    answer_body: bytes
    provider_envelope_id: str | None
    event: str | None


@dataclass(frozen=True)
class Outgoing:
    """A webhook request the test sends by hand."""

    url: str
    headers: dict[str, str]
    body: bytes
    what: str = ""


# Transport headers httpx sets itself; everything else of a recorded request is sent again.
TRANSPORT_HEADERS = frozenset({"host", "content-length", "accept", "accept-encoding", "connection"})


def copy_of(delivery: Delivery, what: str = "identical copy") -> Outgoing:
    headers = {k: v for k, v in delivery.headers.items() if k not in TRANSPORT_HEADERS}
    return Outgoing(delivery.url, headers, delivery.body, what)


def _other(char: str, alphabet: str) -> str:
    return alphabet[(alphabet.index(char) + 1) % len(alphabet)]


def _bump_digit_after(body: bytes, key: bytes) -> bytes:
    """``body`` with one byte changed: the first digit of the value of the JSON key ``key``."""
    start = body.index(key) + len(key)
    match = re.compile(rb"[0-9]").search(body, start)
    assert match is not None, f"no digit after {key!r}"
    at = match.start()
    digit = chr(body[at])
    return body[:at] + _other(digit, "0123456789").encode() + body[at + 1 :]


def _change_hex_after(body: bytes, key: bytes) -> bytes:
    """``body`` with one byte changed: the first hex digit of the value of the JSON key."""
    start = body.index(key) + len(key)
    match = re.compile(rb"[0-9a-f]").search(body, start)
    assert match is not None, f"no hex digit after {key!r}"
    at = match.start()
    return body[:at] + _other(chr(body[at]), "0123456789abcdef").encode() + body[at + 1 :]


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
HEX = "0123456789abcdef"
PRINTABLE = "abcdefghijklmnopqrstuvwxyz0123456789-_"
# The vendors whose credential is a header that covers no body: (header, its vendor spelling).
CREDENTIAL_HEADERS = {
    "acrobat_sign": ("x-adobesign-clientid", "X-ADOBESIGN-CLIENTID"),
    "documenso": ("x-documenso-secret", "X-Documenso-Secret"),
}


def tampered_copies(delivery: Delivery) -> list[Outgoing]:
    """Copies of a valid delivery with exactly one byte changed: in the signed body (where the
    vendor's credential covers the body) and in the credential itself.

    Acrobat Sign (client id echo) and Documenso (plain-text secret) sign no body, by the vendors'
    design, so only their credential is tampered with.
    """
    base = copy_of(delivery)
    headers, body, url = dict(base.headers), base.body, base.url
    provider = delivery.provider
    out: list[Outgoing] = []

    def with_header(name: str, change: Callable[[str], str], what: str) -> Outgoing:
        return Outgoing(url, {**headers, name: change(headers[name])}, body, what)

    if provider == "docusign":
        out.append(Outgoing(url, headers, _bump_digit_after(body, b'"generatedDateTime"'), "body"))
        out.append(
            with_header(
                "x-docusign-signature-1",
                lambda v: _other(v[0], B64) + v[1:],
                "X-DocuSign-Signature-1",
            )
        )
    elif provider == "dropbox_sign":
        # The event hash covers event_time + event_type: change a byte of each side.
        out.append(Outgoing(url, headers, _bump_digit_after(body, b'"event_time"'), "event_time"))
        out.append(Outgoing(url, headers, _change_hex_after(body, b'"event_hash"'), "event_hash"))
    elif provider in CREDENTIAL_HEADERS:
        name, shown = CREDENTIAL_HEADERS[provider]
        out.append(with_header(name, lambda v: v[:-1] + _other(v[-1], PRINTABLE), shown))
    elif provider == "pandadoc":
        out.append(Outgoing(url, headers, _bump_digit_after(body, b'"date_modified"'), "body"))
        path, _, query = url.partition("?signature=")
        changed = f"{path}?signature={_other(query[0], HEX)}{query[1:]}"
        out.append(Outgoing(changed, headers, body, "?signature="))
    elif provider == "docuseal":
        out.append(Outgoing(url, headers, _bump_digit_after(body, b'"timestamp"'), "body"))
        out.append(
            with_header(
                "x-docuseal-signature",
                lambda v: v[:-1] + _other(v[-1], HEX),
                "X-Docuseal-Signature",
            )
        )
    return out


def resigned(delivery: Delivery, key: str) -> Outgoing:
    """A recorded DocuSign or DocuSeal delivery, its body unchanged, signed with ``key`` only."""
    base = copy_of(delivery)
    headers = {k: v for k, v in base.headers.items() if not k.startswith("x-docusign-signature")}
    if delivery.provider == "docusign":
        digest = hmac.new(key.encode(), base.body, hashlib.sha256).digest()
        headers["x-docusign-signature-1"] = base64.b64encode(digest).decode()
    elif delivery.provider == "docuseal":
        stamp = str(int(time.time()))
        headers["x-docuseal-signature"] = (
            f"{stamp}.{hmac_hex(key, stamp.encode() + b'.' + base.body)}"
        )
    else:
        raise ValueError(f"{delivery.provider} has no re-signable body signature")
    return Outgoing(base.url, headers, base.body, f"signed with {key!r} only")


def forged_decline(delivery: Delivery) -> Outgoing:
    """A correctly signed "declined" webhook in the vendor's format for the envelope of
    ``delivery`` (a real delivery of that envelope, used for its shape and ids), dated now.

    DocuSign and DocuSeal forgeries are signed with the older of the two configured keys.
    """
    now = datetime.now(UTC)
    url = delivery.url.partition("?")[0]
    provider = delivery.provider
    if provider == "docusign":
        message = json.loads(delivery.body)
        message.update(event="envelope-declined", retryCount=0, generatedDateTime=ds_time(now))
        message["data"].pop("recipientId", None)
        message["data"]["envelopeSummary"]["status"] = "declined"
        body = json.dumps(message, separators=(",", ":")).encode()
        digest = hmac.new(DOCUSIGN_CONNECT_KEYS[0].encode(), body, hashlib.sha256).digest()
        headers = {
            "content-type": "application/json",
            "x-docusign-signature-1": base64.b64encode(digest).decode(),
        }
        return Outgoing(url, headers, body, "forged envelope-declined")
    if provider == "dropbox_sign":
        document = multipart_json(delivery.body)
        stamp, kind = str(int(now.timestamp())), "signature_request_declined"
        event = document["event"]
        event.update(event_time=stamp, event_type=kind)
        event["event_hash"] = hmac_hex(DROPBOX_API_KEY, f"{stamp}{kind}".encode())
        request = document["signature_request"]
        request["is_declined"] = True
        signature = request["signatures"][0]
        signature["status_code"] = "declined"
        event["event_metadata"]["related_signature_id"] = signature["signature_id"]
        body, content_type = multipart_body(document)
        return Outgoing(url, {"content-type": content_type}, body, "forged declined callback")
    if provider == "pandadoc":
        notification = json.loads(delivery.body)[0]
        notification["event"] = "document_state_changed"
        notification["data"].update(status="document.declined", date_modified=iso(now))
        body = json.dumps([notification]).encode()
        headers = {
            "content-type": "application/json",
            "x-pandadoc-webhook-event-id": str(uuid.uuid4()),
        }
        signed_url = f"{url}?signature={hmac_hex(PANDADOC_SHARED_KEY, body)}"
        return Outgoing(signed_url, headers, body, "forged document.declined")
    if provider == "documenso":
        message = json.loads(delivery.body)
        message.update(event="DOCUMENT_REJECTED", createdAt=iso(now))
        payload = message["payload"]
        payload.update(status="REJECTED", updatedAt=iso(now))
        for recipient in payload["recipients"]:
            recipient.update(signingStatus="REJECTED", rejectionReason="forged")
        headers = {"content-type": "application/json", "x-documenso-secret": DOCUMENSO_SECRET}
        return Outgoing(url, headers, json.dumps(message).encode(), "forged DOCUMENT_REJECTED")
    if provider == "docuseal":
        submission = json.loads(delivery.body)["data"]  # a submission.* delivery
        submitter = dict(submission["submitters"][0])
        submitter.update(status="declined", declined_at=iso(now), decline_reason="forged")
        submitter["submission"] = {
            k: v for k, v in submission.items() if k not in {"submitters", "submission_events"}
        }
        body = json.dumps(
            {"event_type": "form.declined", "timestamp": iso(now), "data": submitter}
        ).encode()
        stamp = str(int(time.time()))
        mac = hmac_hex(DOCUSEAL_KEYS[0], stamp.encode() + b"." + body)
        headers = {"content-type": "application/json", "x-docuseal-signature": f"{stamp}.{mac}"}
        return Outgoing(url, headers, body, "forged form.declined")
    raise ValueError(f"no forgery for {provider}")


class Recorder:
    """Every request the emulators' webhook clients send, with inkbridge's answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Delivery] = []

    def client_for(self, provider: str) -> httpx.AsyncClient:
        async def on_response(response: httpx.Response) -> None:
            await response.aread()
            request = response.request
            try:
                envelope_id, event = describe(provider, request.content)
            except (ValueError, KeyError, IndexError, TypeError):
                envelope_id, event = None, None
            item = Delivery(
                provider=provider,
                method=request.method,
                url=str(request.url),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=request.content,
                status=response.status_code,
                answer_headers={k.lower(): v for k, v in response.headers.items()},
                answer_body=response.content,
                provider_envelope_id=envelope_id,
                event=event,
            )
            with self._lock:
                self._items.append(item)

        return httpx.AsyncClient(timeout=10.0, event_hooks={"response": [on_response]})

    def of(self, provider: str, provider_envelope_id: str | None = None) -> list[Delivery]:
        with self._lock:
            items = list(self._items)
        return [
            d
            for d in items
            if d.provider == provider
            and d.method == "POST"
            and (provider_envelope_id is None or d.provider_envelope_id == provider_envelope_id)
        ]

    def registrations(self, provider: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self._items if d.provider == provider and d.method == "GET"]
