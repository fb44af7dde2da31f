"""What every phase of a cycle shares: its configuration, backend and database, whether
it should stop, and the sync state of a source's tabs."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from sync.config import Config
from sync.cycle.report import CycleReport, Lease, Progress
from sync.db import RETRY_ATTEMPTS, read, retrying, session_factory, transient
from sync.errors import SourceError
from sync.fields import CHECK_TAB
from sync.master_layout import master_look
from sync.model import SheetState
from sync.rows import ParseOptions
from sync.sheets import Backend
from sync.tab_state import TabSnapshot

_T = TypeVar("_T")


def today_in(zone: zoneinfo.ZoneInfo) -> dt.date:
    """Today's date in ``zone`` (one place to ask, for the tests that pin the day)."""
    return dt.datetime.now(zone).date()


_OF_TABS = (
    SheetState.source == bindparam("source"),
    SheetState.tab.in_(bindparam("tabs", expanding=True)),
)
# Built once: every source is checked once or twice a cycle, and building the statement
# (and its cache key) each time cost more than running it on a small team.
_VERSIONS = select(SheetState.tab, SheetState.version, SheetState.marker).where(*_OF_TABS)
_STATES = select(SheetState).where(*_OF_TABS)


class CycleBase:
    """What every phase of a cycle works with; :class:`~sync.cycle.Cycle` runs the phases."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        backend: Backend,
        progress: Progress | None = None,
        *,
        lease: Lease | None = None,
        should_stop: Callable[[], bool] | None = None,
        alone: bool = False,
    ):
        """Prepare cycles.

        Args:
            progress: called with a label at each step (a progress bar advances).
            lease: which agent sources and whether the master this worker may sync
                this cycle (several workers); None: all of them.
            should_stop: checked before each agent's read and write-back and before the
                master's write; True abandons the rest of the cycle safely (what was
                not read, written back or rendered is done next cycle).
            alone: no other cycle can run on this database now (the SQLite worker lock
                is held), so a run still marked running was killed: it is marked
                interrupted. Otherwise only runs older than a day are.
        """
        self.alone = alone
        self.lease = lease
        self.should_stop = should_stop or (lambda: False)
        self.config = config
        self.engine = engine
        self.sessions = session_factory(engine)
        self.backend = backend
        self.progress = progress or (lambda _label: None)
        self.options = ParseOptions(day_first=config.sync.day_first, extra_aliases=config.aliases)
        self.zone = zoneinfo.ZoneInfo(config.sync.timezone)
        self.zone_name = config.sync.timezone
        self.master_language = config.master.language
        # what the master shows depends on: the zone of its times, and its language
        self.master_look = master_look(self.zone_name, self.master_language)

    def today(self) -> dt.date:
        """Today in ``sync.timezone`` (the year of new customer numbers, what is due)."""
        return today_in(self.zone)

    def _stop_here(self, report: CycleReport) -> bool:
        """Whether to abandon the rest of the cycle at this boundary between two sources.

        Checked before each agent's read and write-back and before the master's write:
        every source is then either done (its transaction committed, its state recorded)
        or left as it was, which the next cycle reads, writes or renders again.
        """
        if not report.stopped and self.should_stop():
            report.stopped = True
        return report.stopped

    def _versions(
        self, s: Session, source: str, tabs: tuple[str, ...]
    ) -> dict[str, tuple[str | None, str | None]]:
        """Tab -> (version, marker) as last written; never loads the snapshots."""
        rows = read(s, _VERSIONS, {"source": source, "tabs": list(tabs)})  # (no ORM: per source)
        return {tab: (version, marker) for tab, version, marker in rows}

    def _states(self, s: Session, source: str, tabs: tuple[str, ...]) -> dict[str, SheetState]:
        rows = s.execute(_STATES, {"source": source, "tabs": list(tabs)})
        return {state.tab: state for state in rows.scalars()}

    def _keep_check_state(
        self,
        s: Session,
        state: SheetState | None,
        source: str,
        agent_id: int,
        snap: TabSnapshot,
    ) -> None:
        """Store an agent's Check tab state (``state``, as loaded; None: it has none yet,
        and one holding nothing is not made)."""
        if state is None:
            if not snap.as_json():
                return
            state = SheetState(source=source, tab=CHECK_TAB, agent_id=agent_id, snapshot={})
            s.add(state)
        state.keep_snapshot(snap)


def source_retrying(work: Callable[[], _T], source: str) -> _T:
    """One source's transaction through :func:`~sync.db.retrying`; still rolled back for
    its timing after the last attempt, the source fails this cycle (and is synced again
    the next, as after any failure) instead of the whole cycle."""
    try:
        return retrying(work, source)
    except DBAPIError as exc:
        if not transient(exc):
            raise
        raise SourceError(
            "the database rolled this sheet's changes back "
            f"{RETRY_ATTEMPTS} times ({type(exc.orig).__name__}: another worker was writing "
            "the same customers); nothing of it was applied, it is synced again next cycle",
            where=source,
        ) from None
