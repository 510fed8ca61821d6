"""Data governance on a running two-region deployment (``two_regions_stack``: ``eu`` home and
``us``, journeys to completion in both, each region backed up by ``inkbridge backup``):

- the stores written under the data dir are exactly the stores ``inkbridge datamap`` lists;
- an ``eu`` person erased through the API (a ``privacy`` token) is unreadable in the database
  and in a backup taken afterwards, the sandbox CRM and marketing tool no longer hold them, the
  chains still verify and the funnel's totals are unchanged;
- ``inkbridge keys rotate`` on the stopped deployment keeps everything readable through the
  API; with the region's key file gone, every command stops with one line naming the region.

The tests run in order on the one deployment, each taking it further."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inkbridge.config_sources import load_settings
from inkbridge.privacy.configured_keys import region_keys
from inkbridge.store import receipt_bodies
from inkbridge.store.database import Databases
from inkbridge.store.schema import metadata, webhook_receipts
from tests.acceptance.stack import poll_until
from tests.acceptance.two_regions_stack import (
    PEOPLE,
    REGIONS,
    Person,
    Run,
    crossings,
    files,
    of,
    settled,
    two_region_run,
)
from tests.support.sealed import opened_dump

pytestmark = pytest.mark.slow

ERASED, KEPT = of("eu")  # the eu person erased, and the one kept (the positive control)
# Files under the data dir that are parts of a store rather than stores of their own.
COMPANIONS = ("-wal", "-shm", "-journal")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    with two_region_run(tmp_path_factory.mktemp("governance")) as running:
        for region in REGIONS:
            running.backup(region)
        yield running


def _store_of(path: Path, locations: set[str]) -> str | None:
    """The data map location ``path`` belongs to: the file itself, or a directory holding it."""
    for candidate in (path, *path.parents):
        if candidate.as_posix() in locations:
            return candidate.as_posix()
    return None


def test_the_stores_written_under_the_data_dir_are_the_stores_of_the_data_map(run: Run) -> None:
    mapped = json.loads(run.cli("datamap", "--format", "json"))["stores"]
    data = run.data.resolve()
    under_data = {s["location"] for s in mapped if Path(s["location"]).is_absolute()} & {
        p.as_posix() for p in (data, *data.rglob("*"))
    }
    # Every location the map names under the data dir, and nothing there it does not name.
    in_map = {s["location"] for s in mapped if s["location"].startswith(data.as_posix() + "/")}
    written = [p for p in data.rglob("*") if p.is_file() and not p.name.endswith(COMPANIONS)]
    unmapped = [p.as_posix() for p in written if _store_of(p, in_map) is None]
    assert unmapped == []
    assert {_store_of(p, in_map) for p in written} == in_map == under_data
    kinds = {s["kind"] for s in mapped if s["location"] in in_map}
    assert kinds == {"sqlite", "sqlite backups", "key"}
    # The key files are there: each region's managed key directory holds its current key.
    assert all((run.data / "keys" / region / "current.key").is_file() for region in REGIONS)


def _funnel(api: httpx.Client) -> dict[str, Any]:
    answer = api.get("/v1/reports/funnel")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _holds(records: Any, person: Person, lead_id: str) -> bool:
    held = json.dumps(records).lower()
    return person.email.lower() in held or f'"lead:{lead_id}"' in held


def _erased_everywhere(run: Run, api: httpx.Client, lead_id: str) -> bool:
    for kind in ("crm", "marketing"):
        erasures = httpx.get(run.store_url("eu", kind) + "/erasures", timeout=10).json()
        if lead_id not in {e["lead_id"] for e in erasures["results"]}:
            return False
    return settled(api, lead_id)


def _opened(backup: Path, run: Run) -> str:
    """Every row of every table of ``backup`` with whatever the region's keys open, opened."""
    keys = region_keys(load_settings(run.config))
    databases = Databases({"eu": f"sqlite:///{backup}"}, "eu", keys={"eu": keys["eu"]})
    try:
        db = databases["eu"]
        with db.reader() as conn:
            dumps = [opened_dump(conn, table) for table in metadata.sorted_tables]
            for row in conn.execute(webhook_receipts.select()):
                headers, body = receipt_bodies.opened(db.keyring, row)
                dumps.append(json.dumps(headers) + body.decode("utf-8", "replace"))
        return "\n".join(dumps)
    finally:
        databases.dispose()


def _data_key_of(database: Path, lead_id: str) -> tuple[Any, ...]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        found = conn.execute(
            "SELECT wrapped_key, kek_id FROM data_keys WHERE subject_type = 'lead' "
            "AND subject_id = ?",
            (lead_id,),
        ).fetchall()
    assert len(found) == 1, found
    return tuple(found[0])


def test_an_erased_person_is_unreadable_in_the_database_and_in_a_backup_taken_after(
    run: Run,
) -> None:
    lead_id = run.leads[ERASED.email]
    privacy = run.cli("tokens", "create", "--scope", "privacy", "--name", "dpo").strip()
    with run.api() as api:
        before = _funnel(api)
        with run.api(privacy) as dpo:
            answer = dpo.post(f"/v1/leads/{lead_id}/erasure")
        assert answer.status_code == 202, answer.text
        poll_until(lambda: _erased_everywhere(run, api, lead_id), "the erasure delivered", 30)
        after = _funnel(api)
    backup = run.backup("eu")

    assert _data_key_of(run.data / "eu.db", lead_id)[0] is None
    assert _data_key_of(backup, lead_id)[0] is None
    opened = _opened(backup, run)
    assert KEPT.email in opened  # what the keys still open is opened
    assert [v for v in ERASED.values if v in opened or v.lower() in opened.lower()] == []
    assert crossings([*files(run.data / "eu.db"), backup], [ERASED]) == []
    for kind in ("crm", "marketing"):
        records = httpx.get(run.store_url("eu", kind) + "/records", timeout=10).json()
        assert not _holds(records, ERASED, lead_id), kind
        assert _holds(records, KEPT, run.leads[KEPT.email]), kind
    for command in (("verify",), ("consent", "verify")):
        done = run.command(*command)
        assert done.returncode == 0, done.stdout + done.stderr
    assert after == before


def _readable(run: Run) -> list[str]:
    """Each person's email, names and phone as the API returns them."""
    with run.api() as api:
        seen = []
        for person in PEOPLE:
            lead = api.get(f"/v1/leads/{run.leads[person.email]}").json()
            values = (lead["email"], lead["first_name"], lead["last_name"], lead["phone"])
            seen.append("ok" if values == person.values else f"{person.email}: {values}")
            envelope = api.get(f"/v1/envelopes/{run.envelopes[person.email]}").json()
            assert envelope["state"] == "completed", envelope
        return seen


def test_key_rotation_keeps_everything_readable_and_a_lost_key_is_one_clear_line(
    run: Run,
) -> None:
    kept = [p for p in PEOPLE if p != ERASED]
    run.stop_server()
    rotated = run.cli("keys", "rotate", "--region", "eu")
    assert "0 left under older keys" in rotated, rotated
    run.start_server()
    readable = dict(zip(PEOPLE, _readable(run), strict=True))
    assert [readable[p] for p in kept] == ["ok"] * len(kept)
    run.stop_server()

    (run.data / "keys" / "eu" / "current.key").unlink()
    for command in (("verify",), ("serve",)):
        done = run.command(*command)
        assert done.returncode != 0, command
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "'eu'" in lines[0], (command, done.stderr)
        assert "Traceback" not in done.stderr
