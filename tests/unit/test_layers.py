"""The layer rules of ARCHITECTURE.md, enforced by import-linter with the contracts declared in
pyproject.toml: the domain stays free of I/O and of the rest of inkbridge, and services never
reach for the composition root or an entry point, providers and connectors never import each
other, and nothing in the product imports the vendor emulators."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from importlinter.cli import lint_imports

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    return {str(c["id"]): c for c in config["contracts"]}


def test_the_layer_rules_are_declared() -> None:
    contracts = _contracts()
    assert set(contracts["domain-no-io"]["forbidden_modules"]) >= {
        "sqlalchemy",
        "httpx",
        "fastapi",
        "starlette",
        "pydantic",
        "psycopg",
    }
    assert contracts["domain-alone"]["forbidden_modules"] == ["inkbridge.*"]
    assert set(contracts["services-no-composition"]["forbidden_modules"]) == {
        "inkbridge.bootstrap",
        "inkbridge.api",
        "inkbridge.web",
        "inkbridge.cli",
    }
    vendors = contracts["vendors-apart"]
    assert vendors["type"] == "independence"
    assert set(vendors["modules"]) == {"inkbridge.providers", "inkbridge.connectors"}
    assert contracts["no-emulators"]["source_modules"] == ["inkbridge"]
    assert contracts["no-emulators"]["forbidden_modules"] == ["inkbridge_emulators"]


def test_the_package_keeps_every_layer_contract(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = lint_imports(config_filename=str(PYPROJECT), no_cache=True)
    report = capsys.readouterr().out
    assert exit_code == 0, report
    for contract in _contracts().values():
        assert f"{contract['name']} KEPT" in report
