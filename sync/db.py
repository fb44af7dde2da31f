"""Database plumbing: engines, the schema's revision, sessions and number sequences.

At this size because engines, transactions and retries, and the bulk writes and lookups every
phase uses, all turn on the same dialect checks (SQLite or PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

import orjson
from sqlalchemy import (
    ARRAY,
    JSON,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Select,
    Table,
    Text,
    any_,
    bindparam,
    create_engine,
    event,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import URL, Result, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.sql.sqltypes import NullType
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from sync.errors import ConfigError, SyncError
from sync.lazy import lazy_module
from sync.model import NumberSequence

if TYPE_CHECKING:
    from sync import schema
else:  # Alembic, loaded when a schema is migrated or found at an unexpected revision
    schema = lazy_module("sync.schema")

SCHEMA_REVISION = "0011"
"""The schema revision this code works on: the newest migration's (a test keeps them equal)."""
VERSION_TABLE = "alembic_version"
INIT_HINT = "run `sheetsync init` first"


class DatabaseMissing(ConfigError):
    """The database has not been created yet (``sheetsync init`` creates it); exit code 2."""


class DatabaseUnreachable(SyncError):
    """The database server cannot be reached or the file cannot be opened; exit code 1.

    Exit code 1, not 2: a server that is down now may be up at the next cycle.
    """


def describe_database(url: str | URL) -> str:
    """The database in words for messages: the SQLite file, or server:port/name.

    Never the user name or password of the URL.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "the database of database.url"
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite database {parsed.database or ':memory:'}"
    server = {"postgresql": "PostgreSQL", "mysql": "MySQL"}.get(
        parsed.get_backend_name(), parsed.get_backend_name()
    )
    place = f"{parsed.host or 'localhost'}" + (f":{parsed.port}" if parsed.port else "")
    return f"{server} at {place}/{parsed.database or ''}"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _reason(exc: DBAPIError, url: str) -> str:
    """The driver's first line, without the URL's password should a driver quote it."""
    lines = str(exc.orig).strip().splitlines()
    text = lines[0].strip() if lines else type(exc.orig).__name__
    password = make_url(url).password
    return text.replace(str(password), "***") if password else text


def unreachable(exc: DBAPIError, url: str) -> DatabaseUnreachable:
    """The one-line error for a database that cannot be connected to."""
    return DatabaseUnreachable(
        f"cannot reach {describe_database(url)}: {_reason(exc, url)}",
        where="database.url",
        hint="is the server running, and are the host, port and credentials right?",
    )


def open_existing(url: str) -> Engine:
    """An engine on a database ``sheetsync init`` created, at the schema this code expects.

    Creates nothing: a SQLite file that is not there stays not there.

    Raises:
        DatabaseMissing: no such SQLite file, or no sheetsync tables in it (exit 2).
        ConfigError: the schema is older or newer than this code (exit 2).
        DatabaseUnreachable: the server or file cannot be opened (exit 1).
    """
    file = sqlite_file(url)
    if file is not None and not file.exists():
        raise DatabaseMissing(
            f"{describe_database(url)} does not exist yet", where="database.url", hint=INIT_HINT
        )
    engine = make_engine(url)
    check_schema(engine, url)
    return engine


def open_for_create(url: str) -> Engine:
    """An engine for ``init`` (and the import): the SQLite file's folder is created.

    Raises:
        ConfigError: the folder cannot be created (exit 2).
    """
    file = sqlite_file(url)
    if file is not None:
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the folder of the SQLite database: {exc.strerror}",
                where=f"database.url ({file.parent})",
                hint="choose a folder you can write to, or create it first",
            ) from None
    return make_engine(url)


def check_schema(engine: Engine, url: str | None = None) -> None:
    """Refuse to work on a database whose schema is not the one this code expects.

    Raises:
        DatabaseMissing: no sheetsync tables yet (exit 2).
        ConfigError: naming both revisions and telling to run ``sheetsync init`` (exit 2).
        DatabaseUnreachable: the database cannot be reached (exit 1).
    """
    url = url or engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            current = schema_revision(conn)
    except DBAPIError as exc:
        raise unreachable(exc, url) from None
    if current is None:
        raise DatabaseMissing(
            f"{describe_database(url)} has no sheetsync tables yet",
            where="database.url",
            hint=INIT_HINT,
        )
    if current != SCHEMA_REVISION:
        if not schema.known_revision(current):
            raise newer_schema(current, SCHEMA_REVISION)
        raise ConfigError(
            f"the database schema is at revision {current}, this sheetsync needs {SCHEMA_REVISION}",
            where="database.url",
            hint="run `sheetsync init`; it is safe while workers run",
        )


def schema_revision(conn: Connection) -> str | None:
    """The revision the database's schema is at (None: no sheetsync tables yet), read from
    Alembic's version table without loading Alembic."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    revision = conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()
    return None if revision is None else str(revision)


