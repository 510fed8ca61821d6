"""The report indexes of migration 0019 on real databases (SQLite file and PostgreSQL): the
attribution report counts single-touch journeys from ``ix_journey_touches_single`` and gives
what crediting every touch gives; PostgreSQL's grouped time to sign can read its groups in the
order of ``ix_envelopes_tts_*`` and gives what reading every value in Python gives."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from inkbridge.domain.attribution_models import DEFAULT_HALF_LIFE_DAYS, DEFAULT_STITCH_WINDOW
from inkbridge.services.reports import (
    CreditBy,
    GroupBy,
    Model,
    ReportFilter,
    time_to_sign_report,
)
from inkbridge.store import migrate
from inkbridge.store.attribution_query import attribution_credits
from inkbridge.store.database import Databases
from inkbridge.store.report_queries import interval_percentiles

from .dataset import DAY, T0, H, Rows, _envelope, _touch, dataset, load

MODEL_SETS = [tuple(Model), (Model.LINEAR, Model.W_SHAPED), (Model.TIME_DECAY,)]
FILTERS = [
    ReportFilter(),
    ReportFilter(since=T0 + 20 * DAY, until=T0 + 60 * DAY),
    ReportFilter(campaign="spring"),
    ReportFilter(template="msa"),
    ReportFilter(channel="email"),
]


def _random_conversions(seed: int, count: int) -> Rows:
    """``count`` converted leads, about two in three with no touch after their frozen first
    one (single-touch journeys), the others with one to five more, linked or anonymous; first
    touches in three campaigns or none, two templates."""
    rng = random.Random(seed)
    rows: Rows = {"leads": [], "touchpoints": [], "envelopes": []}
    for i in range(count):
        lead, anon = f"lead-{i:03d}", f"anon-{i}"
        created = T0 + timedelta(seconds=rng.randrange(0, 90 * 86400))
        campaign = rng.choice(["spring", "summer", "autumn", None])
        medium = rng.choice(["cpc", "email", None])
        first_at = created - timedelta(hours=rng.randrange(1, 200))
        rows["touchpoints"].append(
            _touch("default", lead, anon, first_at, medium=medium, campaign=campaign)
        )
        converted = created + timedelta(seconds=rng.randrange(3600, 20 * 86400))
        if rng.random() >= 0.65:
            for _ in range(rng.randrange(1, 6)):
                at = first_at + timedelta(seconds=rng.randrange(1, 25 * 86400))
                linked = lead if rng.random() < 0.6 else None
                rows["touchpoints"].append(
                    _touch(
                        "default",
                        linked,
                        anon,
                        min(at, converted),
                        medium=rng.choice(["cpc", "email", "social", None]),
                        campaign=rng.choice(["spring", "retarget", None]),
                        referrer=rng.choice([None, "https://r.example/"]),
                    )
                )
        rows["leads"].append(
            {
                "id": lead,
                "region": "default",
                "anonymous_id": anon,
                "score": 0,
                "first_touch": {
                    "occurred_at": first_at.isoformat(),
                    "utm_medium": medium,
                    "utm_campaign": campaign,
                },
                "correlation_id": lead,
                "created_at": created,
            }
        )
        envelope = _envelope("default", 150 + i % 50, lead)
        envelope.update(id=f"e-{i}", provider_envelope_id=f"p-{i}", completed_at=converted)
        envelope.update(sent_at=created + H if i % 5 else None)
        envelope.update(utm_medium=medium, utm_campaign=campaign, utm_source=None)
        rows["envelopes"].append(envelope)
    return rows


def _credits(
    databases: Databases,
    report_filter: ReportFilter,
    models: tuple[Model, ...],
    credit_by: CreditBy,
    *,
    assemble: bool,
) -> dict[str, list[float]]:
    """Each key's summed credits, from the stored journeys or assembled at query time."""
    statement = attribution_credits(
        report_filter,
        models=models,
        credit_by=credit_by,
        half_life_days=DEFAULT_HALF_LIFE_DAYS,
        window=DEFAULT_STITCH_WINDOW,
        dialect=databases.home.engine.dialect.name,
        assemble=assemble,
    )
    with databases.home.reader() as conn:
        return {key: [float(v) for v in values] for key, *values in conn.execute(statement)}


