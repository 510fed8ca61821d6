"""The console's Dead letters and Receipts pages need ``admin``, as their API routes do
(``/v1/admin/dead-letters``, ``/v1/admin/receipts``): a read session is refused them and is
never shown a link to them (navigation, overview); an admin session sees and reaches both."""

from __future__ import annotations

import re

from tests.integration.console.conftest import World, sign_in

OPERATOR_PAGES = ("/console/dead-letters", "/console/receipts")


def _links(page: str) -> set[str]:
    return {href.split("?")[0] for href in re.findall(r'<a href="([^"]+)"', page)}


async def test_a_read_session_is_refused_the_dead_letters_and_receipts_and_shown_no_link(
    world: World,
) -> None:
    await sign_in(world.client, world.tokens["read"])
    for path in (*OPERATOR_PAGES, "/console/receipts?status=ignored"):
        refused = await world.client.get(path)
        assert refused.status_code == 403, path
        assert "admin" in refused.text
        assert "scripted refusal" not in refused.text
        assert "envelope_teleported" not in refused.text
    for page in ("/console", "/console/funnel", f"/console/envelopes/{world.envelope_id}"):
        shown = await world.client.get(page)
        assert shown.status_code == 200, page
        assert not _links(shown.text) & set(OPERATOR_PAGES), page
        assert "/console/data-map" not in _links(shown.text)
    overview = (await world.client.get("/console")).text
    # The counts are still there, without the way in.
    assert "Parked receipts" in overview and "ignored" in overview
    assert "dead letters" in overview


async def test_an_admin_session_is_linked_to_and_sees_both_pages(world: World) -> None:
    await sign_in(world.client, world.tokens["admin"])
    overview = await world.client.get("/console")
    links = _links(overview.text)
    assert set(OPERATOR_PAGES) <= links
    assert "/console/data-map" in links
    listing = await world.client.get(f"/console/dead-letters?destination={world.destination}")
    assert listing.status_code == 200
    assert "scripted refusal" in listing.text and "Replay" in listing.text
    receipts = await world.client.get("/console/receipts?status=ignored")
    assert receipts.status_code == 200 and "envelope_teleported" in receipts.text
