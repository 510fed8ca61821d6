"""Touch times are the server's, through the real capture endpoint on real SQLite and
PostgreSQL: a touch dated 1970 never becomes a lead's first touch, touches sent with a lead
never predate the visitor or lie in the future, and a client time is kept only within the skew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from inkbridge.domain.attribution import Touchpoint
from inkbridge.services.leads import record_touchpoint
from inkbridge.store.schema import anonymous_visitors, touchpoints

from .support import Capture


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
