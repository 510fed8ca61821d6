"""What every command of the command line shares: the ``--config`` option, one way to load
and check the settings, the region databases, and one line for whatever is wrong with them.

Every command goes through ``settings_from``, so ``migrate`` refuses exactly what ``serve``
refuses: an unknown key, an unknown provider, a secret that does not resolve, a database that
cannot be opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import httpx
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from inkbridge import logs
from inkbridge.config import Settings, resolve_secret
from inkbridge.config_sources import load_settings
from inkbridge.errors import DatabaseUnavailable, InkbridgeError
from inkbridge.store import migrate as migrations
from inkbridge.store.database import Databases, driver_reason, make_engine, redacted_url

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Path to inkbridge.toml (default: $INKBRIDGE_CONFIG, ./inkbridge.toml, else the sandbox).",
)


class CommandLineError(click.ClickException):
    """Our own error as the command line shows it: one line on stderr, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class Commands(click.Group):
    """The command group whose commands report an ``InkbridgeError`` as one line, never a
    traceback; the same for every command, however it is started."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InkbridgeError as exc:
            raise CommandLineError(str(exc)) from None


def settings_from(config_path: Path | None, **overrides: Any) -> Settings:
    """Load the settings and check that everything they name can be built and opened."""
    tree: dict[str, Any] = {}
    server = {k: v for k, v in overrides.items() if k in {"host", "port"} and v is not None}
    if server:
        tree["server"] = server
    settings = load_settings(config_path, overrides=tree or None)
    logs.configure(settings.log_level, logs.log_hash_key(_subject_key(settings)))
    check_wiring(settings)
    check_databases(settings)
    return settings


def configuration_from(config_path: Path | None) -> Settings:
    """The settings as written (keys and secret references checked), opening no database and
    building no client: for commands that describe a deployment rather than run it."""
    settings = load_settings(config_path)
    logs.configure(settings.log_level)
    return settings


def check_wiring(settings: Settings) -> None:
    """Build what ``bootstrap`` builds from the settings (webhook adapters, provider clients,
    connectors), without touching a database, so every command refuses what serve refuses."""
    from inkbridge.bootstrap import build_connector, build_provider
    from inkbridge.providers.registry import build_bindings

    build_bindings(settings)
    # Building sends nothing: this client never opens a connection, so there is none to close.
    http = httpx.AsyncClient()
    for name, dest in settings.destinations.items():
        build_connector(settings, name, dest, http)
    for name in settings.connections:
        build_provider(settings, name, http)


def _subject_key(settings: Settings) -> bytes | None:
    """The subject hash key, if configured: log pseudonyms are derived from it."""
    reference = settings.signing.subject_hash_key
    if reference is None:
        return None
    try:
        return resolve_secret(reference).get_secret_value().encode("utf-8")
    except InkbridgeError:
        return None  # check_wiring names the unreadable secret; logs use a process key till then


def databases_of(settings: Settings) -> Databases:
    """The region databases with their keys; refuses a database holding data keys wrapped
    under a key that is not configured."""
    from inkbridge.bootstrap import check_region_keys, region_databases

    databases = region_databases(settings)
    try:
        check_region_keys(databases)
    except InkbridgeError:
        databases.dispose()
        raise
    return databases


@contextmanager
def opened_databases(settings: Settings, *, migrated: bool = False) -> Iterator[Databases]:
    """The region databases (as ``databases_of``) for the span of a command, disposed of
    however it ends; ``migrated`` first refuses a schema that is behind the code."""
    databases = databases_of(settings)
    try:
        if migrated:
            migrations.ensure_migrated(databases)
        yield databases
    finally:
        databases.dispose()


def databases_from(config_path: Path | None) -> Databases:
    """The region databases of a command that needs nothing else from the settings."""
    return databases_of(settings_from(config_path))


def check_databases(settings: Settings) -> None:
    """Open each region's database once, so a bad URL or path, or an unreachable server, is
    one clear line now rather than a traceback later."""
    for region in settings.regions:
        url = settings.database_url(region)
        try:
            engine = make_engine(url)
        except (SQLAlchemyError, OSError) as exc:
            raise DatabaseUnavailable(region, redacted_url(url), driver_reason(exc)) from None
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise DatabaseUnavailable(region, redacted_url(url), driver_reason(exc)) from None
        finally:
            engine.dispose()
