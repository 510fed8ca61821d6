"""The six e-signature providers end to end, each through its emulator over real HTTP.

One ``inkbridge serve`` process (configured by a real inkbridge.toml with a connection per
provider: webhook secrets as ``file:`` references, two of them holding two secrets, and the API
pointed at the emulator) and the six emulators (uvicorn threads in this process) are started once
for the modules of this folder. Envelopes are created through ``POST /v1/envelopes``, hence
through inkbridge's real API clients; the emulators' test-control endpoints then drive the vendor
side, and the emulators deliver webhooks in each vendor's real format. The tests assert end
states only: what ``GET /v1/envelopes/{id}`` shows, what the SQLite file holds, what the
emulators counted and what inkbridge answered on the wire.

This module: the full lifecycle and the declined, voided and expired paths of each provider,
the vendors' published schemas against inkbridge's real requests, and, last, that no emulator
gave up on a delivery.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.acceptance.provider_stack import ProviderStack
from tests.acceptance.provider_vendors import (
    DROPBOX_OPENAPI,
    HAVE_VENDOR_SCHEMAS,
    PROVIDERS,
    TEMPLATE_IDS,
    VENDOR,
)
from tests.acceptance.stack import wait_for

from .support import accepted_states

pytestmark = pytest.mark.slow

# The normalized lifecycle table in shared/vendor/NOTES.md: PandaDoc has no expiry event.
NO_EVENT_FOR = {("pandadoc", "expire"): "NOTES.md lists no PandaDoc event for an expiry"}
TERMINAL_PATHS = {"decline": "declined", "void": "voided", "expire": "expired"}


# 4. The full lifecycle (first: the other tests reuse its envelopes).


@pytest.mark.parametrize("provider", PROVIDERS)
def test_full_lifecycle_created_sent_viewed_signed_ends_completed(
    world: ProviderStack, provider: str
) -> None:
    view = world.completed(provider)

    assert view["state"] == "completed"
    assert view["conflicts"] == [] and not view["needs_reconcile"]
    states = accepted_states(view)
    assert states[:2] == ["sent", "viewed"] and states[-1] == "completed", states
    assert len(states) == len(set(states)) and set(states) <= {
        "sent",
        "viewed",
        "partially_signed",
        "completed",
    }
    event_types = {e["event_type"] for e in view["timeline"]}
    assert {
        "document_sent",
        "document_viewed",
        "recipient_signed",
        "document_completed",
    } <= event_types
    assert view["template_key"] == f"{provider}_nda" and view["template_version"] == 2
    assert {"sent_at", "first_viewed_at", "completed_at"} <= set(view["milestones"])

    def crm_record() -> dict[str, Any] | None:
        answer = httpx.get(
            f"{world.base}/sandbox/crm/records/envelope:{view['id']}",
            headers={"Authorization": f"Bearer {world.token}"},
            timeout=10,
        )
        if answer.status_code != 200:
            return None
        props: dict[str, Any] = answer.json()["properties"]
        return props if props.get("inkbridge_status") == "completed" else None

    props = wait_for(crm_record, "the sandbox CRM record to show completed")
    assert props["first_touch_utm_campaign"] == "provider-acceptance"


# 4. The declined, voided and expired paths.


@pytest.mark.parametrize("action", sorted(TERMINAL_PATHS))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_terminal_paths_end_in_the_right_state(
    world: ProviderStack, provider: str, action: str
) -> None:
    if (provider, action) in NO_EVENT_FOR:
        pytest.skip(NO_EVENT_FOR[(provider, action)])
    view = world.sent(provider)

    world.act(provider, view["provider_envelope_id"], action)
    final = world.wait_state(view["id"], TERMINAL_PATHS[action])

    assert accepted_states(final)[0] == "sent"
    assert accepted_states(final)[-1] == TERMINAL_PATHS[action]
    assert final["conflicts"] == []
    assert f"{TERMINAL_PATHS[action]}_at" in final["milestones"]


# The vendors' published schemas checked inkbridge's real requests.


@pytest.mark.parametrize("provider", ["docusign", "dropbox_sign"])
def test_real_client_requests_passed_the_vendors_published_schemas(
    world: ProviderStack, provider: str
) -> None:
    if not HAVE_VENDOR_SCHEMAS:
        pytest.skip(f"vendor schemas not found under {VENDOR}: emulators ran without them")
    view = world.completed(provider)
    emulator = world.vendors[provider].emulator
    ref = view["provider_envelope_id"]
    if provider == "docusign":
        validator = emulator.validators["envelopeDefinition"]
        definition = emulator.envelopes[ref].definition
        assert definition["templateId"] == TEMPLATE_IDS["docusign"]
        fields = {f["name"]: f["value"] for f in definition["customFields"]["textCustomFields"]}
        assert fields["inkbridge_envelope_id"] == view["id"]
        connect = emulator.validators["connect"]
        assert all(connect.problems(message) == [] for message in emulator.messages)
    else:
        validator = emulator.validators["create_embedded_with_template"]
        definition = emulator.requests[ref].definition
        assert definition["template_ids"] == [TEMPLATE_IDS["dropbox_sign"]]
        assert definition["metadata"]["inkbridge_envelope_id"] == view["id"]
        assert DROPBOX_OPENAPI.is_file()
        callback = emulator.validators["callback"]
        assert all(callback.problems(message) == [] for message in emulator.messages)
    # The body inkbridge sent is valid, and the validator is strict enough to matter.
    assert validator.problems(definition) == []
    assert validator.problems({**definition, "misspelled_field": "x"}) != []


# The last test of the folder (modules run in name order): it counts every module's deliveries.
def test_no_emulator_gave_up_on_a_delivery(world: ProviderStack) -> None:
    for provider in PROVIDERS:
        world.settle(provider)
        counters = world.vendors[provider].emulator.emitter.counters
        assert counters.delivered > 0, provider
        assert counters.gave_up == 0, (provider, counters)
