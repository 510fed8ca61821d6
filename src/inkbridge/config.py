"""Typed settings: every table and key `inkbridge.toml` may hold, and nothing else.

Each table is a model that forbids unknown keys, so a misspelling is an error rather than a
setting silently dropped (``inkbridge.config_sources`` reads the file and the environment and
names the key). Secrets are written as references (``env:NAME`` or ``file:PATH``) and resolved
into ``SecretStr`` values, so they never show in a ``repr`` or a log line. This module and
``config_sources`` (with ``config_secrets``, which resolves references) are the only ones that
read the process environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from inkbridge.config_console import ConsoleSettings
from inkbridge.config_residency import ResidencySettings
from inkbridge.config_retention import RetentionSettings

# Secret references live in config_secrets (config_console needs them too); re-exported here.
from inkbridge.config_secrets import REFERENCE_REQUIRED as REFERENCE_REQUIRED
from inkbridge.config_secrets import SecretReference as SecretReference
from inkbridge.config_secrets import resolve_secret as resolve_secret
from inkbridge.config_senders import SenderMapping, SignatureScheme
from inkbridge.config_telemetry import TelemetrySettings
from inkbridge.domain.signer_session import normalise_origin

CONFIG_ENV = "INKBRIDGE_CONFIG"
ENV_PREFIX = "INKBRIDGE_"
SANDBOX_CONNECTION = "sandbox"
DATABASE_SCHEMES = ("sqlite", "postgresql")


class Section(BaseModel):
    """A table of the configuration file: a key it does not define is an error."""

    model_config = ConfigDict(extra="forbid")


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None  # where providers reach inkbridge; defaults to host:port
    max_body_bytes: int = Field(default=1_048_576, gt=0)  # webhooks, triggers, the sandbox
    max_json_body_bytes: int = Field(default=65_536, gt=0)  # `/v1` JSON bodies
    max_json_depth: int = Field(default=32, ge=2, le=200)  # arrays/objects, any body

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class RegionSettings(Section):
    database_url: str | None = None  # default: sqlite file <data_dir>/<region>.db
    # Where `inkbridge backup` may write this region's backups (none: <data_dir>/backups/<r>).
    backup_dirs: list[Path] = Field(default_factory=list)
    # The region's key-encryption key (32 random bytes, base64) and the older ones still
    # needed until `inkbridge keys rotate` re-wraps their data keys. Without one, a managed key
    # file under <data_dir>/keys/<region>/ is created at first start (configure one in
    # production: the key must not sit next to the data it protects).
    key: SecretReference | None = None
    previous_keys: list[SecretReference] = Field(default_factory=list)

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        # Only the scheme is named: the rest of the URL may carry a password.
        scheme = (value or "sqlite:").split(":", 1)[0].split("+", 1)[0].lower()
        if scheme not in DATABASE_SCHEMES:
            raise ValueError(
                f"unsupported database {scheme!r}; use sqlite:///path or postgresql://host/db"
            )
        return value


class ConnectionSettings(Section):
    """One provider connection: where its webhooks come in and how they are verified."""

    provider: str = "sandbox"
    region: str = "default"
    secrets: list[SecretReference] = Field(default_factory=list)  # several allow key rotation
    api_url: str | None = None
    api_key: SecretReference | None = None
    tolerance_seconds: int = 300
    options: dict[str, Any] = Field(default_factory=dict)
    # Where a signer may be sent back after signing: exact origins (scheme://host[:port]).
    return_origins: list[str] = Field(default_factory=list)
    # A standard_webhooks sender's own vocabulary and signature scheme (config_senders).
    mapping: SenderMapping | None = None
    signature: SignatureScheme = Field(default_factory=SignatureScheme)
    # api_url is a vendor emulator whose test requests `inkbridge golive` may create and sign.
    golive_may_seed: bool = False

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
# The built-in sandbox twins: the only destinations inkbridge can make fail on request.
SANDBOX_DESTINATION_KINDS = frozenset({"sandbox_crm", "sandbox_marketing"})
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


class DestinationSettings(Section):
    """One CRM, marketing or outbound-webhook destination fed by the outbox."""

    kind: DestinationKind = "sandbox_crm"
    url: str | None = None
    secret: SecretReference | None = None  # outbound webhooks sign with it
    # "crm" or "marketing": which journey actions reach it. Default: from the kind.
    role: Literal["crm", "marketing", "webhook"] | None = None
    fields: dict[str, str] = Field(default_factory=dict)  # canonical field -> vendor property
    options: dict[str, Any] = Field(default_factory=dict)  # vendor settings (not secret)
    credentials: dict[str, SecretReference] = Field(default_factory=dict)
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
    # `inkbridge golive` may make this destination fail (5xx, 429, timeouts, a refused write)
    # to prove nothing is lost: only a sandbox twin, and only when the deployment says so.
    golive_may_fault: bool = False

    @model_validator(mode="after")
    def _only_sandbox_faults(self) -> DestinationSettings:
        if self.golive_may_fault and self.kind not in SANDBOX_DESTINATION_KINDS:
            raise ValueError(
                "golive_may_fault: only a sandbox destination (sandbox_crm, sandbox_marketing) "
                "can be faulted"
            )
        return self

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


class TemplateSettings(Section):
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


class SigningSettings(Section):
    """Verified signer sessions (``POST /v1/envelopes/{id}/signing-session``).

    Durations are seconds or ISO 8601 (``PT10M``)."""

    max_auth_age: timedelta = timedelta(minutes=10)  # the integrator's sign-in, at most this old
    clock_skew: timedelta = timedelta(seconds=60)  # an authentication this far ahead is accepted
    session_ttl: timedelta = timedelta(minutes=5)  # a /sign/ link must be opened within this
    # Optional key (a secret reference) for HMAC-SHA-256 of the integrator's subject; without
    # one the evidence holds its plain SHA-256.
    subject_hash_key: SecretReference | None = None


class ControllerSettings(Section):
    """The data controller named on consent receipts."""

    name: str = "inkbridge operator"
    contact: str | None = None
    email: str | None = None
    address: str | None = None
    policy_url: str | None = None


class JourneySettings(Section):
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


class TriggerSettings(Section):
    """An inbound CRM trigger: a deal reaching ``stage`` creates the envelope for it, once."""

    kind: Literal["hubspot", "standard_webhooks"] = "standard_webhooks"
    secrets: list[SecretReference] = Field(default_factory=list)  # HubSpot: the app secret
    stage: str = "contractsent"
    template_key: str
    connection: str | None = None
    api_url: str = "https://api.hubapi.com"  # HubSpot: to look up the deal's contact
    api_token: SecretReference | None = None  # HubSpot private-app token
    tolerance_seconds: int = 300


class WorkerSettings(Section):
    poll_interval_seconds: float = 0.1
    batch_size: int = 50
    lease_seconds: float = 30.0
    reconcile_interval_seconds: float = 30.0
    stale_after_seconds: float = 3600.0  # an open envelope this long without news is polled
    # SQLite only: a processing transaction takes more receipts while it has run less than this.
    # Webhook acknowledgements in the same process wait for it to commit.
    sqlite_transaction_seconds: float = Field(default=0.02, gt=0)
    # A worker run alone (`inkbridge worker`) serves GET /metrics on this port when set; off
    # by default. `serve` and `api` already serve /metrics on the API's port.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"


class CaptureSettings(Section):
    """The public capture endpoint (``POST /v1/touchpoints``): its rate limits and how far a
    visitor's clock is trusted. A publishable key may set its own per-key rate."""

    rate_per_minute_per_ip: int = Field(default=60, ge=1)
    rate_per_minute_per_key: int = Field(default=600, ge=1)
    # Rate-limit state is kept in memory; idle buckets go first once this many are held.
    max_tracked_clients: int = Field(default=10_000, ge=1)
    # A client-sent touch time within this of the server's clock is kept, otherwise replaced.
    clock_skew_seconds: float = Field(default=300.0, ge=0)


