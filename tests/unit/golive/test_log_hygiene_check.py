"""The log hygiene check reads the log file it is given: a test email or name of the run in it
fails the row (naming how many, not which); none passes; no log file is not applicable."""

from __future__ import annotations

from pathlib import Path

import httpx

from inkbridge.golive.operations import hygiene
from inkbridge.golive.target import Target


def _target() -> Target:
    target = Target(httpx.Client(base_url="http://127.0.0.1:9"), {})
    target.written.extend((f"golive-{target.run_id}-x-1@example.invalid", f"Test {target.run_id}"))
    return target


def test_a_test_email_in_the_log_fails_the_hygiene_check(tmp_path: Path) -> None:
    target = _target()
    log = tmp_path / "inkbridge.log"
    log.write_text(f"INFO lead captured email={target.written[0]}\n", encoding="utf-8")
    row = hygiene(target, log)
    assert str(row.outcome) == "fail"
    assert "1 test value(s)" in row.detail
    assert target.written[0] not in row.detail


def test_a_log_without_the_runs_values_passes(tmp_path: Path) -> None:
    target = _target()
    log = tmp_path / "inkbridge.log"
    log.write_text("INFO lead captured lead=lead_123\n", encoding="utf-8")
    row = hygiene(target, log)
    assert str(row.outcome) == "pass"
    assert row.evidence["values_sought"] == 2


def test_no_log_file_makes_the_hygiene_check_not_applicable() -> None:
    row = hygiene(_target(), None)
    assert str(row.outcome) == "not applicable"
    assert "--log-file" in row.detail
