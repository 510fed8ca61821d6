"""JSON logs via structlog, with no personal data by construction.

Every line, inkbridge's own (structlog) and foreign ones (uvicorn, httpx, any stdlib logger, which
go through the same processors by ``structlog.stdlib.ProcessorFormatter``), passes
``PersonalDataGuard`` last, after exceptions are rendered to text:

- secrets (``token``, ``authorization``, ``body``, ...) are replaced by ``[redacted]``;
- identifiers (``email``, ``phone``, ``ip``, ``user_agent`` and keys naming them) are replaced by
  a short keyed SHA-256 (``sha256:<12 hex>``): lines about one person still correlate, the
  person cannot be read back;
- free text about a person (``name``, ``first_name``, ``address``, ...) is dropped;
- in every other string, nested dicts and lists and exception text included, email addresses
  and phone numbers written in international form (``+`` then 8 to 15 digits) are masked.

Only ``+``-prefixed numbers are masked as phones: a national number without its country code
looks like the ids, counts, dates and ports log lines are full of, so masking those would hide
the facts the logs exist for; values known to be phone numbers are hashed by key instead.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
SECRET_KEYS = frozenset(
    {
        "secret",
        "token",
        "password",
        "authorization",
        "body",
        "headers",
        "api_key",
        "cookie",
        "set_cookie",
    }
)
IDENTIFIER_KEYS = frozenset(
    {"ip", "ip_address", "client_ip", "client_addr", "remote_addr", "user_agent", "mobile"}
)
# Any key containing one of these names an identifier too (recipient_email, phone_number).
IDENTIFIER_PARTS = ("email", "phone")
FREE_TEXT_KEYS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "full_name",
        "display_name",
        "given_name",
        "family_name",
        "signer_name",
        "recipient_name",
        "user_name",
        "username",
        "address",
        "street",
        "street_address",
        "postal_address",
        "postal_code",
        "zip_code",
        "merge_fields",
    }
)
# Local part, @, a dotted domain: an address as people write them (also user:password@host).
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# E.164 as people write it: +, then 8 to 15 digits with at most two spaces, dots, dashes or
# parentheses between any two; never right after a word character (not a timestamp's +00:00).
PHONE = re.compile(r"(?<![\w+])\+\d(?:[ .\-()]{0,2}\d){7,14}(?!\d)")
_HASH_PREFIX = "sha256:"


class PersonalDataGuard:
    """The structlog processor that keeps personal data out of log lines (see the module).

    ``hash_key`` keys the hashes; without one, a random key for this process: hashes then
    correlate within the process only, and an address cannot be confirmed by hashing a guess.
    """

    def __init__(self, hash_key: bytes | None = None) -> None:
        self._key = hash_key or secrets.token_bytes(32)

    def pseudonym(self, value: object) -> str:
        text = str(value).strip().lower()
        digest = hmac.new(self._key, text.encode("utf-8", "replace"), hashlib.sha256)
        return _HASH_PREFIX + digest.hexdigest()[:12]

    def mask(self, text: str) -> str:
        """``text`` with email addresses and international phone numbers masked."""
        if "@" in text:
            text = EMAIL.sub(lambda m: f"[email {self.pseudonym(m.group())}]", text)
        if "+" in text:
            text = PHONE.sub(lambda m: f"[phone {self.pseudonym(m.group())}]", text)
        return text

    def clean(self, value: Any) -> Any:
        """``value`` masked throughout: strings, and the values of dicts, lists and tuples."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, Mapping):
            return {k: self.field(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.clean(item) for item in value]
        return value  # numbers, booleans, None and objects the renderer turns into text

    def field(self, key: str, value: Any) -> Any:
        name = key.lower().replace("-", "_")
        if value is None:
            return None
        if name in SECRET_KEYS:
            return REDACTED
        if name in FREE_TEXT_KEYS:
            return REDACTED
        if name in IDENTIFIER_KEYS or any(part in name for part in IDENTIFIER_PARTS):
            if isinstance(value, str | int | float):
                return self.pseudonym(value)
            return REDACTED
        return self.clean(value)

    def __call__(
        self, _logger: Any, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event):
            if not key.startswith("_"):  # ProcessorFormatter's own entries (the LogRecord)
                event[key] = self.field(key, event[key])
        return event


class AccessClientFilter(logging.Filter):
    """Hashes the client address of uvicorn's access lines before they are formatted (it rides
    in the record's arguments, where no processor sees it as a field)."""

    def __init__(self, guard: PersonalDataGuard) -> None:
        super().__init__()
        self._guard = guard

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and record.args:
            host = str(record.args[0]).rsplit(":", 1)[0]
            record.args = (self._guard.pseudonym(host), *record.args[1:])
        return True


def log_hash_key(subject_hash_key: bytes | None) -> bytes | None:
    """The key log pseudonyms are made with, derived from the subject hash key so that every
    process of one deployment hashes an address alike (and the key itself is never reused)."""
    if subject_hash_key is None:
        return None
    return hmac.new(subject_hash_key, b"inkbridge log pseudonyms v1", hashlib.sha256).digest()


def configure(level: str = "info", hash_key: bytes | None = None) -> PersonalDataGuard:
    """JSON lines on stderr for structlog and every stdlib logger, all through one guard."""
    numeric = getattr(logging, level.upper(), logging.INFO)
    guard = PersonalDataGuard(hash_key)
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(AccessClientFilter(guard))
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                stamp,
                structlog.processors.format_exc_info,
                guard,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    # A server configured before us (uvicorn's own log config, an embedding application) may
    # have given its loggers handlers and levels of their own: those lines would skip the guard
    # or the level asked for here.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        foreign = logging.getLogger(name)
        foreign.handlers = []
        foreign.propagate = True
        foreign.disabled = False
        foreign.setLevel(logging.NOTSET)
    # httpx logs every request URL at INFO; vendor lookups can carry an email in the query.
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            stamp,
            structlog.processors.format_exc_info,
            guard,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        # Not cached: a logger cached on first use keeps these processors for good, so a later
        # configuration (a second command in one process, structlog's capture_logs) would
        # never reach it. Nothing logs on the hot path's success branch, so the lookup is cheap.
        cache_logger_on_first_use=False,
    )
    return guard
