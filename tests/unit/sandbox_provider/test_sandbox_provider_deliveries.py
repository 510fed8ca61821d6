"""The sandbox provider's webhook deliveries in process: duplicates, retries, chaos (reorder,
drops, delays), admin actions, bad bodies and pending events after a restart."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from inkbridge.sandbox.provider import SandboxProvider

from .support import Receiver, Sandbox, running_sandbox, sandbox_app


async def test_duplicates_reuse_the_webhook_id_and_body(sandbox: Sandbox) -> None:
    await sandbox.api.post("/_chaos", json={"duplicate_rate": 1.0})
    envelope_id = await sandbox.create(signers=2)
    await sandbox.provider.wait_idle()
    await sandbox.api.post(f"/envelopes/{envelope_id}/remind")
    await sandbox.idle()

    per_id = Counter(d.msg_id for d in sandbox.receiver.accepted)
    assert len(per_id) == 3
    assert set(per_id.values()) == {2}
    bodies: dict[str, set[bytes]] = {}
    for delivery in sandbox.receiver.accepted:
        bodies.setdefault(delivery.msg_id, set()).add(delivery.body)
    assert all(len(b) == 1 for b in bodies.values())
    outbox = (await sandbox.api.get("/_outbox")).json()
    assert outbox["duplicates_sent"] == 3
    assert outbox["delivered"] == 3


async def test_deliveries_are_retried_until_the_receiver_answers_2xx() -> None:
    receiver = Receiver(fail_next=4, fail_status=500)
    async with running_sandbox(receiver) as sandbox:
        envelope_id = await sandbox.create(signers=2)
        await sandbox.idle()
        outbox = (await sandbox.api.get("/_outbox")).json()
        history = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()["events"]

    assert receiver.refused == 4
    assert sorted(d.msg_id for d in receiver.accepted) == sorted(e["msg_id"] for e in history)
    assert outbox["pending"] == 0
    assert outbox["delivered"] == 2
    assert outbox["attempts_total"] == 6
    assert outbox["failed_attempts"] == 4


async def test_connection_errors_are_retried_too() -> None:
    receiver = Receiver()

    class FlakyTransport(httpx.AsyncBaseTransport):
        """Refuses the first two connections, then reaches the receiver."""

        def __init__(self) -> None:
            self.inner = httpx.ASGITransport(app=receiver.app)
            self.refusals = 2

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if self.refusals:
                self.refusals -= 1
                raise httpx.ConnectError("refused", request=request)
            return await self.inner.handle_async_request(request)

    async with httpx.AsyncClient(transport=FlakyTransport()) as hooks:
        app = sandbox_app(hooks)
        provider: SandboxProvider = app.state.sandbox
        await provider.start()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
        ) as api:
            await api.post(
                "/envelopes",
                json={
                    "template_id": "t",
                    "title": "T",
                    "signers": [{"email": "a@x.test", "name": "A"}],
                },
            )
            assert await provider.wait_idle()
        await provider.stop()

    assert receiver.types() == ["document_sent"]


async def test_reorder_sends_a_window_of_events_shuffled(sandbox: Sandbox) -> None:
    await sandbox.api.post("/_chaos", json={"reorder": True, "reorder_window_seconds": 0.1})
    await sandbox.create(signers=5)
    await sandbox.idle()

    recipients = [d.event.recipient_id for d in sandbox.receiver.accepted]
    assert sorted(recipients, key=lambda r: r or "") == ["1", "2", "3", "4", "5"]
    assert recipients != ["1", "2", "3", "4", "5"]


async def test_dropped_events_stay_in_the_history_for_reconciliation(sandbox: Sandbox) -> None:
    await sandbox.api.post("/_chaos", json={"drop_rate": 1.0})
    envelope_id = await sandbox.create()
    await sandbox.idle()

    history = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()["events"]
    assert sandbox.receiver.accepted == []
    assert [(e["type"], e["delivery"]) for e in history] == [("document_sent", "dropped")]
    assert (await sandbox.api.get("/_outbox")).json()["dropped"] == 1


async def test_chaos_can_be_read_changed_and_validated(sandbox: Sandbox) -> None:
    changed = await sandbox.api.post("/_chaos", json={"max_delay_seconds": 0.05, "seed": 7})
    refused = await sandbox.api.post("/_chaos", json={"duplicate_rate": 2})

    assert changed.json()["max_delay_seconds"] == 0.05
    assert changed.json()["seed"] == 7
    assert refused.status_code == 400
    assert (await sandbox.api.get("/_chaos")).json()["duplicate_rate"] == 0.0


async def test_delayed_events_still_all_arrive(sandbox: Sandbox) -> None:
    await sandbox.api.post("/_chaos", json={"max_delay_seconds": 0.05})
    await sandbox.create(signers=3)
    await sandbox.idle()

    assert sorted(d.event.recipient_id or "" for d in sandbox.receiver.accepted) == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("action", "event_type", "status"),
    [
        ("void", "document_voided", "voided"),
        ("expire", "document_expired", "expired"),
        ("bounce", "document_delivery_failed", "sent"),
        ("remind", "reminder_sent", "sent"),
    ],
)
async def test_admin_actions_emit_their_events(
    sandbox: Sandbox, action: str, event_type: str, status: str
) -> None:
    envelope_id = await sandbox.create()

    response = await sandbox.api.post(f"/envelopes/{envelope_id}/{action}")
    await sandbox.idle()

    assert response.status_code == 200
    assert sandbox.receiver.types()[-1] == event_type
    described = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()
    assert described["status"] == status
    assert described["delivery_failed"] is (action == "bounce")


async def test_a_finished_envelope_refuses_admin_actions_unless_forced(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create()
    await sandbox.api.post(await sandbox.signing_link(envelope_id, "1") + "/sign")

    refused = await sandbox.api.post(f"/envelopes/{envelope_id}/void")
    forced = await sandbox.api.post(
        f"/envelopes/{envelope_id}/void",
        json={"force": True, "occurred_at": "2020-01-01T00:00:00Z"},
    )
    await sandbox.idle()

    assert refused.status_code == 409
    assert forced.status_code == 200
    described = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()
    assert described["status"] == "completed"  # the provider's record stays canonical
    assert described["events"][-1]["type"] == "document_voided"
    assert sandbox.receiver.accepted[-1].event.occurred_at == datetime(2020, 1, 1, tzinfo=UTC)


async def test_unknown_envelopes_and_actions_are_404(sandbox: Sandbox) -> None:
    assert (await sandbox.api.get("/envelopes/sbx_nope")).status_code == 404
    assert (await sandbox.api.post("/envelopes/sbx_nope/void")).status_code == 404
    envelope_id = await sandbox.create()
    assert (await sandbox.api.post(f"/envelopes/{envelope_id}/explode")).status_code == 404
    assert (await sandbox.api.get("/sign/not-a-token")).status_code == 404


async def test_invalid_envelope_bodies_are_refused(sandbox: Sandbox) -> None:
    missing_title = await sandbox.api.post("/envelopes", json={"template_id": "t", "signers": []})
    duplicate_ids = await sandbox.api.post(
        "/envelopes",
        json={
            "template_id": "t",
            "title": "T",
            "signers": [
                {"email": "a@x.test", "name": "A", "recipient_id": "1"},
                {"email": "b@x.test", "name": "B", "recipient_id": "1"},
            ],
        },
    )
    not_json = await sandbox.api.post("/envelopes", content=b"{nope")

    assert missing_title.status_code == 400
    assert missing_title.json()["detail"][0]["loc"] == ["title"]
    assert duplicate_ids.status_code == 400
    assert not_json.status_code == 400


async def test_pending_events_are_delivered_after_a_restart_on_the_same_state_file(
    tmp_path: Path,
) -> None:
    state = tmp_path / "provider.db"
    down = Receiver(fail_next=10_000)
    async with running_sandbox(down, state) as first:
        envelope_id = await first.create(signers=2)
    assert down.accepted == []

    up = Receiver()
    async with running_sandbox(up, state) as second:
        await second.idle()
        described = (await second.api.get(f"/envelopes/{envelope_id}")).json()

    assert [d.event.recipient_id for d in up.accepted] == ["1", "2"]
    assert described["status"] == "sent"
