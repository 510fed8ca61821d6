"""The console in headless Chromium, as a person would use it: a lead arrives from a campaign
with consent, its signer signs through a verified session, and an operator signs in to the
console and finds the signature in the funnel, the attribution chart and the envelope's trace.
Each page is photographed: into docs/console/ (the README shows them) when
``INKBRIDGE_SCREENSHOTS=docs`` is set, else into the test's temporary directory, so a test run
leaves the checkout as it was."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.chromium import BROWSER_MARKS, launched_chromium
from tests.acceptance.conftest import Stack
from tests.acceptance.signer_links import signing_link, wait_state

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = BROWSER_MARKS
DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
CAMPAIGN = "spring-webinar"


@pytest.fixture
def browser() -> Iterator[Any]:
    with launched_chromium() as instance:
        yield instance


def _signed_envelope(stack: Stack, browser: Any) -> dict[str, Any]:
    """A campaign's lead with consent signs its NDA through a verified signer session."""
    email = "buyer@example.com"
    with stack.client() as api:
        lead = api.post(
            "/v1/leads",
            json={
                "email": email,
                "first_name": "Robin",
                "utm_source": "linkedin",
                "utm_medium": "social",
                "utm_campaign": CAMPAIGN,
                "consents": [{"kind": "marketing_email"}],
            },
        ).json()
        envelope = api.post(
            "/v1/envelopes", json={"lead_id": lead["id"], "template_key": "nda"}
        ).json()
        url = signing_link(api, envelope["id"], email, "crm-user-7")
    signer = browser.new_context().new_page()
    signer.goto(url)
    signer.get_by_role("button", name="Sign").click()
    signer.wait_for_load_state()
    return {**wait_state(stack, envelope["id"], "completed"), "lead_id": lead["id"]}


def test_an_operator_finds_a_campaigns_signature_in_every_console_page(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    shots = DOCS_SHOTS if os.environ.get("INKBRIDGE_SCREENSHOTS") == "docs" else tmp_path
    envelope = _signed_envelope(stack, browser)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(stack.base + "/console/funnel")
    assert "/console/sign-in" in page.url
    page.screenshot(path=str(shots / "sign-in.png"))
    page.get_by_label("API token").fill(stack.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("text=Drop-off per step")
    assert page.url.endswith("/console/funnel")

    visits = {
        "overview": ("/console", "Destinations"),
        "funnel": (f"/console/funnel?campaign={CAMPAIGN}", "Drop-off per step"),
        "time-to-sign": ("/console/time-to-sign?group_by=campaign", CAMPAIGN),
        "attribution": ("/console/attribution?group_by=campaign&model=linear", CAMPAIGN),
        "envelopes": (f"/console/envelopes?campaign={CAMPAIGN}", envelope["id"]),
        "envelope": (f"/console/envelopes/{envelope['id']}", "document_completed"),
        "receipts": ("/console/receipts", "Receipts"),
        "dead-letters": ("/console/dead-letters", "Dead letters"),
        "consent": (f"/console/consent?lead_id={envelope['lead_id']}", "marketing_email"),
        "data-map": ("/console/data-map", "Stores"),
    }
    for name, (path, expected) in visits.items():
        answer = page.goto(stack.base + path)
        assert answer is not None and answer.status == 200, path
        assert expected in page.inner_text("main"), path
        assert stack.token not in page.content()
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    page.goto(f"{stack.base}/console/funnel?campaign={CAMPAIGN}")
    completed = page.locator("tr", has_text="completed").first.inner_text()
    assert completed.split("\t")[2].strip() == "1"
    page.goto(f"{stack.base}/console/attribution?group_by=campaign&model=linear")
    assert page.locator("svg[role=img]").count() == 1
    assert CAMPAIGN in (page.locator("svg title").text_content() or "")
    page.goto(f"{stack.base}/console/envelopes/{envelope['id']}")
    trace = page.inner_text("main")
    assert CAMPAIGN in trace and "document_completed" in trace and "Deliveries" in trace
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("text=API token")
    assert (page.goto(stack.base + "/console") or page).url.endswith(
        "/console/sign-in?next=/console"
    )
