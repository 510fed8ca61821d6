"""What the capture endpoint tests share: the sites of the publishable key, the Capture rig (a
container, one app over it, an admin token and a key) and the check of a refusal."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.services.publishable_keys import create_key
from inkbridge.services.tokens import create_token
from tests.support.builders import make_settings

SITE = "https://www.example.com"
OTHER_SITE = "https://shop.example.com:8443"


@dataclass
class Capture:
    """A container, one app built over it (so rate-limit state lasts across calls), an admin
    token and a publishable key for SITE."""

    container: Container
    app: Any
    token: str
    key: str
    key_id: str

    def call(
        self, method: str, path: str, *, ip: str = "203.0.113.7", **kwargs: Any
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(ip, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())

    def touch(
        self,
        body: dict[str, Any],
        *,
        key: str | None = None,
        origin: str | None = SITE,
        ip: str = "203.0.113.7",
    ) -> httpx.Response:
        path = "/v1/touchpoints" + (f"?key={key or self.key}" if key != "" else "")
        headers = {"content-type": "text/plain"}
        if origin is not None:
            headers["Origin"] = origin
        return self.call("POST", path, ip=ip, content=_json(body), headers=headers)

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def post_lead(self, body: dict[str, Any]) -> httpx.Response:
        """``POST /v1/leads`` as the integrator (with the admin token)."""
        return self.call("POST", "/v1/leads", headers=self.bearer(), json=body)

    def count(self, table: Any) -> int:
        with self.container.databases.home.reader() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body)


def _capture(tmp_path: Path, db_url: str, **capture: Any) -> Capture:
    settings = make_settings(tmp_path, db_url, capture=capture)
    container = bootstrap(settings, auto_migrate=True)
    _, token = create_token(container.databases, "test", ["admin"])
    key_id, key = create_key(container.databases, "site", [SITE, OTHER_SITE])
    return Capture(container, create_app(container), token, key, key_id)


def _is_problem(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "access-control-allow-origin" not in answer.headers
