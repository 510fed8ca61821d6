"""The one command line: serve, api, worker, migrate, replay, reconcile, dlq, consent, verify;
tokens and publishable-keys (in ``inkbridge.cli_credentials``), doctor (in
``inkbridge.cli_doctor``), report (in ``inkbridge.cli_reports``), datamap, retention, backup and
restore (in ``inkbridge.cli_privacy``) and keys (in ``inkbridge.cli_keys``)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from inkbridge.bootstrap import Container, bootstrap
from inkbridge.cli_common import (
    Commands,
    config_option,
    databases_from,
    databases_of,
    settings_from,
)
from inkbridge.cli_credentials import publishable_keys, tokens
from inkbridge.cli_doctor import doctor
from inkbridge.cli_golive import golive
from inkbridge.cli_keys import keys
from inkbridge.cli_privacy import backup, datamap, restore, retention
from inkbridge.cli_reports import report
from inkbridge.config import Settings
from inkbridge.store import migrate as migrations


@click.group(cls=Commands)
@click.version_option(package_name="inkbridge")
def main() -> None:
    """inkbridge: e-signature as a governed step of marketing and sales workflows."""


def _serve(settings: Settings, container: Container, *, run_worker: bool, banner: bool) -> None:
    import uvicorn

    from inkbridge.api.app import create_app
    from inkbridge.sandbox.mounts import sandbox_mounts

    mounts = sandbox_mounts(settings, container.databases) if settings.sandbox else []
    app = create_app(container, run_worker=run_worker, sandbox_apps=mounts)
    if banner:
        _banner(settings, container)
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level="warning",
        access_log=False,
        # uvicorn's records go to the root handler logs.configure set up, through the same
        # personal-data guard as every other line (its own handlers would bypass it).
        log_config=None,
    )
    uvicorn.Server(config).run()


def _banner(settings: Settings, container: Container) -> None:
    """What `serve` prints once it is ready: every URL on a line of its own, each answering
    (a test fetches them all), and where to run the next commands."""
    from inkbridge.local_site import sandbox_provider_path
    from inkbridge.sandbox.mounts import sandbox_connections
    from inkbridge.services.tokens import ensure_admin_token

    issued = ensure_admin_token(container.databases)
    base = settings.server.base_url
    click.echo(f"inkbridge {'(sandbox) ' if settings.sandbox else ''}listening on {base}/")
    click.echo(f"  console:     {base}/console")
    click.echo(f"  API docs:    {base}/docs")
    if issued is not None:
        click.echo(f"  admin token: {issued.token}")
        click.echo("               (shown once; store it now)")
    else:
        click.echo("  admin token: not shown again; make another with")
        click.echo("               inkbridge tokens create --scope admin [--expires-in 30d]")
    if settings.sandbox:
        click.echo("  sandbox, with the admin token (Authorization: Bearer <token>):")
        for connection in sandbox_connections(settings):
            outbox = f"{base}{sandbox_provider_path(connection)}/_outbox"
            click.echo(f"    provider webhooks ({connection}): {outbox}")
        click.echo(f"    CRM records:       {base}/sandbox/crm/records")
    click.echo("This terminal now runs the server (Ctrl+C stops it); use a second one for curl:")
    click.echo(f"  export INKBRIDGE={base}")
    sys.stdout.flush()


def _refuse_remote_sandbox(settings: Settings, allow_remote: bool) -> None:
    """Exit before anything starts when the sandbox would listen beyond this machine."""
    from inkbridge.sandbox.mounts import is_loopback

    host = settings.server.host
    if not settings.sandbox or allow_remote or is_loopback(host):
        return
    click.echo(
        f"error: refusing to serve the sandbox on {host!r}, which other machines can reach.\n"
        "The sandbox is for trying inkbridge out: its provider signs documents for anyone\n"
        "who holds a link and its CRM holds personal data. Bind it to this machine\n"
        "(--host 127.0.0.1), turn it off (sandbox = false in the config), or pass\n"
        "--allow-remote-sandbox if you mean to expose it.",
        err=True,
    )
    raise SystemExit(2)


def _start(
    *,
    config_path: Path | None,
    host: str | None,
    port: int | None,
    migrate: bool,
    allow_remote_sandbox: bool,
    with_worker: bool,
) -> None:
    """`serve` (API and worker, with the banner) or `api` (the API alone)."""
    settings = settings_from(config_path, host=host, port=port)
    _refuse_remote_sandbox(settings, allow_remote_sandbox)
    container = bootstrap(settings, auto_migrate=migrate)
    _serve(settings, container, run_worker=with_worker, banner=with_worker)


allow_remote_sandbox_option = click.option(
    "--allow-remote-sandbox",
    is_flag=True,
    help="Serve the sandbox on a non-loopback address (refused otherwise).",
)


def _serving_options(command: Any) -> Any:
    """The options `serve` and `api` share: configuration, bind address, the sandbox guard."""
    for option in reversed(
        (
            config_option,
            click.option("--host", default=None, help="Bind address (default 127.0.0.1)."),
            click.option("--port", type=int, default=None, help="Port (default 8000)."),
            allow_remote_sandbox_option,
        )
    ):
        command = option(command)
    return command


@main.command()
@_serving_options
@click.option("--migrate/--no-migrate", default=True, help="Migrate the databases first.")
def serve(migrate: bool, **serving: Any) -> None:
    """API and worker in one process: the embedded default, ready to use. The first start
    mints an admin token and shows it once."""
    _start(migrate=migrate, with_worker=True, **serving)


@main.command()
@_serving_options
@click.option("--migrate", is_flag=True, help="Migrate the databases first.")
def api(migrate: bool, **serving: Any) -> None:
    """The HTTP API alone (run workers separately)."""
    _start(migrate=migrate, with_worker=False, **serving)


@main.command()
@config_option
@click.option("--migrate", is_flag=True, help="Migrate the databases first.")
def worker(config_path: Path | None, migrate: bool) -> None:
    """Background loops: process receipts and deliver the outbox ([worker] metrics_port:
    also serve GET /metrics)."""
    from inkbridge.worker import Worker

    settings = settings_from(config_path)

    async def run() -> None:
        container = bootstrap(settings, auto_migrate=migrate)
        runner = Worker(container)
        exposed = None
        if settings.worker.metrics_port is not None:
            from inkbridge.worker_metrics import MetricsServer

            exposed = MetricsServer(
                container, settings.worker.metrics_host, settings.worker.metrics_port
            )
            await exposed.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(runner.stop()))
        try:
            await runner.run_forever()
        finally:
            await runner.stop()
            if exposed is not None:
                await exposed.stop()
            await container.aclose()

    asyncio.run(run())


@main.command()
@config_option
def migrate(config_path: Path | None) -> None:
    """Upgrade every region's database to the current schema."""
    settings = settings_from(config_path)
    databases = databases_of(settings)
    for db in databases:
        migrations.upgrade(db)
        click.echo(f"{db.region}: at {migrations.current_revision(db)}")
    databases.dispose()


