"""``GET /v1/datamap``: the data map of this deployment (``services.datamap``), as JSON or, with
``?format=markdown``, the Markdown the README carries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from inkbridge.access import DATAMAP_SCOPE, GOLIVE
from inkbridge.api.auth import require
from inkbridge.bootstrap import Container
from inkbridge.services.datamap import data_map
from inkbridge.services.datamap_markdown import to_markdown
from inkbridge.services.tokens import TokenIdentity

router = APIRouter(prefix="/v1")


@router.get(
    "/datamap",
    tags=["admin"],
    responses={
        200: {
            "description": "The data map (JSON, or Markdown with ?format=markdown)",
            "content": {"text/markdown": {"schema": {"type": "string"}}},
        }
    },
)
def get_datamap(
    request: Request,
    _: Annotated[TokenIdentity, Depends(require(DATAMAP_SCOPE, GOLIVE))],
    fmt: Annotated[Literal["json", "markdown"], Query(alias="format")] = "json",
) -> Response:
    """Every store, processor and data category, with regions, encryption, retention windows
    and the scopes that can read each column, built from the configuration."""
    container: Container = request.app.state.container
    built: dict[str, Any] = data_map(container.settings)
    if fmt == "markdown":
        return PlainTextResponse(to_markdown(built), media_type="text/markdown; charset=utf-8")
    return JSONResponse(built)
