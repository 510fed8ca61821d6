"""Envelopes: create one at the provider from a lead and a template, and read it with its
timeline. Signing sessions live in ``services.signer_sessions``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from inkbridge.config import ConnectionSettings, TemplateSettings
from inkbridge.domain.attribution import attribution_metadata
from inkbridge.errors import InvalidInput, NotFound
from inkbridge.ids import new_id
from inkbridge.providers.base import EnvelopeSpec, ProviderClient, Signer
from inkbridge.services.envelope_tracking import META_CORRELATION, META_ENVELOPE, META_LEAD
from inkbridge.services.leads import find_lead
from inkbridge.store import audit, event_log
from inkbridge.store import envelopes as envelope_store
from inkbridge.store.database import Databases, RegionDatabase
from inkbridge.store.schema import envelopes, outbox


def _record_new(
    db: Any,
    *,
    envelope_id: str,
    region: str,
    lead: dict[str, Any],
    name: str,
    connection: str,
    provider_name: str,
    template_key: str,
    template_version: int,
    attribution: dict[str, Any],
    metadata: dict[str, str],
    now: datetime,
) -> None:
    with db.transaction() as conn:
        envelope_store.insert(
            conn,
            {
                "id": envelope_id,
                "region": region,
                "lead_id": lead["id"],
                "lead_created_at": lead["created_at"],
                "connection": connection,
                "provider": provider_name,
                "provider_envelope_id": None,
                "template_key": template_key,
                "template_version": template_version,
                "correlation_id": lead["correlation_id"],
                "state": "created",
                "delivery_failed": False,
                "conflicts": [],
                "milestones": {},
                "attribution": attribution,
                "metadata": metadata,
                "linked": True,
                "needs_reconcile": False,
                "version": 0,
                "created_at": now,
                "updated_at": now,
            },
        )
        envelope_store.insert_recipient(
            conn,
            {"id": envelope_id, "lead_id": lead["id"]},
            "1",
            email=lead["email"],
            name=name,
            status="sent",
            now=now,
        )


def locate_envelope(databases: Databases, envelope_id: str) -> tuple[RegionDatabase, Any] | None:
    """The region database holding an envelope, and its row; None when no region has it."""
    for db in databases:
        with db.reader() as conn:
            row = envelope_store.get(conn, envelope_id)
        if row is not None:
            return db, row
    return None


def find_envelope(databases: Databases, envelope_id: str) -> tuple[RegionDatabase, Any]:
    found = locate_envelope(databases, envelope_id)
    if found is None:
        raise NotFound("envelope", envelope_id)
    return found


@dataclass(frozen=True)
class Envelopes:
    """Creating envelopes at providers and reading them back; built once by bootstrap with the
    regions' databases, the providers' API clients, the templates and the connections."""

    databases: Databases
    providers: Mapping[str, ProviderClient]
    templates: Mapping[str, TemplateSettings]
    connections: Mapping[str, ConnectionSettings]

    def _pick_connection(self, connection: str | None, region: str) -> str:
        if connection is not None:
            if connection not in self.connections:
                raise InvalidInput(f"unknown connection {connection!r}", field="connection")
            if self.connections[connection].region != region:
                raise InvalidInput(
                    f"connection {connection!r} serves another region than the lead's",
                    field="connection",
                )
            if connection not in self.providers:
                raise InvalidInput(
                    f"connection {connection!r} has no provider API configured", field="connection"
                )
            return connection
        for name, conn in self.connections.items():
            if conn.region == region and name in self.providers:
                return name
        raise InvalidInput(f"no provider connection serves region {region!r}", field="connection")

    async def create_envelope(
        self,
        *,
        lead_id: str,
        template_key: str,
        connection: str | None = None,
        merge_fields: dict[str, str] | None = None,
        envelope_id: str | None = None,
        extra_metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create and send an envelope for a lead; the lead's attribution rides in its metadata.

        With ``envelope_id`` the call is idempotent: an envelope already at the provider is returned
        as it is, and one recorded but not yet sent is sent with the same id (which the provider
        client passes on as its idempotency key where the vendor has one).
        """
        if envelope_id is not None:
            existing = self._existing(envelope_id)
            if existing is not None and existing.provider_envelope_id is not None:
                return self.envelope_view(envelope_id)
        region, lead = find_lead(self.databases, lead_id)
        template = self.templates.get(template_key)
        if template is None:
            raise InvalidInput(f"unknown template {template_key!r}", field="template_key")
        connection_name = self._pick_connection(connection, region)
        provider = self.providers[connection_name]
        db = self.databases[region]
        resumed = envelope_id is not None and self._existing(envelope_id) is not None
        envelope_id = envelope_id or new_id("env")
        correlation_id = lead["correlation_id"]
        attribution = dict(lead["first_touch"] or {})
        metadata = {
            META_ENVELOPE: envelope_id,
            META_LEAD: lead_id,
            META_CORRELATION: correlation_id,
            **{f"inkbridge_{k}": v for k, v in attribution_metadata(attribution).items()},
            **(extra_metadata or {}),
        }
        now = datetime.now(UTC)
        name = " ".join(p for p in (lead["first_name"], lead["last_name"]) if p) or lead["email"]
        # The row exists before the provider call, so a webhook racing the answer finds it by id.
        if not resumed:
            _record_new(
                db,
                envelope_id=envelope_id,
                region=region,
                lead=lead,
                name=name,
                connection=connection_name,
                provider_name=self.connections[connection_name].provider,
                template_key=template_key,
                template_version=template.version,
                attribution=attribution,
                metadata=metadata,
                now=now,
            )
        return await self._send(
            db,
            envelope_id,
            region,
            correlation_id,
            template_key,
            template,
            lead,
            name,
            metadata,
            merge_fields,
            provider,
        )

    async def _send(
        self,
        db: Any,
        envelope_id: str,
        region: str,
        correlation_id: str,
        template_key: str,
        template: Any,
        lead: dict[str, Any],
        name: str,
        metadata: dict[str, str],
        merge_fields: dict[str, str] | None,
        provider: Any,
    ) -> dict[str, Any]:
        spec = EnvelopeSpec(
            envelope_id=envelope_id,
            template_id=template.provider_template_id or template_key,
            title=template.title,
            signers=(Signer(email=lead["email"], name=name, recipient_id="1"),),
            metadata=metadata,
            merge_fields=merge_fields or {},
        )
        created = await provider.create_envelope(spec)
        with db.transaction() as conn:
            envelope_store.set_provider_ref(conn, envelope_id, created.provider_envelope_id)
            audit.record(
                conn,
                region=region,
                actor="api",
                action="api:envelope:created",
                subject_id=envelope_id,
                correlation_id=correlation_id,
                details={"template": template_key, "version": template.version},
            )
        return self.envelope_view(envelope_id)

    def _existing(self, envelope_id: str) -> Any:
        found = locate_envelope(self.databases, envelope_id)
        return found[1] if found is not None else None

    def _find(self, envelope_id: str) -> tuple[str, Any]:
        db, row = find_envelope(self.databases, envelope_id)
        return db.region, row

    def envelope_view(self, envelope_id: str) -> dict[str, Any]:
        region, _ = self._find(envelope_id)
        with self.databases[region].reader() as conn:
            # The row again, in the snapshot its timeline and deliveries are read in.
            row = envelope_store.get(conn, envelope_id)
            if row is None:
                raise NotFound("envelope", envelope_id)
            recipient_list = envelope_store.recipient_rows(conn, envelope_id)
            attribution = envelope_store.attribution_of(conn, row)
            events = event_log.for_envelope(conn, envelope_id)
            deliveries = conn.execute(
                select(outbox.c.destination, outbox.c.idempotency_key, outbox.c.status)
                .where(outbox.c.record_key == f"envelope:{envelope_id}")
                .order_by(outbox.c.id)
            ).all()
        return {
            "id": row.id,
            "region": region,
            "lead_id": row.lead_id,
            "connection": row.connection,
            "provider": row.provider,
            "provider_envelope_id": row.provider_envelope_id,
            "template_key": row.template_key,
            "template_version": row.template_version,
            "correlation_id": row.correlation_id,
            "state": row.state,
            "delivery_failed": row.delivery_failed,
            "conflicts": row.conflicts,
            "needs_reconcile": row.needs_reconcile,
            "linked": row.linked,
            "milestones": row.milestones,
            "attribution": attribution,
            "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat(),
            "recipients": [
                {
                    "recipient_id": r.recipient_id,
                    "status": r.status,
                    "updated_at": r.updated_at.isoformat(),
                }
                for r in recipient_list
            ],
            "timeline": [
                {
                    "seq": e.seq,
                    "event_type": e.event_type,
                    "vendor_event": e.vendor_event,
                    "recipient_id": e.recipient_id,
                    "occurred_at": e.occurred_at.isoformat(),
                    "received_at": e.received_at.isoformat(),
                    "outcome": e.outcome,
                    "from_state": e.from_state,
                    "to_state": e.to_state,
                    "receipt_id": e.receipt_id,
                }
                for e in events
            ],
            "deliveries": [
                {"destination": d.destination, "fact": d.idempotency_key, "status": d.status}
                for d in deliveries
            ],
        }

    def find_by_provider_id(self, provider_envelope_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for db in self.databases:
            with db.reader() as conn:
                rows = conn.execute(
                    select(envelopes.c.id).where(
                        envelopes.c.provider_envelope_id == provider_envelope_id
                    )
                ).all()
            found.extend(self.envelope_view(r.id) for r in rows)
        return found

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest envelopes across regions, as summaries (no timeline)."""
        rows: list[Any] = []
        for db in self.databases:
            with db.reader() as conn:
                rows.extend(
                    conn.execute(
                        select(envelopes).order_by(envelopes.c.created_at.desc()).limit(limit)
                    ).all()
                )
        rows.sort(key=lambda r: r.created_at, reverse=True)
        return [
            {
                "id": r.id,
                "region": r.region,
                "state": r.state,
                "provider": r.provider,
                "template_key": r.template_key,
                "lead_id": r.lead_id,
                "correlation_id": r.correlation_id,
                "campaign": (r.attribution or {}).get("utm_campaign"),
                "created_at": r.created_at.isoformat(),
                "updated_at": r.updated_at.isoformat(),
            }
            for r in rows[:limit]
        ]
