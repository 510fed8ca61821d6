"""One go-live run: read the deployment's connections from its data map, run every check in
order (each in its own guard, so one check's trouble is its own failed row), then clean up.
The clean-up always runs once anything was created."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from inkbridge.golive import (
    deliveries,
    failure_injection,
    legal_state,
    lifecycle,
    marking,
    operations,
    records,
    residency,
)
from inkbridge.golive.outcome import CheckResult, failed, not_applicable
from inkbridge.golive.seeding import SEEDERS, SeedError, unconfirmed_reason
from inkbridge.golive.sender_formats import SenderFormat
from inkbridge.golive.target import Target, TargetError
from inkbridge.golive.vendor_bodies import NotSpoken

CHECKS = (
    "signatures",
    "duplicates",
    "order",
    "conflicting-terminal",
    "consent",
    "attribution",
    "residency",
    "legal-state",
    "rotated-key",
    "failure-injection",
    "evidence",
    "test-marks",
    "clean-up",
    "hygiene",
)
# The checks that read the lifecycle test lead (captured only when one of them runs).
LEAD_CHECKS = ("order", "conflicting-terminal", "attribution", "consent", "residency")
# On the checklist, not yet run by golive (each is a not-applicable row saying so).
NOT_YET: dict[str, str] = {}


@dataclass(frozen=True)
class Connection:
    name: str
    provider: str
    region: str
    # Why its lifecycle rows cannot run (a vendor confirming completion, not seeded), or None.
    unconfirmed: str | None = None


class TargetRefused(Exception):
    """golive will not run against this target (its configuration cannot be read)."""


def connections(target: Target, wanted: Sequence[str]) -> list[Connection]:
    """The connections to check, as the deployment's data map declares them."""
    try:
        datamap = target.get("/v1/datamap")
        declared = {
            str(p["name"]).removeprefix("connection:"): Connection(
                str(p["name"]).removeprefix("connection:"), str(p["vendor"]), str(p["regions"][0])
            )
            for p in datamap["processors"]
            if p["kind"] == "provider"
        }
    except TargetError as exc:
        raise TargetRefused(f"cannot read the deployment's configuration: {exc}") from None
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        # Whatever answered is not an inkbridge data map (a stub that answers 200 to anything).
        raise TargetRefused(
            f"the deployment's data map is not one golive can read: {exc!r}"
        ) from None
    if not declared:
        raise TargetRefused("the deployment's data map declares no connection")
    unknown = sorted(set(wanted) - set(declared))
    if unknown:
        raise TargetRefused(f"the deployment declares no connection {', '.join(unknown)}")
    chosen = [declared[name] for name in wanted or sorted(declared)]
    target.providers.update({conn.name: conn.provider for conn in chosen})
    target.regions.update({conn.name: conn.region for conn in chosen})
    return speaking(target, chosen)


def speaking(target: Target, chosen: Sequence[Connection]) -> list[Connection]:
    """``chosen`` as golive speaks to each, from the deployment's
    ``GET /v1/admin/golive/connections``: a mapped sender's vocabulary, and for a vendor whose
    completion its API confirms, the emulator golive seeds or why its lifecycle rows do not
    apply. A deployment without the route is spoken to in each vendor's own format."""
    try:
        listed = target.get("/v1/admin/golive/connections")["connections"]
        details = {str(c["name"]): dict(c) for c in listed}
    except (TargetError, KeyError, TypeError, ValueError):
        return list(chosen)
    found = []
    for conn in chosen:
        detail = details.get(conn.name, {})
        if detail.get("mapping"):
            sender = SenderFormat.read(detail["mapping"], detail.get("signature") or {})
            target.senders[conn.name] = sender.vendor_format()
        found.append(replace(conn, unconfirmed=_seeded(target, conn, detail)))
    return found


def _seeded(target: Target, conn: Connection, detail: dict[str, Any]) -> str | None:
    """Seed ``conn``'s vendor emulator when its completion needs confirming; else why not."""
    if not detail.get("terminal_needs_confirmation"):
        return None
    seed, seeder = detail.get("seed"), SEEDERS.get(conn.provider)
    if not seed or conn.name not in target.secrets:
        return unconfirmed_reason(conn.provider)
    if seeder is None:
        return f"golive seeds no {conn.provider} emulator; {unconfirmed_reason(conn.provider)}"
    emulator = seeder(str(seed["api_url"]), target.secrets[conn.name])
    try:
        emulator.check()
    except SeedError as exc:
        return f"{exc}; {unconfirmed_reason(conn.provider)}"
    target.seeders[conn.name] = emulator
    return None


