"""The Dynamics emulator's Dataverse: tables with alternate keys, upserts by key, lookups bound
by key, ``$filter`` reads and ``$batch`` processing with change sets.

A ``PATCH set(key='v')`` creates the row when the key is new and updates it otherwise;
``If-None-Match: *`` makes it create-only (412 when the row exists), ``If-Match: *``
update-only (404 when it does not). ``field@odata.bind`` values name the target row by GUID or by
alternate key. A change set runs in one transaction: when one of its requests fails, its
writes are undone and the answer for it is that one failing response. Without ``Prefer:
odata.continue-on-error`` the batch stops at the first failure, as Dataverse does.

The batch body is read with the standard library's MIME parser, independently of the
connector's own encoder, so the emulator checks the wire format rather than mirroring it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from typing import Any
from urllib.parse import unquote

from inkbridge_emulators._crm_common import RecordTable, now_iso

MAX_BATCH_OPERATIONS = 1000
CRLF = "\r\n"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_ROW = re.compile(r"^(?:.*/api/data/v9\.2)?/?(?P<set>\w+)\((?P<key>.*)\)$")
_FILTER = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$")
_REQUEST_LINE = re.compile(r"^(?P<method>[A-Z]+)\s+(?P<url>\S+)\s+HTTP/1\.1$")


@dataclass(frozen=True)
class Table:
    logical_name: str
    primary_id: str
    alternate_keys: frozenset[str]
    max_lengths: Mapping[str, int] = field(default_factory=dict)


TABLES: dict[str, Table] = {
    "contacts": Table(
        "contact",
        "contactid",
        frozenset({"inkbridge_leadid"}),
        {"firstname": 50, "lastname": 50, "emailaddress1": 100},
    ),
    # A custom table's primary key is "<logical name>id", hence the alternate key's own name.
    "inkbridge_envelopestatuses": Table(
        "inkbridge_envelopestatus",
        "inkbridge_envelopestatusid",
        frozenset({"inkbridge_envelopeid"}),
    ),
    "tasks": Table("task", "activityid", frozenset({"inkbridge_taskkey"}), {"subject": 200}),
}
# Users are not modelled: a bind to any systemuser GUID is accepted.
USERS = "systemusers"


# Polymorphic lookups are bound through "<lookup>_<table>" navigation properties.
POLYMORPHIC = ("regardingobjectid", "parentcustomerid", "customerid")


def _lookup_column(navigation: str) -> str:
    for lookup in POLYMORPHIC:
        if navigation.startswith(lookup + "_"):
            return lookup
    return navigation


class DataverseError(Exception):
    """A refused request, rendered as ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


