"""Single sign-on to the console in headless Chromium, against the OIDC provider emulator and
``inkbridge serve`` each run as a process: a person clicks "Sign in with SSO", signs in at the
provider's own page, lands on the console with the scopes their groups map to, and signs out.
A reader (group ``revops`` → ``read``) sees the reports but neither dead letters nor replay; an
operator (group ``ops`` → ``admin``) replays a dead letter, audited as that person.

The sign-in page is photographed into docs/console/oidc-sign-in.png when
``INKBRIDGE_SCREENSHOTS=docs`` is set (else into the test's temporary directory)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.chromium import BROWSER_MARKS, launched_chromium
from tests.acceptance.conftest import Stack
from tests.acceptance.stack import SANDBOX_CRM, base_config, secret_ref, wait_for, write_config
from tests.acceptance.test_console_browser import DOCS_SHOTS
from tests.support.builders import lifecycle_bodies, signed
from tests.support.processes import PYTHON, Process, cli, free_port, wait_http

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = BROWSER_MARKS
CLIENT_SECRET = "console-sso-secret"
READER = "reader@example.com"
OPERATOR = "operator@example.com"
T0 = datetime.now(UTC) - timedelta(hours=3)


@pytest.fixture
def sso_stack(tmp_path: Path) -> Iterator[tuple[Stack, str]]:
    """The OIDC emulator (a sign-in page, two people) and `serve` configured for it, with one
    dead letter waiting: its CRM is not there and it gets a single attempt."""
    port, idp_port = free_port(), free_port()
    base, issuer = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{idp_port}"
    idp = Process(
        [
            *(PYTHON, "-m", "inkbridge_emulators.oidc", "--port", str(idp_port)),
            *("--client-secret", CLIENT_SECRET, "--ask"),
            *("--redirect-uri", f"{base}/console/oidc/callback"),
            *("--email", READER, "--sub", "reader-1", "--name", "Rita Reader"),
            *("--group", "revops"),
            *("--person", f"{OPERATOR}:operator-1:Otto Operator:ops,staff"),
        ],
        tmp_path / "oidc.log",
    ).start()
    tree: dict[str, Any] = base_config(tmp_path, port)
    tree["server"]["public_url"] = base
    tree["console"] = {
        "oidc": {
            "issuer": issuer,
            "client_id": "inkbridge-console",
            "client_secret": secret_ref(tmp_path, "oidc-secret", CLIENT_SECRET),
            "group_scopes": {"revops": ["read"], "ops": ["admin"]},
        }
    }
    tree["destinations"]["crm"] = SANDBOX_CRM | {
        "url": f"http://127.0.0.1:{free_port()}",
        "max_attempts": 1,
        "batch_size": 1,
        "events": ["envelope.state_changed"],
    }
    config = write_config(tmp_path, tree)
    cli(["migrate", "--config", str(config)])
    stack = Stack(root=tmp_path, config=config, port=port)
    try:
        wait_http(issuer + "/.well-known/openid-configuration", proc=idp.proc)
        stack.start_server()
        for body in lifecycle_bodies("sbx_sso_1", T0)[:1]:
            answer = httpx.post(f"{base}/v1/webhooks/sandbox", content=body, headers=signed(body))
            assert answer.status_code == 200
        wait_for(lambda: dead_letters(tmp_path), "a dead letter", timeout=30)
        yield stack, issuer
    finally:
        stack.stop()
        idp.stop()


def dead_letters(root: Path) -> list[int]:
    with sqlite3.connect(root / "data" / "default.db") as db:
        return [row[0] for row in db.execute("SELECT id FROM outbox WHERE status = 'dead'")]


def audited(root: Path, action: str) -> list[str]:
    with sqlite3.connect(root / "data" / "default.db") as db:
        rows = db.execute("SELECT actor FROM audit_log WHERE action = ?", (action,))
        return [row[0] for row in rows]


def sign_in(page: Any, base: str, email: str) -> None:
    page.goto(base + "/console")
    assert "/console/sign-in" in page.url
    page.get_by_role("link", name="Sign in with SSO").click()
    page.wait_for_selector("text=OIDC emulator")  # the provider's page, not inkbridge's
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_selector("text=Webhooks per minute")
    assert page.url == base + "/console"


def sign_out(page: Any, base: str) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("text=Sign in with SSO")
    page.goto(base + "/console/funnel")
    assert "/console/sign-in" in page.url, "signed out: the console asks to sign in again"


def nav_links(page: Any) -> list[str]:
    return [a.get_attribute("href") for a in page.locator("nav a").all()]


def test_people_sign_in_through_the_identity_provider_with_the_scopes_of_their_groups(
    sso_stack: tuple[Stack, str], tmp_path: Path
) -> None:
    stack, issuer = sso_stack
    base = stack.base
    shots = DOCS_SHOTS if os.environ.get("INKBRIDGE_SCREENSHOTS") == "docs" else tmp_path
    with launched_chromium() as browser:
        reader = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        reader.goto(base + "/console/sign-in")
        reader.screenshot(path=str(shots / "oidc-sign-in.png"))
        sign_in(reader, base, READER)
        main = reader.inner_text("header")
        assert "Rita Reader" in main and "(read)" in main
        links = nav_links(reader)
        assert "/console/funnel" in links
        assert "/console/dead-letters" not in links and "/console/receipts" not in links
        refused = reader.goto(base + "/console/dead-letters")
        assert refused is not None and refused.status == 403
        assert "Replay" not in reader.inner_text("main")
        funnel = reader.goto(base + "/console/funnel")
        assert funnel is not None and funnel.status == 200
        sign_out(reader, base)

        operator = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        sign_in(operator, base, OPERATOR)
        assert "Otto Operator" in operator.inner_text("header")
        assert "/console/dead-letters" in nav_links(operator)
        operator.get_by_role("link", name="Dead letters").click()
        [dead] = dead_letters(stack.root)
        operator.get_by_role("button", name=f"Replay {dead}").click()
        operator.wait_for_selector("text=pending again")
        sign_out(operator, base)
    actor = f"oidc:{issuer}#operator-1"
    assert audited(stack.root, "console:dead_letters:replayed") == [actor]
    signed_in = audited(stack.root, "console:session:signed_in")
    assert signed_in == [f"oidc:{issuer}#reader-1", actor]
