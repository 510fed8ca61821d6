"""The generic connection's native payload format, published as a JSON Schema (served at
``GET /v1/schemas/standard-webhooks.json`` and shown in the README) with an example body.

A sender that cannot send this shape describes its own with ``[connections.NAME.mapping]``.
"""

from __future__ import annotations

from typing import Any

from inkbridge.domain.events import EventType

SCHEMA_PATH = "/v1/schemas/standard-webhooks.json"

NATIVE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_PATH,
    "title": "inkbridge generic connection: native event",
    "description": (
        "One provider event, POSTed to /v1/webhooks/{connection} and signed with Standard "
        "Webhooks (webhook-id, webhook-timestamp, webhook-signature). Event types other than "
        "those listed are stored and ignored with their reason."
    ),
    "type": "object",
    "required": ["type", "data"],
    "properties": {
        "type": {
            "description": "What happened, in inkbridge's vocabulary.",
            "type": "string",
            "enum": [t.value for t in EventType],
        },
        "timestamp": {
            "description": "When the sender sent this message (informational).",
            "type": "string",
            "format": "date-time",
        },
        "data": {
            "type": "object",
            "required": ["envelope_id", "occurred_at"],
            "properties": {
                "envelope_id": {
                    "description": "The sender's id of the envelope (document, submission).",
                    "type": "string",
                    "minLength": 1,
                },
                "occurred_at": {
                    "description": "When it happened: ISO 8601, or unix seconds.",
                    "type": ["string", "integer"],
                },
                "recipient_id": {
                    "description": "The sender's id of the recipient the event is about.",
                    "type": ["string", "integer", "null"],
                },
                "recipient_email": {
                    "description": "The recipient's address; links a tracked envelope to a lead.",
                    "type": ["string", "null"],
                },
                "metadata": {
                    "description": (
                        "Text values echoed back from the envelope's custom fields, such as "
                        "inkbridge_envelope_id, inkbridge_lead_id, inkbridge_correlation_id."
                    ),
                    "type": ["object", "null"],
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                },
            },
        },
    },
}

NATIVE_EXAMPLE: dict[str, Any] = {
    "type": "recipient_signed",
    "timestamp": "2025-03-04T10:15:02Z",
    "data": {
        "envelope_id": "doc_8f2c41",
        "occurred_at": "2025-03-04T10:15:00Z",
        "recipient_id": "1",
        "recipient_email": "signer@example.com",
        "metadata": {"inkbridge_envelope_id": "env_01HV3K6Z0F8M2Q"},
    },
}
