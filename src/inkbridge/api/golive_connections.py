"""``GET /v1/admin/golive/connections``: what ``inkbridge golive`` needs to speak to each of a
deployment's connections (golive or admin scope): a mapped sender's vocabulary and signature
scheme (``[connections.NAME.mapping]`` / ``.signature``), whether the vendor's terminal events
wait for its API to confirm them, and, for a connection the deployment marks
``golive_may_seed``, the emulator golive may create and sign test requests in.

Nothing here is a secret: a mapping is event names and JSON paths, a scheme names a header and
an encoding; the signing secrets and API keys stay in the deployment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from inkbridge.access import ADMIN, GOLIVE
from inkbridge.api.auth import require
from inkbridge.bootstrap import Container
from inkbridge.services.tokens import TokenIdentity

router = APIRouter(prefix="/v1/admin/golive", tags=["admin"])


@router.get("/connections")
def list_connections(
    request: Request, _: Annotated[TokenIdentity, Depends(require(ADMIN, GOLIVE))]
) -> dict[str, Any]:
    container: Container = request.app.state.container
    found = []
    for name, conn in container.settings.connections.items():
        binding = container.bindings.get(name)
        seedable = conn.golive_may_seed and conn.api_url is not None
        found.append(
            {
                "name": name,
                "provider": conn.provider,
                "region": conn.region,
                "mapping": None if conn.mapping is None else conn.mapping.model_dump(),
                "signature": conn.signature.model_dump(),
                "terminal_needs_confirmation": bool(
                    binding is not None and binding.adapter.terminal_needs_confirmation
                ),
                "seed": {"api_url": conn.api_url} if seedable else None,
            }
        )
    return {"connections": found}
