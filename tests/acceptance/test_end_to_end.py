"""Capture a lead, create an envelope, sign it in the sandbox, and watch the CRM record reach
`completed` with the lead's first-touch campaign — all over real HTTP between processes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.acceptance.conftest import Stack
from tests.acceptance.stack import ada_lead


def _wait_for(predicate, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_a_signed_envelope_reaches_the_crm_with_its_first_touch_campaign(stack: Stack) -> None:
    with stack.client() as api:
        lead = api.post(
            "/v1/leads",
            json=ada_lead(
                "ada@example.com",
                campaign="spring-launch",
                consent="marketing_email",
                gclid="Cj0KCQ",
            ),
        )
        assert lead.status_code == 201, lead.text
        lead_id = lead.json()["id"]
        envelope = api.post("/v1/envelopes", json={"lead_id": lead_id, "template_key": "nda"})
        assert envelope.status_code == 201, envelope.text
        envelope_id = envelope.json()["id"]
        # The integrator signed Ada in a minute ago and vouches for her.
        signed_in = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        session = api.post(
            f"/v1/envelopes/{envelope_id}/signing-session",
            json={
                "email": "ada@example.com",
                "subject": "crm-user-17",
                "auth_method": "password",
                "authenticated_at": signed_in,
            },
        )
        assert session.status_code == 200, session.text
        url = session.json()["url"]
        assert url.startswith(f"{stack.base}/sign/")

        opened = httpx.get(url, timeout=10)  # redeemed: a cookie and the provider's page
        assert opened.status_code == 303
        cookie = opened.headers["set-cookie"].split(";", 1)[0]
        browser = {"cookie": cookie}
        provider_url = opened.headers["location"]
        assert httpx.get(url, timeout=10).status_code == 410  # one time only
        assert httpx.get(provider_url, timeout=10).status_code == 403  # another browser
        page = httpx.get(provider_url, headers=browser, timeout=10)  # the signer: viewed
        assert page.status_code == 200 and "Sign" in page.text
        signed = httpx.post(provider_url + "/sign", headers=browser, timeout=10)
        assert signed.status_code in (200, 303)

        def crm_record():  # type: ignore[no-untyped-def]
            answer = httpx.get(
                f"{stack.base}/sandbox/crm/records/envelope:{envelope_id}", headers=stack.headers
            )
            if answer.status_code != 200:
                return None
            props = answer.json()["properties"]
            return props if props.get("inkbridge_status") == "completed" else None

        props = _wait_for(crm_record)
        assert props["first_touch_utm_campaign"] == "spring-launch"
        assert props["first_touch_utm_source"] == "newsletter"
        assert props["inkbridge_lead_id"] == lead_id

        view = api.get(f"/v1/envelopes/{envelope_id}").json()
        assert view["state"] == "completed"
        assert [e["to_state"] for e in view["timeline"] if e["outcome"] == "accepted"] == [
            "sent",
            "viewed",
            "partially_signed",
            "completed",
        ]
        correlation_id = view["correlation_id"]

        def traced():  # type: ignore[no-untyped-def]
            body = api.get(f"/v1/trace/{correlation_id}").json()
            delivered = [
                d for d in body["deliveries"] if d["status"] in ("delivered", "superseded")
            ]
            return body if len(delivered) >= 4 else None

        trace = _wait_for(traced)
        assert trace["campaign"]["utm_campaign"] == "spring-launch"
        assert trace["lead"]["id"] == lead_id
        assert trace["envelopes"][0]["id"] == envelope_id
        assert len(trace["receipts"]) >= 4
        assert {t["to_state"] for t in trace["transitions"]} >= {"sent", "completed"}
        assert all(d["destination"] in ("crm",) for d in trace["deliveries"])
        (evidence,) = trace["signer_sessions"]
        assert evidence["status"] == "redeemed"
        assert evidence["auth_method"] == "password"
        assert evidence["ip"] == "127.0.0.0/24"


def test_requests_without_the_right_scope_are_refused(stack: Stack) -> None:
    from tests.support.processes import cli

    reader = cli(["tokens", "create", "--config", str(stack.config), "--scope", "read"]).strip()
    with httpx.Client(base_url=stack.base, timeout=10) as api:
        anonymous = api.post("/v1/leads", json={"email": "x@example.com"})
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"].startswith("application/problem+json")
        limited = api.post(
            "/v1/leads",
            json={"email": "x@example.com"},
            headers={"Authorization": f"Bearer {reader}"},
        )
        assert limited.status_code == 403
        assert api.get("/openapi.json").status_code == 200
        assert "inkbridge_webhooks_total" in api.get("/metrics").text
