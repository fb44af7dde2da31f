"""Shared fixtures: one database per backend (SQLite always; PostgreSQL when configured).

PostgreSQL runs when SHEETSYNC_TEST_PG_URL is set (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); otherwise those tests are
skipped with a visible reason. Under CI (CI=true) an unreachable PostgreSQL fails
the run instead of skipping.

A test that asks for ``engine`` (or makes databases with ``engine_factory``) gets an empty
database at the newest schema without running the migrations again: Alembic's upgrade
costs about 0.1 s on SQLite and 0.25 s on PostgreSQL, and the suite makes more than a
thousand databases (every hypothesis example makes its own). On SQLite it is a file the
migrations made once per test process, copied again over the one the last test used; on
PostgreSQL a schema the migrations made once, emptied after the test that used it (every
row deleted, every id sequence restarted, each table's 1,000 from the previous one's:
:data:`ID_STAGGER`). Either comes with the engine the last test used, which has compiled
the statements of a cycle already. ``db_url`` stays a database with nothing in it, for the
tests of the migrations themselves and of commands that create the schema.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis.control import current_build_context
from hypothesis.errors import InvalidArgument
from sqlalchemy import Engine, create_engine, text

from sync.db import make_engine
from sync.lease import namespace_for, presence_namespace
from sync.model import Base
from sync.schema import upgrade_schema

PG_URL = os.environ.get("SHEETSYNC_TEST_PG_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    schema = _create_pg_schema()
    try:
        yield _schema_url(schema)
    finally:
        _drop_pg_schema(schema)


def _create_pg_schema() -> str:
    """A new, empty PostgreSQL schema (skips, or fails under CI, without PostgreSQL)."""
    if not PG_URL:
        if IN_CI:
            pytest.fail(
                "CI=true but SHEETSYNC_TEST_PG_URL is not set: the PostgreSQL half must run in CI"
            )
        pytest.skip(
            "PostgreSQL tests need SHEETSYNC_TEST_PG_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
        )
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            if not _SESSION_OPTIONS:
                superuser = conn.execute(
                    text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                ).scalar()
                _SESSION_OPTIONS.append(f"%20-c{DEADLOCK_TIMEOUT}" if superuser else "")
    except Exception as exc:  # noqa: BLE001 - the reason is shown in the skip/fail message
        message = (
            f"PostgreSQL at SHEETSYNC_TEST_PG_URL is unreachable: {exc.__class__.__name__}: {exc}"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        admin.dispose()  # no idle connection per schema while the test runs
    return schema


def _drop_pg_schema(schema: str) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


DEADLOCK_TIMEOUT = "deadlock_timeout%3D100ms"
"""The tests' sessions look for a deadlock after 0.1 s instead of PostgreSQL's 1 s: the tests
that make one (to see it retried) wait for the database to break it. Set when the test user
may set it (a superuser, as in CI)."""
_SESSION_OPTIONS: list[str] = []  # [the options added to a schema's URL], once known


def _schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    extra = _SESSION_OPTIONS[0] if _SESSION_OPTIONS else ""
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}{extra}"


class _Migrated:
    """Empty databases at the newest schema, each with its engine, made without running the
    migrations each time (see the module's docstring); one pool per test process.

    A database handed back is emptied and handed out again *with its engine*: an engine
    keeps the statements it compiled, and a new engine compiles every statement of a
    cycle again (a sixth of a small test's time).
    """

    def __init__(self) -> None:
        self._dir: Path | None = None  # the template and the SQLite files
        self._files = 0
        self._free: dict[str, list[tuple[str, Engine]]] = {"sqlite": [], "postgresql": []}
        self._made: set[str] = set()  # every PostgreSQL schema made here (dropped at the end)

    def _template(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="sheetsync-tests-"))
            eng = make_engine(f"sqlite:///{self._dir / 'template.sqlite'}")
            upgrade_schema(eng)
            eng.dispose()
        return self._dir / "template.sqlite"

    def take(self, kind: str) -> tuple[str, Engine]:
        """(the SQLite file or PostgreSQL schema, its engine) of an empty migrated database,
        now the caller's until :meth:`give_back`."""
        if self._free[kind]:
            return self._free[kind].pop()
        if kind == "sqlite":
            template = self._template()
            self._files += 1
            path = template.with_name(f"db{self._files}.sqlite")
            shutil.copyfile(template, path)
            return str(path), make_engine(f"sqlite:///{path}")
        schema = _create_pg_schema()
        self._made.add(schema)
        eng = make_engine(_schema_url(schema))
        upgrade_schema(eng)
        with eng.begin() as conn:
            conn.exec_driver_sql(_empty_schema_sql(conn))  # ids staggered from the first test
        eng.dispose()
        return schema, eng

    def give_back(self, kind: str, where: str, eng: Engine) -> None:
        """Take back a database a test is done with, emptied for the next one (or dropped
        when a connection still holds it)."""
        eng.dispose()
        if kind == "sqlite":
            if Path(f"{where}-wal").exists():
                return  # a connection is still open: the file is left to it
            shutil.copyfile(self._template(), where)
            self._free[kind].append((where, eng))
        elif self.empty(where):
            self._free[kind].append((where, eng))

    def empty(self, schema: str) -> bool:
        """Delete every row of a schema and restart its sequences; False if that could not
        be done at once (a connection still holds its rows): then it is dropped instead."""
        eng = create_engine(_schema_url(schema))
        try:
            namespace = namespace_for(eng)
            with eng.begin() as conn:
                _end_stray_workers(conn, namespace)
                conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                conn.exec_driver_sql(_empty_schema_sql(conn))
        except Exception:  # noqa: BLE001 - the schema is dropped instead of reused
            self._made.discard(schema)
            _drop_pg_schema(schema)
            return False
        finally:
            eng.dispose()
        return True

    def drop_all(self) -> None:
        for _, eng in [*self._free["sqlite"], *self._free["postgresql"]]:
            eng.dispose()
        for schema in self._made:
            _drop_pg_schema(schema)
        self._made.clear()
        self._free = {"sqlite": [], "postgresql": []}
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


def _end_stray_workers(conn, namespace: int) -> None:  # type: ignore[no-untyped-def]
    """End the sessions a test left holding the schema's worker leases or presence (a
    worker it never closed), which the next test would count as a live worker."""
    presence = presence_namespace(namespace)
    conn.execute(
        text(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND classid::bigint IN (:ns, :presence) AND pid <> pg_backend_pid()"
        ),
        {"ns": namespace & 0xFFFFFFFF, "presence": presence & 0xFFFFFFFF},
    )


_EMPTY_SQL: list[str] = []


def _empty_schema_sql(conn) -> str:  # type: ignore[no-untyped-def]
    """Statements that delete every row of the schema's tables (children first) and
    restart its id sequences: the schema as the migrations left it."""
    if not _EMPTY_SQL:
        sequences = [
            name
            for (name,) in conn.exec_driver_sql(
                "SELECT sequence_name FROM information_schema.sequences "
                "WHERE sequence_schema = current_schema()"
            )
        ]
        deletes = [f'DELETE FROM "{t.name}"' for t in reversed(Base.metadata.sorted_tables)]
        _EMPTY_SQL.append("; ".join([*deletes, _staggered_sql(sequences)]))
    return _EMPTY_SQL[0]


ID_STAGGER = 1000
"""On PostgreSQL each table's ids start this far from the previous table's, in the order of
the sequences' names (agents at 1, audit events at 1001, ...), so that a query that takes
one table's id for another's (a tracking id for a customer id) finds nothing or the wrong
row, instead of the row that happens to have the same number in a small test."""


def _staggered_sql(sequences: Sequence[str]) -> str:
    """Statements that restart each id sequence at its own start (:data:`ID_STAGGER`)."""
    return "; ".join(
        f'ALTER SEQUENCE "{name}" RESTART WITH {1 + ID_STAGGER * i}'
        for i, name in enumerate(sorted(sequences))
    )


_MIGRATED = _Migrated()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked ``slow`` first (in their order), so that the last tests the test
    processes share out are short ones and the processes finish together."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The collector, tuned for a test process (the product's cycles tune it for
    themselves, :mod:`sync.collector`).

    What the imports and the collection made lives as long as the process: frozen, a full
    collection no longer walks it again. Full collections come at most every 100 middle
    ones instead of 10: a Google test's spreadsheets (a thousand rows a tab) survive the
    young collections and die with the test, and each such test set off full collections
    of everything alive (measured: 12 s of the scenario and Google tests' 60 s of CPU in
    full collections; 1.5 s now).
    """
    gc.collect()
    gc.freeze()
    young, middle, _full = gc.get_threshold()
    gc.set_threshold(young, middle, 100)


@pytest.fixture(scope="session", autouse=True)
def _drop_migrated_databases() -> Iterator[None]:
    yield
    _MIGRATED.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    """The database backend a test runs on; a module overrides it to run on one only."""
    return str(request.param)


@pytest.fixture
def db_url(db_kind: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database URL with nothing in it (not even the schema)."""
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'sheetsync.db'}"
    else:
        yield from pg_schema_url()


