"""Running the worker's hottest statements on the database driver's own cursor, in the caller's
transaction, with SQLAlchemy's compiled form of each reused: the SQL text, the order of its
parameters and the type conversions of its columns are SQLAlchemy's, computed once per dialect;
what is skipped is the per-execution work of SQLAlchemy's execution layer (building a context,
keying the compiled cache, wrapping the result), which measured close to half the worker's CPU
per receipt (bench/README.md, "End to end").

A ``DriverStatement`` wraps one statement built once at import. Values go through the bind
processors of their column types (UTC timestamps, JSON, booleans as each dialect stores them);
rows come back through the result processors, as ``DriverRow`` tuples read by column name like
SQLAlchemy's rows. Errors of the driver are raised as SQLAlchemy's (``IntegrityError`` and the
rest), and the engine's ``before_cursor_execute`` listeners still see every statement.

Only plain statements qualify: no expanding (IN) parameters, no Python-side column defaults to
fill in (the caller passes every value), no parameter names that need escaping, no executemany;
``_compile`` refuses the others when first used. ``insert_if_absent`` builds such an insert
per column set. ``savepoints_on_driver`` sends an engine's SAVEPOINT and RELEASE SAVEPOINT the
same way (one each per receipt a worker processes), their text compiled once per name.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from sqlalchemy import Connection, Engine, Table, event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ReleaseSavepointClause, SavepointClause

_Processor = Callable[[Any], Any]
_REQUIRED = object()
# One placeholder's value: (the caller's key, the bind name, the statement's own value or
# _REQUIRED, its callable if any, the bind processor if any).
_Slot = tuple[str, str, Any, Callable[[], Any] | None, _Processor | None]


class DriverRow(tuple[Any, ...]):
    """A row read on the driver's cursor: a tuple whose fields are also attributes (a
    ``namedtuple`` per statement), with ``_mapping`` as SQLAlchemy's rows have it."""

    __slots__ = ()
    _fields: tuple[str, ...]

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One statement as one dialect runs it."""

    sql: str
    compiled: SQLCompiler
    # The values in placeholder order (positional drivers: SQLite), or one per bind name.
    slots: tuple[_Slot, ...]
    # The same as (caller's key, bind processor): the path when the caller gives every value.
    keyed: tuple[tuple[str, _Processor | None], ...]
    names: tuple[str, ...]
    positional: bool
    # The row's fields and their result processors (None: no conversion), for statements that
    # return rows.
    row_type: type[DriverRow] | None
    results: tuple[_Processor | None, ...]
    dbapi_error: type[Exception]


def _compile(
    statement: ClauseElement, column_keys: Sequence[str] | None, dialect: Dialect
) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=list(column_keys or ()) or None)
    assert isinstance(compiled, SQLCompiler)
    if compiled.post_compile_params or compiled.literal_execute_params:
        raise NotImplementedError("expanding parameters are not run on the driver's cursor")
    if compiled.escaped_bind_names:
        raise NotImplementedError("parameter names the driver needs escaped are not supported")
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise NotImplementedError("statements with Python-side defaults need every value given")
    row_type: type[DriverRow] | None = None
    results: tuple[_Processor | None, ...] = ()
    if compiled._result_columns:
        names = [column.keyname for column in compiled._result_columns]
        base = namedtuple("_Fields", names, rename=True)  # type: ignore[misc]
        row_type = type("DriverRow", (DriverRow, base), {"__slots__": ()})
        results = tuple(
            column.type._cached_result_processor(dialect, None)
            for column in compiled._result_columns
        )
    return _Compiled(
        sql=compiled.string,
        compiled=compiled,
        slots=(slots := _slots(compiled)),
        keyed=tuple((slot[0], slot[4]) for slot in slots),
        names=tuple(slot[1] for slot in slots),
        positional=bool(compiled.positional),
        row_type=row_type,
        results=results,
        dbapi_error=dialect.loaded_dbapi.Error,
    )


def _slots(compiled: SQLCompiler) -> tuple[_Slot, ...]:
    """What ``construct_params`` and the bind processors do per value, resolved once: a value
    the caller gives (by the parameter's key, else its bind name), else the statement's own
    (a literal, or its callable's), else a value is required."""
    processors: Mapping[str, _Processor] = compiled._bind_processors  # type: ignore[assignment]
    by_name: dict[str, _Slot] = {}
    for bindparam, name in compiled.bind_names.items():
        by_name[name] = (
            bindparam.key,
            name,
            _REQUIRED if bindparam.required else bindparam.value,
            bindparam.callable,
            processors.get(name),
        )
    if compiled.positional:
        return tuple(by_name[name] for name in compiled.positiontup or ())
    return tuple(by_name.values())


def _value(slot: _Slot, params: Mapping[str, Any]) -> Any:
    key, name, own, call, process = slot
    if key in params:
        value = params[key]
    elif name in params:
        value = params[name]
    elif own is _REQUIRED:
        raise exc.InvalidRequestError(f"A value is required for bind parameter {key!r}")
    else:
        value = call() if call is not None else own
    return process(value) if process is not None else value


def _execute(conn: Connection, sql: str, params: Any, dbapi_error: type[Exception]) -> Any:
    """``sql`` run on a cursor of ``conn``'s driver connection, seen by the engine's
    ``before_cursor_execute`` listeners; the driver's errors raised as SQLAlchemy's."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    for listener in conn.dispatch.before_cursor_execute:
        listener(conn, cursor, sql, params, None, False)
    try:
        cursor.execute(sql, params)
    except dbapi_error as error:
        cursor.close()
        raise exc.DBAPIError.instance(
            sql, params, error, dbapi_error, dialect=conn.dialect
        ) from error
    return cursor


class DriverStatement:
    """A statement built once, compiled once per dialect, executed on the driver's cursor."""

    def __init__(self, statement: ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        self._statement = statement
        self._column_keys = tuple(column_keys or ())
        self._by_dialect: weakref.WeakKeyDictionary[Dialect, _Compiled] = (
            weakref.WeakKeyDictionary()
        )
        self._last: tuple[Dialect, _Compiled] | None = None

    def _for(self, dialect: Dialect) -> _Compiled:
        last = self._last
        if last is not None and last[0] is dialect:  # a process runs one dialect, mostly
            return last[1]
        found = self._by_dialect.get(dialect)
        if found is None:
            found = self._by_dialect[dialect] = _compile(
                self._statement, self._column_keys, dialect
            )
        self._last = (dialect, found)
        return found

    def row_type(self, conn: Connection) -> type[DriverRow]:
        """The tuple type of the rows this statement returns on ``conn``'s dialect."""
        row_type = self._for(conn.dialect).row_type
        if row_type is None:
            raise TypeError("this statement returns no rows")
        return row_type

    def sql(self, conn: Connection) -> str:
        """The text the driver runs on ``conn``'s dialect."""
        return self._for(conn.dialect).sql

    def _run(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, _Compiled]:
        prepared = self._for(conn.dialect)
        try:
            values = [
                params[key] if process is None else process(params[key])
                for key, process in prepared.keyed
            ]
        except KeyError:  # a value the statement carries, or one missing
            values = [_value(slot, params) for slot in prepared.slots]
        driver_params: Any = (
            tuple(values) if prepared.positional else dict(zip(prepared.names, values, strict=True))
        )
        return _execute(conn, prepared.sql, driver_params, prepared.dbapi_error), prepared

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every row the statement returns, converted as SQLAlchemy would."""
        cursor, prepared = self._run(conn, params)
        try:
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        row_type = prepared.row_type
        if row_type is None:
            raise TypeError("this statement returns no rows")
        results = prepared.results
        new = tuple.__new__
        return [
            new(
                row_type,
                [
                    process(value) if process is not None else value
                    for process, value in zip(results, row, strict=True)
                ],
            )
            for row in fetched
        ]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first row returned, or None."""
        found = self.rows(conn, params)
        return found[0] if found else None

    def rowcount(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run a statement that returns no rows; how many rows it changed."""
        cursor, _prepared = self._run(conn, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()


@cache
def insert_if_absent(
    table: Table,
    conflict: tuple[str, ...],
    dialect_name: str,
    columns: tuple[str, ...],
    returning: tuple[str, ...] = (),
) -> DriverStatement:
    """``INSERT … ON CONFLICT (conflict) DO NOTHING RETURNING`` the ``returning`` columns of
    ``table`` (every column when none are named), for the ``columns`` a caller gives, on
    ``dialect_name`` (PostgreSQL or SQLite): built once per column set. No row comes back when
    the conflict kept another writer's row."""
    insert = (postgresql if dialect_name == "postgresql" else sqlite).insert(table)
    returned = [table.c[name] for name in returning] if returning else list(table.c)
    return DriverStatement(
        insert.on_conflict_do_nothing(index_elements=list(conflict)).returning(*returned),
        column_keys=columns,
    )


def savepoints_on_driver(engine: Engine) -> None:
    """Send ``engine``'s SAVEPOINT and RELEASE SAVEPOINT (one each per receipt a worker
    processes) on the driver's cursor, with SQLAlchemy's text for each savepoint name, compiled
    once per name (SQLAlchemy compiles them anew each time). SQLAlchemy still opens and closes
    the nested transactions and fires their events (the transaction memo follows them); a
    rollback to a savepoint, rare, stays SQLAlchemy's own.

    On PostgreSQL a release waits for the connection's next savepoint and travels with it, one
    round trip for the two (``RELEASE SAVEPOINT a; SAVEPOINT b``, parameterless, so the driver
    sends both as one simple query): a worker's receipts follow each other in savepoints, so
    that is one round trip per receipt instead of two. A release still waiting when the
    transaction ends or rolls back to an enclosing savepoint is dropped: the commit keeps what
    an unreleased savepoint wrote, and the rollback discards the savepoint itself."""
    dialect = engine.dialect
    texts: dict[tuple[type[ClauseElement], str], str] = {}
    dbapi_error = dialect.loaded_dbapi.Error
    no_params = () if dialect.paramstyle == "qmark" else None

    def text_of(kind: Any, name: str) -> str:
        sql = texts.get((kind, name))
        if sql is None:
            sql = str(kind(name).compile(dialect=dialect))
            if len(texts) < 1024:  # names repeat per connection: sa_savepoint_1, _2, ...
                texts[(kind, name)] = sql
        return sql

    def run(kind: Any, connection: Connection, name: str) -> None:
        _execute(connection, text_of(kind, name), no_params, dbapi_error).close()

    if dialect.name != "postgresql":
        dialect.do_savepoint = partial(run, SavepointClause)  # type: ignore[method-assign]
        dialect.do_release_savepoint = partial(run, ReleaseSavepointClause)  # type: ignore[method-assign]
        return

    def savepoint(connection: Connection, name: str) -> None:
        sql = text_of(SavepointClause, name)
        waiting = connection.info.pop(_RELEASE_WAITING, None)
        if waiting is not None:
            sql = f"{text_of(ReleaseSavepointClause, waiting)}; {sql}"
        _execute(connection, sql, None, dbapi_error).close()

    def release(connection: Connection, name: str) -> None:
        # A release already waiting is of a savepoint inside this one: releasing this one
        # releases it too.
        connection.info[_RELEASE_WAITING] = name

    dialect.do_savepoint = savepoint  # type: ignore[method-assign]
    dialect.do_release_savepoint = release  # type: ignore[method-assign]
    event.listen(engine, "begin", _drop_waiting_release)
    event.listen(engine, "rollback_savepoint", _drop_waiting_release)
    event.listen(engine, "commit", _drop_waiting_release)
    event.listen(engine, "rollback", _drop_waiting_release)


# The savepoint whose RELEASE waits for the connection's next SAVEPOINT (PostgreSQL).
_RELEASE_WAITING = "inkbridge.release_waiting"


def _drop_waiting_release(conn: Connection, *_args: Any) -> None:
    conn.info.pop(_RELEASE_WAITING, None)
