"""What each sheet was last written from: the markers that let a cycle skip clean sheets.

A sheet that did not change since it was written is re-rendered only when something it
shows changed in the database. For an agent's sheet that is decided per agent
(:class:`AgentMarks`): an audited change to a customer the agent tracks (shared fields,
their tracking, a colleague starting or stopping to track the same customer, commission),
a change of the agent's own open proposals, of the open completion races, of the team's
names, or of the number of the agent's trackings and follow-ups (rows a tool inserted
without an audit event). A change to a customer nobody else tracks re-renders one sheet,
not the team's. The master shows everything, so it keeps one global digest
(:func:`database_marker`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from sync.db import read
from sync.model import Agent, AuditEvent, Conflict, Customer, FollowUp, SyncRun, Tracking

DIRTY_LIMIT = 2000
"""Past this many changed customers, an agent's whole view is rendered at once."""

BATCH_LIMIT = 50_000
"""Past this many (agent, changed customer) pairs, each agent's changes are asked alone."""

_TOO_MANY: dict[int, set[int]] = {}
"""What :meth:`AgentMarks._changed_since` gives past :data:`BATCH_LIMIT` (compared by
identity)."""


# The statements of a cycle's marks, built once (each cycle runs every one of them; building
# a statement and its cache key cost more than running it on a small team).
_NEWEST_EVENT = select(func.max(AuditEvent.id))
_TEAM = select(Agent.key, Agent.name, Agent.active).order_by(Agent.key)
_AGENTS = select(Agent.id, Agent.key, Agent.name, Agent.active).order_by(Agent.key)
_OPEN_RACES = select(Conflict.customer_id).where(
    Conflict.status == "open", Conflict.kind == "completion_race"
)
_OPEN_PROPOSALS = (
    select(Conflict.agent_id, Conflict.customer_id, Conflict.field, Conflict.proposed_value)
    .where(Conflict.status == "open", Conflict.kind == "shared_field")
    .order_by(Conflict.id)
)
_TRACKINGS_PER_AGENT = (
    select(Tracking.agent_id, func.count(Tracking.id), func.max(Tracking.id))
    .where(Tracking.active.is_(True))
    .group_by(Tracking.agent_id)
)
_FOLLOW_UPS_PER_AGENT = (
    select(Tracking.agent_id, func.count(FollowUp.id), func.max(FollowUp.id))
    .join(Tracking, Tracking.id == FollowUp.tracking_id)
    .where(Tracking.active.is_(True), FollowUp.active.is_(True))
    .group_by(Tracking.agent_id)
)
_WINDOW = (AuditEvent.id > bindparam("since"), AuditEvent.id <= bindparam("upto"))
_ANONYMOUS_EVENT = select(AuditEvent.id).where(*_WINDOW, AuditEvent.customer_id.is_(None)).limit(1)
_CHANGED_PAIRS = (
    select(Tracking.agent_id, AuditEvent.customer_id)
    .distinct()
    .join(Tracking, Tracking.customer_id == AuditEvent.customer_id)
    .where(*_WINDOW)
    .limit(BATCH_LIMIT + 1)
)
# How many customers, trackings and follow-ups, and the newest of each, in one statement:
# ``count(*)`` of a whole table alone is read from the table's size in SQLite (a count of the
# ids beside their max scanned every row: 15 ms at 50 agents x 2,000 rows, 0.8 ms now).
_ROWS = select(
    *(
        part
        for model in (Customer, Tracking, FollowUp)
        for part in (
            select(func.count()).select_from(model).scalar_subquery(),
            select(func.max(model.id)).scalar_subquery(),
        )
    )
)
_OPEN_CONFLICTS = (
    select(
        Conflict.id,
        Conflict.status,
        Conflict.current_value,
        Conflict.proposed_value,
        Conflict.resolution,
        Conflict.details,
    )
    .where(Conflict.status == "open")
    .order_by(Conflict.id)
)
_RUNS = select(func.count(SyncRun.id), func.max(SyncRun.id), func.max(SyncRun.finished_at)).where(
    SyncRun.id != bindparam("exclude")
)


