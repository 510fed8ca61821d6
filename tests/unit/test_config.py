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

UNKNOWN_KEYS = {
    "top level": ("prot = 9000\n", "prot"),
    "misspelled table": ('[destination.crm]\nkind = "sandbox_crm"\n', "destination"),
    "[server]": ("[server]\nprot = 9000\n", "server.prot"),
    "[worker]": ("[worker]\nbatchsize = 5\n", "worker.batchsize"),
    "[regions.X]": ('[regions.default]\ndatabase = "sqlite:///x.db"\n', "regions.default.database"),
    "[connections.X]": (
        '[connections.c]\nprovider = "sandbox"\nsecret = "env:S"\n',
        "connections.c.secret",
    ),
    "[destinations.X]": (
        '[destinations.d]\nkind = "webhook"\nurls = "https://x"\n',
        "destinations.d.urls",
    ),
    "[templates.X]": ('[templates.nda]\ntitle = "NDA"\nversoin = 2\n', "templates.nda.versoin"),
    "[signing]": ("[signing]\nsession_tll = 60\n", "signing.session_tll"),
    "[capture]": ("[capture]\nrate_per_minute = 5\n", "capture.rate_per_minute"),
    "[controller]": ('[controller]\nmail = "dpo@example.com"\n', "controller.mail"),
    "[triggers.X]": (
        '[triggers.t]\ntemplate_key = "nda"\nstages = "won"\n',
        "triggers.t.stages",
    ),
    "[[journeys]]": (
        '[[journeys]]\nname = "j"\non_state = "completed"\naction = "create_task"\nsubject = "x"\n',
        "journeys[0].subject",
    ),
}


@pytest.mark.parametrize("case", sorted(UNKNOWN_KEYS))
def test_an_unknown_key_in_any_table_is_an_error_naming_it_and_the_file(
    tmp_path: Path, case: str
) -> None:
    text, key = UNKNOWN_KEYS[case]
    config = tmp_path / "inkbridge.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert str(caught.value).startswith(f"{config}: unknown key {key}")


def test_a_close_misspelling_is_answered_with_the_key_meant(tmp_path: Path) -> None:
    config = tmp_path / "inkbridge.toml"
    config.write_text('[destination.crm]\nkind = "sandbox_crm"\n[connections.c]\nsecret = []\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert str(caught.value) == (
        f"{config}: unknown key connections.c.secret (did you mean secrets?); "
        "unknown key destination (did you mean destinations?)"
    )


def test_an_unknown_key_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "inkbridge.toml"
    config.write_text("[server]\nport = 8000\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={"INKBRIDGE_SERVER__PROT": "9000"})
    assert str(caught.value) == (
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
    config = tmp_path / "inkbridge.toml"
    config.write_text('[destinations.hook]\nkind = "webhook"\nsecret = "whsec_plaintext"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert str(caught.value) == (
        f"{config}: destinations.hook.secret: inline secrets are refused; "
        "use env:NAME or file:/path"
    )
    assert caught.value.__cause__ is None  # the validation error held the plaintext


def test_a_secret_that_does_not_resolve_is_named_when_the_settings_are_read(
    tmp_path: Path,
) -> None:
    config = tmp_path / "inkbridge.toml"
    config.write_text(
        "[destinations.crm]\n"
        'kind = "hubspot"\n'
        f'credentials = {{ token = "file:{tmp_path}/missing" }}\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert str(caught.value).startswith(f"{config}: destinations.crm.credentials.token: ")
    assert "No such file" in str(caught.value)


@pytest.mark.parametrize(
    "url", ["mysql://u:pa55@db/inkbridge", "mssql+pyodbc://db/x", "oracle://db"]
)
def test_only_sqlite_and_postgresql_urls_are_accepted(tmp_path: Path, url: str) -> None:
    config = tmp_path / "inkbridge.toml"
    config.write_text(f'[regions.default]\ndatabase_url = "{url}"\n')
    with pytest.raises(ConfigError, match=r"regions\.default\.database_url: unsupported") as caught:
        load_settings(config, environ={})
    assert "pa55" not in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})
