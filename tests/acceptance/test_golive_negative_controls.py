"""Negative controls: ``inkbridge golive`` run against deliberately broken targets fails the
right check and names the evidence. A stub that answers 200 to everything (served by uvicorn
here), a sandbox CRM that writes every change twice, a destination of one region declared for
another too, and a sandbox CRM whose automation takes "viewed" and "signed by one of two" as
signed."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.acceptance.golive_target import GoliveRun, GoliveTarget, golive_target, run_golive
from tests.support.processes import free_port, wait_http

pytestmark = pytest.mark.slow

DATAMAP = {
    "regions": ["default"],
    "stores": [],
    "processors": [
        {
            "name": "connection:sandbox",
            "kind": "provider",
            "vendor": "sandbox",
            "hosts": [],
            "regions": ["default"],
        },
    ],
}


def _stub(datamap: dict[str, Any] | None) -> Starlette:
    """Answers 200 to every request without verifying anything; the data map, when given, is
    the one thing it answers with more than ``{"ok": true}``."""

    async def anything(request: Request) -> JSONResponse:
        await request.body()
        if request.url.path == "/v1/datamap" and datamap is not None:
            return JSONResponse(datamap)
        return JSONResponse({"ok": True})

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", anything, methods=methods)])


def _served(app: Starlette) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    token, secret = tmp_path / "golive.token", tmp_path / "sandbox.secret"
    token.write_text("ibk_not_checked_by_the_stub")
    secret.write_text("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
    return token, secret


def _stub_golive(base: str, files: tuple[Path, Path], *args: str) -> GoliveRun:
    token, secret = files
    return run_golive(base, token, "--secret-file", f"sandbox={secret}", *args)


def test_a_stub_answering_200_to_every_webhook_fails_the_signature_check(
    files: tuple[Path, Path],
) -> None:
    for base in _served(_stub(DATAMAP)):
        code, rows, _ = _stub_golive(base, files, "--only", "signatures", "--timeout-seconds", "2")
    failing = rows["signatures[sandbox]"]
    assert code == 1
    assert failing["outcome"] == "fail"
    for case in ("tampered body", "tampered signature", "stale timestamp", "future timestamp"):
        assert f"{case}: answered 200, expected 401" in str(failing["detail"])
        assert failing["evidence"][case] == 200


def test_a_stub_whose_configuration_cannot_be_read_is_refused(files: tuple[Path, Path]) -> None:
    for base in _served(_stub(None)):
        code, rows, _ = _stub_golive(base, files)
    assert code != 0
    assert "golive refuses to run" in str(rows["error"]["detail"])


def _with_defects(serve: GoliveTarget, **defects: Any) -> None:
    with serve.admin_client() as admin:
        answer = admin.post("/sandbox/crm/_defects", json=defects)
    assert answer.status_code == 200, answer.text


def test_a_destination_that_writes_twice_fails_the_duplicate_check(tmp_path: Path) -> None:
    with golive_target(tmp_path) as running:
        _with_defects(running, write_twice=True)
        code, rows, _ = running.golive_signed("--only", "duplicates", "--only", "clean-up")
    failing = rows["duplicates[sandbox]"]
    assert code == 1
    assert failing["outcome"] == "fail"
    assert failing["evidence"]["timeline_events"] == 1  # inkbridge made one change
    assert failing["evidence"]["downstream_writes"] == {"crm": 2, "marketing": 1}
    assert "downstream writes of the one change: {'crm': 2}" in str(failing["detail"])


def test_a_destination_declared_for_another_region_too_fails_the_residency_check(
    tmp_path: Path,
) -> None:
    with golive_target(
        tmp_path,
        regions='{"default": {}, "eu": {}}',
        destinations__crm__regions='["default", "eu"]',
    ) as running:
        code, rows, _ = running.golive_signed("--connection", "sandbox", "--only", "residency")
    failing = rows["residency"]
    assert code == 1
    assert failing["outcome"] == "fail"
    assert failing["evidence"]["regions"]["default"]["destinations"]["crm"] == ["default", "eu"]
    declared = "default's lead went to destinations declared for {'crm': ['default', 'eu']}"
    assert declared in failing["detail"]


def test_a_region_whose_database_is_another_regions_fails_the_residency_check(
    tmp_path: Path,
) -> None:
    shared = f"sqlite:///{(tmp_path / 'data' / 'default.db').as_posix()}"
    with golive_target(
        tmp_path, regions=f'{{"default": {{}}, "eu": {{"database_url": "{shared}"}}}}'
    ) as running:
        code, rows, _ = running.golive_signed("--connection", "sandbox", "--only", "residency")
    failing = rows["residency"]
    assert code == 1
    assert "share a location with another region's: ['database:default']" in failing["detail"]


def test_a_destination_advancing_before_legal_completion_fails_the_legal_state_check(
    tmp_path: Path,
) -> None:
    with golive_target(tmp_path) as running:
        _with_defects(running, signed_on=["viewed", "partially_signed"])
        started = time.monotonic()
        code, rows, _ = running.golive_signed("--only", "legal-state", "--only", "clean-up")
    failing = rows["legal-state[sandbox]"]
    assert code == 1, time.monotonic() - started
    assert failing["outcome"] == "fail"
    assert failing["evidence"]["state_after_one_signature"] == "partially_signed"
    assert failing["evidence"]["destinations_signed_early"] == ["crm"]
    assert "crm held the envelope as completed after one signature of two" in failing["detail"]
