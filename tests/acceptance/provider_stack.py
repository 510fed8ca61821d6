"""The six vendor emulators and one inkbridge wired together for ``test_providers.py``.

Each emulator (DocuSign, Dropbox Sign, Acrobat Sign, PandaDoc, Documenso, DocuSeal) is served by
uvicorn in a thread on its own free 127.0.0.1 port and delivers its webhooks to a real
``inkbridge serve`` process, whose ``inkbridge.toml`` names one connection per vendor: its webhook
secrets (``file:`` references) and its API pointed at the emulator, so envelopes are created
through inkbridge's real clients. Every webhook an emulator sends is recorded together with
inkbridge's answer, so tests can check the acknowledgement and send exact copies, tampered copies
or correctly signed forgeries of it by hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from inkbridge_emulators._book import iso
from inkbridge_emulators.acrobat_sign import create_acrobat_sign_emulator
from inkbridge_emulators.documenso import create_documenso_emulator
from inkbridge_emulators.docuseal import create_docuseal_emulator
from inkbridge_emulators.docusign import create_docusign_emulator
from inkbridge_emulators.docusign_state import ds_time
from inkbridge_emulators.dropbox_sign import create_dropbox_sign_emulator
from inkbridge_emulators.pandadoc import create_pandadoc_emulator
from tests.support.builders import SECRET
from tests.support.processes import INKBRIDGE, Process, cli, free_port, wait_http

VENDOR = Path(__file__).resolve().parents[2].parent / "shared" / "vendor"
DOCUSIGN_SCHEMAS = VENDOR / "docusign"
DROPBOX_OPENAPI = VENDOR / "dropbox-sign" / "openapi.yaml"
HAVE_VENDOR_SCHEMAS = DOCUSIGN_SCHEMAS.is_dir() and DROPBOX_OPENAPI.is_file()

PROVIDERS = ("docusign", "dropbox_sign", "acrobat_sign", "pandadoc", "documenso", "docuseal")
TERMINAL_STATES = frozenset({"completed", "declined", "voided", "expired"})

# Credentials. Two connections hold two webhook secrets (rotation): the emulator signs with the
# newer one, the tests sign by hand with the older one, and inkbridge must take either.
DOCUSIGN_CONNECT_KEYS = ("connect-key-2024-retiring", "connect-key-2025-current")
DOCUSIGN_ACCOUNT, DOCUSIGN_INTEGRATION_KEY, DOCUSIGN_USER = "acc-ink", "ik-ink", "user-ink"
DROPBOX_API_KEY, DROPBOX_CLIENT_ID = "dropbox-api-key-ink", "dropbox-app-ink"
ACROBAT_CLIENT_ID, ACROBAT_CLIENT_SECRET = "acrobat-client-ink", "acrobat-secret-ink"
ACROBAT_REFRESH_TOKEN = "acrobat-refresh-ink"
PANDADOC_API_KEY, PANDADOC_SHARED_KEY = "pandadoc-api-key-ink", "pandadoc-shared-key-ink"
DOCUMENSO_API_TOKEN, DOCUMENSO_SECRET = "api_documenso_ink", "documenso-webhook-secret-ink"
DOCUSEAL_API_TOKEN = "docuseal-token-ink"
DOCUSEAL_KEYS = ("whsec_docuseal_retiring_0001", "whsec_docuseal_current_0002")

# The provider template each [templates.<provider>_nda] names, as each emulator expects it.
TEMPLATE_IDS = {
    "docusign": "tpl-docusign-nda",  # a server template with one role, "signer"
    "dropbox_sign": "tpl-dropbox-nda",  # a template with one role, "Signer"
    "acrobat_sign": "CBJCHBCAABAAlibrarydocnda0001",  # a library document
    "pandadoc": "tplPandaDocNda0001",  # a template uuid
    "documenso": "envelope_template_nda",  # a template envelope (recipient slots)
    "docuseal": "1000001",  # a numeric template id
}

T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")


def rsa_pem() -> tuple[str, str]:
    """A fresh RSA key pair (private PKCS#8 PEM, public SPKI PEM) for DocuSign's JWT grant."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def hmac_hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


# Deliveries: what the emulators sent, and what the tests send by hand.


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
    elif provider == "acrobat_sign":
        out.append(
            with_header(
                "x-adobesign-clientid",
                lambda v: v[:-1] + _other(v[-1], PRINTABLE),
                "X-ADOBESIGN-CLIENTID",
            )
        )
    elif provider == "pandadoc":
        out.append(Outgoing(url, headers, _bump_digit_after(body, b'"date_modified"'), "body"))
        path, _, query = url.partition("?signature=")
        changed = f"{path}?signature={_other(query[0], HEX)}{query[1:]}"
        out.append(Outgoing(changed, headers, body, "?signature="))
    elif provider == "documenso":
        out.append(
            with_header(
                "x-documenso-secret",
                lambda v: v[:-1] + _other(v[-1], PRINTABLE),
                "X-Documenso-Secret",
            )
        )
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


# Emulators served by uvicorn in threads.


@dataclass
class Served:
    """An ASGI app (lifespan included) under uvicorn in a thread, on a socket bound now."""

    app: Any
    sock: socket.socket = field(init=False)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def start(self) -> None:
        config = uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        server = self.server
        wait_for(lambda: server.started, f"uvicorn serving on {self.url}", timeout=15)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.sock.close()


@dataclass
class Vendor:
    """One emulated provider: its app, where it is served and its test-control endpoint."""

    name: str
    served: Served

    @property
    def base(self) -> str:
        return self.served.url

    @property
    def emulator(self) -> Any:
        return self.served.app.state.emulator

    def control_url(self, provider_envelope_id: str, action: str) -> str:
        kind = "signature_requests" if self.name == "dropbox_sign" else "envelopes"
        return f"{self.base}/_emulator/{kind}/{provider_envelope_id}/{action}"

    def settled(self) -> bool:
        """Every queued webhook was delivered, dropped by chaos or given up on."""
        c = self.emulator.emitter.counters
        return bool(c.delivered + c.dropped + c.gave_up >= c.queued + c.duplicates)


def build_emulator(name: str, hook: str, client: httpx.AsyncClient, public_pem: str) -> Any:
    if name == "docusign":
        return create_docusign_emulator(
            connect_url=hook,
            connect_keys=[DOCUSIGN_CONNECT_KEYS[1]],
            account_id=DOCUSIGN_ACCOUNT,
            schema_dir=DOCUSIGN_SCHEMAS if HAVE_VENDOR_SCHEMAS else None,
            client=client,
            user_id=DOCUSIGN_USER,
            integration_key=DOCUSIGN_INTEGRATION_KEY,
            public_key_pem=public_pem,
            templates={TEMPLATE_IDS["docusign"]: ["signer"]},
        )
    if name == "dropbox_sign":
        return create_dropbox_sign_emulator(
            callback_url=hook,
            api_key=DROPBOX_API_KEY,
            schema_path=DROPBOX_OPENAPI if HAVE_VENDOR_SCHEMAS else None,
            client=client,
            client_id=DROPBOX_CLIENT_ID,
            templates={TEMPLATE_IDS["dropbox_sign"]: ["Signer"]},
        )
    if name == "acrobat_sign":
        return create_acrobat_sign_emulator(
            webhook_url=hook,
            client_id=ACROBAT_CLIENT_ID,
            client_secret=ACROBAT_CLIENT_SECRET,
            refresh_token=ACROBAT_REFRESH_TOKEN,
            client=client,
        )
    if name == "pandadoc":
        return create_pandadoc_emulator(
            webhook_url=hook,
            api_key=PANDADOC_API_KEY,
            shared_key=PANDADOC_SHARED_KEY,
            client=client,
        )
    if name == "documenso":
        return create_documenso_emulator(
            webhook_url=hook,
            api_token=DOCUMENSO_API_TOKEN,
            webhook_secret=DOCUMENSO_SECRET,
            client=client,
        )
    return create_docuseal_emulator(
        webhook_url=hook,
        api_token=DOCUSEAL_API_TOKEN,
        webhook_secret=DOCUSEAL_KEYS[1],
        client=client,
    )


# inkbridge.toml


def _q(value: str) -> str:
    """A TOML basic string (JSON's string syntax is a subset of it for these values)."""
    return json.dumps(value)


def _secret_file(root: Path, name: str, value: str) -> str:
    path = root / "secrets" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    return f"file:{path}"


def write_provider_config(
    root: Path,
    *,
    port: int,
    emulators: dict[str, str],
    docusign_private_pem: str,
    stale_after_seconds: float,
) -> Path:
    """inkbridge.toml: the sandbox (for its CRM), and one connection per vendor with its
    webhook secrets and its API pointed at ``emulators[vendor]``; secrets as ``file:`` refs."""

    def ref(name: str, value: str) -> str:
        return _q(_secret_file(root, name, value))

    def secrets_of(*pairs: tuple[str, str]) -> str:
        return "[" + ", ".join(ref(n, v) for n, v in pairs) + "]"

    ds, dbx, acro = emulators["docusign"], emulators["dropbox_sign"], emulators["acrobat_sign"]
    lines = [
        f"data_dir = {_q(str(root / 'data'))}",
        "sandbox = true",
        'log_level = "warning"',
        "[server]",
        'host = "127.0.0.1"',
        f"port = {port}",
        "[worker]",
        "poll_interval_seconds = 0.05",
        "lease_seconds = 5",
        "reconcile_interval_seconds = 0.5",
        f"stale_after_seconds = {stale_after_seconds}",
        "[regions.default]",
        "[connections.sandbox]",
        'provider = "sandbox"',
        f"secrets = {secrets_of(('sandbox-webhook', SECRET))}",
        "[connections.docusign]",
        'provider = "docusign"',
        "secrets = "
        + secrets_of(
            ("docusign-connect-retiring", DOCUSIGN_CONNECT_KEYS[0]),
            ("docusign-connect-current", DOCUSIGN_CONNECT_KEYS[1]),
        ),
        f"api_url = {_q(ds + '/restapi')}",
        "options = { "
        + ", ".join(
            [
                f"account_id = {_q(DOCUSIGN_ACCOUNT)}",
                f"integration_key = {_q(DOCUSIGN_INTEGRATION_KEY)}",
                f"user_id = {_q(DOCUSIGN_USER)}",
                f"auth_url = {_q(ds)}",
                f"private_key = {ref('docusign-private.pem', docusign_private_pem)}",
            ]
        )
        + " }",
        "[connections.dropbox_sign]",
        'provider = "dropbox_sign"',
        f"secrets = {secrets_of(('dropbox-api-key', DROPBOX_API_KEY))}",
        f"api_url = {_q(dbx + '/v3')}",
        f"api_key = {ref('dropbox-api-key', DROPBOX_API_KEY)}",
        f"options = {{ test_mode = true, client_id = {_q(DROPBOX_CLIENT_ID)} }}",
        "[connections.acrobat_sign]",
        'provider = "acrobat_sign"',
        f"secrets = {secrets_of(('acrobat-client-id', ACROBAT_CLIENT_ID))}",
        f"api_url = {_q(acro)}",
        "options = { "
        + ", ".join(
            [
                f"client_id = {_q(ACROBAT_CLIENT_ID)}",
                f"client_secret = {ref('acrobat-client-secret', ACROBAT_CLIENT_SECRET)}",
                f"refresh_token = {ref('acrobat-refresh-token', ACROBAT_REFRESH_TOKEN)}",
            ]
        )
        + " }",
        "[connections.pandadoc]",
        'provider = "pandadoc"',
        f"secrets = {secrets_of(('pandadoc-shared-key', PANDADOC_SHARED_KEY))}",
        f"api_url = {_q(emulators['pandadoc'] + '/public/v1')}",
        f"api_key = {ref('pandadoc-api-key', PANDADOC_API_KEY)}",
        "[connections.documenso]",
        'provider = "documenso"',
        f"secrets = {secrets_of(('documenso-webhook-secret', DOCUMENSO_SECRET))}",
        f"api_url = {_q(emulators['documenso'])}",
        f"api_key = {ref('documenso-api-token', DOCUMENSO_API_TOKEN)}",
        "[connections.docuseal]",
        'provider = "docuseal"',
        "secrets = "
        + secrets_of(
            ("docuseal-webhook-retiring", DOCUSEAL_KEYS[0]),
            ("docuseal-webhook-current", DOCUSEAL_KEYS[1]),
        ),
        f"api_url = {_q(emulators['docuseal'])}",
        f"api_key = {ref('docuseal-api-token', DOCUSEAL_API_TOKEN)}",
        "[destinations.crm]",
        'kind = "sandbox_crm"',
        "max_attempts = 30",
        "backoff_base_seconds = 0.05",
        "backoff_cap_seconds = 1.0",
        "rate_per_second = 200",
        "timeout_seconds = 3",
        "[templates.nda]",
        'title = "Mutual non-disclosure agreement"',
    ]
    for provider in PROVIDERS:
        lines += [
            f"[templates.{provider}_nda]",
            f'title = "Mutual NDA ({provider})"',
            "version = 2",
            f"provider_template_id = {_q(TEMPLATE_IDS[provider])}",
        ]
    path = root / "inkbridge.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# The running stack.


@dataclass
class ProviderStack:
    root: Path
    port: int
    token: str
    recorder: Recorder
    vendors: dict[str, Vendor]
    server: Process | None = None
    _api: httpx.Client | None = None
    _completed: dict[str, dict[str, Any]] = field(default_factory=dict)
    _leads: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> httpx.Client:
        if self._api is None:
            self._api = httpx.Client(
                base_url=self.base,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=30.0,
            )
        return self._api

    def hook(self, provider: str) -> str:
        return f"{self.base}/v1/webhooks/{provider}"

    def stop(self) -> None:
        if self._api is not None:
            self._api.close()
        if self.server is not None:
            self.server.stop()
        for vendor in self.vendors.values():
            vendor.served.stop()

    def log(self) -> str:
        return self.server.log() if self.server is not None else ""

    # The /v1 API.

    def create_envelope(self, provider: str) -> dict[str, Any]:
        """A new lead, and an envelope for it created at ``provider`` through inkbridge."""
        self._leads += 1
        lead = self.api.post(
            "/v1/leads",
            json={
                "email": f"ada.{provider}.{self._leads}@example.test",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "utm_source": "newsletter",
                "utm_medium": "email",
                "utm_campaign": "provider-acceptance",
                "consents": [{"kind": "privacy_notice", "status": "granted"}],
            },
        )
        assert lead.status_code == 201, lead.text
        created = self.api.post(
            "/v1/envelopes",
            json={
                "lead_id": lead.json()["id"],
                "template_key": f"{provider}_nda",
                "connection": provider,
            },
        )
        assert created.status_code == 201, f"{created.status_code} {created.text}\n{self.log()}"
        view: dict[str, Any] = created.json()
        assert view["provider"] == provider and view["provider_envelope_id"], view
        return view

    def envelope(self, envelope_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/v1/envelopes/{envelope_id}")
        assert answer.status_code == 200, answer.text
        view: dict[str, Any] = answer.json()
        return view

    def wait_envelope(
        self,
        envelope_id: str,
        condition: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            view = self.envelope(envelope_id)
            return view if condition(view) else None

        try:
            return wait_for(check, f"{what} (envelope {envelope_id})", timeout)
        except AssertionError as exc:
            view = self.envelope(envelope_id)
            summary = {k: view[k] for k in ("state", "needs_reconcile", "conflicts")}
            timeline = [
                (e["vendor_event"], e["outcome"], e["to_state"], e["receipt_id"])
                for e in view["timeline"]
            ]
            raise AssertionError(f"{exc}\n{summary}\ntimeline: {timeline}") from None

    def wait_state(self, envelope_id: str, state: str, timeout: float = 20.0) -> dict[str, Any]:
        """The envelope once it is in ``state`` with nothing left for reconciliation to do."""
        return self.wait_envelope(
            envelope_id,
            lambda v: v["state"] == state and not v["needs_reconcile"],
            f"state {state!r}",
            timeout,
        )

    def receipt_sources(self, correlation_id: str) -> dict[int, str]:
        """receipt id -> source (webhook | reconcile) for every receipt in a trace."""
        answer = self.api.get(f"/v1/trace/{correlation_id}")
        assert answer.status_code == 200, answer.text
        return {int(r["id"]): str(r["source"]) for r in answer.json()["receipts"]}

    def receipt_count(self, connection: str) -> int:
        """Webhook receipts stored for a connection, read from the region's SQLite file."""
        path = self.root / "data" / "default.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM webhook_receipts WHERE connection = ? AND source = 'webhook'",
                (connection,),
            ).fetchone()
        return int(row[0])

    def webhook_metric(self, connection: str, outcome: str) -> float:
        text = httpx.get(self.base + "/metrics", timeout=10).text
        pattern = re.compile(
            r"^inkbridge_webhooks_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$", re.M
        )
        for match in pattern.finditer(text):
            labels = match.group("labels")
            if f'connection="{connection}"' in labels and f'outcome="{outcome}"' in labels:
                return float(match.group("value"))
        return 0.0

    def send(self, outgoing: Outgoing) -> httpx.Response:
        return httpx.post(outgoing.url, headers=outgoing.headers, content=outgoing.body, timeout=30)

    # The emulators.

    def act(self, provider: str, provider_envelope_id: str, action: str) -> dict[str, Any]:
        answer = httpx.post(
            self.vendors[provider].control_url(provider_envelope_id, action), json={}, timeout=30
        )
        assert answer.status_code == 200, f"{provider} {action}: {answer.text}"
        result: dict[str, Any] = answer.json()
        return result

    def settle(self, provider: str) -> None:
        vendor = self.vendors[provider]
        wait_for(vendor.settled, f"the {provider} emulator to deliver everything it queued")

    def deliveries(self, provider: str, provider_envelope_id: str) -> list[Delivery]:
        return self.recorder.of(provider, provider_envelope_id)

    def completed(self, provider: str) -> dict[str, Any]:
        """One envelope per provider taken through sent, viewed, signed and completed with the
        emulator's control endpoints (made once, then shared by the tests that need one)."""
        if provider not in self._completed:
            view = self.create_envelope(provider)
            envelope_id, ref = view["id"], view["provider_envelope_id"]
            self.wait_envelope(envelope_id, lambda v: v["state"] == "sent", "state 'sent'")
            self.act(provider, ref, "view")
            self.wait_envelope(envelope_id, lambda v: v["state"] == "viewed", "state 'viewed'")
            self.act(provider, ref, "sign")
            self.wait_state(envelope_id, "completed")
            self.settle(provider)
            self._completed[provider] = self.envelope(envelope_id)
        return self._completed[provider]


def start_provider_stack(root: Path, *, stale_after_seconds: float = 3.0) -> ProviderStack:
    """Serve the six emulators, configure, migrate and start ``inkbridge serve``."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    recorder = Recorder()
    private_pem, public_pem = rsa_pem()
    vendors: dict[str, Vendor] = {}
    stack: ProviderStack | None = None
    try:
        for name in PROVIDERS:
            hook = f"http://127.0.0.1:{port}/v1/webhooks/{name}"
            app = build_emulator(name, hook, recorder.client_for(name), public_pem)
            vendors[name] = Vendor(name, Served(app))
            vendors[name].served.start()
        config = write_provider_config(
            root,
            port=port,
            emulators={name: vendor.base for name, vendor in vendors.items()},
            docusign_private_pem=private_pem,
            stale_after_seconds=stale_after_seconds,
        )
        cli(["migrate", "--config", str(config)])
        token = cli(["tokens", "create", "--config", str(config), "--scope", "admin"]).strip()
        stack = ProviderStack(root, port, token, recorder, vendors)
        stack.server = Process(
            [*INKBRIDGE, "serve", "--config", str(config)], root / "serve.log"
        ).start()
        wait_http(stack.base + "/healthz", proc=stack.server.proc)
        return stack
    except BaseException:
        if stack is not None:
            stack.stop()
        else:
            for vendor in vendors.values():
                vendor.served.stop()
        raise


def iter_stack(root: Path) -> Iterator[ProviderStack]:
    """A started stack for a fixture to yield, stopped afterwards."""
    stack = start_provider_stack(root)
    try:
        yield stack
    finally:
        stack.stop()
