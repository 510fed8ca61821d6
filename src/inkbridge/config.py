"""Typed settings, read once: `inkbridge.toml` plus `INKBRIDGE_*` environment overrides.

Secrets are written as references (``env:NAME`` or ``file:PATH``) and resolved once at start into
``SecretStr`` values, so they never show in a ``repr`` or a log line. This is the only module that
reads the process environment.
"""

from __future__ import annotations

import os
import secrets as pysecrets
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from inkbridge.domain.signer_session import normalise_origin
from inkbridge.errors import ConfigError

CONFIG_ENV = "INKBRIDGE_CONFIG"
ENV_PREFIX = "INKBRIDGE_"
SANDBOX_CONNECTION = "sandbox"


def resolve_secret(reference: str, environ: dict[str, str] | None = None) -> SecretStr:
    """Turn ``env:NAME`` or ``file:PATH`` into the secret it names."""
    env = os.environ if environ is None else environ
    if reference.startswith("env:"):
        name = reference[4:]
        if name not in env:
            raise ConfigError(f"secret reference {reference!r}: environment variable is not set")
        return SecretStr(env[name])
    if reference.startswith("file:"):
        path = Path(reference[5:])
        try:
            return SecretStr(path.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"secret reference {reference!r}: {exc.strerror}") from exc
    raise ConfigError("secrets must be written as references (env:NAME or file:PATH), never inline")


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None  # where providers reach inkbridge; defaults to host:port
    max_body_bytes: int = Field(default=1_048_576, gt=0)  # webhooks, triggers, the sandbox
    max_json_body_bytes: int = Field(default=65_536, gt=0)  # `/v1` JSON bodies
    max_json_depth: int = Field(default=32, ge=2, le=200)  # arrays/objects, any body

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class RegionSettings(BaseModel):
    database_url: str | None = None  # default: sqlite file <data_dir>/<region>.db


