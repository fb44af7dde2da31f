"""Shared fixtures: one database per backend (SQLite always; PostgreSQL when configured).

PostgreSQL runs when SHEETSYNC_TEST_PG_URL is set (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); otherwise those tests are
skipped with a visible reason. Under CI (CI=true) an unreachable PostgreSQL fails
the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from sync.db import make_engine, upgrade_schema

PG_URL = os.environ.get("SHEETSYNC_TEST_PG_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
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
    except Exception as exc:  # noqa: BLE001 - the reason is shown in the skip/fail message
        admin.dispose()
        message = (
            f"PostgreSQL at SHEETSYNC_TEST_PG_URL is unreachable: {exc.__class__.__name__}: {exc}"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    admin.dispose()  # no idle connection per schema while the test runs
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database URL with nothing in it, once per database backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sheetsync.db'}"
    else:
        yield from _pg_schema_url()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on an upgraded (migrated) empty schema."""
    eng = make_engine(db_url)
    upgrade_schema(eng)
    yield eng
    eng.dispose()


class EngineFactory:
    """Makes fresh, empty, migrated databases on one backend (for hypothesis examples)."""

    def __init__(self, kind: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
        self.kind = kind
        self.tmp_path = tmp_path
        self.engines: list[Engine] = []
        self.cleanups: list[Iterator[str]] = []

    def __call__(self) -> Engine:
        # Earlier examples' engines let go of their pooled connections (they still work if
        # used again): hypothesis makes many examples, PostgreSQL allows 100 connections.
        for eng in self.engines:
            eng.dispose()
        if self.kind == "sqlite":
            url = f"sqlite:///{self.tmp_path / f'db{len(self.engines)}.sqlite'}"
        else:
            gen = _pg_schema_url()
            url = next(gen)
            self.cleanups.append(gen)
        eng = make_engine(url)
        upgrade_schema(eng)
        self.engines.append(eng)
        return eng

    def close(self) -> None:
        for eng in self.engines:
            eng.dispose()
        for gen in self.cleanups:
            next(gen, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_factory(request: pytest.FixtureRequest, tmp_path) -> Iterator[EngineFactory]:  # type: ignore[no-untyped-def]
    """A factory of fresh databases, once per database backend."""
    if request.param == "postgresql":
        gen = _pg_schema_url()  # skips (or fails under CI) when PostgreSQL is not there
        next(gen)
        next(gen, None)
    factory = EngineFactory(request.param, tmp_path)
    yield factory
    factory.close()
