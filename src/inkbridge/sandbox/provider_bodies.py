"""The JSON bodies the sandbox provider's API accepts, validated at the edge."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from inkbridge.domain.signer_session import origin_of

Scalar = str | int | float | bool | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SignerBody(_Body):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    recipient_id: str | None = Field(default=None, min_length=1, max_length=100)


class CreateEnvelopeBody(_Body):
    template_id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=500)
    signers: list[SignerBody] = Field(default_factory=list, max_length=20)
    metadata: dict[str, Scalar] = Field(default_factory=dict)
    merge_fields: dict[str, Scalar] = Field(default_factory=dict)


class SigningUrlBody(_Body):
    recipient_id: str = Field(min_length=1, max_length=100)
    return_url: str | None = Field(default=None, max_length=2000)
    # SHA-256 (hex) of the signer cookie of the one browser that may open the link.
    binding: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("return_url")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        # Anything else (javascript:, data:, credentials or backslashes that move the host)
        # would turn the redirect after signing into a hole.
        if value is not None and origin_of(value) is None:
            raise ValueError("return_url must be an absolute http(s) URL")
        return value


class AdminActionBody(_Body):
    recipient_id: str | None = None
    force: bool = False
    occurred_at: datetime | None = None