@pytest.fixture
def engine(db_kind: str) -> Iterator[Engine]:
    """An engine on an empty database at the newest schema."""
    factory = EngineFactory(db_kind)
    yield factory()
    factory.close()


class EngineFactory:
    """Makes empty databases at the newest schema on one backend (for hypothesis examples).

    Inside a hypothesis test, the databases of the examples before the current one are
    handed back (emptied) when the next example asks for one: an example's worlds live
    only as long as it.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._used: list[tuple[str, Engine]] = []  # (file or schema, its engine)
        self._example: object = None

    def __call__(self) -> Engine:
        example = _current_example()
        if example is not None and example is not self._example:
            self._example = example
            self.close()
        # Earlier engines let go of their pooled connections: hypothesis makes many
        # examples, PostgreSQL allows 100 connections.
        for _, eng in self._used:
            eng.dispose()
        where, eng = _MIGRATED.take(self.kind)
        self._used.append((where, eng))
        return eng

    def close(self) -> None:
        for where, eng in self._used:
            _MIGRATED.give_back(self.kind, where, eng)
        self._used.clear()


def _current_example() -> object:
    """The hypothesis example being run (None outside one)."""
    try:
        return current_build_context()
    except InvalidArgument:
        return None


@pytest.fixture
def engine_factory(db_kind: str) -> Iterator[EngineFactory]:
    """A factory of empty databases at the newest schema, once per database backend."""
    if db_kind == "postgresql":  # skips (or fails under CI) here, not inside an example
        _MIGRATED.give_back(db_kind, *_MIGRATED.take(db_kind))
    factory = EngineFactory(db_kind)
    yield factory
    factory.close()


def analyze_counts(engine: Engine, tables: Sequence[str]) -> dict[str, int]:
    """How many times each of these tables of the engine's schema was analyzed by an
    ``ANALYZE`` (autovacuum's own count apart: it may run at any moment)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, analyze_count FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema()"
            )
        ).all()
    counts = dict(rows)
    return {table: counts.get(table, 0) for table in tables}
