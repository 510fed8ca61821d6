"""Reading the destinations: one normalized view per vendor of what it holds about one
envelope and its lead, in inkbridge's terms, so one assertion covers all seven."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.acceptance.destination_vendors import (
    OWNERS,
    PIPEDRIVE_FIELDS,
    PIPEDRIVE_KEY_FIELD,
    Received,
)

MILESTONES = (
    "sent_at",
    "first_viewed_at",
    "first_signed_at",
    "completed_at",
    "declined_at",
    "expired_at",
)
SALESFORCE_MILESTONES = {
    "sent_at": "Sent_Date_Time__c",
    "first_viewed_at": "Viewed_Date_Time__c",
    "first_signed_at": "Signed_Date_Time__c",
    "completed_at": "Completed_Date_Time__c",
    "declined_at": "Declined_Date_Time__c",
    "expired_at": "Expired_Date_Time__c",
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True)
class RecordView:
    """What one destination holds about one envelope and its lead, in inkbridge's terms.

    ``records``: how many envelope records carry the envelope id (1, or the lead record of a
    marketing tool); ``people``: how many person records carry the lead's email; ``linked``:
    whether the envelope record points at the person; ``owner``: the owner on the envelope
    record (CRMs), ``person_owner`` the one on the person; ``first_touch``: source and campaign.
    """

    status: str | None
    milestones: dict[str, str]
    records: int
    people: int
    linked: bool
    owner: Any
    person_owner: Any
    first_touch: dict[str, Any]


def _one(items: list[dict[str, Any]]) -> dict[str, Any]:
    return items[0] if items else {}


def record_view(destination: str, snap: Any, envelope_id: str, email: str) -> RecordView:
    email = email.lower()
    if destination == "hubspot":
        objects = snap["objects"]
        people = [c for c in objects.get("contacts", []) if c.get("email") == email]
        deals = [
            d for d in objects.get("deals", []) if d.get("inkbridge_envelope_id") == envelope_id
        ]
        person, deal = _one(people), _one(deals)
        link = {
            "from": ["contacts", person.get("hs_object_id")],
            "to": ["deals", deal.get("hs_object_id")],
        }
        return RecordView(
            deal.get("inkbridge_status"),
            {m: deal[f"inkbridge_{m}"] for m in MILESTONES if deal.get(f"inkbridge_{m}")},
            len(deals),
            len(people),
            link in snap["associations"],
            deal.get("hubspot_owner_id"),
            person.get("hubspot_owner_id"),
            {
                "utm_source": person.get("inkbridge_first_touch_utm_source"),
                "utm_campaign": person.get("inkbridge_first_touch_utm_campaign"),
            },
        )
    if destination == "salesforce":
        objects = snap["objects"]
        people = [p for p in objects.get("Lead", []) if str(p.get("Email")).lower() == email]
        rows = [
            e
            for e in objects.get("Inkbridge_Envelope__c", [])
            if e.get("Inkbridge_Envelope_Id__c") == envelope_id
        ]
        person, row = _one(people), _one(rows)
        return RecordView(
            row.get("Envelope_Status__c"),
            {m: row[f] for m, f in SALESFORCE_MILESTONES.items() if row.get(f)},
            len(rows),
            len(people),
            bool(person) and row.get("Lead__c") == person.get("Id"),
            row.get("OwnerId"),
            person.get("OwnerId"),
            {
                "utm_source": person.get("Inkbridge_First_Touch_Utm_Source__c"),
                "utm_campaign": person.get("Inkbridge_First_Touch_Utm_Campaign__c"),
            },
        )
    if destination == "dynamics":
        objects = snap["objects"]
        people = [
            c for c in objects.get("contacts", []) if str(c.get("emailaddress1")).lower() == email
        ]
        rows = [
            e
            for e in objects.get("inkbridge_envelopestatuses", [])
            if e.get("inkbridge_envelopeid") == envelope_id
        ]
        person, row = _one(people), _one(rows)
        columns = {m: "inkbridge_" + m.replace("_", "") for m in MILESTONES}
        return RecordView(
            row.get("inkbridge_status"),
            {m: row[c] for m, c in columns.items() if row.get(c)},
            len(rows),
            len(people),
            bool(person) and row.get("_inkbridge_contact_value") == person.get("contactid"),
            row.get("_ownerid_value"),
            person.get("_ownerid_value"),
            {
                "utm_source": person.get("inkbridge_firsttouch_utmsource"),
                "utm_campaign": person.get("inkbridge_firsttouch_utmcampaign"),
            },
        )
    if destination == "pipedrive":
        people = [
            p
            for p in snap["persons"]
            if email in {str(e.get("value")).lower() for e in p.get("emails") or []}
        ]
        deals = [
            d for d in snap["deals"] if d["custom_fields"].get(PIPEDRIVE_KEY_FIELD) == envelope_id
        ]
        person, deal = _one(people), _one(deals)
        custom = deal.get("custom_fields", {})
        return RecordView(
            custom.get(PIPEDRIVE_FIELDS["envelope_status"]),
            {m: custom[PIPEDRIVE_FIELDS[m]] for m in MILESTONES if custom.get(PIPEDRIVE_FIELDS[m])},
            len(deals),
            len(people),
            bool(person) and deal.get("person_id") == person.get("id"),
            deal.get("owner_id"),
            person.get("owner_id"),
            {
                "utm_source": custom.get(PIPEDRIVE_FIELDS["first_touch_utm_source"]),
                "utm_campaign": custom.get(PIPEDRIVE_FIELDS["first_touch_utm_campaign"]),
            },
        )
    if destination == "marketo":
        people = [lead for lead in snap["leads"] if str(lead.get("email")).lower() == email]
        person = _one(people)
        mine = person.get("inkbridgeEnvelopeId") == envelope_id
        return RecordView(
            person.get("inkbridgeEnvelopeStatus") if mine else None,
            {
                m: person[_camel("inkbridge_" + m)]
                for m in MILESTONES
                if mine and person.get(_camel("inkbridge_" + m))
            },
            int(mine),
            len(people),
            mine,
            None,
            person.get("inkbridgeOwner"),
            {
                "utm_source": person.get("inkbridgeFirstTouchUtmSource"),
                "utm_campaign": person.get("inkbridgeFirstTouchUtmCampaign"),
            },
        )
    if destination == "mautic":
        people = [
            c["fields"]["all"]
            for c in snap["contacts"]
            if str(c["fields"]["all"].get("email")).lower() == email
        ]
        person = _one(people)
        mine = person.get("inkbridge_envelope_id") == envelope_id
        return RecordView(
            person.get("inkbridge_envelope_status") if mine else None,
            {
                m: person[f"inkbridge_{m}"]
                for m in MILESTONES
                if mine and person.get(f"inkbridge_{m}")
            },
            int(mine),
            len(people),
            mine,
            None,
            person.get("inkbridge_owner"),
            {
                "utm_source": person.get("inkbridge_first_touch_utm_source"),
                "utm_campaign": person.get("inkbridge_first_touch_utm_campaign"),
            },
        )
    assert destination == "webhook"
    changes = state_changes(snap, envelope_id)
    about_lead = [
        e for e in snap if str((e.data.get("lead") or {}).get("email", "")).lower() == email
    ]
    last = changes[-1].data if changes else {}
    lead = (about_lead[-1].data.get("lead") or {}) if about_lead else {}
    first = lead.get("first_touch") or {}
    return RecordView(
        (last.get("envelope") or {}).get("state"),
        dict((last.get("envelope") or {}).get("milestones") or {}),
        int(bool(changes)),
        int(bool(lead)),
        bool(changes) and (last.get("lead") or {}).get("email", "").lower() == email,
        None,
        lead.get("owner"),
        {"utm_source": first.get("utm_source"), "utm_campaign": first.get("utm_campaign")},
    )


def state_changes(received: list[Received], envelope_id: str) -> list[Received]:
    """The receiver's ``envelope.state_changed`` deliveries for one envelope, as they came."""
    return [
        e
        for e in received
        if e.type == "envelope.state_changed"
        and (e.data.get("envelope") or {}).get("id") == envelope_id
    ]


def vendor_owner(destination: str, owner: str) -> Any:
    """How a destination writes an inkbridge owner: the CRM's user id, or the name itself."""
    return OWNERS[destination][owner] if destination in OWNERS else owner
