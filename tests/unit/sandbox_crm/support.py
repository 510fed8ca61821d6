"""An HTTP client to a sandbox CRM app, in process."""

from __future__ import annotations

from typing import Any

import httpx


def crm_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://crm")
