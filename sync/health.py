"""``sheetsync health``: whether cycles complete, read from the runs the workers record.

Times are the database's clock, on which workers write their heartbeats (:mod:`sync.worker`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from sync.db import database_now, session_factory
from sync.model import Agent, Conflict, SyncRun
from sync.worker import DEFAULT_MAX_BACKOFF, SOURCE_FAILING, backoff_cycles

FUTURE_TOLERANCE = 5.0
"""Seconds a heartbeat may lie ahead of the database's clock before health flags it (the
clock of one database server does not go back by more, short of being set by hand)."""


@dataclass
class FailingSource:
    """An agent's source that failed its last cycles (``sheetsync health``)."""

    agent: str
    failures_in_a_row: int
    failing_since: str | None
    last_error: str | None
    flagged: bool  # an admin sees it in the master's Conflicts tab
    cycles_until_retry: int


@dataclass
class Health:
    """What ``sheetsync health`` reports (see :func:`health`); times in ISO 8601, UTC."""

    ok: bool
    last_cycle: str | None
    lag_seconds: float | None
    max_lag_seconds: float | None
    heartbeat_ahead_seconds: float | None
    last_success: str | None
    last_run_status: str | None
    failing_sources: list[FailingSource] = field(default_factory=list)
    flagged_sources: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def health(
    engine: Engine,
    max_lag: float | None = None,
    *,
    max_backoff: int = DEFAULT_MAX_BACKOFF,
    recent: int = 50,
) -> Health:
    """What a health check needs: when a cycle last completed, the lag, failing sources.

    ``last_cycle`` is the newest heartbeat of any worker (a cycle that changed nothing
    leaves no run, only a heartbeat on the last one); ``lag_seconds`` is the time since,
    both on the database's clock, which is also the one heartbeats are written on.
    ``heartbeat_ahead_seconds`` is how far the newest heartbeat lies in the future of that
    clock (written by an older sheetsync, which used its machine's clock, on a machine whose
    clock is ahead; or the database's clock went back); None when it does not.
    ``ok`` is False when no cycle ever completed, when the lag exceeds ``max_lag``, or when
    a heartbeat lies in the future (it would hide a lag for as long as it is ahead).
    """
    with session_factory(engine)() as s:
        now = database_now(s)
        runs = list(s.execute(select(SyncRun).order_by(SyncRun.id.desc()).limit(recent)).scalars())
        agents = list(
            s.execute(select(Agent).where(Agent.failures_in_a_row > 0).order_by(Agent.key))
            .scalars()
            .all()
        )
        flags = set(
            s.execute(
                select(Conflict.key).where(
                    Conflict.kind == SOURCE_FAILING, Conflict.status == "open"
                )
            ).scalars()
        )
    beats = [t for r in runs for t in (r.last_checked_at, r.finished_at) if t is not None]
    last_cycle = max(beats, default=None)
    last_ok = next((r for r in runs if r.status == "ok" and r.finished_at), None)
    lag = (now - last_cycle).total_seconds() if last_cycle else None
    ahead = -lag if lag is not None and lag < -FUTURE_TOLERANCE else None
    ok = lag is not None and ahead is None and (max_lag is None or lag <= max_lag)
    return Health(
        ok=ok,
        last_cycle=_iso(last_cycle),
        lag_seconds=round(max(lag, 0.0), 1) if lag is not None else None,
        max_lag_seconds=max_lag,
        heartbeat_ahead_seconds=round(ahead, 1) if ahead is not None else None,
        last_success=_iso(last_ok.finished_at) if last_ok else None,
        last_run_status=runs[0].status if runs else None,
        failing_sources=[
            FailingSource(
                agent=a.key,
                failures_in_a_row=a.failures_in_a_row,
                failing_since=_iso(a.failing_since or _first_failure(a, runs)),
                last_error=a.last_error,
                flagged=f"{SOURCE_FAILING}:{a.key}" in flags,
                cycles_until_retry=max(
                    0, backoff_cycles(a.failures_in_a_row, max_backoff) - a.backoff_skipped
                ),
            )
            for a in agents
        ],
        flagged_sources=len(flags),
    )


def _first_failure(agent: Agent, runs: Sequence[SyncRun]) -> dt.datetime | None:
    """When an agent's current run of failures began, from the runs that recorded them.

    ``failing_since`` is only kept by the worker since migration 0002; failures counted
    by `sheetsync sync`, or before that migration, are found in the runs' errors.
    """
    failed = [r.started_at for r in runs if agent.key in (r.errors or {})]
    streak = failed[: agent.failures_in_a_row]  # runs come newest first
    return streak[-1] if len(streak) == agent.failures_in_a_row else None


def _iso(value: dt.datetime | None) -> str | None:
    return value.replace(microsecond=0).isoformat() + "Z" if value else None
