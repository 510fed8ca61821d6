"""Every command reads the configuration the same strict way: a misspelled table or key, an
inline secret, an unsupported or unreachable database each stop it with one line on stderr
that names the problem, and a non-zero exit; never a traceback, never a half-configured run."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from inkbridge.cli import main

# What each command needs on its command line before it reads the configuration.
REQUIRED_ARGUMENTS: dict[str, list[str]] = {
    "tokens create": ["--scope", "read"],
    "tokens rotate": ["tok_unknown"],
    "tokens revoke": ["tok_unknown"],
    "publishable-keys create": ["--name", "site", "--origin", "https://example.com"],
    "publishable-keys revoke": ["pk_unknown"],
    "consent register": ["--kind", "marketing_email", "-"],
    "backup": ["--region", "default", "--to", "backup.db"],
    "restore": ["--region", "default", "--from", "backup.db"],
    "keys rotate": ["--region", "default"],
    "keys seal": ["--region", "default"],
}


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[str]:
    found: list[str] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
        else:
            found.append(" ".join((*path, name)))
    return found


EVERY_COMMAND = _commands(main)
# Commands that read no inkbridge.toml at all, and why.
CONFIG_FREE = {
    "golive": "checks a deployment through its HTTP surface; it has no configuration file",
}
CONFIGURED_COMMANDS = [command for command in EVERY_COMMAND if command not in CONFIG_FREE]

MISSPELLINGS = {
    # A table name with one letter missing: nothing would be configured.
    "table": ('[destination.crm]\nkind = "sandbox_crm"\n', "destination"),
    # A key of a known table: the server would listen on the default port.
    "key": ("[server]\nprot = 9000\n", "server.prot"),
    # A key of a named table: the connection would verify with no secret.
    "named table key": (
        '[connections.main]\nprovider = "sandbox"\nsecret = ["env:X"]\n',
        "connections.main.secret",
    ),
}


def _invoke(command: str, config: Path, stdin: str = "") -> Result:
    """Run a command in-process; a command that wrongly starts serving fails the test rather
    than hanging it."""
    args = [*command.split(), "--config", str(config), *REQUIRED_ARGUMENTS.get(command, [])]
    outcome: list[Result] = []
    runner = threading.Thread(
        target=lambda: outcome.append(CliRunner().invoke(main, args, input=stdin)), daemon=True
    )
    runner.start()
    runner.join(timeout=60)
    assert outcome, f"`inkbridge {command}` did not stop at a bad configuration"
    return outcome[0]


def _one_line_error(result: Result) -> str:
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_every_command_is_covered() -> None:
    # The cases below are built from the command group itself; this pins the list, so a new
    # command is checked (and, if it needs arguments, listed in REQUIRED_ARGUMENTS).
    assert "migrate" in EVERY_COMMAND and "serve" in EVERY_COMMAND
    assert len(EVERY_COMMAND) == 29
    assert set(REQUIRED_ARGUMENTS) <= set(EVERY_COMMAND)
    assert set(CONFIG_FREE) <= set(EVERY_COMMAND)


@pytest.mark.parametrize("misspelling", sorted(MISSPELLINGS))
@pytest.mark.parametrize("command", CONFIGURED_COMMANDS)
def test_a_misspelling_stops_every_command_and_is_named(
    tmp_path: Path, command: str, misspelling: str
) -> None:
    text, key = MISSPELLINGS[misspelling]
    config = tmp_path / "inkbridge.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n{text}')
    line = _one_line_error(_invoke(command, config))
    assert f"unknown key {key}" in line
    assert str(config) in line
    assert not (tmp_path / "data").exists()  # nothing was started or created


def _config(tmp_path: Path, body: str) -> Path:
    config = tmp_path / "inkbridge.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n{body}')
    return config


@pytest.mark.parametrize("command", ["migrate", "serve", "tokens list", "report funnel"])
def test_an_unreachable_postgresql_is_one_line_naming_the_region_and_server(
    tmp_path: Path, command: str
) -> None:
    # Port 1 on this machine: nothing listens there, so the connection is refused at once.
    url = "postgresql://inkbridge:pa55word@127.0.0.1:1/inkbridge"
    config = _config(tmp_path, f'[regions.default]\ndatabase_url = "{url}"\n')
    line = _one_line_error(_invoke(command, config))
    assert "regions.default.database_url: cannot open" in line
    assert "127.0.0.1:1" in line
    assert "pa55word" not in line


@pytest.mark.parametrize("command", ["migrate", "serve", "verify"])
def test_a_mysql_url_is_refused_by_name(tmp_path: Path, command: str) -> None:
    url = "mysql://inkbridge:pa55word@db.example/inkbridge"
    config = _config(tmp_path, f'[regions.eu]\ndatabase_url = "{url}"\n')
    line = _one_line_error(_invoke(command, config))
    assert "regions.eu.database_url: unsupported database 'mysql'" in line
    assert "pa55word" not in line


def test_a_sqlite_path_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    url = f"sqlite:///{blocker}/inkbridge.db"
    config = _config(tmp_path, f'[regions.default]\ndatabase_url = "{url}"\n')
    line = _one_line_error(_invoke("migrate", config))
    assert "regions.default.database_url: cannot open" in line
    assert str(blocker) in line


@pytest.mark.parametrize("command", ["migrate", "serve", "dlq list"])
def test_an_inline_secret_is_refused_naming_its_key_and_never_echoed(
    tmp_path: Path, command: str
) -> None:
    config = _config(
        tmp_path, '[connections.sandbox]\nprovider = "sandbox"\nsecrets = ["whsec_plaintext"]\n'
    )
    line = _one_line_error(_invoke(command, config))
    assert line == (
        f"error: {config}: connections.sandbox.secrets[0]: inline secrets are refused; "
        "use env:NAME or file:/path"
    )


@pytest.mark.parametrize("command", ["migrate", "serve", "replay"])
def test_an_unknown_provider_or_an_unset_secret_stops_migrate_as_it_stops_serve(
    tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INKBRIDGE_TEST_UNSET_SECRET", raising=False)
    unknown = _config(tmp_path, '[connections.main]\nprovider = "docusing"\nsecrets = ["env:X"]\n')
    monkeypatch.setenv("X", "set")
    assert "unknown provider 'docusing'" in _one_line_error(_invoke(command, unknown))
    unset = _config(
        tmp_path,
        '[connections.main]\nprovider = "docusign"\n'
        'secrets = ["env:INKBRIDGE_TEST_UNSET_SECRET"]\n',
    )
    line = _one_line_error(_invoke(command, unset))
    assert "connections.main.secrets[0]" in line and "not set" in line


def test_the_installed_command_prints_one_line_without_a_traceback(tmp_path: Path) -> None:
    config = _config(tmp_path, "[server]\nprot = 9000\n")
    done = subprocess.run(
        [sys.executable, "-m", "inkbridge.cli", "migrate", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (f"error: {config}: unknown key server.prot (did you mean port?)")
