"""Residency rules and settings: which region a new lead gets, the ``[residency]`` table, and
the sandbox defaults' connection per region (the single-region default unchanged)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inkbridge.config import Settings
from inkbridge.config_sources import load_settings
from inkbridge.domain.countries import country_code
from inkbridge.domain.residency import RegionRule, choose_region
from inkbridge.errors import ConfigError

COUNTRIES = {"DE": "eu", "US": "us"}


def _choose(**given: str | None) -> tuple[str, RegionRule]:
    values: dict[str, str | None] = {"explicit": None, "key_region": None, "country": None}
    values.update(given)
    choice = choose_region(
        explicit=values["explicit"],
        key_region=values["key_region"],
        country=values["country"],
        countries=COUNTRIES,
        default_region="eu",
    )
    return choice.region, choice.rule


def test_the_first_rule_that_applies_chooses_the_region() -> None:
    assert _choose(explicit="us", key_region="eu", country="DE") == ("us", RegionRule.EXPLICIT)
    assert _choose(key_region="us", country="DE") == ("us", RegionRule.PUBLISHABLE_KEY)
    assert _choose(country="US") == ("us", RegionRule.COUNTRY)
    assert _choose(country="BR") == ("eu", RegionRule.DEFAULT)
    assert _choose() == ("eu", RegionRule.DEFAULT)


def test_a_country_is_an_assigned_alpha_2_code_in_any_case() -> None:
    assert country_code(" de ") == "DE"
    assert [country_code(v) for v in ("XK", "UK", "EU", "DEU", "", "1A")] == [None] * 6


def _settings(residency: dict[str, object]) -> Settings:
    return Settings.model_validate(
        {"home_region": "eu", "regions": {"eu": {}, "us": {}}, "residency": residency}
    )


def test_the_country_map_reads_codes_in_any_case() -> None:
    settings = _settings({"countries": {"de": "eu", "US": "us"}, "default_region": "us"})
    assert settings.residency.countries == {"DE": "eu", "US": "us"}
    assert settings.residency.default_region == "us"


@pytest.mark.parametrize(
    ("residency", "message"),
    [
        ('countries = { Germany = "eu" }', "not an ISO 3166-1 alpha-2 country code"),
        ('countries = { de = "eu", DE = "us" }', "mapped twice"),
        ('countries = { FR = "apac" }', "residency.countries.FR: unknown region 'apac'"),
        ('default_region = "apac"', "residency.default_region: unknown region 'apac'"),
        ("country_map = {}", "unknown key residency.country_map"),
    ],
)
def test_a_wrong_residency_table_is_refused_naming_the_key(
    tmp_path: Path, residency: str, message: str
) -> None:
    config = tmp_path / "inkbridge.toml"
    lines = ['home_region = "eu"', "[regions.eu]", "[regions.us]", "[residency]", residency]
    config.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(config, environ={})


def test_the_single_region_sandbox_default_keeps_its_one_connection(tmp_path: Path) -> None:
    settings = load_settings(None, environ={"INKBRIDGE_DATA_DIR": str(tmp_path / "d")})
    assert list(settings.connections) == ["sandbox"]
    assert settings.connections["sandbox"].region == "default"
    assert settings.destinations["crm"].regions == ["default"]


def test_the_sandbox_default_has_a_connection_per_region(tmp_path: Path) -> None:
    data = tmp_path / "d"
    settings = load_settings(
        None,
        environ={
            "INKBRIDGE_DATA_DIR": str(data),
            "INKBRIDGE_HOME_REGION": "eu",
            "INKBRIDGE_REGIONS": '{"eu": {}, "us": {}}',
        },
    )
    regions = {name: conn.region for name, conn in settings.connections.items()}
    assert regions == {"sandbox": "eu", "sandbox-us": "us"}
    secrets = {p.name: p.read_text() for p in data.glob("sandbox*-webhook.secret")}
    assert set(secrets) == {"sandbox-webhook.secret", "sandbox-us-webhook.secret"}
    assert len(set(secrets.values())) == 2  # each region's connection signs with its own
    # The sandbox CRM and marketing tool hold the home region's records only.
    assert settings.destinations["crm"].regions == ["eu"]
    assert settings.destinations["marketing"].regions == ["eu"]
