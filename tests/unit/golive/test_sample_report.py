"""The sample "Before you go live" report under docs/golive/ cannot go stale: its rows are the
checks golive runs today (regenerate it with ``./scripts/golive-sample`` when they change), in
the JSON, the JUnit XML and the table alike, and every row of the sample passed or says why it
does not apply."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from inkbridge.cli_golive import CHECK_NAMES

SAMPLE = Path(__file__).resolve().parents[3] / "docs" / "golive"


def _json_rows() -> list[dict[str, object]]:
    report = json.loads((SAMPLE / "sample-report.json").read_text(encoding="utf-8"))
    rows: list[dict[str, object]] = report["checks"]
    return rows


def test_the_samples_checks_are_the_checks_golive_runs_today() -> None:
    names = {str(row["name"]).split("[")[0] for row in _json_rows()}
    assert names == set(CHECK_NAMES)


def test_the_junit_and_table_samples_show_the_same_rows_as_the_json() -> None:
    names = [str(row["name"]) for row in _json_rows()]
    suite = ET.parse(SAMPLE / "sample-report.xml").getroot()
    assert [case.get("name") for case in suite.iter("testcase")] == names
    table = (SAMPLE / "sample-report.md").read_text(encoding="utf-8")
    assert all(f"│ {name} " in table for name in names)


def test_no_row_of_the_sample_failed() -> None:
    outcomes = {str(row["name"]): row["outcome"] for row in _json_rows()}
    assert set(outcomes.values()) <= {"pass", "not applicable"}, outcomes
