"""An erasure's rewrite of an envelope (minimised attribution and metadata) moves its version, so
a worker batch that read the envelope before the erasure loses its compare-and-set and reads the
minimised row again: no change built from the old attribution goes out after the erasure."""

from __future__ import annotations

from inkbridge.bootstrap import Container
from inkbridge.store import envelopes as envelope_store
from inkbridge.store import erasures
from tests.integration.test_batch_read_ahead import _complete, _stored_envelope
from tests.integration.test_driver_statements import _tracked


def test_a_row_read_before_an_erasure_loses_its_compare_and_set(container: Container) -> None:
    db = container.databases.home
    with db.transaction() as conn:
        _tracked(conn, "env_e")
    with db.reader() as conn:
        before = envelope_store.get(conn, "env_e")
    assert before is not None
    with db.transaction() as conn:
        erasures.rewrite_envelope(conn, "env_e", {}, {})
    with db.transaction() as conn:
        assert not _complete(conn, before)
        stored = _stored_envelope(conn, "env_e")
        assert (stored["state"], stored["version"]) == (before.state, before.version + 1)
        current = envelope_store.get(conn, "env_e")
        assert _complete(conn, current)
