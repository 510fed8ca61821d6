"""In headless Chromium, as a person would: a signer opens a verified signer session's link,
lands on the sandbox signing page bound to that browser and signs;
an operator signs in to the console with a token; a visitor's landing page loads the capture
snippet with the site's publishable key and the touch becomes the lead's first touch."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inkbridge.domain.signer_session import SIGNER_COOKIE
from tests.acceptance.chromium import BROWSER_MARKS, launched_chromium
from tests.acceptance.conftest import Stack
from tests.acceptance.signer_links import signing_link, wait_state
from tests.support.processes import cli

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = BROWSER_MARKS


@pytest.fixture
def browser() -> Iterator[Any]:
    with launched_chromium() as instance:
        yield instance


def _signing_session(stack: Stack, email: str) -> tuple[str, str]:
    """(envelope id, session URL) for a new envelope whose signer the integrator just signed
    in with a one-time code."""
    with stack.client() as api:
        lead = api.post("/v1/leads", json={"email": email, "first_name": "Sam"})
        envelope = api.post(
            "/v1/envelopes", json={"lead_id": lead.json()["id"], "template_key": "nda"}
        )
        envelope_id = envelope.json()["id"]
        return envelope_id, signing_link(api, envelope_id, email, "integrator-user-42")


def test_a_signer_signs_through_a_verified_session(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    envelope_id, url = _signing_session(stack, "signer@example.com")
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)  # /sign/{opaque} redeems, sets the __Host- cookie, redirects
    assert "/sandbox/provider/sign/" in page.url
    assert "Mutual non-disclosure agreement" in page.content()
    (cookie,) = [c for c in context.cookies() if c["name"] == SIGNER_COOKIE]
    assert cookie["secure"] and cookie["httpOnly"] and cookie["path"] == "/"
    assert cookie["sameSite"] == "Lax"
    page.screenshot(path=str(tmp_path / "signing.png"))
    page.get_by_role("button", name="Sign").click()
    page.wait_for_load_state()
    assert page.locator("#outcome").get_attribute("data-outcome") == "signed"
    view = wait_state(stack, envelope_id, "completed")
    assert [e["to_state"] for e in view["timeline"] if e["outcome"] == "accepted"][
        -1
    ] == "completed"
    with stack.client() as api:
        trace = api.get(f"/v1/trace/{view['correlation_id']}").json()
    (evidence,) = trace["signer_sessions"]
    assert evidence["status"] == "redeemed"
    assert evidence["user_agent"].startswith(("Chrome ", "Headless Chrome "))


def test_a_used_session_link_and_a_stranger_browser_are_turned_away(
    stack: Stack, browser: Any
) -> None:
    _, url = _signing_session(stack, "second@example.com")
    signer = browser.new_context()
    page = signer.new_page()
    page.goto(url)
    provider_url = page.url

    again = signer.new_page().goto(url)
    assert again is not None and again.status == 410
    stranger = browser.new_context().new_page()
    refused = stranger.goto(provider_url)
    assert refused is not None and refused.status == 403
    assert "Mutual non-disclosure agreement" not in stranger.content()


def test_the_dashboard_address_opens_the_console_for_a_valid_token_only(
    stack: Stack, browser: Any
) -> None:
    with stack.client() as api:
        lead = api.post("/v1/leads", json={"email": "d@example.com", "utm_campaign": "dash"})
        envelope_id = api.post(
            "/v1/envelopes", json={"lead_id": lead.json()["id"], "template_key": "nda"}
        ).json()["id"]
    page = browser.new_page()
    page.goto(stack.base + "/dashboard")
    page.get_by_label("API token").fill("ibk_wrong")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("text=does not open the console")
    page.get_by_label("API token").fill(stack.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("text=Signed in as")
    page.goto(stack.base + "/console/envelopes")
    page.wait_for_selector(f"text={envelope_id}")
    assert "dash" in page.inner_text("main")
    stored = page.evaluate("JSON.stringify(sessionStorage) + JSON.stringify(localStorage)")
    assert stack.token not in stored


def test_the_capture_snippet_records_the_first_touch(stack: Stack, browser: Any) -> None:
    # The landing page is served by the browser's router under the server's origin: Chromium's
    # local-network rules would block a loopback script from any other origin in a test. The
    # site's publishable key allows that origin.
    key = cli(
        [
            *("publishable-keys", "create", "--config", str(stack.config)),
            *("--name", "landing", "--origin", stack.base),
        ]
    ).strip()
    landing = (
        "<!doctype html><html><head><title>Landing</title>"
        f'<script src="{stack.base}/capture.js" data-key="{key}"></script></head>'
        "<body>Hello</body></html>"
    )
    site = stack.base + "/landing"
    page = browser.new_page()
    page.route(f"{site}/**", lambda route: route.fulfill(body=landing, content_type="text/html"))
    page.goto(f"{site}/pricing?utm_source=newsletter&utm_campaign=winter&gclid=abc")
    anonymous_id = page.wait_for_function(
        "window.inkbridge && window.inkbridge.anonymousId"
    ).json_value()
    deadline = time.monotonic() + 10
    with stack.client() as api:
        while True:
            lead = api.post(
                "/v1/leads",
                json={"email": f"{anonymous_id}@example.com", "anonymous_id": anonymous_id},
            ).json()
            if lead["first_touch"].get("utm_campaign") == "winter" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert lead["first_touch"]["utm_campaign"] == "winter"
    assert lead["first_touch"]["click_ids"] == {"gclid": "abc"}
    assert lead["first_touch"]["landing_page"] == f"{site}/pricing"
