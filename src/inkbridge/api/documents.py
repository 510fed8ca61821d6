"""The signed-document route: ``GET /v1/envelopes/{id}/document`` (scope ``documents``), thin
over ``services.documents``, which streams the PDF from the provider and audits each access."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import StreamingResponse

from inkbridge.api.auth import require
from inkbridge.bootstrap import Container
from inkbridge.services.tokens import TokenIdentity

router = APIRouter(prefix="/v1")

CanReadDocuments = Annotated[TokenIdentity, Depends(require("documents"))]


@router.get(
    "/envelopes/{envelope_id}/document",
    tags=["envelopes"],
    response_class=StreamingResponse,
    responses={200: {"description": "the signed PDF", "content": {"application/pdf": {}}}},
)
async def envelope_document(
    envelope_id: Annotated[str, Path(max_length=100)],
    request: Request,
    identity: CanReadDocuments,
) -> StreamingResponse:
    """The signed PDF, streamed from the envelope's provider (nothing is kept): 409 before the
    envelope is completed, 502 when the provider fails. Every access is an audit entry naming
    the token."""
    container: Container = request.app.state.container
    document = await container.services.documents.open_document(envelope_id, identity.actor)
    return StreamingResponse(
        document.chunks,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{document.filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
