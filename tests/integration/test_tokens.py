"""The token lifecycle: the first start's admin token, expiry, last use, rotation and
revocation; and every privileged operation (through the API or the command line) as an audit
entry naming who did it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from inkbridge.api.app import create_app
from inkbridge.bootstrap import bootstrap
from inkbridge.cli import main as cli
from inkbridge.errors import InvalidInput, NotFound
from inkbridge.services.tokens import (
    LAST_USED_RESOLUTION,
    authenticate,
    create_token,
    ensure_admin_token,
    list_tokens,
    parse_duration,
    revoke_token,
    rotate_token,
)
from inkbridge.store.database import Databases
from inkbridge.store.schema import api_tokens, audit_log
from tests.support.builders import make_settings
from tests.support.outbox_rows import insert_dead_letter

NOW = datetime.now(UTC)


def _row(databases: Databases, token_id: str) -> Any:
    with databases.home.reader() as conn:
        return conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one()


def _audit(databases: Databases) -> list[Any]:
    rows: list[Any] = []
    for db in databases:
        with db.reader() as conn:
            rows += conn.execute(select(audit_log).order_by(audit_log.c.seq)).all()
    return rows


def test_the_first_start_mints_an_admin_token_and_later_starts_do_not(
    databases: Databases,
) -> None:
    first = ensure_admin_token(databases)
    assert first is not None and first.token.startswith("ibk_")
    assert ensure_admin_token(databases) is None
    assert ensure_admin_token(databases) is None
    assert [t["name"] for t in list_tokens(databases)] == ["serve-admin"]
    created = [a for a in _audit(databases) if a.action == "serve:token:created"]
    assert [(a.actor, a.subject_id) for a in created] == [("serve", first.token_id)]


def test_a_start_with_only_revoked_or_expired_admin_tokens_mints_a_new_one(
    databases: Databases,
) -> None:
    old_id, _ = create_token(databases, "ops", ["admin"])
    revoke_token(databases, old_id)
    reader_id, _ = create_token(databases, "reader", ["read"])  # not an admin token
    assert ensure_admin_token(databases) is not None
    assert reader_id in {t["id"] for t in list_tokens(databases)}


def test_an_expired_token_authenticates_nothing(databases: Databases) -> None:
    issued = create_token(databases, "short", ["read"], expires_in=timedelta(hours=12))
    assert issued.expires_at is not None
    assert authenticate(databases, issued.token, now=issued.expires_at - timedelta(seconds=1))
    assert authenticate(databases, issued.token, now=issued.expires_at) is None
    assert authenticate(databases, issued.token, now=issued.expires_at + timedelta(days=1)) is None


def test_a_revoked_token_authenticates_nothing_and_the_revocation_is_audited(
    databases: Databases,
) -> None:
    token_id, token = create_token(databases, "gone", ["admin"])
    assert revoke_token(databases, token_id, actor="cli") is True
    assert revoke_token(databases, token_id) is False
    assert authenticate(databases, token) is None
    revoked = [a for a in _audit(databases) if a.action == "cli:token:revoked"]
    assert [(a.actor, a.subject_id) for a in revoked] == [("cli", token_id)]


def test_last_use_is_recorded_at_most_once_a_minute(databases: Databases) -> None:
    token_id, token = create_token(databases, "used", ["read"])
    assert _row(databases, token_id).last_used_at is None
    authenticate(databases, token, now=NOW)
    assert _row(databases, token_id).last_used_at == NOW
    authenticate(databases, token, now=NOW + timedelta(seconds=30))
    authenticate(databases, token, now=NOW + LAST_USED_RESOLUTION - timedelta(seconds=1))
    assert _row(databases, token_id).last_used_at == NOW
    later = NOW + LAST_USED_RESOLUTION
    authenticate(databases, token, now=later)
    assert _row(databases, token_id).last_used_at == later
    listed = {t["id"]: t for t in list_tokens(databases)}[token_id]
    assert listed["last_used_at"] == later.isoformat() and listed["expires_at"] is None


def test_rotation_creates_a_successor_and_retires_the_old_token_after_the_overlap(
    databases: Databases,
) -> None:
    old = create_token(databases, "crm-sync", ["leads:write", "read"], expires_in=timedelta(30))
    new = rotate_token(databases, old.token_id, overlap=timedelta(hours=24), actor="cli")
    retired = _row(databases, old.token_id)
    successor = _row(databases, new.token_id)
    assert retired.rotated_to == new.token_id
    assert successor.name == "crm-sync" and successor.scopes == ["leads:write", "read"]
    # The same expiry policy: a 30-day token is succeeded by a 30-day token.
    assert successor.expires_at - successor.created_at == timedelta(30)
    assert retired.expires_at == successor.created_at + timedelta(hours=24)
    during = successor.created_at + timedelta(hours=23)
    after = successor.created_at + timedelta(hours=24, seconds=1)
    assert authenticate(databases, old.token, now=during) is not None
    assert authenticate(databases, old.token, now=after) is None
    identity = authenticate(databases, new.token, now=after)
    assert identity is not None and identity.scopes == {"leads:write", "read"}
    rotated = [a for a in _audit(databases) if a.action == "cli:token:rotated"]
    assert [(a.actor, a.subject_id, a.details["successor"]) for a in rotated] == [
        ("cli", old.token_id, new.token_id)
    ]
    assert new.token not in json.dumps([dict(a._mapping) for a in _audit(databases)], default=str)


def test_a_rotation_never_extends_the_old_tokens_life_and_runs_once(
    databases: Databases,
) -> None:
    old = create_token(databases, "short", ["read"], expires_in=timedelta(hours=2))
    new = rotate_token(databases, old.token_id, overlap=timedelta(days=7))
    assert _row(databases, old.token_id).expires_at == old.expires_at
    assert _row(databases, new.token_id).expires_at is not None
    with pytest.raises(InvalidInput):
        rotate_token(databases, old.token_id, overlap=timedelta(0))
    revoked, _ = create_token(databases, "revoked", ["read"])
    revoke_token(databases, revoked)
    with pytest.raises(NotFound):
        rotate_token(databases, revoked, overlap=timedelta(0))
    with pytest.raises(NotFound):
        rotate_token(databases, "tok_nobody", overlap=timedelta(0))


def test_a_token_that_never_expires_is_succeeded_by_one_that_never_expires(
    databases: Databases,
) -> None:
    old_id, _ = create_token(databases, "forever", ["admin"])
    new = rotate_token(databases, old_id, overlap=timedelta(0))
    assert new.expires_at is None
    assert _row(databases, old_id).expires_at is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90))],
)
def test_lifetimes_are_read_in_days_hours_or_minutes(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "0d", "-1d", "1w", "1.5h", "d", "9999999d"])
def test_other_lifetimes_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_duration(text)


# -- the command line -------------------------------------------------------------------------


def _config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "inkbridge.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n[regions.default]\ndatabase_url = "{url}"\n')
    return config


def test_the_cli_creates_lists_rotates_and_revokes_tokens(
    tmp_path: Path, databases: Databases
) -> None:
    config = str(_config(tmp_path, databases.home.url))
    runner = CliRunner()
    made = runner.invoke(
        cli, ["tokens", "create", "--config", config, "--scope", "read", "--expires-in", "30d"]
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    identity = authenticate(databases, token)
    assert identity is not None and identity.scopes == {"read"}
    listed = [
        json.loads(line)
        for line in runner.invoke(cli, ["tokens", "list", "--config", config]).stdout.splitlines()
    ]
    assert [(t["id"], t["name"]) for t in listed] == [(identity.token_id, "cli")]
    expires = datetime.fromisoformat(str(listed[0]["expires_at"]))
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)
    assert listed[0]["last_used_at"] is not None  # authenticate() above used it
    assert token not in json.dumps(listed)

    rotated = runner.invoke(
        cli, ["tokens", "rotate", identity.token_id, "--config", config, "--overlap", "90m"]
    )
    assert rotated.exit_code == 0, rotated.output
    successor = authenticate(databases, rotated.stdout.strip())
    assert successor is not None and successor.token_id != identity.token_id
    old = _row(databases, identity.token_id)
    assert old.rotated_to == successor.token_id
    assert old.expires_at - _row(databases, successor.token_id).created_at == timedelta(minutes=90)

    revoked = runner.invoke(cli, ["tokens", "revoke", successor.token_id, "--config", config])
    assert revoked.stdout.strip() == "revoked"
    bad = runner.invoke(
        cli, ["tokens", "create", "--config", config, "--scope", "read", "--expires-in", "soon"]
    )
    assert bad.exit_code == 2 and "30d, 12h or 90m" in bad.output
    actions = [(a.actor, a.action) for a in _audit(databases)]
    assert actions == [
        ("cli", "cli:token:created"),
        ("cli", "cli:token:rotated"),
        ("cli", "cli:token:revoked"),
    ]


def _dead_letter(databases: Databases) -> int:
    key = f"fact-{datetime.now(UTC).timestamp()}"
    return insert_dead_letter(databases.home, region="default", destination="crm", key=key)


def test_privileged_cli_commands_are_audited_with_the_cli_as_actor(
    tmp_path: Path, databases: Databases
) -> None:
    config = str(_config(tmp_path, databases.home.url))
    runner = CliRunner()
    _dead_letter(databases)
    assert runner.invoke(cli, ["dlq", "retry", "--config", config]).exit_code == 0
    assert runner.invoke(cli, ["reconcile", "--config", config]).exit_code == 0
    text = tmp_path / "terms.txt"
    text.write_text("We may email you about our products.")
    registered = runner.invoke(
        cli, ["consent", "register", "--config", config, "--kind", "marketing_email", str(text)]
    )
    assert registered.exit_code == 0, registered.output
    entries = {a.action: a for a in _audit(databases)}
    assert {a: e.actor for a, e in entries.items()} == {
        "cli:dead_letters:replayed": "cli",
        "cli:reconcile:requested": "cli",
        "cli:consent_text:registered": "cli",
    }
    assert entries["cli:dead_letters:replayed"].details["count"] == 1


def test_privileged_api_calls_are_audited_with_the_acting_token(
    tmp_path: Path, sqlite_url: str
) -> None:
    container = bootstrap(make_settings(tmp_path, sqlite_url), auto_migrate=True)
    databases = container.databases
    token_id, token = create_token(databases, "ops", ["admin"])
    _dead_letter(databases)
    auth = {"authorization": f"Bearer {token}"}

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            replay = await client.post("/v1/admin/dead-letters/replay", json={}, headers=auth)
            reconcile = await client.post("/v1/admin/reconcile", headers=auth)
            text = await client.post(
                "/v1/consent-texts",
                json={"kind": "marketing_email", "text": "Emails about our products."},
                headers=auth,
            )
            return [replay.status_code, reconcile.status_code, text.status_code]

    assert asyncio.run(run()) == [200, 200, 201]
    entries = [(a.actor, a.action) for a in _audit(databases) if a.action.startswith("api:")]
    actor = f"token:{token_id}"
    assert entries == [
        (actor, "api:dead_letters:replayed"),
        (actor, "api:reconcile:requested"),
        (actor, "api:consent_text:registered"),
    ]
    databases.dispose()
