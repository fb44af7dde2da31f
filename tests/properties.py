"""Hypothesis properties that run on both databases, with fewer examples on PostgreSQL.

A property over histories of cycles runs every example on a fresh database; on PostgreSQL an
example costs about twice what it costs on SQLite (a round trip per statement). The search
for a breaking history is SQLite's; PostgreSQL runs a share of as many examples, enough for
what could differ there (types, locks, sequences, the SQL dialect), which shows in any
history, not only in rare ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings

from tests.conftest import EngineFactory

POSTGRESQL_SHARE = 3
"""PostgreSQL runs one example for every this many SQLite runs (at least one)."""


def on_each_database(
    chosen: settings, **strategies: Any
) -> Callable[[Callable[..., None]], Callable[[EngineFactory], None]]:
    """``@chosen @given(**strategies)`` for a test that takes ``engine_factory``: all of
    ``chosen.max_examples`` on SQLite, a :data:`POSTGRESQL_SHARE` of them on PostgreSQL.

    The test pytest sees takes ``engine_factory`` only (so it is run once per database);
    the strategies' values are hypothesis's.
    """

    def wrap(body: Callable[..., None]) -> Callable[[EngineFactory], None]:
        fewer = max(1, chosen.max_examples // POSTGRESQL_SHARE)
        runs = {
            "sqlite": chosen(given(**strategies)(body)),
            "postgresql": settings(chosen, max_examples=fewer)(given(**strategies)(body)),
        }

        def test(engine_factory: EngineFactory) -> None:
            runs[engine_factory.kind](engine_factory=engine_factory)

        # Named as the body, but without __wrapped__: pytest must not see the strategies'
        # parameters as fixtures.
        for name in ("__name__", "__qualname__", "__doc__", "__module__"):
            setattr(test, name, getattr(body, name))
        return pytest.mark.slow(test)

    return wrap