def newer_schema(current: str, known: str) -> ConfigError:
    """The error for a database a newer sheetsync migrated (this one cannot use it)."""
    return ConfigError(
        f"the database schema is at revision {current}, which this sheetsync (up to {known}) "
        "does not know: a newer sheetsync migrated it",
        where="database.url",
        hint="run that newer sheetsync, or restore the database from before the upgrade",
    )


def _json_dumps(value: Any) -> str:
    """JSON columns are written by orjson (snapshots and audit details are a cycle's bulk);
    what it refuses (an integer past 64 bits) is written by the standard library."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def _json_loads(text: str | bytes) -> Any:
    """The reverse of :func:`_json_dumps`; the standard library reads what orjson refuses
    (NaN, written by an earlier version through the standard library)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


JSON_CODEC: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": _json_loads}


def make_engine(url: str) -> Engine:
    """An engine for a database URL; SQLite gets WAL, foreign keys and a busy timeout."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30}, **JSON_CODEC)

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn, _record):
                # pysqlite's own transaction handling is turned off so that BEGIN below
                # is the one that counts (SQLAlchemy's documented recipe).
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            @event.listens_for(engine, "begin")
            def _begin_immediate(conn):
                # Take the write lock up front: a deferred transaction that reads, then
                # writes after another process committed, fails at once with
                # SQLITE_BUSY_SNAPSHOT instead of waiting for the busy timeout.
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        return create_engine(url, pool_pre_ping=True, **JSON_CODEC)
    except Exception as exc:  # noqa: BLE001 - turned into one clean message
        raise ConfigError(f"cannot use database URL: {exc}", where="database.url") from None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def read_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work whose statements all read the database as of one moment.

    A view or the master is read with several statements (customers, then their
    trackings...); on PostgreSQL each statement of a READ COMMITTED transaction sees what
    was committed when it started, so another worker's customer and its tracking could be
    half seen. This transaction is REPEATABLE READ there; SQLite's transactions read one
    snapshot already.
    """
    with factory() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session


_T = TypeVar("_T")

TRANSIENT_STATES = frozenset({"40001", "40P01"})
"""PostgreSQL's SQLSTATEs of a transaction rolled back only for its timing against
another (serialization failure, deadlock detected): run again, it succeeds."""


def transient(exc: BaseException) -> bool:
    """Whether a database error rolled its transaction back for its timing alone."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in TRANSIENT_STATES


RETRY_ATTEMPTS = 3
"""How many times :func:`retrying` runs a unit of work in all."""


def retrying(work: Callable[[], _T], what: str, attempts: int = RETRY_ATTEMPTS) -> _T:
    """Run a unit of work (its transaction whole) again when the database rolled it back
    for its timing alone (:func:`transient`), up to ``attempts`` times in all.

    Two workers on PostgreSQL write some rows in common (a customer both their agents
    track, its commission); the database may answer one of them "deadlock detected", and
    its documented remedy is to run the transaction again.
    """

    def said(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        logging.getLogger("sheetsync").info(
            "%s: the database rolled the transaction back (%s); running it again",
            what,
            type(getattr(error, "orig", error)).__name__,
            extra={"event": "db_retry", "what": what, "attempt": state.attempt_number},
        )

    again = Retrying(
        stop=stop_after_attempt(attempts),
        retry=retry_if_exception(lambda exc: isinstance(exc, DBAPIError) and transient(exc)),
        before_sleep=said,
        reraise=True,
    )
    return again(work)


class DatabaseNow(FunctionElement[dt.datetime]):
    """The database server's current time in UTC, naive like every time sheetsync stores."""

    type = DateTime()
    inherit_cache = True


