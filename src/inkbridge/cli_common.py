"""What every command of the command line shares: the ``--config`` option, and loading the
settings and the region databases from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from inkbridge import logs
from inkbridge.config import Settings, load_settings
from inkbridge.store.database import Databases

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Path to inkbridge.toml (default: $INKBRIDGE_CONFIG, ./inkbridge.toml, else the sandbox).",
)


def settings_from(config_path: Path | None, **overrides: Any) -> Settings:
    tree: dict[str, Any] = {}
    server = {k: v for k, v in overrides.items() if k in {"host", "port"} and v is not None}
    if server:
        tree["server"] = server
    settings = load_settings(config_path, overrides=tree or None)
    logs.configure(settings.log_level)
    return settings


def databases_of(settings: Settings) -> Databases:
    return Databases(
        {region: settings.database_url(region) for region in settings.regions},
        home_region=settings.home_region,
    )
