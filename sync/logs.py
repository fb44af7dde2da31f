"""Logging for people (text on a terminal) and for machines (JSON lines).

``configure("json")`` makes every record one JSON object on one line::

    {"ts": "2026-11-26T01:02:03.456Z", "level": "info", "logger": "sheetsync.worker",
     "msg": "cycle 3 ok in 1.20s: ...", "event": "cycle", "cycle": 3, ...}

Fields passed with ``extra={...}`` become top-level keys. What is logged is counts,
agent keys, file names and error messages that sheetsync composes itself: never cell
values, customer data or credentials. Errors of unknown origin are logged by
:func:`safe_error` (their type and where they were raised, not their message, which may
quote data); ``--verbose`` adds tracebacks for a developer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import traceback
from enum import StrEnum
from typing import Any, TextIO

from sync.errors import SyncError

FORMATS = ("text", "json")


class LogFormat(StrEnum):
    """The values of ``--log-format``."""

    text = "text"
    json = "json"


TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, then the record's extra fields.

    Args:
        tracebacks: include tracebacks (``--verbose``); they may quote data.
    """

    def __init__(self, tracebacks: bool = False) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created, dt.UTC)
        data: dict[str, Any] = {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in data:
                data[key] = value
        if record.exc_info and self.tracebacks:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The text format; tracebacks only with ``tracebacks`` (``--verbose``: they may quote
    data)."""

    def __init__(self, tracebacks: bool = False) -> None:
        super().__init__(TEXT_FORMAT)
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and not self.tracebacks:
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


def configure(
    log_format: str = "text", *, verbose: bool = False, stream: TextIO | None = None
) -> None:
    """Set up the root logger (idempotent: replaces the handlers it installed before).

    Args:
        log_format: "text" (for a terminal or journald) or "json" (one object per line).
        verbose: INFO and above from every logger; otherwise WARNING and above, except
            the worker's per-cycle summary lines, which ``sheetsync run`` always shows.
    """
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(verbose) if log_format == "json" else TextFormatter(verbose))
    handler._sheetsync = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_sheetsync", False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def first_database_error(exc: BaseException) -> BaseException:
    """The first database error of a chain that ends in one, else ``exc``.

    A database error raised while handling another one is a consequence: on a full disk
    (``disk I/O error``) SQLite rolls the whole transaction back, and the savepoint's
    rollback that follows fails with ``no such savepoint``. The first one is the cause.
    """
    if getattr(exc, "orig", None) is None:
        return exc
    first, seen = exc, set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if getattr(node, "orig", None) is not None:
            first = node
        node = node.__cause__ or (None if node.__suppress_context__ else node.__context__)
    return first


def safe_error(exc: BaseException) -> str:
    """A one-line description of an error that quotes no data.

    sheetsync's own errors (:class:`SyncError`) are written to be shown and are kept;
    database errors keep their class and the server's primary message (a constraint
    name, not the row's values); anything else keeps its type and where it was raised.
    """
    if isinstance(exc, SyncError):
        return str(exc)
    exc = first_database_error(exc)
    orig = getattr(exc, "orig", None)
    if orig is not None:  # sqlalchemy.exc.DBAPIError: the statement's parameters stay out
        diag = getattr(orig, "diag", None)
        primary = getattr(diag, "message_primary", None) if diag is not None else None
        lines = str(orig).splitlines()
        text = primary or (lines[0] if lines else "")
        return f"database error ({type(orig).__name__}): {text}"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc.__class__.__name__}" + (
            f" ({exc.filename})" if exc.filename else ""
        )
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"unexpected {type(exc).__name__}{where} (run with --verbose for the traceback)"