@compiles(DatabaseNow)
def _now(element: DatabaseNow, compiler: Any, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(DatabaseNow, "postgresql")
def _now_postgresql(element: DatabaseNow, compiler: Any, **kw: Any) -> str:
    # now() is the transaction's start; a timestamptz turned naive in the session's zone
    return "timezone('UTC', statement_timestamp())"


@compiles(DatabaseNow, "sqlite")
def _now_sqlite(element: DatabaseNow, compiler: Any, **kw: Any) -> str:
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"  # CURRENT_TIMESTAMP drops the milliseconds


def database_now(session: Session) -> dt.datetime:
    """The database's clock (UTC, naive).

    Heartbeats are written and compared on it, not on the clock of the machine that runs
    the worker or the health check: a worker whose clock is a day ahead once kept
    ``health`` green for a day, one 2 h behind turned it red while cycles ran.
    """
    return session.execute(select(DatabaseNow())).scalar_one()


def next_number(session: Session, name: str, count: int = 1) -> int:
    """Take the next ``count`` values of a named sequence; returns the first.

    The UPDATE holds a row lock until the transaction ends (PostgreSQL) or the
    database write lock (SQLite), so two workers never get the same value.
    """
    stmt = (
        update(NumberSequence)
        .where(NumberSequence.name == name)
        .values(next_value=NumberSequence.next_value + count)
        .returning(NumberSequence.next_value)
    )
    value = session.execute(stmt).scalar_one_or_none()
    if value is None:
        try:
            with session.begin_nested():
                session.execute(insert(NumberSequence).values(name=name, next_value=1 + count))
            return 1
        except IntegrityError:
            value = session.execute(stmt).scalar_one()
    return int(value) - count


_Columns = TypeVarTuple("_Columns")

IN_CHUNK = 500
"""How many values one ``IN (...)`` list holds (databases bound the parameters of one
statement)."""


def read(
    session: Session, query: Select[*_Columns], params: Mapping[str, Any] | None = None
) -> Result[*_Columns]:
    """The rows of a query of columns (not of ORM objects), read on the session's connection
    (``params``: the values of its bound parameters).

    ``session.execute`` passes such a query's rows through the ORM's loading, which costs
    more than the database's own work per row (views and the master read every row of the
    team in a cold cycle). What the session holds unwritten is flushed first, as its
    ``execute`` would.
    """
    session.flush()
    return session.connection().execute(query, params or {})


_WANTED = "wanted_values"


class InQuery:
    """A query of columns whose ``column`` must be one of many values, built once (a
    module's constant, its other values bound parameters): the statements that add the
    values are made once for each kind of database, not at each call (building a statement
    and its cache key cost more than running it on a small team). See :func:`rows_of`."""

    def __init__(self, query: Any, column: Any) -> None:
        self.query = query
        self.column = column
        self._made: dict[bool, Select[Any]] = {}

    def statement(self, array: bool) -> Select[Any]:
        """The query with ``column = ANY(:values)`` (``array``) or ``column IN (:values)``."""
        made = self._made.get(array)
        if made is None:
            column = self.column
            if array:
                kind = Text() if isinstance(column.type, NullType) else column.type
                made = self.query.where(column == any_(bindparam(_WANTED, type_=ARRAY(kind))))
            else:
                made = self.query.where(column.in_(bindparam(_WANTED, expanding=True)))
            self._made[array] = made
        return made


def rows_in(
    session: Session, query: Select[*_Columns], column: Any, values: Iterable[Any]
) -> list[Any]:
    """The rows of a query of columns whose ``column`` is one of ``values`` (see
    :func:`rows_of`, for a query built once)."""
    return rows_of(session, InQuery(query, column), values)


def rows_of(
    session: Session,
    query: InQuery,
    values: Iterable[Any],
    params: Mapping[str, Any] | None = None,
) -> list[Any]:
    """The rows of ``query`` whose column is one of ``values`` (``params``: the values of
    its other bound parameters).

    PostgreSQL: one query, the values one array parameter (``= ANY``): psycopg parses the
    statement once whatever their number, and it is one round trip. Elsewhere one query
    per :data:`IN_CHUNK` values. Rows are ordered within each query only.
    """
    wanted = sorted(set(values))
    if not wanted:
        return []
    given = params or {}
    if session.get_bind().dialect.name == "postgresql":
        return list(read(session, query.statement(True), {**given, _WANTED: wanted}))
    statement = query.statement(False)
    return [
        row
        for start in range(0, len(wanted), IN_CHUNK)
        for row in read(session, statement, {**given, _WANTED: wanted[start : start + IN_CHUNK]})
    ]


ANALYZE_FROM = 1_000
"""From this many rows a cycle or an import added on (customers, trackings and follow-ups),
PostgreSQL's statistics of the tables it wrote are taken again at once
(:func:`refresh_statistics`)."""

INGESTED_TABLES = (
    "customers",
    "customer_phones",
    "trackings",
    "follow_ups",
    "audit_events",
    "conflicts",
)
"""The tables reading sheets (or an import) adds rows to."""

SHEET_TABLES = ("sheet_rows", "sheet_states")
"""The tables writing sheets adds rows to."""


def refresh_statistics(
    factory: sessionmaker[Session], added: int, tables: Sequence[str] = INGESTED_TABLES
) -> bool:
    """Have PostgreSQL take the statistics of these tables again (``ANALYZE``) when
    ``added`` rows reach :data:`ANALYZE_FROM`; whether it did.

    Its planner reads the tables' sizes from their statistics, which autovacuum takes a
    minute or more after a bulk insert. Until then a table filled by the first cycle still
    counts as empty, and a query joined through it is planned for a few rows: the master's
    due trackings, read for 16,545 customers one by one, each through the whole index of
    due dates (7.1 s at 10 agents x 2,000 rows; 18 ms once analyzed). ``ANALYZE`` samples
    at most 30,000 rows of a table. SQLite plans without statistics (none are taken: its
    plans are the ones the tests check).
    """
    if added < ANALYZE_FROM:
        return False
    with factory() as session:
        if session.get_bind().dialect.name != "postgresql":
            return False  # before a transaction begins (SQLite's takes the write lock)
        with session.begin():
            session.execute(text(f"ANALYZE {', '.join(tables)}"))  # names of ours, not input
    return True


COPY_FROM = 200
"""From this many rows on, PostgreSQL takes an insert as one COPY: a row of an executemany
costs a message and Python work in the driver; a cold cycle inserts a few hundred thousand."""


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (all with the same keys) in bulk, as the ORM would: columns left out
    get their Python-side defaults, a JSON column's None is JSON ``null``.

    PostgreSQL: one ``COPY ... FROM STDIN`` in the session's transaction (after a flush of
    what the session holds). Elsewhere, or for a few rows: an executemany per 5,000.
    """
    if not rows:
        return
    keys = list(rows[0])
    defaults = {
        column.key: column.default
        for column in table.columns
        if column.key not in keys and column.default is not None
    }
    if (
        session.get_bind().dialect.name != "postgresql"
        or len(rows) < COPY_FROM
        or not all(d.is_scalar or d.is_callable for d in defaults.values())  # SQL defaults
    ):
        for start in range(0, len(rows), 5000):
            execute_many(session, insert(table), rows[start : start + 5000])
        return
    columns = [*keys, *defaults]
    jsons = {key for key in columns if isinstance(table.c[key].type, JSON)}
    quote = session.get_bind().dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(k) for k in columns)}) FROM STDIN"
    session.flush()
    raw = session.connection().connection.driver_connection
    assert raw is not None
    dbapi = session.get_bind().dialect.loaded_dbapi
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                values = [row[key] for key in keys]
                values += [
                    default.arg if default.is_scalar else default.arg(None)  # type: ignore[attr-defined]
                    for default in defaults.values()
                ]
                if jsons:
                    values = [
                        _json_dumps(v) if key in jsons else v
                        for key, v in zip(columns, values, strict=True)
                    ]
                copy.write_row(values)
    except dbapi.Error as exc:
        # Raised as SQLAlchemy raises what the driver says (IntegrityError: another worker
        # inserted the same key), so that callers catch one kind of error either way.
        raise DBAPIError.instance(statement, None, exc, dbapi.Error) from exc


def execute_many(session: Session, statement: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Execute an INSERT or UPDATE of ``table`` once per row (all rows with the same keys)
    as one executemany of the driver's.

    What ``session.execute(statement, rows)`` does, less its work per row (building each
    row's parameters through the compiled statement cost more than SQLite's own work, for
    the few hundred thousand rows of a cold cycle): the statement is compiled once, each
    row's values converted by their columns' types, and a column the rows leave out gets
    its Python-side default as the ORM would give it. A statement with any other parameter
    (a value bound in the statement itself) goes through ``session.execute``.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, column_keys=list(rows[0]))
    table = statement.table
    names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
    # One expression per parameter, made into one function that builds a row's parameters
    # (a call per row, not per value: a cold cycle binds millions of values).
    scope: dict[str, Any] = {}
    exprs: list[str] = []
    for i, name in enumerate(names):
        if name in rows[0]:
            expr = f"row[{name!r}]"
        else:
            column = table.c.get(name)
            default = column.default if column is not None else None
            if default is None or not (default.is_scalar or default.is_callable):
                session.execute(statement, list(rows))
                return
            scope[f"d{i}"] = default.arg
            expr = f"d{i}" if default.is_scalar else f"d{i}(None)"
        convert = _bind_processor(compiled.binds[name].type, dialect)
        if convert is not None:
            scope[f"c{i}"] = convert
            expr = f"c{i}({expr})"
        exprs.append(expr)
    if compiled.positional:
        body = "(" + "".join(f"{e}, " for e in exprs) + ")"
    else:
        body = "{" + ", ".join(f"{n!r}: {e}" for n, e in zip(names, exprs, strict=True)) + "}"
    make = eval(f"lambda row: {body}", scope)  # made above of column names (repr) alone
    params = [make(row) for row in rows]
    connection.exec_driver_sql(compiled.string, params)


_SQLITE_DATETIME_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)


def _bind_processor(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """How a column's type converts a value for the driver: SQLAlchemy's conversion, but
    for SQLite's DATETIME in its default format the same text made by ``isoformat`` (in C:
    SQLAlchemy fills a dict and a format string per value) for a naive datetime."""
    convert = type_._cached_bind_processor(dialect)
    impl = type_.dialect_impl(dialect)
    if (
        convert is None
        or not isinstance(impl, SQLITE_DATETIME)
        or impl._storage_format != _SQLITE_DATETIME_FORMAT
    ):
        return convert

    last: list[Any] = [None, None]  # the last time converted, and its text

    def as_text(value: Any, convert: Callable[[Any], Any] = convert) -> Any:
        if value is last[0]:  # a batch's rows share their times: the same object
            return last[1]
        if type(value) is dt.datetime and value.tzinfo is None:
            text = value.isoformat(" ", "microseconds")
            last[:] = value, text
            return text
        return convert(value)

    return as_text


def insert_with_ids(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    key: str,
    among: ColumnElement[bool] | None = None,
) -> list[int]:
    """Insert rows (all with the same keys) in bulk (:func:`insert_rows`); their ids, in
    row order, selected back by ``key``, unique among the rows ``among`` selects.

    Not INSERT ... RETURNING: SQLAlchemy renders that as multi-row statements with
    thousands of placeholders, which psycopg re-parses for every page (two thirds of a
    50,000-row import's time on PostgreSQL, see bench/import_csv.py); a COPY or an
    executemany is parsed once, and the ids come back through :func:`rows_in`.
    """
    insert_rows(session, table, rows)
    wanted = [row[key] for row in rows]
    query = select(table.c[key], table.c.id)
    if among is not None:
        query = query.where(among)
    found = {value: row_id for value, row_id in rows_in(session, query, table.c[key], wanted)}
    return [found[value] for value in wanted]


def update_by_id(session: Session, model: type[Any], changes: Iterable[dict[str, Any]]) -> None:
    """Write changes to rows of ``model``'s table, each ``{"_id": id, column: value, ...}``:
    one executemany UPDATE per set of columns (a cycle changes thousands of rows, never
    one statement each). The session's copies of those rows, if it holds any, are set to
    the new values, so that what it reads afterwards is what the database holds."""
    table = model.__table__
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        groups.setdefault(tuple(sorted(change)), []).append(change)
    statement = update(table).where(table.c.id == bindparam("_id"))
    for group in groups.values():
        execute_many(session, statement, group)
        for change in group:
            held = session.identity_map.get(identity_key(model, change["_id"]))
            if held is not None:
                for key, value in change.items():
                    if key != "_id":
                        set_committed_value(held, key, value)


def insert_once(session: Session, row: object) -> bool:
    """Insert a row whose unique key another worker may insert at the same moment.

    Returns:
        False when the row was already there (the insert is rolled back to a savepoint).
    """
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True
