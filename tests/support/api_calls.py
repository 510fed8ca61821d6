"""The HTTP API called in-process: one request through ASGI to the app a container builds,
anonymously or with one token's headers on every request."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container


def call_api(container: Container, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """``method path`` answered by ``container``'s API app (no server, no socket)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


@dataclass(frozen=True)
class TokenApi:
    """``container``'s API called with the same ``headers`` (a bearer token) on every request."""

    container: Container
    headers: dict[str, str]

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return call_api(self.container, method, path, headers=self.headers, **kwargs)
