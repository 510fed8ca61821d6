"""Shared fixtures: migrated region databases on real SQLite files and on the PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from inkbridge.store import migrate
from inkbridge.store.database import Databases

PG_ADMIN_URL = os.environ.get("INKBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


PG_AVAILABLE = _pg_reachable()
requires_pg = pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL is not reachable")


def new_pg_schema() -> tuple[str, str]:
    """Create an empty schema and return (name, SQLAlchemy URL whose search_path is it)."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    url = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    return name, f"{url}?options=-csearch_path%3D{name}"


def drop_pg_schema(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def pg_schema_url() -> Iterator[str]:
    """A fresh schema's URL for the length of a test (skips the test without PostgreSQL)."""
    if not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable")
    name, url = new_pg_schema()
    yield url
    drop_pg_schema(name)


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from pg_schema_url()


@dataclass(frozen=True)
class PgSchema:
    """A fresh schema: its name and the SQLAlchemy URL whose search_path is it, for processes
    under test; ``rows`` reads it with psycopg, as a test checking on them does."""

    name: str
    url: str

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        """Every row ``query`` returns, run in this schema."""
        with psycopg.connect(PG_ADMIN_URL) as conn:
            conn.execute(f"SET search_path TO {self.name}")
            return conn.execute(query).fetchall()


@pytest.fixture
def pg_schema() -> Iterator[PgSchema]:
    """A fresh schema for the length of a test (skips the test without PostgreSQL)."""
    if not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable")
    name, url = new_pg_schema()
    yield PgSchema(name, url)
    drop_pg_schema(name)


@pytest.fixture
def sqlite_url(tmp_path: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path}/default.db"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """The same test on a real SQLite file and on the real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/default.db"
        return
    yield from pg_schema_url()


@pytest.fixture
def databases(db_url: str) -> Iterator[Databases]:
    dbs = Databases({"default": db_url}, home_region="default")
    migrate.upgrade_all(dbs)
    yield dbs
    dbs.dispose()
