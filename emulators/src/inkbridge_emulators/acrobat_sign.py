"""An Adobe Acrobat Sign emulator: the slice of OAuth and REST v6 that ``AcrobatSignClient`` uses,
and webhooks 2.0 notifications in Adobe's format.

API (errors as ``{"code", "message"}``, every ``/api`` call needs ``Authorization: Bearer``):

- ``POST /oauth/v2/refresh`` refresh-token grant (form) -> ``{access_token, expires_in}``
- ``POST /api/rest/v6/agreements`` create from a library document (``state: IN_PROCESS``)
- ``GET /api/rest/v6/agreements/{id}`` status; ``GET …/events`` the audit events
- ``GET /api/rest/v6/agreements/{id}/signingUrls`` the current signers' e-sign URLs
- ``GET /api/rest/v6/agreements/{id}/combinedDocument`` the documents as one PDF
- ``GET|PUT /api/rest/v6/agreements/{id}/me/note`` the API user's private note
- ``POST /api/rest/v6/webhooks`` register a webhook (after the echo check, below)

Notifications carry ``X-ADOBESIGN-CLIENTID``; a delivery counts only when the answer is 2xx and
echoes that id (header ``X-AdobeSign-ClientId`` or body ``xAdobeSignClientId``). Registering a
webhook first sends a GET with the header and requires the same echo, as Adobe does.
``webhookNotificationId`` is fixed when the event happens, so every retry repeats it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inkbridge_emulators._book import (
    EmulatorRefusal,
    RouteSpec,
    SignerInput,
    app_factory,
    read_json,
)
from inkbridge_emulators.acrobat_sign_state import (
    AcrobatSignEmulator,
)
from inkbridge_emulators.documents import pdf_response, signed_pdf
from inkbridge_emulators.process import ProviderProcess

# Credentials of a process run (``--<name>`` overrides): the emulator is for tests and local runs.
DEV_CREDENTIALS = {
    "client_id": "acrobat-dev-client",
    "client_secret": "acrobat-dev-secret",
    "refresh_token": "acrobat-dev-refresh",
}


class _Endpoints:
    def __init__(self, emulator: AcrobatSignEmulator) -> None:
        self.e = emulator

    async def refresh(self, request: Request) -> Response:
        form = await request.form()
        try:
            answer = self.e.issue_token({k: str(v) for k, v in form.items()})
        except EmulatorRefusal as refusal:
            return JSONResponse(
                {"error": refusal.code, "error_description": refusal.message},
                status_code=refusal.status,
            )
        return JSONResponse(answer)

    async def base_uris(self, request: Request) -> Response:
        """``GET /baseUris``: the account's access points, to a token of any scope."""
        self.e.authorize(request)
        api = str(request.base_url).rstrip("/") + "/"
        return JSONResponse({"apiAccessPoint": api, "webAccessPoint": self.e.public_url + "/"})

    async def create_agreement(self, request: Request) -> Response:
        self.e.authorize(request)
        body = await read_json(request)
        envelope = self.e.book.create(**_agreement_input(body))
        transition = self.e.book.send(envelope.id)
        self.e.publish(transition)
        return JSONResponse({"id": envelope.id}, status_code=201)

    async def get_agreement(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["agreement_id"])
        return JSONResponse(self.e.agreement(envelope))

    async def events(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["agreement_id"])
        return JSONResponse({"events": envelope.extra.get("events", [])})

    async def combined_document(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["agreement_id"])
        return pdf_response(signed_pdf(envelope.id, envelope.title, "Acrobat Sign"))

    async def signing_urls(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["agreement_id"])
        current = envelope.signer(None) if envelope.status == "sent" else None
        if current is None:
            raise EmulatorRefusal(
                404,
                "AGREEMENT_NOT_SIGNABLE",
                "The agreement is not currently waiting for anyone to sign it.",
            )
        url = f"{self.e.public_url}/public/apiesign?pid={current.token}"
        return JSONResponse(
            {"signingUrlSetInfos": [{"signingUrls": [{"email": current.email, "esignUrl": url}]}]}
        )

    async def note(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["agreement_id"])
        if request.method == "PUT":
            body = await read_json(request)
            value = body.get("value") if isinstance(body, dict) else None
            if not isinstance(value, str):
                raise EmulatorRefusal(400, "INVALID_ARGUMENTS", "value must be a string")
            envelope.extra["note"] = value
            return Response(status_code=204)
        return JSONResponse({"value": envelope.extra.get("note", "")})

    async def create_webhook(self, request: Request) -> Response:
        self.e.authorize(request)
        body = await read_json(request)
        url = (body.get("webhookUrlInfo") or {}).get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            raise EmulatorRefusal(400, "MISSING_REQUIRED_PARAM", "webhookUrlInfo.url")
        webhook_id = await self.e.register_webhook(url)
        self.e.webhook_name = str(body.get("name") or self.e.webhook_name)
        return JSONResponse({"id": webhook_id}, status_code=201)