class ConnectionSettings(BaseModel):
    """One provider connection: where its webhooks come in and how they are verified."""

    provider: str = "sandbox"
    region: str = "default"
    secrets: list[str] = Field(default_factory=list)  # references; several allow key rotation
    api_url: str | None = None
    api_key: str | None = None  # reference
    tolerance_seconds: int = 300
    options: dict[str, Any] = Field(default_factory=dict)
    # Where a signer may be sent back after signing: exact origins (scheme://host[:port]).
    return_origins: list[str] = Field(default_factory=list)

    @field_validator("return_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return _normalised_origins(value)


def _normalised_origins(value: list[str]) -> list[str]:
    return [normalise_origin(origin) for origin in value]


DestinationKind = Literal[
    "sandbox_crm",
    "sandbox_marketing",
    "webhook",
    "hubspot",
    "salesforce",
    "dynamics",
    "pipedrive",
    "marketo",
    "mautic",
]
MARKETING_KINDS = frozenset({"sandbox_marketing", "marketo", "mautic"})
_RECORD_EVENTS = {"envelope.state_changed", "lead.updated", "contact.consent"}
DEFAULT_EVENTS: dict[str, frozenset[str]] = {
    "crm": frozenset(_RECORD_EVENTS | {"crm.task"}),
    "marketing": frozenset(_RECORD_EVENTS | {"journey.enter", "marketing.suppress"}),
    "webhook": frozenset(
        {
            "envelope.state_changed",
            "recipient.status_changed",
            "envelope.delivery_failed",
            "envelope.conflict_detected",
            "envelope.conflict_resolved",
        }
    ),
}


class DestinationSettings(BaseModel):
    """One CRM, marketing or outbound-webhook destination fed by the outbox."""

    kind: DestinationKind = "sandbox_crm"
    url: str | None = None
    secret: str | None = None  # reference; outbound webhooks sign with it
    # "crm" or "marketing": which journey actions reach it. Default: from the kind.
    role: Literal["crm", "marketing", "webhook"] | None = None
    fields: dict[str, str] = Field(default_factory=dict)  # canonical field -> vendor property
    options: dict[str, Any] = Field(default_factory=dict)  # vendor settings (not secret)
    credentials: dict[str, str] = Field(default_factory=dict)  # name -> secret reference
    regions: list[str] = Field(default_factory=lambda: ["default"])
    events: list[str] | None = None  # kinds of change it receives; default: by role
    batch_size: int = 100
    max_attempts: int = 8
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0
    rate_per_second: float = 50.0  # batches per second (the engine's own pacing)
    # The vendor's request quota, enforced per HTTP request: e.g. HubSpot 100 per 10 s.
    rate_limit_requests: int | None = None
    rate_limit_window_seconds: float = 10.0
    timeout_seconds: float = 10.0
    circuit_failures: int = 5  # consecutive failed batches that open the circuit
    circuit_cooldown_seconds: float = 30.0  # then one trial batch after this long

    @property
    def subscribed_events(self) -> frozenset[str]:
        if self.events is not None:
            return frozenset(self.events)
        return DEFAULT_EVENTS[self.effective_role]

    @property
    def effective_role(self) -> str:
        if self.role:
            return self.role
        if self.kind == "webhook":
            return "webhook"
        return "marketing" if self.kind in MARKETING_KINDS else "crm"


class TemplateSettings(BaseModel):
    title: str
    version: int = 1
    provider_template_id: str | None = None
    # Consent text versions shown at signing; recorded in the ledger when the envelope completes.
    consent_bundle: list[str] = Field(default_factory=list)
    # Where a signer may be sent back after signing, in addition to the connection's origins.
    return_origins: list[str] = Field(default_factory=list)

    @field_validator("return_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return _normalised_origins(value)


class SigningSettings(BaseModel):
    """Verified signer sessions (``POST /v1/envelopes/{id}/signing-session``).

    Durations are seconds or ISO 8601 (``PT10M``)."""

    max_auth_age: timedelta = timedelta(minutes=10)  # the integrator's sign-in, at most this old
    clock_skew: timedelta = timedelta(seconds=60)  # an authentication this far ahead is accepted
    session_ttl: timedelta = timedelta(minutes=5)  # a /sign/ link must be opened within this
    # Optional key (a secret reference) for HMAC-SHA-256 of the integrator's subject; without
    # one the evidence holds its plain SHA-256.
    subject_hash_key: str | None = None


class ControllerSettings(BaseModel):
    """The data controller named on consent receipts."""

    name: str = "inkbridge operator"
    contact: str | None = None
    email: str | None = None
    address: str | None = None
    policy_url: str | None = None


class JourneySettings(BaseModel):
    """One journey rule (see domain.journeys); ``[[journeys]]`` in the file replaces the
    defaults (completed → onboarding, expired → nurture, declined → task, completed without
    marketing consent → suppress)."""

    name: str
    on_state: Literal["completed", "declined", "voided", "expired", "sent", "viewed"]
    action: Literal["enter_journey", "create_task", "suppress_marketing"]
    journey: str | None = None
    task_subject: str | None = None
    requires_marketing_consent: bool = False
    without_marketing_consent: bool = False
    destinations: list[str] = Field(default_factory=list)


class TriggerSettings(BaseModel):
    """An inbound CRM trigger: a deal reaching ``stage`` creates the envelope for it, once."""

    kind: Literal["hubspot", "standard_webhooks"] = "standard_webhooks"
    secrets: list[str] = Field(default_factory=list)  # references; HubSpot: the app secret
    stage: str = "contractsent"
    template_key: str
    connection: str | None = None
    api_url: str = "https://api.hubapi.com"  # HubSpot: to look up the deal's contact
    api_token: str | None = None  # reference; HubSpot private-app token
    tolerance_seconds: int = 300


class WorkerSettings(BaseModel):
    poll_interval_seconds: float = 0.1
    batch_size: int = 50
    lease_seconds: float = 30.0
    reconcile_interval_seconds: float = 30.0
    stale_after_seconds: float = 3600.0  # an open envelope this long without news is polled
    # SQLite only: a processing transaction takes more receipts while it has run less than this.
    # Webhook acknowledgements in the same process wait for it to commit.
    sqlite_transaction_seconds: float = Field(default=0.02, gt=0)


class CaptureSettings(BaseModel):
    """The public capture endpoint (``POST /v1/touchpoints``): its rate limits and how far a
    visitor's clock is trusted. A publishable key may set its own per-key rate."""

    rate_per_minute_per_ip: int = Field(default=60, ge=1)
    rate_per_minute_per_key: int = Field(default=600, ge=1)
    # Rate-limit state is kept in memory; idle buckets go first once this many are held.
    max_tracked_clients: int = Field(default=10_000, ge=1)
    # A client-sent touch time within this of the server's clock is kept, otherwise replaced.
    clock_skew_seconds: float = Field(default=300.0, ge=0)


class Settings(BaseModel):
    """Everything inkbridge reads from configuration."""

    data_dir: Path = Path("inkbridge-data")
    home_region: str = "default"
    log_level: str = "info"
    server: ServerSettings = Field(default_factory=ServerSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    regions: dict[str, RegionSettings] = Field(
        default_factory=lambda: {"default": RegionSettings()}
    )
    connections: dict[str, ConnectionSettings] = Field(default_factory=dict)
    destinations: dict[str, DestinationSettings] = Field(default_factory=dict)
    templates: dict[str, TemplateSettings] = Field(default_factory=dict)
    journeys: list[JourneySettings] | None = None  # None: the default rules
    controller: ControllerSettings = Field(default_factory=ControllerSettings)
    triggers: dict[str, TriggerSettings] = Field(default_factory=dict)
    signing: SigningSettings = Field(default_factory=SigningSettings)
    sandbox: bool = False  # serve the built-in sandbox provider and destinations
    capture: CaptureSettings = Field(default_factory=CaptureSettings)

    @field_validator("regions")
    @classmethod
    def _at_least_one_region(cls, value: dict[str, RegionSettings]) -> dict[str, RegionSettings]:
        if not value:
            raise ValueError("at least one region must be configured")
        return value

    @model_validator(mode="after")
    def _references_exist(self) -> Settings:
        if self.home_region not in self.regions:
            raise ValueError(f"home_region {self.home_region!r} is not a configured region")
        for name, conn in self.connections.items():
            if conn.region not in self.regions:
                raise ValueError(f"connection {name!r} names unknown region {conn.region!r}")
        for name, dest in self.destinations.items():
            unknown = [r for r in dest.regions if r not in self.regions]
            if unknown:
                raise ValueError(f"destination {name!r} names unknown regions {unknown}")
        return self

    def database_url(self, region: str) -> str:
        url = self.regions[region].database_url
        if url:
            return url
        return f"sqlite:///{(self.data_dir / f'{region}.db').as_posix()}"

    def resolve(self, reference: str) -> SecretStr:
        return resolve_secret(reference)


def _set_path(tree: dict[str, Any], path: list[str], value: str) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """``INKBRIDGE_SERVER__PORT=9000`` becomes ``{"server": {"port": "9000"}}``."""
    tree: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == CONFIG_ENV:
            continue
        path = [part.lower() for part in key[len(ENV_PREFIX) :].split("__")]
        if path and all(path):
            _set_path(tree, path, value)
    return tree


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def sandbox_defaults(data_dir: Path) -> dict[str, Any]:
    """The configuration `inkbridge serve` uses when there is no file: a working sandbox."""
    secret_file = data_dir / "sandbox-webhook.secret"
    hook_file = data_dir / "sandbox-outbound.secret"
    return {
        "sandbox": True,
        "connections": {
            SANDBOX_CONNECTION: {"provider": "sandbox", "secrets": [f"file:{secret_file}"]}
        },
        "destinations": {
            "crm": {"kind": "sandbox_crm"},
            "marketing": {"kind": "sandbox_marketing"},
        },
        "templates": {
            "nda": {"title": "Mutual non-disclosure agreement", "version": 1},
            "msa": {"title": "Master services agreement", "version": 1},
        },
        "_secret_files": [str(secret_file), str(hook_file)],
    }


def ensure_sandbox_secrets(data_dir: Path) -> None:
    """Create the sandbox's webhook secrets once, readable by the owner only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in ("sandbox-webhook.secret", "sandbox-outbound.secret"):
        path = data_dir / name
        if not path.exists():
            path.write_text("whsec_" + _b64_secret(), encoding="utf-8")
            path.chmod(0o600)


def _b64_secret() -> str:
    import base64

    return base64.b64encode(pysecrets.token_bytes(24)).decode()


def load_settings(
    path: Path | None = None,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Read settings once: file (or the sandbox defaults), then environment, then overrides."""
    env = dict(os.environ if environ is None else environ)
    if path is None and env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    if path is None and Path("inkbridge.toml").exists():
        path = Path("inkbridge.toml")
    raw: dict[str, Any]
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from exc
    else:
        raw = {}
    raw = _merge(raw, _env_overrides(env))
    if overrides:
        raw = _merge(raw, overrides)
    if path is None:
        data_dir = Path(raw.get("data_dir", "inkbridge-data"))
        defaults = sandbox_defaults(data_dir)
        defaults.pop("_secret_files")
        raw = _merge(defaults, raw)
        ensure_sandbox_secrets(data_dir)
    try:
        return Settings.model_validate(raw)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
