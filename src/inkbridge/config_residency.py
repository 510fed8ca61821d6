"""The ``[residency]`` table: how a lead's region is chosen when its capture names none.

``countries`` maps ISO 3166-1 alpha-2 codes to configured regions; a capture's ``country`` found
there decides, any other falls to ``default_region`` (the home region when unset). Which regions
exist is checked by ``Settings``, which knows them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from inkbridge.domain.countries import country_code


class ResidencySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    countries: dict[str, str] = Field(default_factory=dict)  # "DE" -> "eu"
    default_region: str | None = None  # None: the home region

    @field_validator("countries")
    @classmethod
    def _alpha2(cls, value: dict[str, str]) -> dict[str, str]:
        read: dict[str, str] = {}
        for written, region in value.items():
            code = country_code(written)
            if code is None:
                raise ValueError(f"{written!r} is not an ISO 3166-1 alpha-2 country code")
            if code in read:
                raise ValueError(f"country {code} is mapped twice")
            read[code] = region
        return read