def _agreement_input(body: Any) -> dict[str, Any]:
    """The book's create arguments from an AgreementInfo; refusals name the missing field."""
    if not isinstance(body, dict):
        raise EmulatorRefusal(400, "INVALID_JSON", "body must be an object")
    files = body.get("fileInfos")
    library_id = files[0].get("libraryDocumentId") if isinstance(files, list) and files else None
    if not isinstance(library_id, str) or not library_id:
        raise EmulatorRefusal(400, "MISSING_REQUIRED_PARAM", "fileInfos[0].libraryDocumentId")
    if body.get("signatureType") != "ESIGN":
        raise EmulatorRefusal(400, "INVALID_SIGNATURE_TYPE", "signatureType must be ESIGN")
    if body.get("state") != "IN_PROCESS":
        raise EmulatorRefusal(400, "INVALID_STATE", "only state IN_PROCESS is emulated")
    if not isinstance(body.get("name"), str) or not body["name"]:
        raise EmulatorRefusal(400, "MISSING_REQUIRED_PARAM", "name")
    signers: list[tuple[int, SignerInput]] = []
    for item in body.get("participantSetsInfo") or []:
        members = item.get("memberInfos") if isinstance(item, dict) else None
        member = members[0] if isinstance(members, list) and members else None
        email = member.get("email") if isinstance(member, dict) else None
        if not isinstance(email, str) or "@" not in email or item.get("role") != "SIGNER":
            raise EmulatorRefusal(400, "INVALID_PARTICIPANT", "each set needs a SIGNER email")
        name = str(member.get("name") or email) if isinstance(member, dict) else email
        signers.append((int(item.get("order") or 1), SignerInput(email=email, name=name)))
    external = body.get("externalId")
    merge = body.get("mergeFieldInfo") or []
    return {
        "title": body["name"],
        "template_id": library_id,
        "signers": [s for _, s in sorted(signers, key=lambda pair: pair[0])],
        "external_id": external.get("id") if isinstance(external, dict) else None,
        "merge_fields": {
            str(m.get("fieldName")): str(m.get("defaultValue"))
            for m in merge
            if isinstance(m, dict)
        },
    }


def _routes(emulator: AcrobatSignEmulator) -> list[RouteSpec]:
    ep = _Endpoints(emulator)
    base = "/api/rest/v6/agreements/{agreement_id}"
    return [
        ("/oauth/v2/refresh", ep.refresh, ["POST"]),
        ("/api/rest/v6/baseUris", ep.base_uris, ["GET"]),
        ("/api/rest/v6/agreements", ep.create_agreement, ["POST"]),
        (base, ep.get_agreement, ["GET"]),
        (base + "/events", ep.events, ["GET"]),
        (base + "/signingUrls", ep.signing_urls, ["GET"]),
        (base + "/combinedDocument", ep.combined_document, ["GET"]),
        (base + "/me/note", ep.note, ["GET", "PUT"]),
        ("/api/rest/v6/webhooks", ep.create_webhook, ["POST"]),
    ]


# The emulator as an ASGI app; its ``AcrobatSignEmulator`` is ``app.state.emulator``.
create_acrobat_sign_emulator = app_factory(AcrobatSignEmulator, _routes)


# ``python -m inkbridge_emulators.acrobat_sign --webhook-url URL [--port N]``
PROCESS = ProviderProcess(
    create_acrobat_sign_emulator, "Acrobat Sign", 8122, "webhook_url", DEV_CREDENTIALS
)

if __name__ == "__main__":
    PROCESS.main()
