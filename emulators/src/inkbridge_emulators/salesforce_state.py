"""The Salesforce emulator's org: sObjects and the rules of sObject Collections upserts and the
slice of SOQL that ``connectors.salesforce`` sends.

Each sObject type has an id prefix, External ID fields and fields required on insert. An upsert
finds a record by the External ID field named in the URL, resolves lookups given as a parent's
External ID (``"Lead__r": {"Inkbridge_Lead_Id__c": "lead_1"}`` sets ``Lead__c``; polymorphic
ones name their type in ``attributes``) and answers one ``{id, success, errors, created}`` per
record. ``allOrNone`` rolls every record back when one fails. A record can be set to fail with
``UNABLE_TO_LOCK_ROW`` a given number of times (``LockFault``), as a contended parent would.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inkbridge_emulators._crm_common import RecordTable, now_iso

MAX_RECORDS = 200


@dataclass(frozen=True)
class SObjectType:
    prefix: str
    external_ids: frozenset[str]
    required: frozenset[str] = frozenset()
    defaults: tuple[tuple[str, str], ...] = ()


SOBJECTS: dict[str, SObjectType] = {
    "Lead": SObjectType(
        "00Q",
        frozenset({"Inkbridge_Lead_Id__c"}),
        frozenset({"LastName", "Company"}),
        (("Status", "Open - Not Contacted"),),
    ),
    "Contact": SObjectType("003", frozenset({"Inkbridge_Lead_Id__c"}), frozenset({"LastName"})),
    "Inkbridge_Envelope__c": SObjectType("a0E", frozenset({"Inkbridge_Envelope_Id__c"})),
    "Task": SObjectType(
        "00T",
        frozenset({"Inkbridge_Task_Key__c"}),
        frozenset(),
        (("Status", "Not Started"), ("Priority", "Normal")),
    ),
    "Individual": SObjectType(
        "0PK", frozenset({"Inkbridge_Individual_Id__c"}), frozenset({"LastName"})
    ),
    "ContactPointTypeConsent": SObjectType(
        "0ZY",
        frozenset({"Inkbridge_Consent_Key__c"}),
        frozenset({"Name", "PartyId", "ContactPointType"}),
    ),
}
# The type a (non-polymorphic) relationship points at, per (sObject, relationship name).
REFERENCES = {
    ("Inkbridge_Envelope__c", "Lead__r"): "Lead",
    ("Inkbridge_Envelope__c", "Contact__r"): "Contact",
    ("Lead", "Individual"): "Individual",
    ("Contact", "Individual"): "Individual",
    ("ContactPointTypeConsent", "Party"): "Individual",
}
PICKLISTS = {
    "ContactPointType": frozenset({"Email", "Phone", "MailingAddress", "Web", "Social"}),
    "PrivacyConsentStatus": frozenset({"OptIn", "OptOut", "Seen", "NotSeen"}),
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USER_ID = re.compile(r"^005[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$")
_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<field>\w+)\s*(?P<op>=|IN)\s*(?P<value>\(.*\)|'(?:[^'\\]|\\.)*'))?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")


class SalesforceRefusal(Exception):
    """A whole request Salesforce refuses: ``[{"message", "errorCode"}]`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using"
    " AllOrNone header",
    "fields": [],
}


class _RolledBack(Exception):
    """Undoes an ``allOrNone`` request's writes when one of its records failed."""


class _RecordFailure(Exception):
    def __init__(self, code: str, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.error = {"statusCode": code, "message": message, "fields": list(fields)}


@dataclass
class LockFault:
    """Records whose External ID value is ``record`` fail UNABLE_TO_LOCK_ROW ``remaining`` times
    (None: until changed)."""

    record: str | None = None
    remaining: int | None = None

    def hits(self, key: str) -> bool:
        if self.record is None or key != self.record:
            return False
        if self.remaining is not None:
            self.remaining -= 1
            if self.remaining <= 0:
                self.record, self.remaining = None, None
        return True


def record_id(prefix: str) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(15))


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


class SalesforceOrg:
    """One org's records (in a ``RecordTable``) and how its REST API changes them."""

    def __init__(self, table: RecordTable) -> None:
        self.table = table
        self.lock = LockFault()

    def _type(self, sobject: str) -> SObjectType:
        found = SOBJECTS.get(sobject)
        if found is None:
            raise SalesforceRefusal(
                404, "NOT_FOUND", f"The requested resource does not exist: {sobject}"
            )
        return found

    def find(self, sobject: str, field: str, value: str) -> tuple[str, dict[str, Any]] | None:
        return self.table.find(sobject, field, value)

    def records(self, sobject: str) -> list[dict[str, Any]]:
        return [props for _, props in self.table.all(sobject)]

    def seed(self, sobject: str, fields: Mapping[str, Any]) -> str:
        new_id = record_id(self._type(sobject).prefix)
        self.table.put(sobject, new_id, {**fields, "Id": new_id, "CreatedDate": now_iso()})
        return new_id

    def _resolve(self, sobject: str, name: str, ref: Any) -> tuple[str, str]:
        """(field, parent id) for a relationship given by External ID."""
        if not isinstance(ref, Mapping):
            raise _RecordFailure("INVALID_FIELD", f"{name} must be an object", [name])
        attributes = ref.get("attributes")
        typed = attributes.get("type") if isinstance(attributes, Mapping) else None
        parent = typed or REFERENCES.get((sobject, name))
        if parent is None:
            raise _RecordFailure("INVALID_FIELD", f"No such relation '{name}' on {sobject}", [name])
        keys = [(k, v) for k, v in ref.items() if k != "attributes"]
        if len(keys) != 1 or keys[0][0] not in self._type(str(parent)).external_ids:
            raise _RecordFailure("INVALID_FIELD", f"{name} must name one External ID", [name])
        ext_field, value = keys[0]
        found = self.find(str(parent), ext_field, str(value))
        if found is None:
            raise _RecordFailure(
                "INVALID_FIELD",
                f"Foreign key external ID: {value} not found for field {ext_field} "
                f"in entity {parent}",
                [name],
            )
        field = name[:-3] + "__c" if name.endswith("__r") else name + "Id"
        return field, found[0]

    def _apply(self, sobject: str, ext_field: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        kind = self._type(sobject)
        attributes = raw.get("attributes")
        if not isinstance(attributes, Mapping) or attributes.get("type") != sobject:
            raise _RecordFailure(
                "INVALID_TYPE", "every record needs attributes.type of the URL's sObject"
            )
        key = raw.get(ext_field)
        if key in (None, ""):
            raise _RecordFailure("MISSING_ARGUMENT", f"{ext_field} not specified", [ext_field])
        if self.lock.hits(str(key)):
            raise _RecordFailure(
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record or 1 records",
            )
        fields: dict[str, Any] = {}
        for name, value in raw.items():
            if name == "attributes":
                continue
            if isinstance(value, Mapping):
                field, parent_id = self._resolve(sobject, name, value)
                fields[field] = parent_id
            else:
                fields[name] = value
        email = fields.get("Email")
        if email not in (None, "") and not _EMAIL.match(str(email)):
            raise _RecordFailure("INVALID_EMAIL_ADDRESS", "Email: invalid email address", ["Email"])
        owner = fields.get("OwnerId")
        if owner is not None and not _USER_ID.match(str(owner)):
            raise _RecordFailure(
                "MALFORMED_ID", "Owner ID: id value of incorrect type", ["OwnerId"]
            )
        for name, allowed in PICKLISTS.items():
            if name in fields and fields[name] not in allowed:
                raise _RecordFailure(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"bad value for restricted picklist field: {name}",
                    [name],
                )
        found = self.find(sobject, ext_field, str(key))
        if found is None:
            merged = {**dict(kind.defaults), **fields}
            missing = sorted(f for f in kind.required if merged.get(f) in (None, ""))
            if missing:
                raise _RecordFailure(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}", missing
                )
            new_id = record_id(kind.prefix)
            self.table.put(sobject, new_id, {**merged, "Id": new_id, "CreatedDate": now_iso()})
            return {"id": new_id, "success": True, "errors": [], "created": True}
        existing_id, current = found
        self.table.put(sobject, existing_id, {**current, **fields, "LastModifiedDate": now_iso()})
        return {"id": existing_id, "success": True, "errors": [], "created": False}

    def upsert(
        self, sobject: str, ext_field: str, records: Sequence[Any], all_or_none: bool
    ) -> list[dict[str, Any]]:
        kind = self._type(sobject)
        if len(records) > MAX_RECORDS:
            raise SalesforceRefusal(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        if ext_field not in kind.external_ids:
            raise SalesforceRefusal(
                400, "INVALID_FIELD", f"{ext_field} is not an External ID field of {sobject}"
            )
        if not all(isinstance(r, Mapping) for r in records):
            raise SalesforceRefusal(400, "JSON_PARSER_ERROR", "records must be objects")
        results: list[dict[str, Any]] = []
        try:
            with self.table.savepoint():
                for raw in records:
                    try:
                        results.append(self._apply(sobject, ext_field, raw))
                    except _RecordFailure as failure:
                        results.append({"success": False, "errors": [failure.error]})
                if all_or_none and not all(r["success"] for r in results):
                    raise _RolledBack
        except _RolledBack:
            return [
                r if not r["success"] else {"success": False, "errors": [ROLLED_BACK]}
                for r in results
            ]
        return results

    def query(self, soql: str) -> list[dict[str, Any]]:
        match = _SOQL.match(soql)
        if match is None:
            raise SalesforceRefusal(400, "MALFORMED_QUERY", "unexpected token in query")
        sobject = match["object"]
        self._type(sobject)
        fields = [f.strip() for f in match["fields"].split(",") if f.strip()]
        wanted: set[str] | None = None
        if match["field"]:
            wanted = {_unescape(v) for v in _LITERAL.findall(match["value"])}
        rows = []
        for rid, props in self.table.all(sobject):
            if wanted is not None and str(props.get(match["field"])) not in wanted:
                continue
            row: dict[str, Any] = {
                "attributes": {
                    "type": sobject,
                    "url": f"/services/data/v60.0/sobjects/{sobject}/{rid}",
                }
            }
            row.update({f: (rid if f == "Id" else props.get(f)) for f in fields})
            rows.append(row)
        limit = int(match["limit"]) if match["limit"] else None
        return rows[:limit]

    def dump(self) -> dict[str, Any]:
        objects = {obj: self.records(obj) for obj in self.table.objects()}
        return {
            "objects": objects,
            "tasks": objects.get("Task", []),
            "consents": objects.get("ContactPointTypeConsent", []),
            "individuals": objects.get("Individual", []),
        }
