"""Consent: the registry of versioned consent texts, appending to a lead's ledger (grant,
denial, withdrawal — never an update), consent receipts, and proving every ledger intact."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from inkbridge.config import ControllerSettings
from inkbridge.domain.consent import ConsentKind
from inkbridge.errors import InvalidInput, NotFound
from inkbridge.ids import new_id
from inkbridge.services.leads import (
    ConsentInput,
    append_consent,
    check_text_versions,
    find_lead,
    lead_view,
    publish_lead,
    validate_consent,
)
from inkbridge.services.routing import Destination
from inkbridge.services.signer_evidence import signer_evidence
from inkbridge.store import audit, chains, consents
from inkbridge.store import leads as lead_store
from inkbridge.store.database import Databases


def register_text(
    databases: Databases,
    *,
    kind: str,
    text: str,
    locale: str | None = None,
    jurisdiction: str | None = None,
    title: str | None = None,
    source: str = "api",
    actor: str = "api",
) -> dict[str, Any]:
    """Register the exact text shown for a kind of consent; returns its version id and SHA-256.
    Every region holds the registry (texts are not personal data)."""
    if kind not in ConsentKind.__members__.values():
        raise InvalidInput(f"unknown consent kind {kind!r}", field="kind")
    if not text.strip():
        raise InvalidInput("the text must not be empty", field="text")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    version_id = new_id("ctv")
    row = {
        "id": version_id,
        "kind": kind,
        "title": title,
        "locale": locale,
        "jurisdiction": jurisdiction,
        "text": text,
        "sha256": digest,
        "created_at": datetime.now(UTC),
    }
    for db in databases:
        with db.transaction() as conn:
            consents.register_text(conn, row)
            audit.record_operator_action(
                conn,
                db.region,
                actor,
                f"{source}:consent_text:registered",
                version_id,
                {"kind": kind, "sha256": digest},
            )
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def get_text(databases: Databases, version_id: str) -> dict[str, Any]:
    with databases.home.reader() as conn:
        data = consents.find_text(conn, version_id)
    if data is None:
        raise NotFound("consent text", version_id)
    data["created_at"] = data["created_at"].isoformat()
    return data


def record_consent(
    databases: Databases,
    lead_id: str,
    consent: ConsentInput,
    *,
    ip: str | None,
    user_agent: str | None,
    destinations: Mapping[str, Destination] | None = None,
) -> dict[str, Any]:
    """Append one consent record (a grant, a denial or a withdrawal) and queue the new status."""
    from inkbridge.domain.consent import minimise_ip
    from inkbridge.ids import hash_identifier

    validate_consent(consent)
    region, _lead = find_lead(databases, lead_id)
    evidence = {
        "ip": minimise_ip(ip),
        "user_agent_sha256": hash_identifier(user_agent) if user_agent else None,
    }
    with databases[region].transaction() as conn:
        check_text_versions(conn, [consent])
        seq = append_consent(conn, region, lead_id, consent, evidence, datetime.now(UTC))
        if destinations:
            publish_lead(conn, destinations, lead_id, region, "contact.consent", f"consent:{seq}")
    view = lead_view(databases, lead_id)
    return {"lead_id": lead_id, "ledger": view["consents"], "status": view["consent_status"]}


def consent_receipt(
    databases: Databases, lead_id: str, controller: ControllerSettings
) -> dict[str, Any]:
    """A consent receipt for one lead: Kantara Consent Receipt v1.1 fields, with the record
    structure of ISO/IEC TS 27560 (one record per ledger entry, notice version and hash).

    ``signerAuthentication`` (an extension) lists the redeemed signer sessions of the lead's
    envelopes: how the integrator authenticated the signer; a ``contract_execution`` record
    carries those of its envelope."""
    view = lead_view(databases, lead_id)
    now = datetime.now(UTC)
    with databases[view["region"]].reader() as conn:
        envelope_ids = lead_store.envelope_ids_of(conn, lead_id)
        evidence = signer_evidence(conn, envelope_ids, now, redeemed_only=True)
    records = []
    for entry in view["consents"]:
        source = entry["source"] or ""
        signed = [e for e in evidence if source == f"envelope:{e['envelope_id']}"]
        records.append(
            {
                "recordId": entry["hash"],
                "piiPrincipalId": lead_id,
                "purpose": entry["kind"],
                "consentType": "EXPRESSED" if entry["method"] != "implied" else "IMPLIED",
                "state": entry["status"],
                "timestamp": entry["occurred_at"],
                "collectionMethod": entry["method"],
                "source": entry["source"],
                "notice": {
                    "versionId": entry["text_version_id"],
                    "sha256": entry["text_sha256"],
                    "language": entry["locale"],
                },
                "jurisdiction": entry["jurisdiction"],
                **({"signerAuthentication": signed} if signed else {}),
            }
        )
    return {
        "version": "KI-CR-v1.1.0",
        "schema": "ISO/IEC TS 27560:2023 consent record",
        "consentReceiptID": f"cr_{lead_id}_{len(records)}",
        "consentTimestamp": int(datetime.now(UTC).timestamp()),
        "jurisdiction": next((r["jurisdiction"] for r in records if r["jurisdiction"]), None),
        "language": next(
            (r["notice"]["language"] for r in records if r["notice"]["language"]), None
        ),
        "piiPrincipalId": lead_id,
        "piiControllers": [
            {
                "piiController": controller.name,
                "contact": controller.contact,
                "email": controller.email,
                "address": controller.address,
            }
        ],
        "policyUrl": controller.policy_url,
        "services": [
            {
                "service": "inkbridge",
                "purposes": [
                    {
                        "purpose": kind,
                        "consentType": "EXPRESSED",
                        "status": status,
                        "primaryPurpose": kind == "contract_execution",
                        "thirdPartyDisclosure": False,
                    }
                    for kind, status in sorted(view["consent_status"].items())
                ],
            }
        ],
        "records": records,
        "signerAuthentication": evidence,
        "sensitive": False,
    }


def verify_consent_chains(databases: Databases) -> list[chains.ChainBreak]:
    """Walk every lead's consent ledger and report any break (edit, removal, truncation)."""
    breaks: list[chains.ChainBreak] = []
    for db in databases:
        with db.reader() as conn:
            breaks.extend(consents.verify_ledgers(conn, db.region))
    return breaks
