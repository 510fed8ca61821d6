"""The public capture endpoint through the real app (ASGI): publishable keys and their origins,
CORS answers and the preflight, per-IP and per-key budgets, and times that are the server's —
a touch dated 1970 never becomes a lead's first touch. The store-facing behaviour runs on a real
SQLite file and on the real PostgreSQL server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.cli import main as cli
from inkbridge.domain.attribution import Touchpoint
from inkbridge.services.leads import record_touchpoint
from inkbridge.services.publishable_keys import create_key, list_keys, revoke_key
from inkbridge.services.tokens import create_token
from inkbridge.store.schema import anonymous_visitors, audit_log, touchpoints
from tests.support.builders import make_settings

SITE = "https://www.example.com"
OTHER_SITE = "https://shop.example.com:8443"


@dataclass
class Capture:
    """A container, one app built over it (so rate-limit state lasts across calls), an admin
    token and a publishable key for SITE."""

    container: Container
    app: Any
    token: str
    key: str
    key_id: str

    def call(
        self, method: str, path: str, *, ip: str = "203.0.113.7", **kwargs: Any
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(ip, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())

    def touch(
        self,
        body: dict[str, Any],
        *,
        key: str | None = None,
        origin: str | None = SITE,
        ip: str = "203.0.113.7",
    ) -> httpx.Response:
        path = "/v1/touchpoints" + (f"?key={key or self.key}" if key != "" else "")
        headers = {"content-type": "text/plain"}
        if origin is not None:
            headers["Origin"] = origin
        return self.call("POST", path, ip=ip, content=_json(body), headers=headers)

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def post_lead(self, body: dict[str, Any]) -> httpx.Response:
        """``POST /v1/leads`` as the integrator (with the admin token)."""
        return self.call("POST", "/v1/leads", headers=self.bearer(), json=body)

    def count(self, table: Any) -> int:
        with self.container.databases.home.reader() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body)


def _capture(tmp_path: Path, db_url: str, **capture: Any) -> Capture:
    settings = make_settings(tmp_path, db_url, capture=capture)
    container = bootstrap(settings, auto_migrate=True)
    _, token = create_token(container.databases, "test", ["admin"])
    key_id, key = create_key(container.databases, "site", [SITE, OTHER_SITE])
    return Capture(container, create_app(container), token, key, key_id)


@pytest.fixture
def capture(tmp_path: Path, db_url: str) -> Iterator[Capture]:
    built = _capture(tmp_path, db_url)
    yield built
    built.container.databases.dispose()


@pytest.fixture
def capture_sqlite(tmp_path: Path, sqlite_url: str) -> Iterator[Capture]:
    built = _capture(tmp_path, sqlite_url)
    yield built
    built.container.databases.dispose()


def _is_problem(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "access-control-allow-origin" not in answer.headers


# --- keys and origins ---------------------------------------------------------------------


def test_an_allowed_origin_is_accepted_and_echoed(capture: Capture) -> None:
    answer = capture.touch({"anonymous_id": "anon-1", "utm_campaign": "spring"})
    assert answer.status_code == 202
    assert answer.headers["access-control-allow-origin"] == SITE
    assert "Origin" in answer.headers["vary"]
    other = capture.touch({"anonymous_id": "anon-1"}, origin=OTHER_SITE)
    assert other.status_code == 202
    assert other.headers["access-control-allow-origin"] == OTHER_SITE
    with capture.container.databases.home.reader() as conn:
        rows = conn.execute(select(touchpoints).order_by(touchpoints.c.id)).all()
    assert [(r.anonymous_id, r.utm_campaign, r.lead_id) for r in rows] == [
        ("anon-1", "spring", None),
        ("anon-1", None, None),
    ]
    assert capture.count(anonymous_visitors) == 1


def test_a_missing_or_foreign_origin_is_refused_and_nothing_is_stored(capture: Capture) -> None:
    touch = {"anonymous_id": "anon-1", "utm_campaign": "spring"}
    for origin in (
        None,
        "null",
        "https://evil.example",
        "http://www.example.com",  # another scheme is another origin
        "https://www.example.com:444",
        "https://shop.example.com",  # the allowed one has a port
    ):
        answer = capture.touch(touch, origin=origin)
        _is_problem(answer, 403)
    assert capture.count(touchpoints) == 0
    assert capture.count(anonymous_visitors) == 0


def test_a_missing_unknown_or_revoked_key_is_refused_and_nothing_is_stored(
    capture: Capture,
) -> None:
    touch = {"anonymous_id": "anon-1"}
    _is_problem(capture.touch(touch, key=""), 401)
    _is_problem(capture.touch(touch, key="pk_not-a-real-key"), 401)
    assert capture.touch(touch).status_code == 202
    assert revoke_key(capture.container.databases, capture.key_id) is True
    assert revoke_key(capture.container.databases, capture.key_id) is False  # once
    refused = capture.touch(touch)
    _is_problem(refused, 401)
    assert capture.count(touchpoints) == 1  # the one accepted before the revocation
    assert list_keys(capture.container.databases)[0]["revoked"] is True


def test_an_api_token_is_not_a_publishable_key_and_a_publishable_key_is_not_a_token(
    capture_sqlite: Capture,
) -> None:
    capture = capture_sqlite
    touch = {"anonymous_id": "anon-1"}
    _is_problem(capture.touch(touch, key=capture.token), 401)
    bearer_only = capture.call(
        "POST",
        "/v1/touchpoints",
        content=_json(touch),
        headers={"Origin": SITE, "content-type": "application/json", **capture.bearer()},
    )
    _is_problem(bearer_only, 401)
    as_bearer = {"Authorization": f"Bearer {capture.key}"}
    for method, path in (("GET", "/v1/envelopes"), ("GET", "/v1/admin/dead-letters")):
        assert capture.call(method, path, headers=as_bearer).status_code == 401
    lead = capture.call("POST", "/v1/leads", headers=as_bearer, json={"email": "a@example.com"})
    assert lead.status_code == 401
    assert capture.count(touchpoints) == 0


def test_the_preflight_allows_the_keys_origins_only(capture_sqlite: Capture) -> None:
    capture = capture_sqlite
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    path = f"/v1/touchpoints?key={capture.key}"
    allowed = capture.call("OPTIONS", path, headers={"Origin": SITE, **ask})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == SITE
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "content-type" in allowed.headers["access-control-allow-headers"]
    assert "Origin" in allowed.headers["vary"]
    _is_problem(
        capture.call("OPTIONS", path, headers={"Origin": "https://evil.example", **ask}), 403
    )
    _is_problem(capture.call("OPTIONS", path, headers=ask), 403)
    _is_problem(
        capture.call("OPTIONS", "/v1/touchpoints?key=pk_x", headers={"Origin": SITE, **ask}), 401
    )
    # A browser that posts as JSON after the preflight is answered like the snippet.
    posted = capture.call(
        "POST", path, json={"anonymous_id": "anon-json"}, headers={"Origin": SITE}
    )
    assert posted.status_code == 202
    assert posted.headers["access-control-allow-origin"] == SITE


def test_the_openapi_document_declares_the_capture_refusals(capture_sqlite: Capture) -> None:
    document = capture_sqlite.call("GET", "/openapi.json").json()
    operation = document["paths"]["/v1/touchpoints"]
    for method in ("post", "options"):
        responses = operation[method]["responses"]
        for status in ("401", "403", "429"):
            assert "application/problem+json" in responses[status]["content"]
    assert any(p["name"] == "key" for p in operation["post"]["parameters"])


# --- budgets ------------------------------------------------------------------------------


def test_a_client_ip_over_its_budget_gets_429_with_retry_after(
    tmp_path: Path, sqlite_url: str
) -> None:
    capture = _capture(tmp_path, sqlite_url, rate_per_minute_per_ip=3)
    try:
        for _ in range(3):
            assert capture.touch({"anonymous_id": "anon-1"}, ip="198.51.100.1").status_code == 202
        refused = capture.touch({"anonymous_id": "anon-1"}, ip="198.51.100.1")
        _is_problem(refused, 429)
        assert refused.headers["retry-after"].isdigit()
        assert 1 <= int(refused.headers["retry-after"]) <= 20  # one token comes back in 20 s
        # Refused before the key is even looked up: an unknown key gets 429 too.
        _is_problem(capture.touch({"anonymous_id": "x"}, key="pk_x", ip="198.51.100.1"), 429)
        # Another client is not affected.
        assert capture.touch({"anonymous_id": "anon-2"}, ip="198.51.100.2").status_code == 202
        assert capture.count(touchpoints) == 4
    finally:
        capture.container.databases.dispose()


def test_a_key_over_its_budget_gets_429_with_retry_after(tmp_path: Path, sqlite_url: str) -> None:
    capture = _capture(tmp_path, sqlite_url, rate_per_minute_per_key=2)
    databases = capture.container.databases
    try:
        # The configured default per key: 2 a minute, whichever IPs the calls come from.
        for n in range(2):
            assert capture.touch({"anonymous_id": "a"}, ip=f"192.0.2.{n}").status_code == 202
        refused = capture.touch({"anonymous_id": "a"}, ip="192.0.2.9")
        _is_problem(refused, 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 30
        assert "key" in refused.json()["detail"]
        # A key with its own rate: 4 a minute.
        _, own = create_key(databases, "busy site", [SITE], rate_per_minute=4)
        accepted = [
            capture.touch({"anonymous_id": "b"}, key=own, ip=f"192.0.2.{10 + n}").status_code
            for n in range(5)
        ]
        assert accepted == [202, 202, 202, 202, 429]
        assert capture.count(touchpoints) == 6
    finally:
        databases.dispose()


# --- server times -------------------------------------------------------------------------


def test_a_touch_dated_1970_never_becomes_the_first_touch(capture: Capture) -> None:
    before = datetime.now(UTC)
    genuine = capture.touch({"anonymous_id": "anon-42", "utm_campaign": "genuine"})
    assert genuine.status_code == 202
    forged = capture.touch(
        {
            "anonymous_id": "anon-42",
            "utm_campaign": "forged",
            "occurred_at": "1970-01-01T00:00:00+00:00",
        }
    )
    assert forged.status_code == 202
    after = datetime.now(UTC)
    stored = datetime.fromisoformat(forged.json()["occurred_at"])
    assert before <= stored <= after  # the server's receive time, not 1970
    lead = capture.post_lead(
        {"email": "v@example.com", "anonymous_id": "anon-42", "utm_campaign": "retarget"}
    )
    assert lead.status_code == 201
    first = lead.json()["first_touch"]
    assert first["utm_campaign"] == "genuine"
    assert first["occurred_at"] == genuine.json()["occurred_at"]
    with capture.container.databases.home.reader() as conn:
        times = conn.execute(select(touchpoints.c.occurred_at)).scalars().all()
        first_seen = conn.execute(select(anonymous_visitors.c.first_seen_at)).scalar_one()
    assert all(t >= first_seen for t in times)
    assert min(times).year == after.year


def test_touches_sent_with_a_lead_never_predate_the_visitor_or_lie_in_the_future(
    capture: Capture,
) -> None:
    seen = capture.touch({"anonymous_id": "anon-7", "utm_campaign": "genuine"})
    first_seen = datetime.fromisoformat(seen.json()["occurred_at"])
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    lead = capture.post_lead(
        {
            "email": "w@example.com",
            "anonymous_id": "anon-7",
            "touchpoints": [
                {"occurred_at": "1970-01-01T00:00:00Z", "utm_campaign": "forged"},
                {"occurred_at": tomorrow, "utm_campaign": "future"},
            ],
        }
    )
    assert lead.status_code == 201
    view = lead.json()
    assert view["first_touch"]["occurred_at"] == first_seen.isoformat()
    assert view["first_touch"]["utm_campaign"] == "genuine"
    times = {
        t["utm_campaign"]: datetime.fromisoformat(t["occurred_at"]) for t in view["touchpoints"]
    }
    assert times["forged"] == first_seen  # clamped to when the visitor was first seen
    assert first_seen < times["future"] <= datetime.now(UTC)  # the server's time instead
    # Without an anonymous id the integrator's own history stays as it says.
    history = capture.post_lead(
        {
            "email": "h@example.com",
            "touchpoints": [{"occurred_at": "2026-01-05T10:00:00Z", "utm_campaign": "winter"}],
        }
    ).json()
    assert history["first_touch"]["occurred_at"] == "2026-01-05T10:00:00+00:00"


def test_a_client_time_is_kept_inside_the_skew_and_replaced_outside_it(
    capture: Capture,
) -> None:
    databases = capture.container.databases
    r0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    minute, hour = timedelta(minutes=1), timedelta(hours=1)

    def record(anonymous_id: str, hint: datetime, received: datetime) -> datetime:
        return record_touchpoint(databases, anonymous_id, Touchpoint(hint), received_at=received)

    assert record("a", r0, r0) == r0  # first seen now
    assert record("a", r0 + hour - 3 * minute, r0 + hour) == r0 + hour - 3 * minute
    assert record("a", r0 + 2 * hour - 10 * minute, r0 + 2 * hour) == r0 + 2 * hour
    assert record("a", r0 + 3 * hour + 4 * minute, r0 + 3 * hour) == r0 + 3 * hour + 4 * minute
    assert record("a", r0 + 4 * hour, r0 + 3 * hour) == r0 + 3 * hour
    # Inside the skew but before the visitor was first seen: the first sighting.
    assert record("b", r0 + 5 * hour, r0 + 5 * hour) == r0 + 5 * hour
    assert record("b", r0 + 5 * hour - 2 * minute, r0 + 5 * hour + minute) == r0 + 5 * hour
    with databases.home.reader() as conn:
        rows = conn.execute(select(anonymous_visitors)).all()
    seen = {r.anonymous_id: r.first_seen_at for r in rows}
    assert seen == {"a": r0, "b": r0 + 5 * hour}  # never moved by later touches

    # Over HTTP, against the real clock: a hint a minute ahead is kept, one from 1970 is not.
    ahead = (datetime.now(UTC) + minute).replace(microsecond=0)
    kept = capture.touch({"anonymous_id": "c", "occurred_at": ahead.isoformat()})
    assert datetime.fromisoformat(kept.json()["occurred_at"]) == ahead


# --- the command line ---------------------------------------------------------------------


def test_the_cli_creates_lists_and_revokes_keys_with_audit_entries(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = tmp_path / "inkbridge.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\n[regions.default]\ndatabase_url = "{sqlite_url}"\n'
    )
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate", "--config", str(config)]).exit_code == 0
    created = runner.invoke(
        cli,
        [
            "publishable-keys",
            "create",
            "--config",
            str(config),
            "--name",
            "marketing site",
            "--origin",
            "https://WWW.Example.com:443",
            "--origin",
            "http://localhost:3000",
            "--rate-per-minute",
            "120",
        ],
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("pk_")
    listed = runner.invoke(cli, ["publishable-keys", "list", "--config", str(config)])
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["origins"] == ["http://localhost:3000", "https://www.example.com"]
    assert row["rate_per_minute"] == 120 and row["revoked"] is False
    assert key not in listed.stdout  # only its hash is kept
    bad = runner.invoke(
        cli,
        ["publishable-keys", "create", "--config", str(config), "--name", "x", "--origin", "*"],
    )
    assert bad.exit_code != 0
    revoked = runner.invoke(cli, ["publishable-keys", "revoke", "--config", str(config), row["id"]])
    assert revoked.stdout.strip() == "revoked"
    settings = make_settings(tmp_path, sqlite_url)
    container = bootstrap(settings)
    try:
        with container.databases.home.reader() as conn:
            actions = conn.execute(
                select(audit_log.c.action, audit_log.c.subject_id).order_by(audit_log.c.seq)
            ).all()
    finally:
        container.databases.dispose()
    assert [tuple(a) for a in actions] == [
        ("cli:publishable_key:created", row["id"]),
        ("cli:publishable_key:revoked", row["id"]),
    ]
