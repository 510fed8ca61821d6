"""Request-body limits for everything behind the webhook hot path: `/v1`, the sandbox, pages.

An ASGI middleware around the FastAPI application. Before any route sees a request it

- answers 413 when ``Content-Length`` says the body is over the limit, without reading it, and
  counts a streamed (chunked) body as it arrives, stopping at the limit;
- for `/v1` JSON routes: answers 415 unless the body is JSON (``text/plain`` too on the routes
  browsers post to without a preflight), and 400 unless it is JSON inkbridge accepts
  (see inkbridge.untrusted_json: nesting depth, duplicate keys, invalid Unicode, NaN, NUL);
- elsewhere: refuses JSON nested past the depth limit (400), so no parser recurses on it.

CRM triggers (`/v1/triggers/{name}`) are signed deliveries: they get the size limit here and
their JSON is read strictly after the signature is checked, as webhooks are. Webhook deliveries
never come here (see inkbridge.api.webhooks.IngestFront), so the hot path is not slowed.
"""

from __future__ import annotations

from dataclasses import dataclass

from inkbridge import untrusted_json
from inkbridge.api.webhooks import (
    ASGIApp,
    Disconnected,
    Message,
    Receive,
    Scope,
    Send,
    read_body,
    respond_problem,
)

API_PREFIX = "/v1/"
TRIGGER_PREFIX = "/v1/triggers/"
# Routes a browser posts to with a "simple" content type, so that no CORS preflight is needed.
TEXT_JSON_PATHS = frozenset({"/v1/touchpoints"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class Limits:
    api_json_bytes: int  # `/v1` JSON bodies
    other_bytes: int  # triggers, the sandbox and everything else
    max_depth: int


def _media_type(scope: Scope) -> tuple[str, int | None]:
    """The request's media type (lower case, no parameters) and declared length, if any."""
    media_type, length = "", None
    for name, value in scope["headers"]:
        if name == b"content-type" and not media_type:
            media_type = value.decode("latin-1").split(";", 1)[0].strip().lower()
        elif name == b"content-length" and length is None and value.isdigit():
            length = int(value)
    return media_type, length


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


class BodyLimits:
    """The middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        api_json = path.startswith(API_PREFIX) and not path.startswith(TRIGGER_PREFIX)
        limit = self.limits.api_json_bytes if api_json else self.limits.other_bytes
        media_type, declared = _media_type(scope)
        if declared is not None and declared > limit:
            await respond_problem(send, 413, f"the body may be at most {limit} bytes")
            return
        try:
            body = await read_body(receive, limit)
        except Disconnected:
            return
        if body is None:
            await respond_problem(send, 413, f"the body may be at most {limit} bytes")
            return
        refusal = self._refusal(scope, path, api_json, media_type, body)
        if refusal is not None:
            await respond_problem(send, *refusal)
            return
        await self.app(scope, _replay(body, receive), send)

    def _refusal(
        self, scope: Scope, path: str, api_json: bool, media_type: str, body: bytes
    ) -> tuple[int, str] | None:
        """(status, detail) when the body may not go on to the application."""
        if not body:
            return None
        if api_json and scope["method"] in BODY_METHODS:
            accepted = _is_json(media_type) or (
                media_type == "text/plain" and path in TEXT_JSON_PATHS
            )
            if not accepted:
                return 415, "the body must be application/json"
            try:
                untrusted_json.loads(body, self.limits.max_depth)
            except untrusted_json.UnreadableJson as exc:
                return 400, exc.reason
            return None
        if _is_json(media_type):
            try:
                untrusted_json.check_depth(body, self.limits.max_depth)
            except untrusted_json.UnreadableJson as exc:
                return 400, exc.reason
        return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the application the body already read, then the original's."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
