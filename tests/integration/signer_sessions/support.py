"""What the signer session tests share: inkbridge's public URL, the allowed return origins, a
browser's user agent and the World (the app, the mounted sandbox provider, a token, an envelope)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from inkbridge.bootstrap import Container
from inkbridge.sandbox.provider import SandboxProvider
from inkbridge.store.schema import audit_log, envelopes, signer_sessions

PUBLIC = "https://ink.test"
APP = "https://app.example.test"
CRM_APP = "https://crm.example.test:8443"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.6478.126 Safari/537.36"
)


@dataclass
class World:
    container: Container
    sandbox: SandboxProvider
    transport: httpx.ASGITransport
    api: httpx.AsyncClient
    lead_id: str
    envelope_id: str
    email: str = "Ada.Lovelace@Example.com"

    def body(self, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "recipient_id": "1",
            "email": self.email,
            "subject": "user-4711",
            "auth_method": "sso",
            "authenticated_at": (datetime.now(UTC) - timedelta(minutes=2)).isoformat(),
        }
        body.update(changes)
        return {k: v for k, v in body.items() if v is not None}

    async def issue(self, **changes: Any) -> httpx.Response:
        return await self.api.post(
            f"/v1/envelopes/{self.envelope_id}/signing-session", json=self.body(**changes)
        )

    async def issued_url(self, **changes: Any) -> str:
        answer = await self.issue(**changes)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["url"])

    async def visit_link(self, *methods: str) -> list[httpx.Response]:
        """Issue a signing link and request it with ``methods``, in turn, from one browser."""
        url = await self.issued_url()
        async with self.browser() as browser:
            return [await browser.request(method, url) for method in methods]

    def browser(self, user_agent: str = CHROME) -> httpx.AsyncClient:
        """A fresh browser: its own cookie jar, following no redirects by itself."""
        return httpx.AsyncClient(
            transport=self.transport, base_url=PUBLIC, headers={"user-agent": user_agent}
        )

    def sessions(self) -> list[Any]:
        with self.container.databases.home.reader() as conn:
            return list(conn.execute(select(signer_sessions).order_by(signer_sessions.c.issued_at)))

    def audit(self, action: str) -> list[Any]:
        with self.container.databases.home.reader() as conn:
            return list(
                conn.execute(
                    select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.seq)
                )
            )

    def provider_links(self) -> int:
        return len(self.sandbox.db.fetch("SELECT token FROM tokens"))

    def set_state(self, state: str) -> None:
        with self.container.databases.home.transaction() as conn:
            conn.execute(
                update(envelopes).where(envelopes.c.id == self.envelope_id).values(state=state)
            )
