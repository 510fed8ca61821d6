"""``GET /v1/schemas/standard-webhooks.json``: the generic connection's payload format as a JSON
Schema, for whoever writes a sender. Public (declared in ``access.PUBLIC_ROUTES``): it describes
a wire format and holds no data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from inkbridge.providers.standard_webhooks.schema import NATIVE_EXAMPLE, NATIVE_SCHEMA, SCHEMA_PATH

router = APIRouter()


@router.get(SCHEMA_PATH, tags=["webhooks"], response_class=JSONResponse)
async def standard_webhooks_schema() -> dict[str, Any]:
    """The JSON Schema of the generic connection's native event, with an example body."""
    return {**NATIVE_SCHEMA, "examples": [NATIVE_EXAMPLE]}
