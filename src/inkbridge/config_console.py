"""The ``[console]`` table: how people sign in to the console. Without ``[console.oidc]`` the
console takes API tokens only; with it, the sign-in page also offers single sign-on through
the OpenID Connect provider named there, whose groups are mapped to inkbridge scopes."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from inkbridge.config_secrets import SecretReference


class OidcSettings(BaseModel):
    """An OpenID Connect provider (authorization code flow with PKCE). The redirect URI to
    register at the provider is ``<server.public_url>/console/oidc/callback``."""

    model_config = ConfigDict(extra="forbid")

    # The provider's issuer identifier; its discovery document is read from
    # <issuer>/.well-known/openid-configuration and must name this very issuer.
    issuer: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: SecretReference
    # The ID token claim holding the person's groups (a list of strings).
    groups_claim: str = Field(default="groups", min_length=1)
    # Group -> the inkbridge scopes its members get; a person in no mapped group is refused.
    group_scopes: dict[str, list[str]] = Field(default_factory=dict)
    # Scopes asked of the provider; "openid" is always asked.
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email", "groups"])
    # Allowed clock difference with the provider when checking the ID token's times.
    leeway_seconds: int = Field(default=60, ge=0, le=600)

    @field_validator("issuer")
    @classmethod
    def _issuer_is_a_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.query:
            raise ValueError("issuer must be an http(s) URL without a query")
        return value  # compared exactly with the ID token's iss (some end in "/")

    @property
    def requested_scopes(self) -> list[str]:
        return ["openid", *(s for s in self.scopes if s != "openid")]


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    oidc: OidcSettings | None = None
