"""The schema's migrations (Alembic): creating or upgrading a database, and the newest revision.

Apart from :mod:`sync.db` because importing Alembic took a quarter of `run --once`'s start
(0.25 of 1.05 s on the demo): only ``init`` and ``import`` migrate; a cycle checks the revision
against :data:`sync.db.SCHEMA_REVISION`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from sync.db import SCHEMA_REVISION, newer_schema, schema_revision, unreachable

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> AlembicConfig:
    """Alembic's configuration for this project's migrations."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    """The newest revision among the migration scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this code's migrations (not a newer sheetsync's)."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to the newest Alembic revision, or to ``revision``
    (idempotent).

    Raises:
        ConfigError: the schema is at a revision a newer sheetsync made (exit 2).
    """
    cfg = alembic_config()
    try:
        with engine.begin() as conn:
            current = schema_revision(conn)
            if current == SCHEMA_REVISION and revision in ("head", SCHEMA_REVISION):
                # Nothing to do: reading the migration scripts to learn it would cost more
                # than the rest of an `init` of a small team (a test keeps the constant the
                # newest script's revision).
                return
            if current is not None and not known_revision(current):
                raise newer_schema(current, SCHEMA_REVISION)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise unreachable(exc, engine.url.render_as_string(hide_password=False)) from None
