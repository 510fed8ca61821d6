"""The public capture endpoint through the real app (ASGI): publishable keys and their origins,
CORS answers and the preflight, per-IP and per-key budgets, and the keys managed from the
command line. The store-facing behaviour runs on a real SQLite file and on the real PostgreSQL
server."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from inkbridge.bootstrap import bootstrap
from inkbridge.cli import main as cli
from inkbridge.services.publishable_keys import create_key, list_keys, revoke_key
from inkbridge.store.schema import anonymous_visitors, audit_log, touchpoints
from tests.support.builders import make_settings

from .support import OTHER_SITE, SITE, Capture, _capture, _is_problem, _json


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
