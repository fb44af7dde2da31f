"""Reports for admins: commission per agent and month, and each agent's pipeline.

The tables are computed by pure functions over model objects (the master's
Commission tab uses them too); ``*_report`` functions load what they need from a
session the caller passes in. CSV goes through :mod:`csv`; the charts are drawn with
matplotlib's Agg canvas (no display, no global pyplot state), the commission chart from a
pandas table of months by agents. matplotlib and pandas are the ``reports`` extra: the
master's Commission tab, which every cycle renders, groups without them.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.errors import ConfigError
from sync.fields import STATUSES
from sync.model import Agent, Customer, FollowUp, Tracking

NO_STATUS = "No status"
PIPELINE_STATUSES = (*STATUSES, NO_STATUS)
CLOSED = ("Completed", "Lost")
RECENT_DAYS = 30


def completion_month(tracking: Tracking) -> str | None:
    """``YYYY-MM`` of a completion: *Completed on* if the agent set it, else when it was seen."""
    day = tracking.completed_on or (
        tracking.completed_at.date() if tracking.completed_at is not None else None
    )
    return f"{day.year:04d}-{day.month:02d}" if day is not None else None


# -- commission -----------------------------------------------------------------------------------


Share = list[Any]
"""What one customer adds to a :class:`CommissionRow`: ``[Customer #, [the Commission %
of each completion counted (0.0 when not set)], how many trackings are lost to a
colleague]`` (a list: stored as JSON with the master's row, and compared as read back)."""


@dataclass
class CommissionRow:
    """One agent's completions in one month.

    Attributes:
        commission: in customers: the sum of the agent's Commission % / 100 over the
            completions (1.0 is one customer's full commission).
        lost_to_colleague: this agent's trackings marked *lost to colleague* on customers
            first completed (by a colleague) that month.
        shares: customer id -> what that customer adds to the row (:data:`Share`), for
            each customer it counts, completed or lost. Not reported: the master's
            row-by-row update stores them with the row, and makes a row again from its
            shares with a changed customer's replaced.
    """

    month: str
    agent: str
    name: str
    completed: int = 0
    customers: list[str] = field(default_factory=list)
    commission: float = 0.0
    lost_to_colleague: int = 0
    shares: dict[int, Share] = field(default_factory=dict)

    @classmethod
    def of_shares(cls, month: str, agent: Agent, shares: dict[int, Share]) -> CommissionRow:
        """The row of these shares: whatever order they were counted in, the same row (the
        commission is summed exactly, :func:`math.fsum`)."""
        pcts = [pct for _, counted, _ in shares.values() for pct in counted]
        return cls(
            month,
            agent.key,
            agent.name,
            completed=len(pcts),
            customers=sorted(number for number, counted, _ in shares.values() for _ in counted),
            commission=math.fsum(pct / 100 for pct in pcts),
            lost_to_colleague=sum(lost for _, _, lost in shares.values()),
            shares=shares,
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["shares"]
        data["commission"] = round(self.commission, 2)
        return data


def commission_rows(
    agents: Iterable[Agent],
    numbers: Mapping[int, str],
    trackings: Iterable[Tracking],
    month: str | None = None,
) -> list[CommissionRow]:
    """Completed customers and commission per agent and month.

    What a customer adds to a row depends on that customer's trackings alone: its
    completions, in their month, and its trackings lost to a colleague, in the month it
    was first completed (by any agent: ``trackings`` holds all of a customer's or none).

    Args:
        numbers: customer id -> Customer #.
        month: ``YYYY-MM`` for one month (every agent gets a row, zeros included);
            None for every month with a completion, newest first.
    """
    by_id = {a.id: a for a in agents}
    every = [t for t in trackings if t.active and t.agent_id in by_id]
    shares: dict[tuple[str, int], dict[int, Share]] = {}

    def share(when: str, t: Tracking) -> Share:
        of_row = shares.setdefault((when, t.agent_id), {})
        found = of_row.get(t.customer_id)
        if found is None:
            number = numbers.get(t.customer_id, str(t.customer_id))
            found = of_row[t.customer_id] = [number, [], 0]
        return found

    first: dict[int, str] = {}
    for t in every:
        when = completion_month(t) if t.status == "Completed" else None
        if when is None:
            continue
        first[t.customer_id] = min(first.get(t.customer_id, when), when)
        if month is not None and when != month:
            continue
        share(when, t)[1].append(t.commission_pct or 0.0)
    for t in every:
        when = first.get(t.customer_id)
        if t.lost_to_colleague and when is not None and (month is None or when == month):
            share(when, t)[2] += 1
    rows = {
        (when, agent): CommissionRow.of_shares(when, by_id[agent], of_row)
        for (when, agent), of_row in shares.items()
    }
    if month is not None:
        for agent_id, agent in by_id.items():
            rows.setdefault((month, agent_id), CommissionRow(month, agent.key, agent.name))
    return sorted(rows.values(), key=lambda r: commission_order(r.month, r.agent))


def commission_order(month: str, agent: str) -> tuple[tuple[int, int], str]:
    """Where a row of :func:`commission_rows` sorts: the newest month first, then by the
    agent's key."""
    year, _, mon = month.partition("-")
    return ((-int(year), -int(mon)), agent)


DELETED_CUSTOMERS = select(Customer.id).where(Customer.deleted_at.is_not(None))
"""The customers an admin deleted: the reports leave them out."""


def commission_report(session: Session, month: str | None = None) -> list[CommissionRow]:
    """:func:`commission_rows` over the database."""
    agents = list(session.execute(select(Agent).order_by(Agent.key)).scalars())
    numbers = {i: n for i, n in session.execute(select(Customer.id, Customer.number)).all()}
    kept = Tracking.customer_id.not_in(DELETED_CUSTOMERS)  # a deleted customer counts nowhere
    trackings = session.execute(
        select(Tracking).where(Tracking.active.is_(True), Tracking.status == "Completed", kept)
        if month is not None
        else select(Tracking).where(Tracking.active.is_(True), kept)
    ).scalars()
    if month is not None:
        # Lost-to-colleague counts need the losers too: load them per customer.
        done = list(trackings)
        ids = sorted({t.customer_id for t in done})
        lost = [
            t
            for i in range(0, len(ids), 500)
            for t in session.execute(
                select(Tracking).where(
                    Tracking.customer_id.in_(ids[i : i + 500]),
                    Tracking.lost_to_colleague.is_(True),
                )
            ).scalars()
        ]
        unique = {t.id: t for t in [*done, *lost]}
        return commission_rows(agents, numbers, unique.values(), month)
    return commission_rows(agents, numbers, trackings, month)


def write_commission_csv(rows: Sequence[CommissionRow], out: IO[str]) -> None:
    writer = csv.writer(out)
    writer.writerow(
        ["month", "agent", "name", "completed", "customers", "commission", "lost_to_colleague"]
    )
    for r in rows:
        writer.writerow(
            [
                r.month,
                r.agent,
                r.name,
                r.completed,
                " ".join(r.customers),
                f"{r.commission:.2f}",
                r.lost_to_colleague,
            ]
        )


# -- pipeline -------------------------------------------------------------------------------------


@dataclass
class PipelineRow:
    """One agent's pipeline.

    Attributes:
        active: active trackings.
        statuses: status -> active trackings in it (``No status`` for none).
        conversion: completed / active trackings, in percent.
        follow_ups: active follow-ups.
        recent_follow_ups: follow-ups dated (else created) in the last 30 days.
        overdue: open trackings (not Completed or Lost) whose Next follow-up is past.
    """

    agent: str
    name: str
    active: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PIPELINE_STATUSES, 0))
    conversion: float = 0.0
    follow_ups: int = 0
    recent_follow_ups: int = 0
    overdue: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pipeline_rows(
    agents: Iterable[Agent],
    trackings: Iterable[Tracking],
    follow_ups: Iterable[tuple[FollowUp, int]],
    today: dt.date,
) -> list[PipelineRow]:
    """Per-agent pipeline figures.

    Args:
        follow_ups: (follow-up, agent id) pairs of active follow-ups of active trackings.
        today: the day overdue and recent are measured from.
    """
    rows = {a.id: PipelineRow(a.key, a.name) for a in sorted(agents, key=lambda a: a.key)}
    for t in trackings:
        r = rows.get(t.agent_id)
        if r is None or not t.active:
            continue
        r.active += 1
        r.statuses[t.status if t.status in STATUSES else NO_STATUS] += 1
        if t.status not in CLOSED and t.next_follow_up is not None and t.next_follow_up < today:
            r.overdue += 1
    since = today - dt.timedelta(days=RECENT_DAYS)
    for f, agent_id in follow_ups:
        r = rows.get(agent_id)
        if r is None:
            continue
        r.follow_ups += 1
        day = f.date or f.created_at.date()
        if since <= day <= today:
            r.recent_follow_ups += 1
    for r in rows.values():
        r.conversion = round(100 * r.statuses["Completed"] / r.active, 1) if r.active else 0.0
    return list(rows.values())


