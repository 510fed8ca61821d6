"""The built-in sandbox: the sandbox provider and destinations mounted into the main app, so
`inkbridge serve` works end to end with no vendor account."""

from __future__ import annotations

from typing import Any

from inkbridge.bootstrap import (
    SANDBOX_CRM_PATH,
    SANDBOX_MARKETING_PATH,
    SANDBOX_PROVIDER_PATH,
    sandbox_state_dir,
)
from inkbridge.config import SANDBOX_CONNECTION, Settings, resolve_secret
from inkbridge.errors import ConfigError


def sandbox_mounts(settings: Settings) -> list[tuple[str, Any, Any]]:
    """(path, ASGI app, start/stop hooks or None) for each sandbox part."""
    from inkbridge.web.sandbox_crm import create_crm_app
    from inkbridge.web.sandbox_provider import create_provider_app

    connection = settings.connections.get(SANDBOX_CONNECTION)
    if connection is None or not connection.secrets:
        raise ConfigError("the sandbox needs a 'sandbox' connection with a secret")
    state = sandbox_state_dir(settings)
    state.mkdir(parents=True, exist_ok=True)
    base = settings.server.base_url
    provider_app = create_provider_app(
        state_path=state / "provider.db",
        webhook_url=f"{base}/v1/webhooks/{SANDBOX_CONNECTION}",
        webhook_secret=resolve_secret(connection.secrets[0]).get_secret_value(),
        public_url=base + SANDBOX_PROVIDER_PATH,
    )
    return [
        (SANDBOX_PROVIDER_PATH, provider_app, provider_app.state.sandbox),
        (SANDBOX_CRM_PATH, create_crm_app(state / "crm.db", kind="crm"), None),
        (SANDBOX_MARKETING_PATH, create_crm_app(state / "marketing.db", kind="marketing"), None),
    ]
