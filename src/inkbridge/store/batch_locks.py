"""The locks a worker's batch takes first, all in one order, on the envelopes it is about
(PostgreSQL only: SQLite has one writer).

Two batches that create or change the same envelopes would otherwise lock their rows, their
chain heads and their unique vendor references receipt by receipt, each in its own order, and
could deadlock (PostgreSQL breaks it after ``deadlock_timeout`` by failing one statement, and
that receipt is retried: a second lost per deadlock). A batch takes one transaction-scoped
advisory lock per envelope it is about, in one statement, in the order of the locks' keys:
every batch takes them in the same order, so none waits for another while holding a lock that
one waits for; a batch sharing no envelope with another does not wait for it at all. A hash
collision between two references only makes a batch wait that need not have. A rebuild
(``services.replay``) takes the same locks."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text

# The first key of the two-key advisory locks, so these locks meet no other use of them.
ENVELOPE_LOCKS = 0x696B62  # "ikb"

_LOCK_IN_ORDER = text(
    "SELECT count(pg_advisory_xact_lock(:space, s.k)) FROM"
    " (SELECT DISTINCT hashtext(r) AS k FROM unnest(:refs) AS r ORDER BY k) AS s"
).bindparams(bindparam("refs", type_=ARRAY(Text)))


def lock_envelopes(conn: Connection, references: Iterable[str]) -> None:
    """Lock the envelopes of ``references`` (their vendors' ids, whatever the connection: two
    connections sharing one only wait for each other) until the transaction ends, in one order
    shared by every batch; nothing on SQLite."""
    keys = sorted(set(references))
    if conn.dialect.name != "postgresql" or not keys:
        return
    conn.execute(_LOCK_IN_ORDER, {"space": ENVELOPE_LOCKS, "refs": keys})