def pipeline_report(session: Session, today: dt.date) -> list[PipelineRow]:
    """:func:`pipeline_rows` over the database."""
    agents = list(session.execute(select(Agent).where(Agent.active.is_(True))).scalars())
    kept = Tracking.customer_id.not_in(DELETED_CUSTOMERS)
    trackings = session.execute(select(Tracking).where(Tracking.active.is_(True), kept)).scalars()
    follow_ups = session.execute(
        select(FollowUp, Tracking.agent_id)
        .join(Tracking, Tracking.id == FollowUp.tracking_id)
        .where(FollowUp.active.is_(True), Tracking.active.is_(True), kept)
    ).all()
    return pipeline_rows(agents, trackings, [(f, a) for f, a in follow_ups], today)


PIPELINE_COLUMNS = (
    "agent",
    "name",
    "active",
    *(s.lower().replace(" ", "_") for s in PIPELINE_STATUSES),
    "conversion_pct",
    "follow_ups",
    "follow_ups_last_30_days",
    "overdue_next_follow_ups",
)


def write_pipeline_csv(rows: Sequence[PipelineRow], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(PIPELINE_COLUMNS)
        for r in rows:
            writer.writerow(
                [
                    r.agent,
                    r.name,
                    r.active,
                    *(r.statuses[s] for s in PIPELINE_STATUSES),
                    f"{r.conversion:.1f}",
                    r.follow_ups,
                    r.recent_follow_ups,
                    r.overdue,
                ]
            )


COLORS = {
    "Prospect": "#c6dbef",
    "Contacted": "#9ecae1",
    "In progress": "#6baed6",
    "Negotiating": "#3182bd",
    "Completed": "#31a354",
    "Lost": "#bdbdbd",
    NO_STATUS: "#f0f0f0",
}


def can_chart(chart: str = "pipeline", without: str = "leave out --out") -> None:
    """Raise, before anything is written, when a chart's libraries are not installed.

    Args:
        chart: which chart, as the message names it; ``commission`` needs pandas too.
        without: how to run the command without the chart, as the hint says it.

    Raises:
        ConfigError: matplotlib or pandas (the ``reports`` extra) is missing.
    """
    needed = ("matplotlib", "pandas") if chart == "commission" else ("matplotlib",)
    for name in needed:
        try:
            __import__(name)
        except ImportError:
            raise ConfigError(
                f"the {chart} chart needs {name}, which is not installed",
                hint=f"pip install 'sheetsync[reports]', or {without} to print the table",
            ) from None


def commission_by_month(rows: Sequence[CommissionRow]) -> Any:
    """Commission (in customers) per month and agent: a pandas DataFrame, a row per month
    (oldest first), a column per agent (by name), 0 where an agent completed nothing.

    Raises:
        ConfigError: pandas (the ``reports`` extra) is missing.
    """
    can_chart("commission", "leave out --chart")
    import pandas as pd

    frame = pd.DataFrame(
        [(r.month, r.name, r.commission) for r in rows], columns=["month", "agent", "commission"]
    )
    return frame.pivot_table(
        index="month", columns="agent", values="commission", aggfunc="sum", fill_value=0.0
    ).sort_index()


def write_commission_chart(rows: Sequence[CommissionRow], path: Path, title: str = "") -> None:
    """A PNG: each month's commission per agent, side by side (:func:`commission_by_month`).

    Raises:
        ConfigError: matplotlib or pandas (the ``reports`` extra) is missing.
    """
    table = commission_by_month(rows)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    months, agents = list(table.index), list(table.columns)
    fig = Figure(figsize=(max(6.0, 1.2 * len(months) + 3), 4.5), dpi=100)
    FigureCanvasAgg(fig)
    axis = fig.subplots()
    width = 0.8 / max(1, len(agents))
    for k, agent in enumerate(agents):
        xs = [m + (k - (len(agents) - 1) / 2) * width for m in range(len(months))]
        axis.bar(xs, list(table[agent]), width=width, label=agent)
    axis.set_xticks(range(len(months)), months)
    axis.set_ylabel("commission (customers)")
    axis.set_title(title or "Commission per agent and month")
    axis.spines[["top", "right"]].set_visible(False)
    if agents:
        axis.legend(fontsize=8, frameon=False, ncol=min(4, len(agents)))
    fig.tight_layout()
    fig.savefig(path, format="png")


def write_pipeline_chart(rows: Sequence[PipelineRow], path: Path, title: str = "") -> None:
    """A PNG: active trackings by status per agent, and follow-up activity beside it.

    Raises:
        ConfigError: matplotlib (the ``reports`` extra) is missing.
    """
    can_chart()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [r.name for r in rows]
    fig = Figure(figsize=(11, max(3.2, 0.6 * len(rows) + 2.2)), dpi=100)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]}, sharey=True)
    ys = list(range(len(rows)))
    starts = [0] * len(rows)
    for status in PIPELINE_STATUSES:
        counts = [r.statuses[status] for r in rows]
        if any(counts):
            left.barh(
                ys, counts, left=starts, color=COLORS[status], label=status, edgecolor="white"
            )
            starts = [a + b for a, b in zip(starts, counts, strict=True)]
    for y, r in zip(ys, rows, strict=True):
        left.text(starts[y] + 0.1, y, f"{r.conversion:.0f}% completed", va="center", fontsize=8)
    left.set_yticks(ys, names)
    left.invert_yaxis()
    left.set_xlabel("active trackings")
    left.set_title("Pipeline by status")
    left.set_xlim(0, max([*starts, 1]) * 1.25)
    bar = 0.38
    right.barh(
        [y - bar / 2 for y in ys],
        [r.recent_follow_ups for r in rows],
        height=bar,
        color="#3182bd",
        label=f"follow-ups, last {RECENT_DAYS} days",
    )
    right.barh(
        [y + bar / 2 for y in ys],
        [r.overdue for r in rows],
        height=bar,
        color="#e6550d",
        label="overdue next follow-ups",
    )
    most = max([1, *(r.recent_follow_ups for r in rows), *(r.overdue for r in rows)])
    right.set_xlim(0, most * 1.1)
    right.set_title("Follow-up activity")
    for axis in (left, right):
        axis.spines[["top", "right"]].set_visible(False)
        axis.xaxis.get_major_locator().set_params(integer=True)
        if rows:
            axis.legend(
                loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=4, fontsize=8, frameon=False
            )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, format="png")
