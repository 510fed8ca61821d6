"""Where the data map says a region's database is: never credentials or connection options,
but the schema when regions share one PostgreSQL database in schemas of their own."""

from __future__ import annotations

import pytest

from inkbridge.services.datamap import database_location


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("sqlite:////var/lib/inkbridge/eu.db", "/var/lib/inkbridge/eu.db"),
        (
            "postgresql+psycopg://app:s3cret@db.internal:5432/inkbridge?sslmode=require",
            "postgresql+psycopg://db.internal:5432/inkbridge",
        ),
        (
            "postgresql+psycopg://app:s3cret@127.0.0.1:5432/test?options=-csearch_path%3Dib_eu",
            "postgresql+psycopg://127.0.0.1:5432/test (search_path ib_eu)",
        ),
        (
            "postgresql+psycopg://127.0.0.1/test"
            "?options=-c%20statement_timeout%3D5000%20-c%20search_path%3Dib_us",
            "postgresql+psycopg://127.0.0.1/test (search_path ib_us)",
        ),
    ],
)
def test_a_database_is_located_by_host_database_and_schema_never_by_credentials(
    url: str, location: str
) -> None:
    assert database_location(url) == location
    assert "s3cret" not in database_location(url)


def test_two_regions_in_schemas_of_one_database_are_at_two_locations() -> None:
    base = "postgresql+psycopg://127.0.0.1:5432/test?options=-csearch_path%3D"
    assert database_location(base + "eu") != database_location(base + "us")
