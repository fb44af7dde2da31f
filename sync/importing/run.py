"""One import, end to end: read the sheet, load what exists, plan, then report or apply."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from sync.collector import fewer_collections
from sync.config import Config
from sync.db import refresh_statistics, session_factory
from sync.importing.apply import (
    ChunkHook,
    apply_plan,
    has_schema,
    load_existing,
    register_config_agents,
)
from sync.importing.plan import (
    AgentRef,
    ImportCounts,
    ImportPlan,
    PlanOptions,
    phone_reader,
    plan_import,
)
from sync.importing.source import GoogleReader, SourceRead, classify, read_source
from sync.rows import ParseOptions
from sync.schema import upgrade_schema

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImportOptions:
    """What ``sheetsync import`` was asked to do."""

    source: str
    tab: str | None = None
    agent_column: str | None = None
    maps: tuple[str, ...] = ()
    fill_down: tuple[str, ...] = ()
    encoding: str | None = None
    delimiter: str | None = None
    dry_run: bool = False
    create_agents: bool = False
    chunk_rows: int = 1000


@dataclass
class ImportOutcome:
    read: SourceRead
    plan: ImportPlan
    counts: ImportCounts
    dry_run: bool
    agents: list[AgentRef] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self, report: Path | None = None) -> dict[str, Any]:
        """What ``sheetsync import --json`` prints (``report``: where the .xlsx report went)."""
        plan = self.plan
        return {
            "dry_run": self.dry_run,
            "source": self.read.where,
            "encoding": self.read.encoding,
            "delimiter": self.read.delimiter,
            "header_row": self.read.header_row,
            "columns": self.read.columns,
            "unmapped": self.read.unmapped,
            "counts": self.counts.as_dict(),
            "unknown_agents": dict(plan.unknown_agents),
            "new_agents": [
                {"key": a.key, "name": a.name, "email": a.email} for a in plan.new_agents
            ],
            "rejected": [
                {
                    "row": r.row,
                    "column": r.column,
                    "value": r.value,
                    "reason": r.reason,
                    "whole_row": r.whole_row,
                }
                for r in plan.rejections
            ],
            "conflicts": [
                {
                    "kind": c.kind,
                    "phone": c.phone,
                    "agent": c.agent,
                    "field": c.field,
                    "current": c.current,
                    "proposed": c.proposed if c.kind == "shared_field" else c.other_phone,
                    "rows": sorted(c.rows),
                }
                for c in plan.conflicts
                if c.changes
            ],
            "report": str(report) if report is not None else None,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def actor_for(source: str) -> str:
    """The audit actor of an import: ``import:<file name>``."""
    return f"import:{Path(source).name or source}"


@fewer_collections()
def run_import(
    config: Config,
    engine: Engine,
    options: ImportOptions,
    *,
    progress: Progress | None = None,
    on_chunk: ChunkHook | None = None,
    google: GoogleReader | None = None,
) -> ImportOutcome:
    """Import a legacy shared sheet (or, with ``dry_run``, only say what that would do).

    A dry run writes nothing, not even an empty database file; the real import creates or
    upgrades the schema first (the import may come before ``init``).

    Args:
        progress: called with the name of each step.
        on_chunk: called with (chunks done, chunks) after each committed chunk.
        google: the Google backend a spreadsheet source is read with; None builds one
            from the configuration's ``[google]`` section when the source is Google.
    """
    say = progress or (lambda _text: None)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    spec = classify(options.source, options.tab)
    if spec.kind == "google" and google is None:
        from sync.backends.google import backend_from_config

        google = backend_from_config(config)
    say("reading the sheet")
    read = read_source(
        spec,
        options=ParseOptions(day_first=config.sync.day_first, extra_aliases=config.aliases),
        agent_column=options.agent_column,
        maps=options.maps,
        fill_down=options.fill_down,
        encoding=options.encoding,
        delimiter=options.delimiter,
        google=google,
    )
    timings["read_s"] = time.perf_counter() - start
    factory = session_factory(engine)
    if options.dry_run:
        schema = has_schema(engine)
    else:
        upgrade_schema(engine)
        register_config_agents(factory, config.agents)
        schema = True
    phones = phone_reader(config.phones.default_region)
    say("looking up existing customers")
    mark = time.perf_counter()
    if schema:
        with factory() as session:
            existing = load_existing(
                session, read.rows, config.agents, config.phones.default_region, phones
            )
    else:
        existing = load_existing(
            None, read.rows, config.agents, config.phones.default_region, phones
        )
    timings["lookup_s"] = time.perf_counter() - mark
    say("planning")
    mark = time.perf_counter()
    plan = plan_import(
        read.rows,
        existing,
        label=read.label,
        options=PlanOptions(
            default_region=config.phones.default_region,
            create_agents=options.create_agents,
            chunk_rows=options.chunk_rows,
        ),
        above_header=read.above_header,
        phones=phones,
    )
    timings["plan_s"] = time.perf_counter() - mark
    if options.dry_run:
        counts = plan.counts()
    else:
        say("importing")
        mark = time.perf_counter()
        today = dt.datetime.now(zoneinfo.ZoneInfo(config.sync.timezone)).date()
        counts = apply_plan(
            engine,
            plan,
            existing.agents,
            actor=actor_for(spec.location),
            today=today,
            on_chunk=on_chunk,
        )
        added = counts.customers_created + counts.trackings_created + counts.follow_ups_created
        refresh_statistics(session_factory(engine), added)  # the next cycle reads them
        timings["apply_s"] = time.perf_counter() - mark
    timings["total_s"] = time.perf_counter() - start
    return ImportOutcome(read, plan, counts, options.dry_run, existing.agents, timings)
