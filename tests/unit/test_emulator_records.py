"""The emulators' record table: lookups by a unique property stay indexed however many records
a burst leaves behind, and names that cannot be written into a statement still work."""

from __future__ import annotations

from inkbridge_emulators._crm_common import RecordTable


def test_lookups_by_a_plain_property_use_an_index_and_find_the_first_record() -> None:
    table = RecordTable(None)
    for n in range(500):
        table.put("deals", str(n), {"inkbridge_deal_id": f"d{n % 250}", "name": f"deal {n}"})

    assert table.find("deals", "inkbridge_deal_id", "d7") == (
        "7",
        {"inkbridge_deal_id": "d7", "name": "deal 7"},
    )
    assert table.find("deals", "inkbridge_deal_id", "missing") is None
    assert table.find("contacts", "inkbridge_deal_id", "d7") is None
    plan = table._conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM records WHERE object = ?"
        " AND json_extract(properties, '$.\"inkbridge_deal_id\"') = ? ORDER BY seq LIMIT 1",
        ("deals", "d7"),
    ).fetchall()
    assert any("ix_records_inkbridge_deal_id" in str(tuple(row)) for row in plan)


def test_other_property_names_are_looked_up_without_an_index() -> None:
    table = RecordTable(None)
    table.put("deals", "1", {"odd name'); --": "x", "name": "one"})

    assert table.find("deals", "odd name'); --", "x") == (
        "1",
        {"odd name'); --": "x", "name": "one"},
    )
    assert table.find("deals", "name", "") is None
