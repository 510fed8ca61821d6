"""The HubSpot emulator's data: CRM objects, associations, subscription statuses and list
memberships, with the rules of HubSpot's CRM v3/v4 batch APIs.

Objects are records in a ``RecordTable`` keyed by a numeric ``hs_object_id``. A batch upsert
finds a record by its ``idProperty`` (which must be a unique property of the object: ``email``
for contacts, ``inkbridge_envelope_id`` for deals and inkbridge's custom object), creates it when
missing and overwrites only the properties sent. Per-input failures come back as HubSpot's
multi-status errors, each naming the input's ``objectWriteTraceId``; whole-request mistakes
(duplicate ids, a property that is not unique) raise ``HubSpotRefusal``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from inkbridge_emulators._crm_common import RecordTable, now_iso
from inkbridge_emulators.hubspot_errors import BatchAnswer, HubSpotRefusal, item_error

# HubSpot's object type ids, accepted wherever a name is.
OBJECT_ALIASES = {"0-1": "contacts", "0-2": "companies", "0-3": "deals", "0-27": "tasks"}
TYPE_IDS = {name: type_id for type_id, name in OBJECT_ALIASES.items()}
DEFAULT_UNIQUE = {
    "contacts": frozenset({"email", "hs_object_id"}),
    "deals": frozenset({"inkbridge_envelope_id", "hs_object_id"}),
    "tasks": frozenset({"hs_object_id"}),
}
# Any other (custom) object: the inkbridge-owned envelope id is its unique property.
CUSTOM_UNIQUE = frozenset({"inkbridge_envelope_id", "hs_object_id"})
ASSOCIATIONS = "_associations"
STATUSES = "_subscription_statuses"
LIST_MEMBERS = "_list_memberships"
STATUS_STATES = frozenset({"SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED"})
CHANNELS = frozenset({"EMAIL", "SMS", "WHATSAPP"})
LEGAL_BASES = frozenset(
    {
        "LEGITIMATE_INTEREST_PQL",
        "LEGITIMATE_INTEREST_CLIENT",
        "PERFORMANCE_OF_CONTRACT",
        "CONSENT_WITH_NOTICE",
        "NON_GDPR",
        "PROCESS_AND_STORE",
        "LEGITIMATE_INTEREST_OTHER",
    }
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def object_name(raw: str) -> str:
    return OBJECT_ALIASES.get(raw, raw)


class HubSpotCrm:
    """One HubSpot portal's CRM data and the rules its batch APIs apply."""

    def __init__(
        self,
        table: RecordTable,
        *,
        unique_properties: Mapping[str, Iterable[str]] | None = None,
        subscriptions: Mapping[int, str] | None = None,
        require_legal_basis: bool = True,
    ) -> None:
        self.table = table
        self.unique = {k: frozenset(v) for k, v in DEFAULT_UNIQUE.items()}
        for name, props in (unique_properties or {}).items():
            self.unique[name] = frozenset(props) | {"hs_object_id"}
        self.subscriptions = dict(subscriptions or {1: "Marketing Information"})
        # Portals with GDPR features on refuse a SUBSCRIBED status without a legal basis.
        self.require_legal_basis = require_legal_basis
        # Record ids are numbers, as HubSpot's are; a file database resumes after its highest.
        known = (int(r) for o in table.objects() for r, _ in table.all(o) if r.isdigit())
        self._ids = itertools.count(1 + max(known, default=1000))

    # -- records -----------------------------------------------------------------------------

    def _unique_props(self, obj: str) -> frozenset[str]:
        return self.unique.get(obj, CUSTOM_UNIQUE)

    def _find(self, obj: str, id_property: str, value: str) -> tuple[str, dict[str, Any]] | None:
        if id_property == "hs_object_id":
            found = self.table.get(obj, value)
            return None if found is None else (value, found)
        if id_property == "email":
            value = value.lower()
        return self.table.find(obj, id_property, value)

    def _check_id_property(self, obj: str, id_property: str | None) -> str:
        if not id_property:
            return "hs_object_id"
        if id_property not in self._unique_props(obj):
            raise HubSpotRefusal(
                400, "VALIDATION_ERROR", f"{id_property} is not a unique property of {obj}"
            )
        return id_property

    def seed(self, obj: str, properties: Mapping[str, Any]) -> str:
        """Create a record directly (tests pre-seed values an earlier tool wrote)."""
        record_id = str(next(self._ids))
        now = now_iso()
        props = {**properties, "hs_object_id": record_id, "createdate": now}
        props["lastmodifieddate"] = now
        if isinstance(props.get("email"), str):
            props["email"] = props["email"].lower()
        self.table.put(object_name(obj), record_id, props)
        return record_id

    def records(self, obj: str) -> list[dict[str, Any]]:
        return [props for _, props in self.table.all(object_name(obj))]

    def record_by(self, obj: str, prop: str, value: str) -> dict[str, Any] | None:
        found = self._find(object_name(obj), prop, value)
        return None if found is None else found[1]

    def _validate(self, obj: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        email = props.get("email")
        if obj == "contacts" and email not in (None, "") and not _EMAIL.match(str(email)):
            return {"error": "INVALID_EMAIL", "name": "email"}
        owner = props.get("hubspot_owner_id")
        if owner not in (None, "") and not str(owner).isdigit():
            return {"error": "INVALID_OWNER_ID", "name": "hubspot_owner_id"}
        if obj == "tasks" and props.get("hs_timestamp") in (None, ""):
            return {"error": "REQUIRED_FIELD", "name": "hs_timestamp"}
        return None

    def _shape(
        self, record_id: str, props: Mapping[str, Any], new: bool | None = None
    ) -> dict[str, Any]:
        shaped: dict[str, Any] = {
            "id": record_id,
            "properties": dict(props),
            "createdAt": props.get("createdate"),
            "updatedAt": props.get("lastmodifieddate"),
            "archived": False,
        }
        if new is not None:
            shaped["new"] = new
        return shaped

    def upsert(self, raw_obj: str, inputs: Sequence[Mapping[str, Any]]) -> BatchAnswer:
        obj = object_name(raw_obj)
        keys: list[tuple[str, str]] = []
        for item in inputs:
            id_property = self._check_id_property(obj, item.get("idProperty"))
            value = str(item.get("id") or "")
            if not value:
                raise HubSpotRefusal(400, "VALIDATION_ERROR", "every input needs an id")
            keys.append((id_property, value.lower() if id_property == "email" else value))
        if len(set(keys)) != len(keys):
            raise HubSpotRefusal(400, "VALIDATION_ERROR", "Duplicate IDs found in batch input")
        answer = BatchAnswer()
        for item, (id_property, value) in zip(inputs, keys, strict=True):
            trace = str(item.get("objectWriteTraceId") or "")
            incoming = dict(item.get("properties") or {})
            invalid = self._validate(obj, incoming)
            if invalid is not None:
                answer.errors.append(
                    item_error(
                        "VALIDATION_ERROR",
                        f"Property values were not valid: [{invalid}]",
                        objectWriteTraceId=[trace],
                        ids=[value],
                    )
                )
                continue
            found = self._find(obj, id_property, value)
            now = now_iso()
            if found is None:
                record_id = str(next(self._ids))
                props: dict[str, Any] = {"hs_object_id": record_id, "createdate": now}
                props[id_property] = value
            else:
                record_id, props = found
            for key, val in incoming.items():
                props[key] = val.lower() if key == "email" and isinstance(val, str) else val
            props["lastmodifieddate"] = now
            self.table.put(obj, record_id, props)
            shaped = self._shape(record_id, props, new=found is None)
            if trace:
                shaped["objectWriteTraceId"] = trace
            answer.results.append(shaped)
        return answer

    def read(
        self,
        raw_obj: str,
        id_property: str | None,
        ids: Sequence[str],
        properties: Sequence[str],
    ) -> BatchAnswer:
        obj = object_name(raw_obj)
        prop = self._check_id_property(obj, id_property)
        answer = BatchAnswer()
        missing: list[str] = []
        for value in ids:
            found = self._find(obj, prop, value)
            if found is None:
                missing.append(value)
                continue
            record_id, props = found
            wanted = set(properties) | {"hs_object_id", "createdate", "lastmodifieddate"}
            answer.results.append(
                self._shape(record_id, {k: v for k, v in props.items() if k in wanted})
            )
        if missing:
            answer.errors.append(
                item_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {obj} objects, they may be deleted or not exist.",
                    ids=missing,
                )
            )
        return answer

    def create(
        self, raw_obj: str, properties: Mapping[str, Any], associations: Sequence[Any]
    ) -> dict[str, Any]:
        obj = object_name(raw_obj)
        invalid = self._validate(obj, properties)
        if invalid is not None:
            raise HubSpotRefusal(
                400, "VALIDATION_ERROR", f"Property values were not valid: [{invalid}]"
            )
        targets: list[tuple[str, str]] = []
        for assoc in associations:
            to_id = str(((assoc or {}).get("to") or {}).get("id") or "")
            to_obj = self._object_of(to_id)
            if to_obj is None:
                raise HubSpotRefusal(400, "VALIDATION_ERROR", "association target does not exist")
            targets.append((to_obj, to_id))
        record_id = self.seed(obj, properties)
        for to_obj, to_id in targets:
            self._link(obj, record_id, to_obj, to_id)
        found = self.table.get(obj, record_id) or {}
        return self._shape(record_id, found)

    def _object_of(self, record_id: str) -> str | None:
        for obj in self.table.objects():
            if not obj.startswith("_") and self.table.get(obj, record_id) is not None:
                return obj
        return None

    def search(
        self, raw_obj: str, filter_groups: Sequence[Mapping[str, Any]], limit: int
    ) -> list[dict[str, Any]]:
        obj = object_name(raw_obj)
        matches = []
        for record_id, props in self.table.all(obj):
            if not filter_groups or any(_group_matches(g, props) for g in filter_groups):
                matches.append(self._shape(record_id, props))
        return matches[:limit]

    # -- associations, subscriptions, lists ---------------------------------------------------

    def _link(self, from_obj: str, from_id: str, to_obj: str, to_id: str) -> None:
        key = f"{from_obj}:{from_id}:{to_obj}:{to_id}"
        self.table.put(ASSOCIATIONS, key, {"from": [from_obj, from_id], "to": [to_obj, to_id]})

    def associate(
        self, raw_from: str, raw_to: str, pairs: Sequence[tuple[str, str]]
    ) -> BatchAnswer:
        from_obj, to_obj = object_name(raw_from), object_name(raw_to)
        answer = BatchAnswer()
        for from_id, to_id in pairs:
            if self.table.get(from_obj, from_id) is None or self.table.get(to_obj, to_id) is None:
                answer.errors.append(
                    item_error("OBJECT_NOT_FOUND", "No such object", ids=[from_id, to_id])
                )
                continue
            self._link(from_obj, from_id, to_obj, to_id)
            answer.results.append(
                {
                    "fromObjectTypeId": TYPE_IDS.get(from_obj, from_obj),
                    "fromObjectId": int(from_id),
                    "toObjectTypeId": TYPE_IDS.get(to_obj, to_obj),
                    "toObjectId": int(to_id),
                    "labels": [],
                }
            )
        return answer

    def associations(self) -> list[dict[str, Any]]:
        return [props for _, props in self.table.all(ASSOCIATIONS)]

    def write_statuses(self, inputs: Sequence[Mapping[str, Any]]) -> BatchAnswer:
        answer = BatchAnswer()
        for item in inputs:
            subscriber = str(item.get("subscriberIdString") or "").lower()
            state = item.get("statusState")
            channel = item.get("channel")
            basis = item.get("legalBasis")
            try:
                subscription = int(item.get("subscriptionId"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                subscription = -1
            problem = None
            if not _EMAIL.match(subscriber):
                problem = "subscriberIdString must be an email address"
            elif subscription not in self.subscriptions:
                problem = "unknown subscriptionId"
            elif state not in STATUS_STATES or channel not in CHANNELS:
                problem = "statusState and channel must be valid enums"
            elif basis is not None and basis not in LEGAL_BASES:
                problem = "unknown legalBasis"
            elif state == "SUBSCRIBED" and self.require_legal_basis and basis is None:
                problem = "a legal basis is required to subscribe in a GDPR-enabled portal"
            if problem is not None:
                answer.errors.append(
                    item_error("VALIDATION_ERROR", problem, subscriberIdString=[subscriber])
                )
                continue
            status = {
                "subscriberIdString": subscriber,
                "subscriptionId": subscription,
                "subscriptionName": self.subscriptions[subscription],
                "channel": channel,
                "status": state,
                "source": "Public API",
                "legalBasis": basis,
                "legalBasisExplanation": item.get("legalBasisExplanation"),
                "timestamp": now_iso(),
                "setStatusSuccessReason": "REQUESTED_CHANGE_OCCURRED",
            }
            self.table.put(STATUSES, f"{subscriber}:{subscription}:{channel}", status)
            answer.results.append(status)
        return answer

    def statuses(self) -> list[dict[str, Any]]:
        return [props for _, props in self.table.all(STATUSES)]

    def add_to_list(self, list_id: str, record_ids: Sequence[str]) -> tuple[list[str], list[str]]:
        added, missing = [], []
        for record_id in record_ids:
            if self.table.get("contacts", record_id) is None:
                missing.append(record_id)
                continue
            self.table.put(
                LIST_MEMBERS, f"{list_id}:{record_id}", {"list": list_id, "id": record_id}
            )
            added.append(record_id)
        return added, missing

    def list_members(self) -> dict[str, list[str]]:
        members: dict[str, list[str]] = {}
        for _, props in self.table.all(LIST_MEMBERS):
            members.setdefault(str(props["list"]), []).append(str(props["id"]))
        return members

    def dump(self) -> dict[str, Any]:
        objects = {
            obj: self.records(obj) for obj in self.table.objects() if not obj.startswith("_")
        }
        return {
            "objects": objects,
            "tasks": objects.get("tasks", []),
            "associations": self.associations(),
            "consents": self.statuses(),
            "lists": self.list_members(),
        }


def _group_matches(group: Mapping[str, Any], props: Mapping[str, Any]) -> bool:
    for flt in group.get("filters") or []:
        name = str(flt.get("propertyName") or "")
        operator = flt.get("operator")
        value = props.get(name)
        if operator == "EQ" and str(value) != str(flt.get("value")):
            return False
        if operator == "IN" and str(value) not in {str(v) for v in flt.get("values") or []}:
            return False
        if operator == "HAS_PROPERTY" and value in (None, ""):
            return False
        if operator not in {"EQ", "IN", "HAS_PROPERTY"}:
            raise HubSpotRefusal(400, "VALIDATION_ERROR", f"unsupported operator {operator}")
    return True
