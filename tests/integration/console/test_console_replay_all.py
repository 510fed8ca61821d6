"""Replaying every dead letter from the console, on SQLite and PostgreSQL: each one goes back
to pending, the replay is one audit entry of the signed-in person with the count, a destination
filter replays that destination's only, and a read-only session or a forged form replays none."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from inkbridge.store.schema import audit_log, outbox
from tests.integration.console.conftest import ORIGIN, World, page_csrf, sign_in
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination

REPLAY_ALL = "/console/dead-letters/replay-all"


def _statuses(world: World) -> dict[int, str]:
    with world.container.databases.home.reader() as conn:
        rows = conn.execute(
            select(outbox.c.id, outbox.c.status).where(outbox.c.destination == world.destination)
        )
        return {int(row.id): str(row.status) for row in rows}


def _replayed_all_entries(world: World) -> list[tuple[str, str | None, dict[str, object]]]:
    with world.container.databases.home.reader() as conn:
        rows = conn.execute(
            select(audit_log.c.actor, audit_log.c.subject_id, audit_log.c.details).where(
                audit_log.c.action == "console:dead_letters:replayed_all"
            )
        )
        return [(row.actor, row.subject_id, row.details) for row in rows]


async def _replay_all(world: World, destination: str, csrf: str | None = None) -> httpx.Response:
    """The replay-all form posted from the console's own origin, with the page's CSRF token
    unless another is given."""
    token = csrf if csrf is not None else await page_csrf(world.client)
    return await world.client.post(
        REPLAY_ALL, data={"csrf": token, "destination": destination}, headers=ORIGIN
    )


async def test_replay_all_moves_every_dead_letter_back_to_pending_and_audits_the_count(
    world: World,
) -> None:
    dead = [i for i, status in _statuses(world).items() if status == "dead"]
    assert len(dead) > 1, "the world has several dead letters"
    await sign_in(world.client, world.tokens["admin"])
    listing = await world.client.get("/console/dead-letters")
    assert REPLAY_ALL in listing.text
    assert "Replay every dead letter of every destination" in listing.text

    answer = await _replay_all(world, "")

    assert answer.status_code == 303
    shown = await world.client.get(answer.headers["location"])
    assert f"{len(dead)} dead letters are pending again" in shown.text
    assert {_statuses(world)[i] for i in dead} == {"pending"}
    [(actor, subject, details)] = _replayed_all_entries(world)
    assert actor.startswith("token:")
    assert subject is None
    assert details["count"] == len(dead)


async def test_replay_all_of_one_destination_leaves_the_other_destinations_dead_letters(
    world: World,
) -> None:
    quiet = "crm_quiet"
    add_fake_destination(world.container, quiet, RecordingConnector())
    await sign_in(world.client, world.tokens["admin"])
    filtered = await world.client.get(f"/console/dead-letters?destination={world.destination}")
    assert f"Replay every dead letter of {world.destination}" in filtered.text
    assert re.search(rf'name="destination" value="{world.destination}"', filtered.text)
    csrf = await page_csrf(world.client)

    other = await _replay_all(world, quiet, csrf)
    assert other.status_code == 303
    assert other.headers["location"].endswith("replayed_all=0")
    assert "pending" not in set(_statuses(world).values())

    mine = await _replay_all(world, world.destination, csrf)
    assert mine.status_code == 303
    assert "dead" not in set(_statuses(world).values())
    [(_, subject, _)] = _replayed_all_entries(world)
    assert subject == world.destination


async def test_replay_all_naming_an_unknown_destination_is_refused_clearly(world: World) -> None:
    await sign_in(world.client, world.tokens["admin"])
    answer = await _replay_all(world, "crm_nowhere")
    assert answer.status_code == 422
    assert "No such destination" in answer.text
    assert "pending" not in set(_statuses(world).values())
    assert _replayed_all_entries(world) == []


async def test_a_read_only_session_cannot_replay_all_and_sees_no_button(world: World) -> None:
    await sign_in(world.client, world.tokens["read"])
    listing = await world.client.get("/console/dead-letters")
    assert listing.status_code == 403
    assert REPLAY_ALL not in listing.text
    refused = await _replay_all(world, "")
    assert refused.status_code == 403
    assert "admin" in refused.text
    assert set(_statuses(world).values()) == {"dead"}
    assert _replayed_all_entries(world) == []


async def test_replay_all_without_the_csrf_token_or_from_another_site_is_refused(
    world: World,
) -> None:
    await sign_in(world.client, world.tokens["admin"])
    csrf = await page_csrf(world.client)
    without_token = await world.client.post(REPLAY_ALL, data={"destination": ""}, headers=ORIGIN)
    forged_token = await _replay_all(world, "", "x" * len(csrf))
    foreign = await world.client.post(
        REPLAY_ALL,
        data={"csrf": csrf, "destination": ""},
        headers={"origin": "https://evil.example"},
    )
    assert [without_token.status_code, forged_token.status_code, foreign.status_code] == [
        403,
        403,
        403,
    ]
    assert set(_statuses(world).values()) == {"dead"}
    assert _replayed_all_entries(world) == []
