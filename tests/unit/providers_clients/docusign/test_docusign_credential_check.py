"""DocuSignClient.check_credentials against the emulator: the JWT grant, then the account
read (``GET /v2.1/accounts/{accountId}``); a key DocuSign does not know is refused at the grant,
and a user outside the account fails naming DocuSign's code."""

from __future__ import annotations

from inkbridge.providers.docusign.client import DocuSignClient
from inkbridge.vendor_http.credentials import Verdict
from tests.support.keys import rsa_pem

from .support import HOST, INTEGRATION_KEY, PRIVATE_PEM, USER_ID, Rig, make_client

CALL = "GET /restapi/v2.1/accounts/acc-1"


async def test_the_configured_key_is_accepted_after_the_grant(rig: Rig) -> None:
    result = await rig.client.check_credentials()

    assert result.verdict is Verdict.ACCEPTED, result
    assert result.detail == f"{CALL}: 200"
    assert rig.emulator.tokens_issued == 1


async def test_a_private_key_docusign_does_not_know_is_refused_at_the_grant(rig: Rig) -> None:
    other_key, _ = rsa_pem()
    client = make_client(rig.http, private_key_pem=other_key)

    result = await client.check_credentials()

    assert result.verdict is Verdict.REFUSED, result
    assert result.detail.startswith(f"{CALL}: credentials refused")
    assert "invalid_grant" in result.detail
    assert rig.emulator.tokens_issued == 0


async def test_a_user_outside_the_account_fails_naming_docusign_s_code(rig: Rig) -> None:
    client = DocuSignClient(
        f"{HOST}/restapi", "acc-other", INTEGRATION_KEY, USER_ID, PRIVATE_PEM, HOST, rig.http
    )

    result = await client.check_credentials()

    assert result.verdict is Verdict.FAILED, result
    assert "400 (USER_DOES_NOT_BELONG_TO_SPECIFIED_ACCOUNT)" in result.detail


async def test_a_revoked_token_is_replaced_once_and_the_check_passes(rig: Rig) -> None:
    await rig.client.check_credentials()
    rig.emulator.revoke_tokens()

    result = await rig.client.check_credentials()

    assert result.verdict is Verdict.ACCEPTED, result
    assert rig.emulator.tokens_issued == 2