@dataclass
class Run:
    """The rows of one run, each check guarded so its trouble is its own failed row."""

    target: Target
    selected: Callable[[str], bool]
    progress: Callable[[str], None]
    results: list[CheckResult] = field(default_factory=list)
    # The lifecycle lead of each region with a checked connection (the residency check's).
    region_leads: dict[str, dict[str, Any]] = field(default_factory=dict)

    def row(self, name: str, check: Callable[[], CheckResult]) -> CheckResult | None:
        if not self.selected(name.split("[")[0]):
            return None
        self.progress(name)
        try:
            found = check()
        except NotSpoken as exc:
            found = not_applicable(name, str(exc))
        except (TargetError, SeedError, KeyError, TypeError, ValueError) as exc:
            found = failed(name, f"{type(exc).__name__}: {exc}")
        self.results.append(found)
        return found

    def _unconfirmed(self, conn: Connection) -> Callable[[str, Callable[[], CheckResult]], object]:
        """A row that is not applicable for ``conn``, its check not run."""
        reason = str(conn.unconfirmed)
        return lambda name, _check: self.row(name, partial(not_applicable, name, reason))

    def connection_checks(self, conn: Connection) -> None:
        target = self.target
        if conn.name not in target.secrets:
            self.results.append(
                failed(f"signatures[{conn.name}]", "no signing secret given (--secret-file)")
            )
            return
        self.row(
            f"signatures[{conn.name}]",
            partial(deliveries.signatures, target, conn.name, conn.provider),
        )
        self.row(f"duplicates[{conn.name}]", partial(deliveries.duplicates, target, conn.name))
        self.row(f"rotated-key[{conn.name}]", partial(operations.rotated_key, target, conn.name))
        # A vendor confirming completion, not seeded: its lifecycles would never complete, so
        # the rows reading one cannot prove anything, and say so.
        lifecycle_check = self.row if conn.unconfirmed is None else self._unconfirmed(conn)
        lifecycle_check(
            f"legal-state[{conn.name}]", partial(legal_state.legal_state, target, conn.name)
        )
        if not any(map(self.selected, LEAD_CHECKS)):
            return
        try:
            lead = target.capture_lead("lifecycle", region=conn.region)
        except TargetError as exc:
            self.results.append(failed(f"order[{conn.name}]", str(exc)))
            return
        done: list[str] = []

        def ordered() -> CheckResult:
            result, pid = lifecycle.order(target, conn.name, lead)
            done.append(pid)
            return result

        lifecycle_check(f"order[{conn.name}]", ordered)
        self.row("consent", partial(records.consent, target, lead))
        self.region_leads.setdefault(conn.region, lead)
        if conn.unconfirmed is not None:
            name = f"conflicting-terminal[{conn.name}]"
            self.row(name, partial(not_applicable, name, conn.unconfirmed))
        if not done:
            return
        self.row("attribution", partial(lifecycle.attribution, target, lead, done[0]))
        self.row(
            f"conflicting-terminal[{conn.name}]",
            partial(lifecycle.conflicting_terminal, target, conn.name, lead, done[0]),
        )


def run(
    target: Target,
    chosen: Sequence[Connection],
    *,
    selected: Callable[[str], bool] = lambda _: True,
    progress: Callable[[str], None] = lambda _: None,
    log_file: Path | None = None,
) -> list[CheckResult]:
    """Every selected check against ``chosen`` connections, then the clean-up (always, once
    anything was created), then log hygiene (last: the clean-up may log too)."""
    current = Run(target, selected, progress)
    try:
        for conn in chosen:
            current.connection_checks(conn)
        # A vendor confirming completion is left out: its refused completion would wait on
        # the vendor's API, not on the destination's failure.
        with_secrets = [
            (c.name, c.region)
            for c in chosen
            if c.name in target.secrets and c.unconfirmed is None and c.name not in target.seeders
        ]
        current.row(
            "failure-injection",
            partial(failure_injection.failure_injection, target, with_secrets),
        )
        current.row("residency", partial(residency.residency, target, current.region_leads))
        current.row("evidence", partial(operations.evidence, target))
        current.row("test-marks", partial(marking.marked_writes, target))
        for name, reason in NOT_YET.items():
            if selected(name):
                current.results.append(not_applicable(name, reason))
    finally:
        if target.leads:
            current.selected = lambda _: True
            current.row("clean-up", partial(records.cleanup, target))
            current.selected = selected
    current.row("hygiene", partial(operations.hygiene, target, log_file))
    return current.results
