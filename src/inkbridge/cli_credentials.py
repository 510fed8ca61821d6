"""``inkbridge tokens`` and ``inkbridge publishable-keys``: the credentials of the API and of
the capture snippet, each printed once when made."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from inkbridge.cli_common import config_option, databases_from
from inkbridge.errors import InvalidInput
from inkbridge.store import migrate as migrations


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    from inkbridge.services.tokens import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except InvalidInput as exc:
        raise click.BadParameter(exc.detail) from None


@click.group()
def tokens() -> None:
    """API tokens with scopes (leads:write, envelopes:write, read, documents, admin)."""


@tokens.command("create")
@config_option
@click.option("--name", default="cli")
@click.option("--scope", "scopes", multiple=True, required=True)
@click.option(
    "--expires-in",
    callback=_duration,
    default=None,
    help="Lifetime: 30d, 12h or 90m (default: none).",
)
def tokens_create(
    config_path: Path | None, name: str, scopes: tuple[str, ...], expires_in: timedelta | None
) -> None:
    """Create a token and print it (shown this once)."""
    from inkbridge.services.tokens import create_token

    databases = databases_from(config_path)
    migrations.ensure_migrated(databases)
    issued = create_token(databases, name, list(scopes), expires_in=expires_in)
    click.echo(issued.token)
    click.echo(
        f"created {issued.token_id} with scopes {', '.join(issued.scopes)}, "
        f"{_expiry(issued.expires_at)}",
        err=True,
    )


def _echo_rows(rows: Iterable[Mapping[str, Any]]) -> None:
    for row in rows:
        click.echo(json.dumps(row))


def _echo_revoked(done: bool, what: str) -> None:
    click.echo("revoked" if done else f"no such active {what}")


def _expiry(expires_at: datetime | None) -> str:
    return f"expires {expires_at.isoformat()}" if expires_at else "never expires"


@tokens.command("list")
@config_option
def tokens_list(config_path: Path | None) -> None:
    """Every token (never the secret) with its expiry, last use and successor, one JSON a line."""
    from inkbridge.services.tokens import list_tokens

    _echo_rows(list_tokens(databases_from(config_path)))


@tokens.command("rotate")
@config_option
@click.argument("token_id")
@click.option(
    "--overlap",
    callback=_duration,
    default="24h",
    show_default=True,
    help="How long the old token keeps working: 24h, 90m, 7d.",
)
def tokens_rotate(config_path: Path | None, token_id: str, overlap: timedelta) -> None:
    """Create a successor (same name, scopes and lifetime; printed once); the old token stops
    working after the overlap."""
    from inkbridge.services.tokens import rotate_token

    databases = databases_from(config_path)
    migrations.ensure_migrated(databases)
    issued = rotate_token(databases, token_id, overlap=overlap)
    click.echo(issued.token)
    click.echo(
        f"{token_id} rotated to {issued.token_id} ({_expiry(issued.expires_at)}); "
        f"{token_id} stops working in {overlap}",
        err=True,
    )


@tokens.command("revoke")
@config_option
@click.argument("token_id")
def tokens_revoke(config_path: Path | None, token_id: str) -> None:
    """Stop a token working now."""
    from inkbridge.services.tokens import revoke_token

    _echo_revoked(revoke_token(databases_from(config_path), token_id), "token")


@click.group("publishable-keys")
def publishable_keys() -> None:
    """Publishable keys of the capture snippet and POST /v1/touchpoints (capture scope only)."""


@publishable_keys.command("create")
@config_option
@click.option("--name", required=True)
@click.option(
    "--origin", "origins", multiple=True, required=True, help="scheme://host[:port]; repeatable."
)
@click.option("--rate-per-minute", type=int, default=None, help="This key's budget.")
@click.option("--region", default=None, help="Region its touches belong to (default: home).")
def publishable_keys_create(
    config_path: Path | None,
    name: str,
    origins: tuple[str, ...],
    rate_per_minute: int | None,
    region: str | None,
) -> None:
    """Create a key; prints it once (stdout), its id and origins on stderr."""
    from inkbridge.services.publishable_keys import create_key

    databases = databases_from(config_path)
    migrations.ensure_migrated(databases)
    key_id, key = create_key(
        databases, name, list(origins), rate_per_minute=rate_per_minute, region=region
    )
    click.echo(key)
    click.echo(f"created {key_id} for {', '.join(origins)}", err=True)


@publishable_keys.command("list")
@config_option
def publishable_keys_list(config_path: Path | None) -> None:
    from inkbridge.services.publishable_keys import list_keys

    _echo_rows(list_keys(databases_from(config_path)))


@publishable_keys.command("revoke")
@config_option
@click.argument("key_id")
def publishable_keys_revoke(config_path: Path | None, key_id: str) -> None:
    from inkbridge.services.publishable_keys import revoke_key

    _echo_revoked(revoke_key(databases_from(config_path), key_id), "key")
