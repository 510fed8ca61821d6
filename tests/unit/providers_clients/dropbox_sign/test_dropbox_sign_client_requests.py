"""DropboxSignClient against the Dropbox Sign emulator in process (httpx.ASGITransport):
embedded and emailed requests, signature-id lookup, status normalization and metadata limits;
error classification over httpx.MockTransport. Nothing touches the network."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import httpx
import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import PermanentError, RetryableError
from inkbridge.providers.base import SigningRequest
from inkbridge.providers.dropbox_sign.client import (
    DropboxSignClient,
    DropboxSignTemplate,
    bounded_metadata,
)

from .support import (
    ADA,
    API_KEY,
    CLIENT_ID,
    GRACE,
    IDS,
    Rig,
    make_client,
    spec,
)


async def test_an_embedded_request_is_created_signed_and_read_back(rig: Rig) -> None:
    created = await rig.client.create_envelope(spec())
    url = await rig.client.signing_url(SigningRequest(created.provider_envelope_id, ADA))
    page = await rig.http.get(url)
    signed = await rig.http.post(url + "/sign")
    history = await rig.client.fetch_status(created.provider_envelope_id)

    request = rig.emulator.requests[created.provider_envelope_id]
    assert page.status_code == 200 and "Ada Lovelace" in page.text
    assert signed.status_code == 200
    assert request.is_complete and request.test_mode
    assert [e.type for e in history] == [
        EventType.DOCUMENT_SENT,
        EventType.DOCUMENT_VIEWED,
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_COMPLETED,
    ]
    assert history[2].recipient_id == request.signatures[0].signature_id
    assert history[2].recipient_email == ADA.email
    assert history[-1].metadata == IDS


async def test_the_template_request_names_roles_merge_fields_and_the_api_app(rig: Rig) -> None:
    created = await rig.client.create_envelope(spec(ADA, GRACE))
    definition = rig.emulator.requests[created.provider_envelope_id].definition

    assert definition["client_id"] == CLIENT_ID
    assert definition["template_ids"] == ["dbx-tpl"]
    assert [s["role"] for s in definition["signers"]] == ["Client", "Witness"]
    assert definition["custom_fields"] == [{"name": "company", "value": "Analytical Engines"}]
    assert definition["test_mode"] is True


async def test_a_signer_is_found_through_the_api_when_the_create_answer_is_not_at_hand(
    rig: Rig,
) -> None:
    created = await rig.client.create_envelope(spec(ADA, GRACE))
    fresh = make_client(rig.http, template_map={})  # another process: no remembered ids

    url = await fresh.signing_url(SigningRequest(created.provider_envelope_id, GRACE))
    await rig.http.get(url)

    grace = rig.emulator.requests[created.provider_envelope_id].signatures[1]
    assert grace.email == GRACE.email and grace.last_viewed_at is not None


async def test_without_an_api_app_the_request_is_emailed_and_has_no_signing_url(rig: Rig) -> None:
    client = make_client(rig.http, client_id=None)
    created = await client.create_envelope(spec())

    with pytest.raises(PermanentError):
        await client.signing_url(SigningRequest(created.provider_envelope_id, ADA))
    assert rig.emulator.requests[created.provider_envelope_id].client_id is None
    assert "client_id" not in rig.emulator.requests[created.provider_envelope_id].definition


async def test_documents_from_urls_go_through_create_embedded(rig: Rig) -> None:
    template = DropboxSignTemplate(file_urls=("https://files.example.test/nda.pdf",))
    client = make_client(rig.http, template_map={"tpl_nda": template})
    created = await client.create_envelope(spec(ADA, GRACE))
    definition = rig.emulator.requests[created.provider_envelope_id].definition

    assert definition["file_urls"] == ["https://files.example.test/nda.pdf"]
    assert [s["order"] for s in definition["signers"]] == [0, 1]


async def test_a_sign_url_works_once(rig: Rig) -> None:
    created = await rig.client.create_envelope(spec())
    url = await rig.client.signing_url(SigningRequest(created.provider_envelope_id, ADA))

    assert (await rig.http.get(url)).status_code == 200
    assert (await rig.http.get(url)).status_code == 410


@pytest.mark.parametrize(
    ("action", "last"),
    [
        ("decline", EventType.DOCUMENT_DECLINED),
        ("expire", EventType.DOCUMENT_EXPIRED),
        ("void", EventType.DOCUMENT_VOIDED),  # answered 410 by the API afterwards
    ],
)
async def test_fetch_status_reports_how_the_request_ended(
    rig: Rig, action: str, last: EventType
) -> None:
    created = await rig.client.create_envelope(spec())
    answer = await rig.http.post(
        f"/_emulator/signature_requests/{created.provider_envelope_id}/{action}"
    )
    history = await rig.client.fetch_status(created.provider_envelope_id)

    assert answer.status_code == 200
    assert history[-1].type is last


def test_dropbox_sign_sets_no_polling_rule() -> None:
    assert DropboxSignClient(api_key="k", client=httpx.AsyncClient()).min_poll_interval_seconds == 0


def test_metadata_keeps_inkbridge_ids_first_and_fits_dropbox_sign_limits() -> None:
    metadata = {f"inkbridge_utm_{n}": "v" * 600 for n in range(12)}
    metadata |= {"k" * 41: "too long a key", **IDS}

    bounded = bounded_metadata(metadata)

    assert list(bounded)[:3] == list(IDS)
    assert len(bounded) == 10
    assert all(len(k) <= 40 and len(v) <= 500 for k, v in bounded.items())


async def test_oversized_metadata_is_trimmed_before_the_emulator_would_refuse_it(
    rig: Rig,
) -> None:
    metadata = {**IDS, **{f"inkbridge_click_{n}": "x" * 700 for n in range(12)}}
    created = await rig.client.create_envelope(spec(metadata=metadata))

    stored = rig.emulator.requests[created.provider_envelope_id].metadata
    assert len(stored) == 10 and stored["inkbridge_envelope_id"] == "env_1"


async def test_the_emulator_refuses_metadata_over_the_limits(rig: Rig) -> None:
    body = {
        "client_id": CLIENT_ID,
        "template_ids": ["t"],
        "signers": [{"role": "Signer", "name": "Ada", "email_address": ADA.email}],
        "metadata": {f"k{n}": "v" for n in range(11)},
    }
    answer = await rig.http.post(
        "/v3/signature_request/create_embedded_with_template", json=body, auth=(API_KEY, "")
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["error_name"] == "bad_request"


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> DropboxSignClient:
    return make_client(httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def dropbox_error(status: int, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"error_msg": "ada@example.test is not allowed", "error_name": name}}
    return httpx.Response(status, json=body, headers=headers)


async def test_the_rate_limit_is_retryable_until_the_reset() -> None:
    reset = int(time.time()) + 30
    answer = dropbox_error(429, "exceeded_rate", {"X-Ratelimit-Reset": str(reset)})

    with pytest.raises(RetryableError) as failed:
        await mock_client(lambda _: answer).create_envelope(spec())

    assert failed.value.retry_after is not None and 20 < failed.value.retry_after <= 30


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_outages_are_retryable(status: int) -> None:
    with pytest.raises(RetryableError):
        await mock_client(lambda _: dropbox_error(status, "unknown_error")).fetch_status("sr")


@pytest.mark.parametrize(
    ("status", "name"),
    [(400, "bad_request"), (402, "payment_required"), (403, "forbidden"), (404, "not_found")],
)
async def test_refusals_are_permanent_and_quote_no_personal_data(status: int, name: str) -> None:
    with pytest.raises(PermanentError) as failed:
        await mock_client(lambda _: dropbox_error(status, name)).create_envelope(spec())

    assert name in str(failed.value)
    assert "ada@" not in str(failed.value)


async def test_a_connection_failure_is_retryable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(RetryableError):
        await mock_client(refuse).fetch_status("sr")


async def test_requests_use_basic_auth_with_the_api_key_as_user_name() -> None:
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return dropbox_error(404, "not_found")

    with pytest.raises(PermanentError):
        await mock_client(record).fetch_status("sr")

    assert seen == ["Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()]
