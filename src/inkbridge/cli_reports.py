"""``inkbridge report``: the signing-analytics reports in the terminal, as a table, JSON or CSV."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from inkbridge.cli_common import config_option, opened_databases, settings_from
from inkbridge.services import reports as report_service
from inkbridge.store.database import Databases


@click.group()
def report() -> None:
    """Signing analytics over every region: funnel, time to sign, attribution."""


def _report_options(command: Any) -> Any:
    """The options every report shares: configuration, cohort filters and output format."""
    for option in reversed(
        (
            config_option,
            click.option("--since", type=click.DateTime(), help="Leads created at or after (UTC)."),
            click.option("--until", type=click.DateTime(), help="Leads created before (UTC)."),
            click.option("--campaign", default=None, help="First-touch campaign."),
            click.option("--template", default=None, help="Envelope template key."),
            click.option(
                "--format",
                "fmt",
                type=click.Choice(["table", "json", "csv"]),
                default="table",
                show_default=True,
            ),
        )
    ):
        command = option(command)
    return command


def _run_report(
    config_path: Path | None,
    fmt: str,
    build: Any,
    since: datetime | None,
    until: datetime | None,
    campaign: str | None,
    template: str | None,
) -> None:
    with opened_databases(settings_from(config_path), migrated=True) as databases:
        # click.DateTime parses naive moments; the report cohort is in UTC.
        cohort = report_service.ReportFilter(
            since=since.replace(tzinfo=UTC) if since else None,
            until=until.replace(tzinfo=UTC) if until else None,
            campaign=campaign,
            template=template,
        )
        result = build(databases, cohort)
    from inkbridge.services import report_format

    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    elif fmt == "csv":
        click.echo(report_format.to_csv(result), nl=False)
    else:
        _print_table(result)


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from inkbridge.services import report_format

    table = Table(title=result["report"].replace("_", " "))
    for column in result["columns"]:
        text = column in report_format.TEXT_COLUMNS
        table.add_column(column, justify="left" if text else "right")
    for cells in report_format.text_rows(result):
        table.add_row(*cells)
    console = Console()
    console.print(table)
    for line in report_format.totals_lines(result):
        console.print(line)


@report.command("funnel")
@_report_options
def report_funnel(config_path: Path | None, fmt: str, **cohort: Any) -> None:
    """Leads captured, qualified, sent, viewed, signed, completed; drop-off at each step."""
    _run_report(config_path, fmt, report_service.funnel_report, **cohort)


@report.command("time-to-sign")
@_report_options
@click.option(
    "--group-by",
    type=click.Choice([g.value for g in report_service.GroupBy]),
    default="none",
    show_default=True,
)
def report_time_to_sign(config_path: Path | None, fmt: str, group_by: str, **cohort: Any) -> None:
    """p50 and p90 of lead→sent, sent→view, view→completed, sent→reminder, sent→completed."""

    def build(databases: Databases, cohort_filter: report_service.ReportFilter) -> Any:
        return report_service.time_to_sign_report(
            databases, cohort_filter, group_by=report_service.GroupBy(group_by)
        )

    _run_report(config_path, fmt, build, **cohort)


@report.command("attribution")
@_report_options
@click.option(
    "--model",
    "models",
    multiple=True,
    type=click.Choice([m.value for m in report_service.Model]),
    help="Repeat to choose; every model by default.",
)
@click.option(
    "--group-by",
    type=click.Choice([c.value for c in report_service.CreditBy]),
    default="channel",
    show_default=True,
)
@click.option("--half-life-days", type=click.FloatRange(min=0, min_open=True), default=7.0)
@click.option("--stitch-window-days", type=click.FloatRange(min=0, min_open=True), default=30.0)
def report_attribution(
    config_path: Path | None,
    fmt: str,
    models: tuple[str, ...],
    group_by: str,
    half_life_days: float,
    stitch_window_days: float,
    **cohort: Any,
) -> None:
    """Completed envelopes credited to channels, campaigns or sources under each model."""

    def build(databases: Databases, cohort_filter: report_service.ReportFilter) -> Any:
        return report_service.attribution_report(
            databases,
            cohort_filter,
            models=[report_service.Model(m) for m in models] or list(report_service.Model),
            credit_by=report_service.CreditBy(group_by),
            half_life_days=half_life_days,
            stitch_window=timedelta(days=stitch_window_days),
        )

    _run_report(config_path, fmt, build, **cohort)