class Settings(BaseSettings):
    """Everything inkbridge reads from configuration.

    Built in code (tests, tools) it holds exactly what it is given; ``load_settings`` adds the
    file and the ``INKBRIDGE_*`` environment (nested with ``__``) through this model's sources.
    """

    model_config = SettingsConfigDict(
        extra="forbid", env_prefix=ENV_PREFIX, env_nested_delimiter="__", case_sensitive=False
    )

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
    residency: ResidencySettings = Field(default_factory=ResidencySettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @field_validator("regions")
    @classmethod
    def _at_least_one_region(cls, value: dict[str, RegionSettings]) -> dict[str, RegionSettings]:
        if not value:
            raise ValueError("at least one region must be configured")
        return value

    @model_validator(mode="after")
    def _references_exist(self) -> Settings:
        if self.home_region not in self.regions:
            raise ValueError(f"home_region: {self.home_region!r} is not a configured region")
        for name, conn in self.connections.items():
            if conn.region not in self.regions:
                raise ValueError(f"connections.{name}.region: unknown region {conn.region!r}")
        for name, dest in self.destinations.items():
            unknown = [r for r in dest.regions if r not in self.regions]
            if unknown:
                raise ValueError(f"destinations.{name}.regions: unknown regions {unknown}")
        for country, region in self.residency.countries.items():
            if region not in self.regions:
                raise ValueError(f"residency.countries.{country}: unknown region {region!r}")
        default = self.residency.default_region
        if default is not None and default not in self.regions:
            raise ValueError(f"residency.default_region: unknown region {default!r}")
        return self

    def database_url(self, region: str) -> str:
        url = self.regions[region].database_url
        if url:
            return url
        return f"sqlite:///{(self.data_dir / f'{region}.db').as_posix()}"

    def resolve(self, reference: str) -> SecretStr:
        return resolve_secret(reference)

    def secret_references(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """Every secret reference in the typed tables, with where it is written."""
        for name, region in self.regions.items():
            if region.key:
                yield ("regions", name, "key"), region.key
            for index, ref in enumerate(region.previous_keys):
                yield ("regions", name, "previous_keys", index), ref
        for name, conn in self.connections.items():
            for index, ref in enumerate(conn.secrets):
                yield ("connections", name, "secrets", index), ref
            if conn.api_key:
                yield ("connections", name, "api_key"), conn.api_key
        for name, dest in self.destinations.items():
            if dest.secret:
                yield ("destinations", name, "secret"), dest.secret
            for key, ref in dest.credentials.items():
                yield ("destinations", name, "credentials", key), ref
        for name, trigger in self.triggers.items():
            for index, ref in enumerate(trigger.secrets):
                yield ("triggers", name, "secrets", index), ref
            if trigger.api_token:
                yield ("triggers", name, "api_token"), trigger.api_token
        if self.signing.subject_hash_key:
            yield ("signing", "subject_hash_key"), self.signing.subject_hash_key
        if self.console.oidc is not None:
            yield ("console", "oidc", "client_secret"), self.console.oidc.client_secret

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file and environment are layered by `config_sources.load_settings`, which knows
        # which file was asked for; a Settings built in code never picks up the environment.
        return (init_settings,)
