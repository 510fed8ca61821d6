"""Which region a new lead belongs to: the capture's own ``region``, else the region of the
publishable key of the site it came from, else the ``[residency]`` country map, else the default
region (``residency.default_region``, or the home region). Chosen once, at capture; a value
that names no configured region, key or country is refused, never guessed around."""

from __future__ import annotations

from inkbridge.config_residency import ResidencySettings
from inkbridge.domain.countries import country_code
from inkbridge.domain.residency import RegionChoice, choose_region
from inkbridge.errors import InvalidInput
from inkbridge.services import publishable_keys
from inkbridge.store.database import Databases


def lead_region(
    databases: Databases,
    *,
    region: str | None,
    publishable_key: str | None,
    country: str | None,
    residency: ResidencySettings,
) -> RegionChoice:
    """The region of a lead captured with these values, and the rule that chose it."""
    if region is not None and region not in databases.names:
        raise InvalidInput(f"unknown region {region!r}", field="region")
    key_region = None
    if publishable_key is not None:
        key = publishable_keys.authenticate(databases, publishable_key)
        if key is None:
            raise InvalidInput("unknown or revoked publishable key", field="publishable_key")
        key_region = key.region
    code = None
    if country is not None:
        code = country_code(country)
        if code is None:
            raise InvalidInput(
                "not an ISO 3166-1 alpha-2 country code (such as DE or US)", field="country"
            )
    choice = choose_region(
        explicit=region,
        key_region=key_region,
        country=code,
        countries=residency.countries,
        default_region=residency.default_region or databases.home_region,
    )
    if choice.region not in databases.names:
        # The settings check their own regions; a key may name one that is configured no more.
        raise InvalidInput(f"region {choice.region!r} is not configured", field=choice.rule.value)
    return choice
