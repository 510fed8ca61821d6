"""Settings: file, environment overrides, secret references and the sandbox defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkbridge.config import Settings, resolve_secret
from inkbridge.config_sources import load_settings
from inkbridge.errors import ConfigError


def test_no_file_gives_a_working_sandbox(tmp_path: Path) -> None:
    settings = load_settings(None, environ={"INKBRIDGE_DATA_DIR": str(tmp_path / "d")})
    assert settings.sandbox is True
    assert "sandbox" in settings.connections
    assert {"crm", "marketing"} <= set(settings.destinations)
    secret = resolve_secret(settings.connections["sandbox"].secrets[0])
    assert secret.get_secret_value().startswith("whsec_")
    assert (tmp_path / "d" / "sandbox-webhook.secret").stat().st_mode & 0o077 == 0


def test_environment_overrides_nested_settings(tmp_path: Path) -> None:
    config = tmp_path / "inkbridge.toml"
    config.write_text("[server]\nport = 8000\n[regions.default]\n")
    settings = load_settings(config, environ={"INKBRIDGE_SERVER__PORT": "9100"})
    assert settings.server.port == 9100


def test_secret_references_resolve_from_env_and_file(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.write_text("from-file\n")
    assert resolve_secret(f"file:{path}").get_secret_value() == "from-file"
    assert resolve_secret("env:X", {"X": "from-env"}).get_secret_value() == "from-env"


def test_inline_secrets_are_refused_and_never_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_secret("whsec_plaintext")
    assert "whsec_plaintext" not in str(caught.value)


def test_a_missing_environment_secret_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="not set"):
        resolve_secret("env:NOPE", {})


def test_resolved_secrets_hide_in_repr() -> None:
    secret = resolve_secret("env:X", {"X": "hunter2"})
    assert "hunter2" not in repr(secret)


def test_a_connection_in_an_unknown_region_is_rejected(tmp_path: Path) -> None:
    config = tmp_path / "inkbridge.toml"
    config.write_text('[connections.x]\nprovider = "sandbox"\nregion = "mars"\n')
    with pytest.raises(ConfigError, match="unknown region"):
        load_settings(config, environ={})


def test_a_broken_file_names_itself(tmp_path: Path) -> None:
    config = tmp_path / "inkbridge.toml"
    config.write_text("[server\n")
    with pytest.raises(ConfigError, match=r"inkbridge\.toml"):
        load_settings(config, environ={})


# -- strictness: every table forbids unknown keys, and the error names key and file ------------

EVERY_TABLE = Path(__file__).parents[1] / "fixtures" / "config" / "every_table.toml"
EVERY_TABLE_SECRETS = {
    "DOCUSIGN_CONNECT_KEY": "k",
    "ZAPIER_WEBHOOK_SECRET": "whsec_c2VjcmV0",
    "HUBSPOT_APP_SECRET": "s",
}


def _tables() -> list[str]:
    """The file's table headers, in order ("" for the top level)."""
    lines = EVERY_TABLE.read_text().splitlines()
    return ["", *[line for line in lines if line.startswith("[")]]


def _dotted(header: str) -> str:
    name = header.strip("[]")
    return f"{name}[0]" if header.startswith("[[") else name


def test_a_configuration_of_every_table_loads(tmp_path: Path) -> None:
    settings = load_settings(EVERY_TABLE, environ=EVERY_TABLE_SECRETS)
    assert settings.server.port == 8100
    assert settings.connections["docusign"].return_origins == ["https://crm.example.com"]
    assert settings.journeys and settings.journeys[0].journey == "onboarding"
    assert settings.triggers["hubspot"].template_key == "nda"


@pytest.mark.parametrize("header", _tables())
def test_an_unknown_key_in_any_table_is_an_error_naming_it_and_the_file(
    tmp_path: Path, header: str
) -> None:
    text = EVERY_TABLE.read_text()
    if header:
        text = text.replace(f"{header}\n", f"{header}\nmisspelt_key = 1\n", 1)
    else:
        text = "misspelt_key = 1\n" + text
    config = tmp_path / "inkbridge.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ=EVERY_TABLE_SECRETS)
    key = ".".join(filter(None, (_dotted(header), "misspelt_key")))
    assert str(caught.value) == f"{config}: unknown key {key}"


