"""The ledger: the only code that records audit events and opens or closes conflicts.

Every change to canonical data is recorded as an audit event; every question for an
admin is a keyed conflict. Ingest, commission, the worker, the admin commands and the
import all write them through here, so the rules are the same everywhere:

* events are buffered and inserted in bulk (a cold cycle records tens of thousands);
  an admin's event is inserted at once, because an undo names it by its id; events take
  their ids in commit order (:func:`in_commit_order`), which is what lets a view ask
  "what happened since event N";
* a conflict is keyed: opening it again updates the one there is (a second worker
  opening the same key at the same moment is not an error);
* a conflict is closed with a status, a resolution and who closed it, and reopened
  with all three cleared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Table, text, update
from sqlalchemy.orm import Session

from sync.db import insert_once, insert_rows
from sync.model import AuditEvent, Conflict, utcnow
from sync.words import TEXTS, Language, say

_EVENTS = cast(Table, AuditEvent.__table__)
_CONFLICTS = cast(Table, Conflict.__table__)
SHEETSYNC = "sheetsync"  # who closes a conflict whose cause disappeared


class Ledger:
    """Audit events of one actor (an agent's sheet, an admin, the import, sheetsync)."""

    def __init__(self, session: Session | None, actor: str, run_id: int | None = None):
        self.s = session
        self.actor = actor
        self.run_id = run_id
        self.events: list[dict[str, Any]] = []
        self.written = 0

    def audit(
        self,
        action: str,
        entity: str,
        entity_id: int,
        customer_id: int | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        at: dt.datetime | None = None,
    ) -> None:
        """Record one change; :meth:`write` inserts the recorded events, in order.

        Args:
            at: when it was made (default: now), for the changes a batch applied at once.
        """
        self.events.append(
            {
                "at": at or utcnow(),
                "actor": self.actor,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "customer_id": customer_id,
                "before": before,
                "after": after,
                "run_id": self.run_id,
            }
        )

    def write_last(self) -> AuditEvent:
        """Write the recorded events, the last one as an object with its id (an admin's
        undo names the event it undoes)."""
        assert self.s is not None and self.events
        last = self.events.pop()
        if not self.write():
            in_commit_order(self.s)
        event = AuditEvent(**last)
        self.s.add(event)
        self.s.flush()
        self.written += 1
        return event

    def write(self, session: Session | None = None) -> int:
        """Insert the recorded events in bulk (no ORM objects; one COPY on PostgreSQL), in
        the ledger's session or the given one (the import has one per chunk)."""
        events, self.events = self.events, []
        if not events:
            return 0
        into = session or self.s
        assert into is not None, "a ledger made without a session writes into a given one"
        in_commit_order(into)
        insert_rows(into, _EVENTS, events)
        self.written += len(events)
        return len(events)


def in_commit_order(session: Session) -> None:
    """Make the audit events this transaction inserts from now on take ids in commit order.

    Views and the master remember the newest event they have seen and later look only at
    events after it. PostgreSQL takes a sequence's values when rows are inserted, not when
    they commit: without this, a worker's event 100 could commit after another's event 101
    was seen, and be skipped for good. Here each transaction takes a lock before inserting
    its events and holds it until it ends, so ids are taken one transaction after another.
    What the session holds unwritten is flushed first, so that a cycle's transactions,
    which write their events last, hold the lock only for the inserts and the commit. An
    admin's action writes its events one by one and holds it from the first on: if that
    makes it and a worker wait on each other, PostgreSQL rolls one back and it is run again
    (:func:`sync.db.retrying`). SQLite runs one writing transaction at a time already.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    session.flush()
    session.execute(_AUDIT_ORDER_LOCK)


_AUDIT_ORDER_LOCK = text(  # one lock per database and schema (two deployments never wait)
    "SELECT pg_advisory_xact_lock("
    "hashtext('sheetsync-audit:' || current_database() || ':' || current_schema()))"
)


def hint(kind: str, language: Language = "en") -> str:
    """The words that resolve a conflict of this kind (the master's Conflicts tab, and an
    admin's resolution that does not fit it), in ``language``."""
    key = f"hint_{kind}"
    return say(key if key in TEXTS else "hint_other", language)


def open_new(session: Session, conflict: Conflict) -> bool:
    """Open a conflict whose key is not in the database yet; False if another worker
    opened the same key meanwhile (theirs stands)."""
    return insert_once(session, conflict)


def open_own(session: Session, key: str, kind: str, **values: Any) -> Conflict:
    """Open a conflict only this caller can open (its key names the agent source this
    worker holds the lease of): added to the session, inserted at its next flush."""
    conflict = Conflict(key=key, kind=kind, **values)
    session.add(conflict)
    return conflict


def open_many(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Open new conflicts given as column values (the import opens thousands); returns how many."""
    rows = list(rows)
    insert_rows(session, _CONFLICTS, rows)
    return len(rows)


def update_open(session: Session, key: str, values: dict[str, Any], *, reopen: bool) -> None:
    """Update the conflict with this key in place (and reopen it) without loading it."""
    if reopen:
        values = {**values, "status": "open", "closed_at": None, "resolution": None}
        values["resolved_by"] = None
    session.execute(update(Conflict).where(Conflict.key == key).values(**values))


def keep_open(conflict: Conflict, **values: Any) -> bool:
    """The conflict is open with these values (its cause is still there, or back);
    True if it was closed and is opened again."""
    closed = conflict.status != "open"
    if closed:
        conflict.status = "open"
        conflict.closed_at = None
        conflict.resolution = None
        conflict.resolved_by = None
    for name, value in values.items():
        if getattr(conflict, name) != value:
            setattr(conflict, name, value)
    return closed


def close(
    conflict: Conflict, resolution: str, *, status: str = "resolved", by: str = SHEETSYNC
) -> None:
    """Close a conflict: ``resolved`` or ``dismissed``, why, and by whom (an admin, or
    sheetsync when its cause disappeared)."""
    conflict.status = status
    conflict.closed_at = utcnow()
    conflict.resolution = resolution
    conflict.resolved_by = by
