"""The stored attribution journeys (``journey_touches``) and their report index, on the shared
metadata; ``schema`` exports them with the other tables."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, text

from inkbridge.store.schema_base import TS, metadata

# The predicate of ix_journey_touches_single; a query uses that index only when its WHERE
# repeats this condition.
SINGLE_TOUCH = "touches = 1"

# Each conversion's attributed journey, one row per touch in journey order (the primary key),
# kept at write time for the stored stitching window and derived from envelopes, leads and
# touchpoints: inkbridge.store.attribution_journeys owns its rows, the attribution report reads
# them. Ids, positions, credit keys and day offsets only; the filter columns are copied so a
# report never joins.
journey_touches = Table(
    "journey_touches",
    metadata,
    Column("envelope_id", String(40), primary_key=True),  # the conversion
    Column("position", Integer, primary_key=True, autoincrement=False),  # 1 = frozen first
    Column("lead_id", String(40), nullable=False),
    Column("touches", Integer, nullable=False),  # of the journey
    # W-shaped anchors: the last touch at or before the lead was created / the envelope sent.
    Column("created_position", Integer, nullable=False),
    Column("sent_position", Integer, nullable=False),
    Column("channel", String(200), nullable=False),
    Column("source", String(200)),
    Column("campaign", String(200)),
    # Time decay: days from the conversion back to the touch (<= 0) and from the first touch.
    Column("age_days", Float, nullable=False),
    Column("since_first_days", Float, nullable=False),
    # Report filters: the cohort, the first-touch campaign and the template of the envelope.
    Column("lead_created_at", TS, nullable=False),
    Column("first_campaign", String(200)),
    Column("template_key", String(100)),
    # Journeys of one touch (migration 0019): that touch takes credit 1 under every model, so
    # the attribution report with time decay counts them per key from this index, in channel
    # order, instead of crediting and sorting each. The report's filter columns make it
    # covering, and so does ``touches``: SQLite 3.40 reads the predicate's column from the
    # index too (without it, every entry looked its row up: 0.62 s instead of 0.03 s).
    Index(
        "ix_journey_touches_single",
        "channel",
        "campaign",
        "source",
        "lead_created_at",
        "first_campaign",
        "template_key",
        "touches",
        postgresql_where=text(SINGLE_TOUCH),
        sqlite_where=text(SINGLE_TOUCH),
    ),
    sqlite_with_rowid=False,
)
