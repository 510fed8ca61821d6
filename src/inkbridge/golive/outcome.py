"""A go-live check's result (pass, fail or not applicable, with its evidence) and the report of
a run: a terminal table, JSON, or JUnit XML for CI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from xml.etree import ElementTree as ET


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 - an outcome, not a secret
    FAIL = "fail"
    NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class CheckResult:
    """One row: the check's name, its outcome, what was seen (ids, statuses, counts) and, for a
    failure or a not-applicable, the reason in a sentence."""

    name: str
    outcome: Outcome
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": str(self.outcome),
            "detail": self.detail,
            "evidence": self.evidence,
        }


def passed(name: str, detail: str = "", **evidence: Any) -> CheckResult:
    return CheckResult(name, Outcome.PASS, detail, evidence)


def failed(name: str, detail: str, **evidence: Any) -> CheckResult:
    return CheckResult(name, Outcome.FAIL, detail, evidence)


def not_applicable(name: str, reason: str, **evidence: Any) -> CheckResult:
    return CheckResult(name, Outcome.NOT_APPLICABLE, reason, evidence)


def judged(name: str, problems: Sequence[str], detail: str, **evidence: Any) -> CheckResult:
    """Pass with ``detail`` when ``problems`` is empty, else fail naming every problem."""
    if problems:
        return failed(name, "; ".join(problems), **evidence)
    return passed(name, detail, **evidence)


def exit_code(results: Sequence[CheckResult]) -> int:
    """0 only when no applicable check failed."""
    return 1 if any(r.outcome is Outcome.FAIL for r in results) else 0


def to_json(target: str, run_id: str, results: Sequence[CheckResult]) -> str:
    document = {
        "target": target,
        "run_id": run_id,
        "passed": exit_code(results) == 0,
        "checks": [r.as_dict() for r in results],
    }
    return json.dumps(document, indent=2, sort_keys=False, default=str)


def to_junit(target: str, run_id: str, results: Sequence[CheckResult]) -> str:
    """One test suite, one test case per check: a failure element for a failed check, a
    skipped element (with the reason) for a check that does not apply."""
    suite = ET.Element(
        "testsuite",
        name="inkbridge golive",
        tests=str(len(results)),
        failures=str(sum(r.outcome is Outcome.FAIL for r in results)),
        skipped=str(sum(r.outcome is Outcome.NOT_APPLICABLE for r in results)),
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="target", value=target)
    ET.SubElement(properties, "property", name="run_id", value=run_id)
    for result in results:
        case = ET.SubElement(suite, "testcase", classname="golive", name=result.name)
        evidence = json.dumps(result.evidence, sort_keys=True, default=str)
        if result.outcome is Outcome.FAIL:
            ET.SubElement(case, "failure", message=result.detail).text = evidence
        elif result.outcome is Outcome.NOT_APPLICABLE:
            ET.SubElement(case, "skipped", message=result.detail)
        else:
            ET.SubElement(case, "system-out").text = evidence
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def _evidence_text(evidence: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in evidence.items())


def table_rows(results: Sequence[CheckResult]) -> list[tuple[str, str, str]]:
    """(check, outcome, detail and evidence) for the terminal table."""
    rows = []
    for r in results:
        text = r.detail
        if r.evidence:
            text = f"{text}\n{_evidence_text(r.evidence)}" if text else _evidence_text(r.evidence)
        rows.append((r.name, str(r.outcome), text))
    return rows