@dataclass
class AgentMarks:
    """Per agent, a marker ``<audit id>:<digest>`` of what its view is made of.

    The audit id is the newest audit event when the marks were taken: a view written after
    that has seen every event up to it. The digest covers what changes without an audit
    event that names a customer.
    """

    audit_id: int
    digests: dict[int, str]
    ids: dict[str, int] = field(default_factory=dict)  # agent key -> id, as the marks saw them
    # audit position -> what changed since (:meth:`_changed_since`), asked once per cycle
    _since: dict[int, dict[int, set[int]] | None] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, s: Session) -> AgentMarks:
        audit_id = audit_position(s)
        agents = read(s, _AGENTS).all()
        team = [(key, name, active) for _, key, name, active in agents]
        ids = {key: agent_id for agent_id, key, _, _ in agents}
        parts: dict[int, list[object]] = defaultdict(list)
        races = sorted(read(s, _OPEN_RACES).scalars(), key=lambda c: c or 0)
        for agent_id, customer_id, key, proposed in read(s, _OPEN_PROPOSALS):
            parts[agent_id or 0].append(("proposal", customer_id, key, proposed))
        for agent_id, count, last in read(s, _TRACKINGS_PER_AGENT):
            parts[agent_id].append(("trackings", count, last))
        for agent_id, count, last in read(s, _FOLLOW_UPS_PER_AGENT):
            parts[agent_id].append(("follow-ups", count, last))
        # Each digest is of repr((team, races, the agent's parts)); the team and the races,
        # the same for every agent, are hashed once.
        shared = hashlib.sha256(f"({team!r}, {races!r}, ".encode())
        digests = {}
        for agent_id in ids.values():
            digest = shared.copy()
            digest.update(f"{parts.get(agent_id, [])!r})".encode())
            digests[agent_id] = digest.hexdigest()
        return cls(audit_id, digests, ids)

    def marker(self, agent_id: int) -> str:
        """The marker to store with a view of this agent written from now on."""
        return f"{self.audit_id}:{self.digests.get(agent_id, '')}"

    def changed(self, s: Session, agent_id: int, stored: str | None) -> bool:
        """Whether the agent's view may differ from the one written under ``stored``."""
        return self.dirty_customers(s, agent_id, stored) != set()

    def dirty_customers(self, s: Session, agent_id: int, stored: str | None) -> set[int] | None:
        """The customers whose rows in the agent's view may differ from the ones written
        under ``stored``: an empty set when none, None when any may (re-render them all).

        The views written at the same audit position (after a cycle, every one) are
        answered from one query for all agents (:meth:`_changed_since`), not one each.
        """
        if not stored or ":" not in stored:
            return None
        audit, _, digest = stored.partition(":")
        if digest != self.digests.get(agent_id, "") or not audit.isdigit():
            return None
        since = int(audit)
        if since >= self.audit_id:
            return set()
        if since not in self._since:
            self._since[since] = self._changed_since(s, since)
        changed = self._since[since]
        if changed is None:
            return None  # an event that names no customer could concern anyone
        if changed is _TOO_MANY:
            return self._dirty_of(s, agent_id, since)
        dirty = changed.get(agent_id, set())
        return None if len(dirty) > DIRTY_LIMIT else set(dirty)

    def _changed_since(self, s: Session, since: int) -> dict[int, set[int]] | None:
        """Agent id -> the customers it tracks that audit events after ``since`` (up to the
        marks' position: later ones are the next cycle's) name; None when an event names no
        customer; :data:`_TOO_MANY` past :data:`BATCH_LIMIT` pairs (asked agent by agent)."""
        window = {"since": since, "upto": self.audit_id}
        if s.execute(_ANONYMOUS_EVENT, window).first() is not None:
            return None
        pairs = s.execute(_CHANGED_PAIRS, window).all()
        if len(pairs) > BATCH_LIMIT:
            return _TOO_MANY
        found: dict[int, set[int]] = defaultdict(set)
        for agent_id, customer_id in pairs:
            if customer_id is not None:
                found[agent_id].add(customer_id)
        return found

    def _dirty_of(self, s: Session, agent_id: int, since: int) -> set[int] | None:
        """:meth:`dirty_customers` of one agent, by its own query (a change too big to be
        asked for every agent at once)."""
        dirty: set[int] = {
            customer_id
            for customer_id in s.execute(
                select(AuditEvent.customer_id)
                .distinct()
                .join(Tracking, Tracking.customer_id == AuditEvent.customer_id)
                .where(
                    AuditEvent.id > since,
                    AuditEvent.id <= self.audit_id,
                    Tracking.agent_id == agent_id,
                )
                .limit(DIRTY_LIMIT + 1)
            ).scalars()
            if customer_id is not None
        }
        return None if len(dirty) > DIRTY_LIMIT else dirty


def database_marker(
    s: Session,
    exclude_run: int | None,
    *,
    runs: bool = False,
    zone: str = "",
) -> str:
    """A digest of what can change the master without its sheet changing: every audited
    change (customers, trackings, follow-ups, admin actions, commission), how many
    customers, trackings and follow-ups there are, the open conflicts (the master shows
    no other: a conflict closing leaves them, and what a closed one decides is audited),
    the agents' names and, for the master, the runs (the Sync log).

    Args:
        exclude_run: a run in progress that an idle cycle will drop again.
        runs: include the runs (the master shows them; the agents' sheets don't).
        zone: the zone the master shows times in (another one changes every time shown).
    """
    audit = s.execute(_NEWEST_EVENT).scalar()
    # rows a tool inserted without an audit event still count
    counted = tuple(s.execute(_ROWS).one())
    rows = [counted[at : at + 2] for at in (0, 2, 4)]
    conflicts = read(s, _OPEN_CONFLICTS).all()
    agents = s.execute(_TEAM).all()
    excluded = {"exclude": exclude_run if exclude_run is not None else -1}
    logged = tuple(s.execute(_RUNS, excluded).one()) if runs else ()
    text = repr(
        (
            audit,
            rows,
            [tuple(c) for c in conflicts],
            [tuple(a) for a in agents],
            logged,
            zone,
        )
    )
    return _hash(text)


def audit_position(s: Session) -> int:
    """The newest audit event's id: a sheet rendered now has seen every event up to it."""
    return s.execute(_NEWEST_EVENT).scalar() or 0


def team_digest(s: Session) -> str:
    """A digest of the team's keys, names and whether each is active (rows show names)."""
    team = s.execute(_TEAM).all()
    return _hash(repr([tuple(a) for a in team]))


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
