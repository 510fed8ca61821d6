"""A signer's way in over the running API: the integrator vouches for a signer it has just
signed in and gets a one-time signing link; then the envelope is watched until it reaches a
state."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.acceptance.conftest import Stack


def signing_link(api: httpx.Client, envelope_id: str, email: str, subject: str) -> str:
    """The one-time link of a verified signer session for ``email``, signed in by the
    integrator's user ``subject`` with a one-time code just now."""
    session = api.post(
        f"/v1/envelopes/{envelope_id}/signing-session",
        json={
            "email": email,
            "subject": subject,
            "auth_method": "otp",
            "authenticated_at": datetime.now(UTC).isoformat(),
        },
    )
    assert session.status_code == 200, session.text
    return str(session.json()["url"])


def wait_state(stack: Stack, envelope_id: str, state: str) -> dict[str, Any]:
    """The envelope's view once it is in ``state`` (fails after 30 seconds)."""
    deadline = time.monotonic() + 30
    with stack.client() as api:
        while time.monotonic() < deadline:
            view: dict[str, Any] = api.get(f"/v1/envelopes/{envelope_id}").json()
            if view["state"] == state:
                return view
            time.sleep(0.2)
    raise AssertionError(f"envelope never reached {state}")