def test_single_touch_journeys_counted_give_what_crediting_every_touch_gives(
    databases: Databases,
) -> None:
    """Every key's credit under every model equals the query-time assembly's (which credits
    each touch of every journey, one-touch journeys included), whatever the filter."""
    load(databases, {"default": _random_conversions(5, 240)})
    with databases.home.reader() as conn:
        single = conn.exec_driver_sql(
            "SELECT count(*) FROM journey_touches WHERE touches = 1"
        ).scalar_one()
        journeys = conn.exec_driver_sql(
            "SELECT count(*) FROM journey_touches WHERE position = 1"
        ).scalar_one()
    assert journeys == 240
    assert 120 < single < 200  # most journeys are single-touch, not all
    for models in MODEL_SETS:
        for credit_by in CreditBy:
            for report_filter in FILTERS:
                case = (models, credit_by, report_filter)
                stored = _credits(databases, report_filter, models, credit_by, assemble=False)
                reference = _credits(databases, report_filter, models, credit_by, assemble=True)
                assert stored.keys() == reference.keys(), case
                for key, sums in reference.items():
                    assert stored[key] == pytest.approx(sums, abs=1e-9), (case, key)


# A channel filter is a list of envelope ids, which both backends look up by primary key.
@pytest.mark.parametrize("report_filter", [f for f in FILTERS if f.channel is None])
def test_the_single_touch_part_reads_the_partial_index_alone(
    databases: Databases, report_filter: ReportFilter
) -> None:
    """On SQLite the index must cover the count (a row lookup per entry made it 20 times
    slower); on PostgreSQL it must be usable at all (its planner prefers scanning a table this
    small)."""
    load(databases, {"default": _random_conversions(6, 20)})
    db = databases.home
    statement = attribution_credits(
        report_filter,
        models=tuple(Model),
        credit_by=CreditBy.CHANNEL,
        half_life_days=DEFAULT_HALF_LIFE_DAYS,
        window=DEFAULT_STITCH_WINDOW,
        dialect=db.engine.dialect.name,
    )
    compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
    with db.reader() as conn:
        if db.is_postgres:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = conn.exec_driver_sql(f"EXPLAIN {compiled}").scalars().all()
            wanted = "ix_journey_touches_single"
        else:
            plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
            wanted = "USING COVERING INDEX ix_journey_touches_single"
    assert any(wanted in line for line in plan), plan


# --- PostgreSQL's grouped time to sign --------------------------------------------------------


@pytest.fixture
def pg_and_python(pg_url: str, tmp_path: Path) -> Iterator[tuple[Databases, Databases]]:
    """The report data set plus envelopes without a campaign or a template and one whose
    campaign is literally "(none)", in PostgreSQL; read alone (``percentile_cont`` in the
    server) and beside an empty SQLite region (every value read and merged in Python)."""
    alone = Databases({"default": pg_url}, "default")
    beside = Databases({"default": pg_url, "empty": f"sqlite:///{tmp_path}/empty.db"}, "default")
    migrate.upgrade_all(beside)
    data = dataset(lambda _i: "default")
    rows = data["default"]
    for i, envelope in enumerate(rows["envelopes"][-60:]):
        extra = {**envelope, "id": f"x-{i}", "provider_envelope_id": f"px-{i}"}
        extra.update(
            utm_campaign=[None, "(none)", "spring"][i % 3],
            utm_medium=None if i % 2 else "cpc",
            template_key=None if i % 4 == 0 else extra["template_key"],
            template_version=None if i % 8 == 0 else extra["template_version"],
        )
        rows["envelopes"].append(extra)
    load(alone, data)
    yield alone, beside
    alone.dispose()
    beside.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("group_by", [g for g in GroupBy if g is not GroupBy.NONE])
def test_postgres_grouped_time_to_sign_reads_its_groups_in_index_order(
    pg_and_python: tuple[Databases, Databases], group_by: GroupBy
) -> None:
    db = pg_and_python[0].home
    statement = interval_percentiles(ReportFilter(), group_by, (0.5, 0.9), with_total=False)
    compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
    with db.reader() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
        plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN {compiled}").scalars())
    index = "template" if group_by is GroupBy.TEMPLATE_VERSION else group_by.value
    assert f"Index Only Scan using ix_envelopes_tts_{index} " in plan, plan
    assert "Sort" not in plan, plan


@pytest.mark.postgres
@pytest.mark.parametrize("group_by", list(GroupBy))
@pytest.mark.parametrize(
    "report_filter", [ReportFilter(), ReportFilter(since=T0 + 100 * H, template="nda")]
)
def test_postgres_grouped_time_to_sign_gives_what_python_gives(
    pg_and_python: tuple[Databases, Databases], group_by: GroupBy, report_filter: ReportFilter
) -> None:
    alone, beside = pg_and_python
    in_server = time_to_sign_report(alone, report_filter, group_by)
    in_python = time_to_sign_report(beside, report_filter, group_by)
    assert in_server["rows"] == in_python["rows"]
    assert in_server["totals"] == in_python["totals"]
    if group_by is GroupBy.CAMPAIGN:
        # A missing campaign and one named "(none)" are one group, as before.
        assert {r["campaign"] for r in in_server["rows"]} >= {"(none)", "spring"}
