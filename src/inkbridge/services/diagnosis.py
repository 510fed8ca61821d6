"""``inkbridge doctor``'s checks of a deployment, each one row of pass, fail, not checked or not
applicable:
each region's database (reachable, migrated to head) and key, each provider connection's and
destination's credentials (one harmless authenticated call), and the clock against the vendors'.

The checks read and never write: no migration, no key file created, no record sent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from inkbridge.config import Settings
from inkbridge.errors import InkbridgeError
from inkbridge.privacy.configured_keys import existing_region_keys
from inkbridge.store import data_keys, migrate
from inkbridge.store.database import driver_reason, make_engine, redacted_url
from inkbridge.vendor_http.credentials import (
    ChecksCredentials,
    CredentialCheck,
    Verdict,
    not_applicable,
    not_checked,
)


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a check's outcome, not a password
    FAIL = "fail"
    NOT_CHECKED = "not checked"  # there is something to check that doctor cannot
    NOT_APPLICABLE = "not applicable"  # nothing to check: no API credentials (webhooks only)


@dataclass(frozen=True)
class Check:
    name: str  # what was checked: "database default", "destination crm"
    status: Status
    detail: str


def failed(checks: Iterable[Check]) -> bool:
    return any(check.status is Status.FAIL for check in checks)


def database_check(settings: Settings, region: str) -> Check:
    """The region's database answers and its schema is at the code's head revision; a schema
    behind is a failure (``inkbridge migrate`` fixes it), never migrated here."""
    name = f"database {region}"
    url = settings.database_url(region)
    shown = redacted_url(url)
    try:
        engine = make_engine(url)
    except (SQLAlchemyError, OSError) as exc:
        return Check(name, Status.FAIL, f"cannot open {shown}: {driver_reason(exc)}")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrate.engine_revision(engine)
    except (SQLAlchemyError, OSError) as exc:
        return Check(name, Status.FAIL, f"cannot open {shown}: {driver_reason(exc)}")
    finally:
        engine.dispose()
    head = migrate.head_revision()
    if current != head:
        at = current or "no schema"
        return Check(name, Status.FAIL, f"{shown} is at {at}, not {head}: run inkbridge migrate")
    return Check(name, Status.PASS, f"{shown} at {head}")


def region_key_check(settings: Settings, region: str) -> Check:
    """The region's key is there and readable, and unwraps every data key its database holds."""
    name = f"region key {region}"
    try:
        keys = existing_region_keys(settings, region)
    except InkbridgeError as exc:
        return Check(name, Status.FAIL, str(exc))
    if keys is None:
        return Check(
            name,
            Status.PASS,
            "managed key file created at first start (configure [regions] key in production)",
        )
    source = "managed key file" if settings.regions[region].key is None else "configured key"
    engine = None
    try:
        engine = make_engine(settings.database_url(region))
        if inspect(engine).has_table("data_keys"):
            with engine.connect() as conn:
                data_keys.check_keys(conn, keys)
    except InkbridgeError as exc:
        return Check(name, Status.FAIL, str(exc))
    except (SQLAlchemyError, OSError):
        return Check(name, Status.PASS, f"{source} {keys.current.id} (database not read)")
    finally:
        if engine is not None:
            engine.dispose()
    return Check(name, Status.PASS, f"{source} {keys.current.id}")


async def credential_check(name: str, part: object | None, absent: str) -> CredentialCheck:
    """What the vendor says of ``part``'s credentials; ``absent`` says why there is no part,
    and so no credentials to check."""
    if part is None:
        return not_applicable(absent)
    if not isinstance(part, ChecksCredentials):
        return not_checked("the vendor has no harmless authenticated call inkbridge makes")
    try:
        return await part.check_credentials()
    except InkbridgeError as exc:
        return CredentialCheck(Verdict.FAILED, str(exc))


_STATUS = {
    Verdict.ACCEPTED: Status.PASS,
    Verdict.REFUSED: Status.FAIL,
    Verdict.FAILED: Status.FAIL,
    Verdict.NOT_CHECKED: Status.NOT_CHECKED,
    Verdict.NOT_APPLICABLE: Status.NOT_APPLICABLE,
}


def credential_row(name: str, result: CredentialCheck) -> Check:
    return Check(name, _STATUS[result.verdict], result.detail)


def clock_check(answers: Iterable[tuple[str, datetime, datetime]], allowed: timedelta) -> Check:
    """This machine's clock against the ``Date`` of each vendor answer (name, the vendor's
    ``Date``, this machine's time when the answer arrived): signatures and signer sessions are
    checked against time windows, so a clock off by more than ``allowed`` fails. ``Date`` has
    whole seconds and the answer took a moment, so a second is forgiven."""
    offsets = [(name, (local - date).total_seconds()) for name, date, local in answers]
    if not offsets:
        return Check("clock", Status.NOT_CHECKED, "no vendor answered with a Date header")
    worst_name, worst = max(offsets, key=lambda item: abs(item[1]))
    detail = f"{abs(worst):.0f} s {'ahead of' if worst > 0 else 'behind'} {worst_name}"
    if abs(worst) > allowed.total_seconds() + 1:
        return Check("clock", Status.FAIL, f"{detail} (at most {allowed.total_seconds():.0f} s)")
    return Check("clock", Status.PASS, detail)