@main.command()
@config_option
def replay(config_path: Path | None) -> None:
    """Rebuild every envelope's state from the event log."""
    from rich.progress import Progress

    from inkbridge.services.replay import rebuild_all

    settings = settings_from(config_path)
    databases = databases_of(settings)
    migrations.ensure_migrated(databases)
    with Progress(transient=False) as progress:
        task = progress.add_task("replaying envelopes", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = rebuild_all(databases, advance)
    click.echo(f"{report.envelopes} envelopes replayed, {len(report.changed)} corrected")
    for envelope_id in report.changed:
        click.echo(f"  corrected {envelope_id}")


@main.command()
@config_option
def reconcile(config_path: Path | None) -> None:
    """Check stale, conflicting and drop-prone envelopes against their provider now."""
    from inkbridge.services.admin import reconcile_now

    settings = settings_from(config_path)

    async def run() -> None:
        container = bootstrap(settings)
        try:
            services = container.services
            results = await reconcile_now(
                container.databases, services.reconciler, source="cli", actor="cli", limit=1000
            )
            for db in container.databases:
                result = results[db.region]
                processed = 0
                while claimed := await asyncio.to_thread(
                    services.receipts.process_pending, db, 100
                ):
                    processed += claimed
                click.echo(
                    f"{db.region}: {result.checked} checked, {result.reported} reported, "
                    f"{result.failed} failed, {processed} receipts processed"
                )
        finally:
            await container.aclose()

    asyncio.run(run())


@main.group()
def dlq() -> None:
    """Dead letters: outbox rows past their attempt budget."""


@dlq.command("list")
@config_option
@click.option("--destination", default=None)
def dlq_list(config_path: Path | None, destination: str | None) -> None:
    from inkbridge.services.admin import dead_letters

    databases = databases_from(config_path)
    rows = dead_letters(databases, destination)
    for row in rows:
        click.echo(json.dumps(row))
    click.echo(f"{len(rows)} dead letters", err=True)


@dlq.command("retry")
@config_option
@click.option("--destination", default=None)
@click.option("--id", "ids", type=int, multiple=True, help="Only these outbox ids.")
@click.option("--region", default=None, help="Only this region (ids are numbered per region).")
def dlq_retry(
    config_path: Path | None, destination: str | None, ids: tuple[int, ...], region: str | None
) -> None:
    from inkbridge.services.admin import coalescing_destinations, replay_dead_letters

    settings = settings_from(config_path)
    count = replay_dead_letters(
        databases_of(settings),
        list(ids) or None,
        destination,
        coalescing_destinations(settings),
        source="cli",
        actor="cli",
        region=region,
    )
    click.echo(f"{count} dead letters queued for delivery again")


@main.group()
def consent() -> None:
    """Consent texts and ledgers."""


@consent.command("verify")
@config_option
def consent_verify(config_path: Path | None) -> None:
    """Check every lead's consent ledger chain; exit 1 and name each break."""
    from inkbridge.services.consent import verify_consent_chains

    databases = databases_from(config_path)
    breaks = verify_consent_chains(databases)
    for item in breaks:
        click.echo(f"BROKEN {item.chain} at record {item.position}: {item.reason}")
    if breaks:
        raise SystemExit(1)
    click.echo("every consent ledger is intact")


@consent.command("register")
@config_option
@click.option("--kind", required=True)
@click.option("--locale", default=None)
@click.option("--jurisdiction", default=None)
@click.option("--title", default=None)
@click.argument("text_file", type=click.File("r", encoding="utf-8"))
def consent_register(
    config_path: Path | None,
    kind: str,
    locale: str | None,
    jurisdiction: str | None,
    title: str | None,
    text_file: Any,
) -> None:
    """Register a consent text (read from TEXT_FILE, '-' for stdin); prints id and SHA-256."""
    from inkbridge.services.consent import register_text

    databases = databases_from(config_path)
    migrations.ensure_migrated(databases)
    row = register_text(
        databases,
        kind=kind,
        text=text_file.read(),
        locale=locale,
        jurisdiction=jurisdiction,
        title=title,
        source="cli",
        actor="cli",
    )
    click.echo(f"{row['id']} sha256={row['sha256']}")


@main.command()
@config_option
def verify(config_path: Path | None) -> None:
    """Prove the audit log, every event log and every consent ledger intact (hash chains)."""
    from inkbridge.services.replay import verify_chains

    databases = databases_from(config_path)
    from inkbridge.services.consent import verify_consent_chains

    breaks = verify_chains(databases) + verify_consent_chains(databases)
    for item in breaks:
        click.echo(f"BROKEN {item.chain} at entry {item.position}: {item.reason}")
    if breaks:
        raise SystemExit(1)
    click.echo("all chains intact")


main.add_command(report)
main.add_command(golive)
main.add_command(tokens)
main.add_command(publishable_keys)
main.add_command(datamap)
main.add_command(retention)
main.add_command(backup)
main.add_command(restore)
main.add_command(keys)
main.add_command(doctor)


def run() -> None:
    main(standalone_mode=True)


if __name__ == "__main__":
    run()