def _refusal(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> ConfigError:
    """The error that loading ``text`` as tmp_path/inkbridge.toml raises."""
    (tmp_path / "inkbridge.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "inkbridge.toml", environ=environ or {})
    return caught.value


def test_a_close_misspelling_is_answered_with_the_key_meant(tmp_path: Path) -> None:
    error = _refusal(
        tmp_path, '[destination.crm]\nkind = "sandbox_crm"\n[connections.c]\nsecret = []'
    )
    assert str(error) == (
        f"{tmp_path / 'inkbridge.toml'}: unknown key connections.c.secret (did you mean secrets?); "
        "unknown key destination (did you mean destinations?)"
    )


def test_an_unknown_key_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    error = _refusal(tmp_path, "[server]\nport = 8000\n", {"INKBRIDGE_SERVER__PROT": "9000"})
    assert str(error) == (
        "environment INKBRIDGE_SERVER__PROT: unknown key server.prot (did you mean port?)"
    )


def test_the_environment_reaches_named_tables_and_lists(tmp_path: Path) -> None:
    config = tmp_path / "inkbridge.toml"
    config.write_text(
        '[regions.default]\n[connections.c]\nprovider = "sandbox"\nsecrets = ["env:OLD"]\n'
    )
    environ = {
        "INKBRIDGE_REGIONS__EU__DATABASE_URL": f"sqlite:///{tmp_path}/eu.db",
        "INKBRIDGE_CONNECTIONS__C__SECRETS": '["env:NEW", "env:OLD"]',
        "NEW": "n",
        "OLD": "o",
        "INKBRIDGE_CONFIG": str(config),  # names the file; not a setting
    }
    settings = load_settings(None, environ=environ)
    assert settings.database_url("eu") == f"sqlite:///{tmp_path}/eu.db"
    assert settings.connections["c"].secrets == ["env:NEW", "env:OLD"]
    assert settings.connections["c"].provider == "sandbox"


def test_settings_built_in_code_never_read_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INKBRIDGE_SERVER__PORT", "9100")
    monkeypatch.setenv("INKBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("INKBRIDGE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Settings().server.port == 8000
    assert load_settings(None).server.port == 9100  # read from the process environment
    assert load_settings(None, environ={"INKBRIDGE_DATA_DIR": str(tmp_path)}).server.port == 8000


def test_an_inline_secret_is_refused_naming_its_key_not_its_value(tmp_path: Path) -> None:
    error = _refusal(tmp_path, '[destinations.hook]\nkind = "webhook"\nsecret = "whsec_plaintext"')
    assert str(error) == (
        f"{tmp_path / 'inkbridge.toml'}: destinations.hook.secret: inline secrets are refused; "
        "use env:NAME or file:/path"
    )
    assert error.__cause__ is None  # the validation error held the plaintext


def test_a_secret_that_does_not_resolve_is_named_when_the_settings_are_read(
    tmp_path: Path,
) -> None:
    text = f'[destinations.crm]\nkind = "hubspot"\ncredentials.token = "file:{tmp_path}/missing"'
    error = str(_refusal(tmp_path, text))
    assert error.startswith(f"{tmp_path / 'inkbridge.toml'}: destinations.crm.credentials.token: ")
    assert "No such file" in error


@pytest.mark.parametrize(
    "url", ["mysql://u:pa55@db/inkbridge", "mssql+pyodbc://db/x", "oracle://db"]
)
def test_only_sqlite_and_postgresql_urls_are_accepted(tmp_path: Path, url: str) -> None:
    error = str(_refusal(tmp_path, f'[regions.default]\ndatabase_url = "{url}"'))
    assert "regions.default.database_url: unsupported database" in error
    assert "pa55" not in error


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})