@dataclass
class OpResponse:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def http(self) -> str:
        lines = [f"HTTP/1.1 {self.status} {self.reason}", "OData-Version: 4.0"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        if self.body is not None:
            lines += ["Content-Type: application/json; odata.metadata=minimal", ""]
            lines.append(json.dumps(self.body))
        else:
            lines += ["", ""]
        return CRLF.join(lines)


def _failure(exc: DataverseError) -> OpResponse:
    reasons = {400: "Bad Request", 404: "Not Found", 412: "Precondition Failed"}
    return OpResponse(exc.status, reasons.get(exc.status, "Error"), body=exc.body())


@dataclass
class BatchAnswer:
    content_type: str
    body: bytes
    operations: int


class Dataverse:
    """One environment's rows and how its Web API changes them."""

    def __init__(self, table: RecordTable, tables: Mapping[str, Table] | None = None) -> None:
        self.rows = table
        self.tables = dict(tables or TABLES)

    def _table(self, entity_set: str) -> Table:
        found = self.tables.get(entity_set)
        if found is None:
            raise DataverseError(
                404, "0x80060888", f"Resource not found for the segment '{entity_set}'."
            )
        return found

    def records(self, entity_set: str) -> list[dict[str, Any]]:
        return [props for _, props in self.rows.all(entity_set)]

    def find(self, entity_set: str, key: str, value: str) -> tuple[str, dict[str, Any]] | None:
        return self.rows.find(entity_set, key, value)

    def seed(self, entity_set: str, columns: Mapping[str, Any]) -> str:
        table = self._table(entity_set)
        row_id = str(uuid.uuid4())
        self.rows.put(
            entity_set, row_id, {**columns, table.primary_id: row_id, "createdon": now_iso()}
        )
        return row_id

    def locate(self, reference: str) -> tuple[str, str, str | None]:
        """(entity set, key column or "" for a GUID, value) of ``set(key='v')`` / ``set(guid)``."""
        match = _ROW.match(unquote(reference.split("?")[0]))
        if match is None:
            raise DataverseError(400, "0x80060888", "Bad Request - Error in query syntax.")
        inside = match["key"]
        if _GUID.match(inside):
            return match["set"], "", inside
        name, eq, literal = inside.partition("=")
        if not eq or not (literal.startswith("'") and literal.endswith("'")):
            raise DataverseError(400, "0x80060888", "Bad Request - Error in query syntax.")
        return match["set"], name.strip(), literal[1:-1].replace("''", "'")

    def row(self, entity_set: str, key: str, value: str) -> tuple[str, dict[str, Any]] | None:
        table = self._table(entity_set)
        if not key:
            found = self.rows.get(entity_set, value)
            return None if found is None else (value, found)
        if key not in table.alternate_keys:
            raise DataverseError(
                400, "0x80060888", f"'{key}' is not an alternate key of {table.logical_name}."
            )
        return self.find(entity_set, key, value)

    def _bind(self, reference: str) -> str:
        entity_set, key, value = self.locate(reference)
        if entity_set == USERS and not key and value:
            return value
        found = self.row(entity_set, key, value or "")
        if found is None:
            logical = self._table(entity_set).logical_name
            raise DataverseError(
                404,
                "0x80040217",
                f"A record with the specified key values does not exist in {logical} entity",
            )
        return found[0]

    def upsert(
        self, reference: str, body: Any, headers: Mapping[str, str], base: str
    ) -> OpResponse:
        entity_set, key, value = self.locate(reference)
        table = self._table(entity_set)
        if not isinstance(body, dict):
            raise DataverseError(400, "0x80040203", "The request body must be a JSON object.")
        found = self.row(entity_set, key, value or "")
        if found is not None and headers.get("if-none-match") == "*":
            raise DataverseError(
                412, "0x80040237", "A record with matching key values already exists."
            )
        if found is None and headers.get("if-match") == "*":
            raise DataverseError(404, "0x80040217", f"{table.logical_name} With Ids Does Not Exist")
        columns: dict[str, Any] = {}
        for name, item in body.items():
            if name.endswith("@odata.bind"):
                lookup = _lookup_column(name.removesuffix("@odata.bind"))
                columns[f"_{lookup}_value"] = self._bind(str(item))
                continue
            limit = table.max_lengths.get(name)
            if limit is not None and isinstance(item, str) and len(item) > limit:
                raise DataverseError(
                    400,
                    "0x80044331",
                    f"A validation error occurred. The length of the '{name}' attribute of the "
                    f"'{table.logical_name}' entity exceeded the maximum allowed length of "
                    f"'{limit}'.",
                )
            columns[name] = item
        now = now_iso()
        if found is None:
            row_id = str(uuid.uuid4())
            current: dict[str, Any] = {table.primary_id: row_id, "createdon": now}
            if key:
                current[key] = value
        else:
            row_id, current = found
        self.rows.put(entity_set, row_id, {**current, **columns, "modifiedon": now})
        entity = f"{base}/api/data/v9.2/{entity_set}({row_id})"
        return OpResponse(204, "No Content", {"OData-EntityId": entity})

    def query(
        self, entity_set: str, select: str | None, filter_: str | None
    ) -> list[dict[str, Any]]:
        table = self._table(entity_set)
        wanted: list[tuple[str, str]] = []
        for clause in re.split(r"\s+or\s+", filter_ or "") if filter_ else []:
            match = _FILTER.match(clause)
            if match is None:
                raise DataverseError(400, "0x80060888", "Could not parse the $filter.")
            wanted.append((match[1], match[2].replace("''", "'")))
        columns = [c.strip() for c in select.split(",")] if select else None
        rows = []
        for row_id, props in self.rows.all(entity_set):
            if wanted and not any(str(props.get(col)) == val for col, val in wanted):
                continue
            shown = props if columns is None else {c: props.get(c) for c in columns}
            rows.append({**shown, table.primary_id: row_id})
        return rows

    # -- $batch -------------------------------------------------------------------------------

    def _operation(self, part: Message, base: str) -> tuple[str, OpResponse]:
        """Run one ``application/http`` part; returns (its Content-ID, its response)."""
        payload = part.get_payload(decode=True)
        raw = payload.decode() if isinstance(payload, bytes) else str(payload)
        head, _, body = raw.replace("\r\n", "\n").partition("\n\n")
        lines = head.split("\n")
        match = _REQUEST_LINE.match(lines[0].strip())
        content_id = str(part.get("Content-ID", ""))
        if match is None:
            return content_id, _failure(DataverseError(400, "0x80060888", "Bad request line."))
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in lines[1:] if ":" in line)
        }
        try:
            if match["method"] != "PATCH":
                raise DataverseError(405, "0x80060888", "Only PATCH is emulated in a batch.")
            data = json.loads(body) if body.strip() else None
            return content_id, self.upsert(match["url"], data, headers, base)
        except ValueError:
            return content_id, _failure(DataverseError(400, "0x80040203", "Invalid JSON."))
        except DataverseError as exc:
            return content_id, _failure(exc)

    def batch(
        self, content_type: str, body: bytes, continue_on_error: bool, base: str
    ) -> BatchAnswer:
        message = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        if not message.is_multipart():
            raise DataverseError(400, "0x80048d19", "The $batch body must be multipart/mixed.")
        parts = [p for p in message.get_payload() if isinstance(p, Message)]
        count = sum(len(p.get_payload()) if p.is_multipart() else 1 for p in parts)
        if count > MAX_BATCH_OPERATIONS:
            raise DataverseError(
                400,
                "0x8006088a",
                f"The batch holds {count} requests; the limit is {MAX_BATCH_OPERATIONS}.",
            )
        boundary = f"batchresponse_{uuid.uuid4()}"
        out: list[str] = []
        for part in parts:
            failed = False
            if part.is_multipart():
                section, failed = self._changeset(part, base)
                out += [f"--{boundary}", *section]
            else:
                _, response = self._operation(part, base)
                failed = not response.ok
                out += [
                    f"--{boundary}",
                    "Content-Type: application/http",
                    "Content-Transfer-Encoding: binary",
                    "",
                    response.http(),
                ]
            if failed and not continue_on_error:
                break
        out += [f"--{boundary}--", ""]
        return BatchAnswer(f"multipart/mixed; boundary={boundary}", CRLF.join(out).encode(), count)

    def _changeset(self, part: Message, base: str) -> tuple[list[str], bool]:
        """Run a change set in one transaction; (its answer lines, whether it failed)."""
        answers: list[tuple[str, OpResponse]] = []
        failure: OpResponse | None = None
        try:
            with self.rows.savepoint():
                for inner in part.get_payload():
                    assert isinstance(inner, Message)
                    content_id, response = self._operation(inner, base)
                    if not response.ok:
                        failure = response
                        raise DataverseError(response.status, "", "")
                    answers.append((content_id, response))
        except DataverseError:
            assert failure is not None
            return [
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                "",
                failure.http(),
            ], True
        inner_boundary = f"changesetresponse_{uuid.uuid4()}"
        lines = [f"Content-Type: multipart/mixed; boundary={inner_boundary}", ""]
        for content_id, response in answers:
            lines += [
                f"--{inner_boundary}",
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                f"Content-ID: {content_id}",
                "",
                response.http(),
            ]
        lines.append(f"--{inner_boundary}--")
        return lines, False

    def dump(self) -> dict[str, Any]:
        objects = {name: self.records(name) for name in self.rows.objects()}
        flags = ("donotemail", "donotbulkemail", "donotphone")
        consents = [
            {"inkbridge_leadid": c.get("inkbridge_leadid"), **{f: c[f] for f in flags if f in c}}
            for c in objects.get("contacts", [])
            if any(f in c for f in flags)
        ]
        return {"objects": objects, "tasks": objects.get("tasks", []), "consents": consents}
