"""``inkbridge doctor``: a configuration checked end to end before anything is started, as a
pass/fail table (or JSON), exiting 1 on any failure. The checks are in
``inkbridge.services.diagnosis``; this module loads the settings, builds the vendors' clients
the way ``serve`` does, and prints."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from functools import partial
from pathlib import Path

import click
import httpx

from inkbridge import logs
from inkbridge.cli_common import config_option
from inkbridge.config import Settings
from inkbridge.config_sources import load_settings, secret_problems
from inkbridge.errors import InkbridgeError
from inkbridge.services.diagnosis import (
    Check,
    Status,
    clock_check,
    credential_check,
    credential_row,
    database_check,
    failed,
    region_key_check,
)
from inkbridge.vendor_http.credentials import CredentialCheck, Verdict, not_checked

SANDBOX_PART = "the built-in sandbox, served by inkbridge serve itself"
SANDBOX_DESTINATIONS = frozenset({"sandbox_crm", "sandbox_marketing"})
WEBHOOKS_ONLY = "receives webhooks only: no API credentials configured"


def _secret_rows(settings: Settings) -> tuple[list[Check], list[str]]:
    problems = secret_problems(settings)
    if not problems:
        count = len(list(settings.secret_references()))
        return [Check("secrets", Status.PASS, f"{count} references resolve")], []
    return [Check("secret", Status.FAIL, problem) for problem in problems], problems


def _missing(problems: list[str], prefix: str) -> bool:
    return any(problem.startswith(prefix) for problem in problems)


async def _vendor_check(
    part: str,
    name: str,
    problems: list[str],
    sandbox: bool,
    build: Callable[[], object | None],
    absent: str,
) -> CredentialCheck:
    """What the vendor of a connection or destination says of its credentials: not checked
    while one of its secrets is missing or it is the built-in sandbox, failed when its client
    cannot be built, not applicable (``absent`` says why) when it has no API client."""
    if _missing(problems, f"{part}s.{name}."):
        return not_checked(f"a secret of this {part} is missing (above)")
    if sandbox:
        return not_checked(SANDBOX_PART)
    try:
        client = build()
    except InkbridgeError as exc:
        return CredentialCheck(Verdict.FAILED, str(exc))
    return await credential_check(name, client, absent)


async def _connection(
    settings: Settings, name: str, http: httpx.AsyncClient, problems: list[str]
) -> CredentialCheck:
    from inkbridge.bootstrap import build_provider

    conn = settings.connections[name]
    sandbox = conn.provider == "sandbox" and conn.api_url is None
    build = partial(build_provider, settings, name, http)
    return await _vendor_check("connection", name, problems, sandbox, build, WEBHOOKS_ONLY)


async def _destination(
    settings: Settings, name: str, http: httpx.AsyncClient, problems: list[str]
) -> CredentialCheck:
    from inkbridge.bootstrap import build_connector

    dest = settings.destinations[name]

    def build() -> object:
        return build_connector(settings, name, dest, http).connector

    sandbox = dest.kind in SANDBOX_DESTINATIONS
    return await _vendor_check("destination", name, problems, sandbox, build, absent="")


async def diagnose(config_path: Path | None) -> list[Check]:
    """Every check, in the order a deployment needs them to pass. A file that cannot be read
    as settings (a syntax error, an unknown key) stops here with its one-line error, as every
    command does: nothing else can be checked without it."""
    settings = load_settings(config_path, check_secrets=False)
    logs.configure(settings.log_level)
    where = str(config_path) if config_path else "inkbridge.toml, environment or defaults"
    checks = [Check("config", Status.PASS, f"{where}: every key known")]
    secret_rows, problems = _secret_rows(settings)
    checks += secret_rows
    for region in settings.regions:
        checks.append(database_check(settings, region))
        checks.append(region_key_check(settings, region))
    dates: list[tuple[str, datetime, datetime]] = []
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False) as http:
        for part, names, check in (
            ("connection", settings.connections, _connection),
            ("destination", settings.destinations, _destination),
        ):
            for name in names:
                result = await check(settings, name, http, problems)
                checks.append(credential_row(f"{part} {name}", result))
                if result.server_date is not None and result.received_at is not None:
                    dates.append((name, result.server_date, result.received_at))
    checks.append(clock_check(dates, settings.signing.clock_skew))
    return checks


def _table(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks)
    wide = max(len(check.status.value) for check in checks)
    lines = [f"{'check':<{width}}  {'status':<{wide}}  detail"]
    lines += [f"{c.name:<{width}}  {c.status.value:<{wide}}  {c.detail}" for c in checks]
    return "\n".join(lines)


@click.command()
@config_option
@click.option(
    "--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def doctor(config_path: Path | None, output: str) -> None:
    """Check a configuration end to end: keys, secrets, each region's database and schema and
    key, each provider's and destination's credentials, the clock. Exit 1 on any failure."""
    checks = asyncio.run(diagnose(config_path))
    if output == "json":
        rows = [{**asdict(check), "status": check.status.value} for check in checks]
        click.echo(json.dumps({"ok": not failed(checks), "checks": rows}, indent=2))
    else:
        click.echo(_table(checks))
    if failed(checks):
        raise SystemExit(1)
