"""``inkbridge golive``: run the go-live checklist against a deployment and report each check
as a table, JSON or JUnit XML; the exit code is 0 only when no applicable check failed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from inkbridge.golive.outcome import exit_code, table_rows, to_json, to_junit
from inkbridge.golive.runner import CHECKS, NOT_YET, TargetRefused, connections, run
from inkbridge.golive.target import Target

STYLE = {"pass": "green", "fail": "bold red", "not applicable": "yellow"}
CHECK_NAMES = (*CHECKS, *NOT_YET)


def _secrets(pairs: tuple[str, ...], option: str = "--secret-file") -> dict[str, str]:
    found = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"{pair!r}: expected NAME=FILE", param_hint=option)
        try:
            found[name] = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise click.BadParameter(f"{path}: {exc.strerror}", param_hint=option) from None
    return found


def _token(token_file: Path | None) -> str:
    if token_file is not None:
        return token_file.read_text(encoding="utf-8").strip()

    token = os.environ.get("INKBRIDGE_GOLIVE_TOKEN", "").strip()
    if not token:
        raise click.UsageError("give a golive token with --token-file or INKBRIDGE_GOLIVE_TOKEN")
    return token


@click.command()
@click.option("--target", "url", required=True, help="The deployment's base URL.")
@click.option(
    "--connection", "wanted", multiple=True, help="A connection to check (all by default)."
)
@click.option(
    "--secret-file",
    "secret_files",
    multiple=True,
    metavar="NAME=FILE",
    help="The webhook signing secret of connection NAME, read from FILE.",
)
@click.option(
    "--retired-secret-file",
    "retired_files",
    multiple=True,
    metavar="NAME=FILE",
    help="A signing secret connection NAME no longer accepts (the rotated-out key), from FILE.",
)
@click.option(
    "--log-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The deployment's log file, searched for the run's test emails and names.",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file holding a token with the golive scope (else INKBRIDGE_GOLIVE_TOKEN).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "junit"]), default="table")
@click.option(
    "--only", multiple=True, type=click.Choice(CHECK_NAMES), help="Run only these checks."
)
@click.option("--skip", multiple=True, type=click.Choice(CHECK_NAMES), help="Skip these checks.")
@click.option("--settle-seconds", type=click.FloatRange(0, 60), default=2.0, show_default=True)
@click.option("--timeout-seconds", type=click.FloatRange(1, 600), default=30.0, show_default=True)
def golive(
    url: str,
    wanted: tuple[str, ...],
    secret_files: tuple[str, ...],
    retired_files: tuple[str, ...],
    log_file: Path | None,
    token_file: Path | None,
    fmt: str,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    settle_seconds: float,
    timeout_seconds: float,
) -> None:
    """Run the go-live checks against a deployment, in a test namespace erased afterwards."""
    secrets = _secrets(secret_files)
    retired = _secrets(retired_files, "--retired-secret-file")
    headers = {"Authorization": f"Bearer {_token(token_file)}"}
    err = Console(stderr=True)
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=30.0) as client:
        target = Target(
            client,
            secrets,
            settle_seconds=settle_seconds,
            timeout_seconds=timeout_seconds,
            retired_secrets=retired,
        )
        try:
            chosen = connections(target, wanted)
        except (TargetRefused, httpx.HTTPError) as exc:
            raise click.ClickException(f"golive refuses to run: {exc}") from None

        def selected(name: str) -> bool:
            return (not only or name in only) and name not in skip

        with err.status("golive: starting") as status:
            results = run(
                target,
                chosen,
                selected=selected,
                progress=lambda name: status.update(f"golive: {name}"),
                log_file=log_file,
            )
    if fmt == "json":
        click.echo(to_json(url, target.run_id, results))
    elif fmt == "junit":
        click.echo(to_junit(url, target.run_id, results))
    else:
        table = Table(title=f"inkbridge golive {url} (run {target.run_id})")
        for column in ("check", "outcome", "evidence"):
            table.add_column(column)
        for name, outcome, text in table_rows(results):
            # Row names carry brackets (signatures[conn]) that rich would read as markup.
            table.add_row(escape(name), f"[{STYLE[outcome]}]{outcome}[/]", escape(text))
        Console().print(table)
    sys.exit(exit_code(results))
