"""Database plumbing: engines, schema upgrades (Alembic), sessions and number sequences."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from sync.errors import ConfigError, SyncError
from sync.model import NumberSequence

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for a database URL; SQLite gets WAL, foreign keys and a busy timeout."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})

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
        return create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # noqa: BLE001 - turned into one clean message
        raise ConfigError(f"cannot use database URL: {exc}", where="database.url") from None


def upgrade_schema(engine: Engine) -> None:
    """Create or upgrade the schema to the newest Alembic revision (idempotent)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise SyncError(f"cannot reach the database: {exc.orig}", where="database.url") from None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


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


def current_number(session: Session, name: str) -> int:
    row = session.execute(select(NumberSequence.next_value).where(NumberSequence.name == name))
    value = row.scalar_one_or_none()
    return 0 if value is None else int(value) - 1
