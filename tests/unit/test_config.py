"""Settings: file, environment overrides, secret references and the sandbox defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkbridge.config import resolve_secret
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
