"""Report fixtures: the generated data set loaded into migrated databases (SQLite file and
PostgreSQL)."""

from __future__ import annotations

import pytest

from inkbridge.store.database import Databases

from .dataset import dataset, load


@pytest.fixture
def loaded(databases: Databases) -> Databases:
    load(databases, dataset(lambda _i: "default"))
    return databases
