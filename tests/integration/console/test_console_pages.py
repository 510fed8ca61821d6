"""Every console page answers 200 with the data it is about, through the real app, on SQLite
and PostgreSQL; no page ever shows an API token; replaying a dead letter through the console
moves it back to pending and is an audit entry of the signed-in person."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from inkbridge.store.schema import audit_log, outbox
from tests.integration.console.conftest import (
    CAMPAIGN,
    EMAIL,
    ORIGIN,
    World,
    page_csrf,
    sign_in,
)


def _pages(world: World) -> dict[str, list[str]]:
    """Each page's address and text it must show."""
    return {
        "/console": [world.destination, "Parked receipts", "ignored", "dead letters"],
        f"/console/funnel?campaign={CAMPAIGN}": ["Drop-off per step", "completed", "<svg"],
        "/console/funnel?channel=email&from=2020-01-01": ["Drop-off per step"],
        "/console/time-to-sign?group_by=template_version": ["p50", "nda", "&lt; 1 h: 1;"],
        "/console/attribution?model=w_shaped&group_by=campaign": [CAMPAIGN, "w shaped", "<svg"],
        "/console/envelopes": [world.envelope_id, CAMPAIGN],
        f"/console/envelopes?campaign={CAMPAIGN}": [world.envelope_id],
        f"/console/envelopes?provider_id={world.provider_envelope_id}": [world.envelope_id],
        f"/console/envelopes?email={EMAIL}": [world.envelope_id],
        f"/console/envelopes/{world.envelope_id}": [
            "Timeline",
            "Trace",
            "document_completed",
            world.destination,
            CAMPAIGN,
        ],
        "/console/receipts?status=ignored": ["envelope_teleported"],
        "/console/dead-letters": [world.destination, "scripted refusal", "Replay"],
        f"/console/consent?lead_id={world.lead_id}": ["marketing_email", "granted", "intact"],
        f"/console/consent?email={EMAIL}": [world.lead_id, "marketing_email"],
        f"/console/consent/{world.lead_id}/receipt": ["marketing_email"],
        "/console/data-map": ["Stores", "Retention", "user.contact.email"],
    }


@pytest.mark.parametrize("scope", ["admin"])
async def test_every_page_shows_its_data_and_never_a_token(world: World, scope: str) -> None:
    await sign_in(world.client, world.tokens[scope])
    for path, expected in _pages(world).items():
        answer = await world.client.get(path)
        assert answer.status_code == 200, f"{path}: {answer.status_code}"
        for text in expected:
            assert text in answer.text, f"{path} lacks {text!r}"
        for token in world.tokens.values():
            assert token not in answer.text, path
        assert "ibk_" not in answer.text, path
        if answer.headers["content-type"].startswith("text/html"):
            assert answer.headers["cache-control"] == "no-store"
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
            # Every asset is inkbridge's own: nothing is loaded from another host.
            assert not re.search(r'(src|href)="(https?:)?//', answer.text), path


async def test_a_read_session_can_neither_replay_nor_see_the_data_map(
    world: World,
) -> None:
    await sign_in(world.client, world.tokens["read"])
    assert (await world.client.get("/console/data-map")).status_code == 403
    csrf = await page_csrf(world.client)
    refused = await world.client.post(
        "/console/dead-letters/replay",
        data={"csrf": csrf, "id": "1", "region": "default"},
        headers=ORIGIN,
    )
    assert refused.status_code == 403
    with world.container.databases.home.reader() as conn:
        statuses = set(
            conn.execute(
                select(outbox.c.status).where(outbox.c.destination == world.destination)
            ).scalars()
        )
    assert statuses == {"dead"}


async def test_bad_filters_are_answered_with_a_clear_error_not_a_failure(world: World) -> None:
    await sign_in(world.client, world.tokens["read"])
    for path in (
        "/console/funnel?from=yesterday",
        "/console/time-to-sign?group_by=planet",
        "/console/attribution?model=magic",
        "/console/funnel?campaign=" + "x" * 300,
    ):
        answer = await world.client.get(path)
        assert answer.status_code == 422, path
        assert 'role="alert"' in answer.text
    missing = await world.client.get("/console/envelopes/env_nothing")
    assert missing.status_code == 404


async def test_replaying_a_dead_letter_moves_it_back_to_pending_and_audits_the_person(
    world: World,
) -> None:
    await sign_in(world.client, world.tokens["admin"])
    with world.container.databases.home.reader() as conn:
        dead = (
            conn.execute(
                select(outbox.c.id).where(
                    outbox.c.destination == world.destination, outbox.c.status == "dead"
                )
            )
            .scalars()
            .all()
        )
    assert dead
    csrf = await page_csrf(world.client)
    without_token = await world.client.post(
        "/console/dead-letters/replay",
        data={"id": str(dead[0]), "region": "default"},
        headers=ORIGIN,
    )
    foreign = await world.client.post(
        "/console/dead-letters/replay",
        data={"csrf": csrf, "id": str(dead[0]), "region": "default"},
        headers={"origin": "https://evil.example"},
    )
    assert [without_token.status_code, foreign.status_code] == [403, 403]

    answer = await world.client.post(
        "/console/dead-letters/replay",
        data={"csrf": csrf, "id": str(dead[0]), "region": "default"},
        headers=ORIGIN,
    )
    assert answer.status_code == 303
    shown = await world.client.get(answer.headers["location"])
    assert "pending again" in shown.text
    with world.container.databases.home.reader() as conn:
        status = conn.execute(select(outbox.c.status).where(outbox.c.id == dead[0])).scalar_one()
        entry = conn.execute(
            select(audit_log.c.actor, audit_log.c.subject_id).where(
                audit_log.c.action == "console:dead_letters:replayed"
            )
        ).one()
        signed_in = conn.execute(
            select(audit_log.c.actor).where(audit_log.c.action == "console:session:signed_in")
        ).scalar_one()
    assert status == "pending"
    assert entry.actor == signed_in and entry.actor.startswith("token:")
    assert entry.subject_id == str(dead[0])
