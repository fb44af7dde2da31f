"""The Google Sheets backend: the :class:`~sync.sheets.Backend` protocol over Sheets v4 + Drive v3.

Request economy (DESIGN.md "Scale"; figures in docs/google.md):

* ``fingerprint``: the Drive ``version`` of the spreadsheet (Drive quota, not Sheets). With
  :meth:`GoogleBackend.prefetch_fingerprints` called once per cycle, one Drive
  ``changes.list`` answers for every source; otherwise one ``files.get`` per source.
  An idle cycle makes no Sheets request.
* ``read``: one ``values.batchGet`` for all the known tabs of the source
  (UNFORMATTED_VALUE, SERIAL_NUMBER). Only when a tab is missing ("Unable to parse
  range") a ``spreadsheets.get`` lists the tabs and the batchGet is repeated without it.
* ``write``: re-validate, then write (promise 5): one ``values.batchGet`` of the target
  tabs, :func:`~sync.sheets.apply_writes` decides against those *current* contents where
  each compare-and-set write lands (rows found again by their anchors after inserts,
  deletes and sorts; cells changed since the cycle's read are skipped), then ONE
  ``values.batchUpdate`` with ``RAW`` input (promise 6), cells grouped into few ranges,
  then one Drive ``files.get`` for the version our write produced, so it does not trigger
  a read next cycle. A grid too small for appended rows/columns costs one
  ``spreadsheets.batchUpdate`` first (rare).
* Layout work happens only in :meth:`ensure_layout` (``init``), see
  :mod:`sync.backends.google.layout`.

One module at this size because the protocol's operations over one API share its request
economy: the fingerprints fetched once per cycle, the tabs and headers read, the
re-validation before a write; layout and sharing are :mod:`sync.backends.google.layout` and
:mod:`sync.backends.google.audit`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, overload

from sync.backends.google.api import DRIVE, SHEETS, GoogleApi, GoogleError, TransientFailure
from sync.backends.google.layout import ensure_layout
from sync.backends.google.spec import SourceSpec
from sync.backends.google.values import (
    CellAt,
    grid_from_api,
    grid_size,
    quote,
    split_range,
    value_ranges,
)
from sync.backends.google.writes import (
    MAX_PAYLOAD,
    chunks,
    displaced,
    not_landed,
    rows_after,
)
from sync.backends.google.writes import written as written_cells
from sync.cells import (
    CellWrite,
    Grid,
    SourceSnapshot,
    WriteResult,
    cell_at,
    copy_tabs,
    identical_cell,
)
from sync.errors import SourceError
from sync.long_text import GOOGLE_CELL_CHARS, fit_cells, fit_writes
from sync.sheets import (
    NO_DROPDOWNS,
    NO_HIGHLIGHTS,
    NO_NOTES,
    NO_TABS,
    NO_WIDTHS,
    DueHighlight,
    RowMove,
    apply_writes,
    find_tab,
    move_rows,
)

log = logging.getLogger("sheetsync.google")

ROW_MOVED = "row moved while writing"
GROW_ROWS = 200
"""Rows added at least when a write needs a bigger grid (so growing stays rare)."""


def _newer(old: str | None, new: str) -> str:
    """The later of two Drive versions (they only grow; never go back to an older one)."""
    if old is None:
        return new
    try:
        return new if int(new) >= int(old) else old
    except ValueError:
        return new


def _follows(before: str | None, after: str, steps: int) -> bool:
    """Whether ``after`` is exactly ``steps`` changes after ``before`` (our own writes only)."""
    if before is None:
        return True
    try:
        return int(after) == int(before) + steps
    except ValueError:
        return False


class _PositionalWrites(Sequence[CellWrite]):
    """Positional cells as the compare-and-set writes they stand for (the old value is the
    tabs' as read), each made only when looked at: a cold master sets millions of cells
    and needs them only for a retry."""

    def __init__(self, cells: Sequence[CellAt], tabs: Mapping[str, Grid]):
        self.cells, self.tabs = cells, tabs

    def __len__(self) -> int:
        return len(self.cells)

    @overload
    def __getitem__(self, index: int) -> CellWrite: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[CellWrite]: ...
    def __getitem__(self, index: int | slice) -> CellWrite | Sequence[CellWrite]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        tab, row, col, value = self.cells[index]
        return CellWrite(tab, 0, "", row, cell_at(self.tabs.get(tab, []), row, col), value, col=col)


class GoogleBackend:
    """Sources are spreadsheet ids (``<id>#<agent>`` for an agent whose tabs are renamed).

    Args:
        api: the rate-limited, retried request layer.
        sources: source address -> :class:`SourceSpec` (unknown addresses are taken as
            spreadsheet ids whose every tab is read).
        revalidate: re-read the target tabs right before every write (default). False
            trusts an unchanged Drive version and re-uses the tabs ``read`` returned,
            saving one read per written spreadsheet (Drive versions are a hint, not a lock:
            see docs/google.md).
        prefetch_ttl: seconds a :meth:`prefetch_fingerprints` answer serves ``fingerprint``.
        clock: monotonic seconds (injected in tests).
    """

    name = "google"
    cell_limit: int | None = GOOGLE_CELL_CHARS
    max_payload = MAX_PAYLOAD
    """Bytes of values a ``values.batchUpdate`` holds at most (a bigger write is parts)."""
    sets_cells_atomically = False  # no compare-and-set: set_cells reads the tabs it sets

    def __init__(
        self,
        api: GoogleApi,
        sources: Mapping[str, SourceSpec] | None = None,
        *,
        revalidate: bool = True,
        prefetch_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.sources = dict(sources or {})
        self.revalidate = revalidate
        self.prefetch_ttl = prefetch_ttl
        self.clock = clock
        self._versions: dict[str, str | None] = {}  # spreadsheet -> Drive version (None: gone)
        self._fresh: set[str] = set()
        self._fresh_until = 0.0
        self._page_token: str | None = None
        self._sheet_ids: dict[str, dict[str, int]] = {}  # spreadsheet -> title -> sheetId
        self._grids: dict[str, dict[str, tuple[int, int]]] = {}  # -> title -> (rows, cols)
        self._titles: dict[str, dict[str, str]] = {}  # source -> logical tab -> actual title
        self._snapshots: dict[str, tuple[str, dict[str, Grid]]] = {}

    # -- addressing ---------------------------------------------------------------------------

    def spec(self, source: str) -> SourceSpec:
        """The :class:`SourceSpec` of a source address."""
        found = self.sources.get(source)
        if found is not None:
            return found
        return SourceSpec(spreadsheet=source.partition("#")[0])

    # -- fingerprints -------------------------------------------------------------------------

    def _drive_version(self, spec: SourceSpec) -> str:
        sid = spec.spreadsheet
        try:
            data = self.api.call(
                "drive.files.get",
                "GET",
                f"{DRIVE}/files/{sid}",
                params={"fields": "id,version,trashed", "supportsAllDrives": "true"},
                where=spec.where,
            )
        except GoogleError as exc:
            if exc.status == 404:
                self._versions[sid] = None
                raise self._missing(spec) from None
            raise
        if data.get("trashed"):
            self._versions[sid] = None
            raise SourceError("the spreadsheet is in the Drive trash", where=spec.where)
        version = str(data["version"])
        self._versions[sid] = version
        return version

    def _missing(self, spec: SourceSpec) -> SourceError:
        who = self.api.identity or "the service account"
        return GoogleError(
            "spreadsheet not found, or not shared with " + who,
            status=404,
            where=spec.where,
            hint=f"check the id and share the spreadsheet with {who} as Editor",
        )

    def fingerprint(self, source: str) -> str | None:
        """The spreadsheet's Drive ``version`` (prefetched this cycle, or one ``files.get``).

        Raises:
            SourceError: the spreadsheet is missing, trashed or not shared with us.
        """
        spec = self.spec(source)
        sid = spec.spreadsheet
        if sid in self._fresh and self.clock() < self._fresh_until and sid in self._versions:
            version = self._versions[sid]
            if version is None:
                raise self._missing(spec)
            return version
        return self._drive_version(spec)

    def prefetch_fingerprints(self, sources: Sequence[str]) -> None:
        """Learn the versions of many sources at once, for the ``fingerprint`` calls of a cycle.

        The first call takes a Drive changes token and one ``files.get`` per spreadsheet;
        every later call is one ``changes.list`` (more only past 1,000 changed files).
        Failures are logged, not raised: ``fingerprint`` then asks Drive per source.
        """
        sids = {self.spec(s).spreadsheet for s in sources}
        self._fresh = set()
        try:
            self._poll_changes()
        except SourceError as exc:
            log.warning("Drive changes unavailable, checking each spreadsheet: %s", exc)
            return
        for sid in sorted(sids - self._versions.keys()):
            spec = next(self.spec(s) for s in sources if self.spec(s).spreadsheet == sid)
            try:
                self._drive_version(spec)
            except SourceError:
                continue  # fingerprint() reports it for that source
        self._fresh = {sid for sid in sids if sid in self._versions}
        self._fresh_until = self.clock() + self.prefetch_ttl

    def _poll_changes(self) -> None:
        if self._page_token is None:
            data = self.api.call(
                "drive.changes.getStartPageToken",
                "GET",
                f"{DRIVE}/changes/startPageToken",
                params={"supportsAllDrives": "true"},
            )
            self._page_token = str(data["startPageToken"])
            self._versions.clear()  # fetched again below, after the token: nothing is missed
            return
        token = self._page_token
        while True:
            data = self.api.call(
                "drive.changes.list",
                "GET",
                f"{DRIVE}/changes",
                params={
                    "pageToken": token,
                    "pageSize": 1000,
                    "spaces": "drive",
                    "includeRemoved": "true",
                    "supportsAllDrives": "true",
                    "includeItemsFromAllDrives": "true",
                    "fields": "nextPageToken,newStartPageToken,"
                    "changes(fileId,removed,file(version,trashed))",
                },
            )
            for change in data.get("changes", []):
                fid = change.get("fileId")
                if not fid or fid not in self._versions:
                    continue  # not one of ours (or not known yet: files.get will tell)
                file = change.get("file") or {}
                if change.get("removed") or file.get("trashed"):
                    self._versions[fid] = None
                elif file.get("version") is not None:
                    self._versions[fid] = _newer(self._versions[fid], str(file["version"]))
            if data.get("newStartPageToken"):
                self._page_token = str(data["newStartPageToken"])
                return
            token = str(data["nextPageToken"])

    # -- reading ------------------------------------------------------------------------------

    def _list_tabs(self, spec: SourceSpec) -> list[str]:
        """Titles of every tab (one ``spreadsheets.get``); remembers ids and grid sizes."""
        data = self.api.call(
            "sheets.spreadsheets.get",
            "GET",
            f"{SHEETS}/{spec.spreadsheet}",
            params={"fields": "sheets.properties(sheetId,title,gridProperties)"},
            where=spec.where,
        )
        self.remember_sheets(spec.spreadsheet, data.get("sheets", []))
        return list(self._sheet_ids.get(spec.spreadsheet, {}))

    def remember_sheets(self, sid: str, sheets: Sequence[Mapping[str, Any]]) -> None:
        """Keep the sheet ids and grid sizes of a ``spreadsheets.get`` answer."""
        ids: dict[str, int] = {}
        sizes: dict[str, tuple[int, int]] = {}
        for sheet in sheets:
            props = sheet.get("properties", {})
            title = props.get("title", "")
            ids[title] = int(props.get("sheetId", 0))
            grid = props.get("gridProperties", {})
            sizes[title] = (int(grid.get("rowCount", 0)), int(grid.get("columnCount", 0)))
        self._sheet_ids[sid] = ids
        self._grids[sid] = sizes

    def _batch_get(self, spec: SourceSpec, titles: Sequence[str]) -> list[dict[str, Any]]:
        data = self.api.call(
            "sheets.values.batchGet",
            "GET",
            f"{SHEETS}/{spec.spreadsheet}/values:batchGet",
            params={
                "ranges": [quote(t) for t in titles],
                "valueRenderOption": "UNFORMATTED_VALUE",
                "dateTimeRenderOption": "SERIAL_NUMBER",
                "majorDimension": "ROWS",
            },
            where=spec.where,
        )
        return list(data.get("valueRanges", []))

    def _read_tabs(self, source: str, spec: SourceSpec, logical: Sequence[str]) -> dict[str, Grid]:
        """The given logical tabs that exist, by logical name, in one batchGet (usually)."""
        if not logical:
            logical = self._list_tabs(spec)
        known = self._titles.get(source, {})
        pairs = [(name, known.get(name, spec.title(name))) for name in logical]
        try:
            ranges = self._batch_get(spec, [title for _, title in pairs])
        except GoogleError as exc:
            if exc.status != 400 or "Unable to parse range" not in exc.google_message:
                raise
            existing = self._list_tabs(spec)  # a tab is missing: read the others
            pairs = [
                (name, found)
                for name, title in pairs
                if (found := find_tab(existing, spec.title(name))) is not None
            ]
            ranges = self._batch_get(spec, [title for _, title in pairs]) if pairs else []
        tabs: dict[str, Grid] = {}
        titles: dict[str, str] = {}
        sizes = self._grids.setdefault(spec.spreadsheet, {})
        for (name, title), value_range in zip(pairs, ranges, strict=True):
            echo = value_range.get("range", "")
            actual = _split_title(echo) or title
            titles[name] = actual
            tabs[name] = grid_from_api(value_range.get("values"))
            size = grid_size(echo)
            if size is not None:
                sizes[actual] = size
        self._titles[source] = {**known, **titles}
        return tabs

    def read(self, source: str) -> SourceSnapshot:
        """Every known tab of the source in one ``values.batchGet``.

        The snapshot's version is the Drive version seen *before* the values were read (the
        fingerprint of this cycle), so a change made meanwhile is read again next cycle
        rather than missed.
        """
        spec = self.spec(source)
        version = self._versions.get(spec.spreadsheet) or self._drive_version(spec)
        tabs = self._read_tabs(source, spec, spec.expected)
        if not self.revalidate:
            self._snapshots[source] = (version, copy_tabs(tabs))
        return SourceSnapshot(source=source, version=version, tabs=tabs)

    # -- writing ------------------------------------------------------------------------------

    def _current(
        self,
        source: str,
        spec: SourceSpec,
        tabs: Sequence[str],
        read_version: str | None,
        *,
        checked: bool = False,
    ) -> dict[str, Grid]:
        """The target tabs as they are now (re-read), or as read when trusted unchanged
        (``checked``: Drive just said the version is ``read_version``)."""
        if not self.revalidate and read_version is not None:
            cached = self._snapshots.get(source)
            if (
                cached is not None
                and cached[0] == read_version
                and (checked or self._drive_version(spec) == read_version)
            ):
                return {t: g for t, g in copy_tabs(cached[1]).items() if t in tabs}
        return self._read_tabs(source, spec, tabs)

    def write(
        self, source: str, writes: Sequence[CellWrite], *, read_version: str | None = None
    ) -> WriteResult:
        """Re-validate against the current contents, then write in one ``values.batchUpdate``
        (several only past ~2 MB of values: :attr:`max_payload`).

        The write asks for the written rows back (whole rows, so no extra request): a row
        whose untouched cells are no longer what the re-validation read saw had moved
        between the check and the write (a row inserted, deleted or sorted in that
        instant); what the write put there is put back. After that, or after a lost answer
        (timeout, 5xx: the outcome is unknown, so nothing is blindly resent), the tabs are
        read again and only the writes that are not in place are done again, where their
        rows now are; a cell changed meanwhile is skipped, as always.
        """
        return self._write(source, writes, read_version, None)

    def _write(
        self,
        source: str,
        writes: Sequence[CellWrite],
        read_version: str | None,
        fresh: dict[str, Grid] | None,
        placed: list[CellAt] | None = None,
        *,
        steps: int = 0,
    ) -> WriteResult:
        """:meth:`write`, from ``fresh`` (the target tabs just read) when given.

        ``placed``: the cells the first attempt sets, already placed on ``fresh`` (left as
        read) by the caller: positional writes, fitted, each a change (:meth:`set_cells`).
        ``steps``: the changes the caller made since ``read_version`` (rows moved).
        """
        spec = self.spec(source)
        if placed is None:
            writes = fit_writes(writes, self.cell_limit)
        wanted = sorted(fresh or ()) if placed is not None else sorted({w.tab for w in writes})
        todo = writes
        skipped_all: list[tuple[CellWrite, str]] = []
        # Not tenacity's loop: a write whose answer was lost, or whose rows moved, is not sent
        # again as it was; the tabs are read again and what has not landed is decided anew.
        # The waits between rounds are the API's RetryPolicy (Retry-After honoured).
        attempt = 0
        troubled = False  # a retry or a move happened: report the write as concurrent
        while True:
            tabs = fresh if fresh is not None else self._current(source, spec, wanted, read_version)
            skipped: list[tuple[CellWrite, str]] = []
            if placed is not None:  # nothing to decide: the tabs are as read
                before, cells, placed = tabs, placed, None
            else:
                before = copy_tabs(tabs)
                cells, skipped = apply_writes(tabs, todo)
            skipped_all += skipped
            if not cells:
                return self._result(spec, writes, skipped_all, read_version, steps, troubled)
            refused = {id(w) for w, _ in skipped}
            titled, logical = self._titled(source, cells)
            widths = {
                t: max((len(r) for r in before[tab]), default=0) for t, tab in logical.items()
            }
            steps += self._grow(spec, titled)
            again = False
            for data in chunks(value_ranges(titled, widths=widths), self.max_payload):
                try:
                    answer = self._send(spec, data, check=True)
                except TransientFailure as failure:
                    if attempt >= self.api.retry.max_retries:
                        raise failure.error from None
                    log.info("%s: write not confirmed (%s); checking", spec.where, failure.error)
                    self.api.retry.wait(attempt, failure.transient.retry_after)
                    attempt += 1
                    again = True
                    break
                steps += 1
                sent = written_cells(data, logical)
                restores, ambiguous = displaced(before, sent, rows_after(data, answer, logical))
                skipped_all += [
                    (CellWrite(t, 0, f"column {c + 1}", r, None, v), ROW_MOVED)
                    for t, r, c, v in ambiguous
                ]
                troubled = troubled or bool(ambiguous)
                if restores:
                    log.warning(
                        "%s: rows moved while writing; putting back %d cell(s)",
                        spec.where,
                        len(restores),
                    )
                    self._send(spec, value_ranges(self._titled(source, restores)[0]), check=False)
                    steps += 1
                    if attempt >= self.api.retry.max_retries:
                        raise GoogleError("rows kept moving while writing", where=spec.where)
                    attempt += 1
                    again = True
                    break
            if not again:
                return self._result(spec, writes, skipped_all, read_version, steps, troubled)
            troubled = True
            fresh = self._read_tabs(source, spec, wanted)
            todo = not_landed(fresh, [w for w in todo if id(w) not in refused])
            if not todo:
                return self._result(spec, writes, skipped_all, read_version, steps, troubled)

    def set_cells(
        self,
        source: str,
        cells: Iterable[CellAt],
        *,
        version: str,
        moves: Sequence[RowMove] = (),
    ) -> str | None:
        """Google has no compare-and-set on a spreadsheet. Drive is asked for its version
        first: None, nothing written, when it is no longer ``version`` (someone changed the
        spreadsheet since the caller read it, and these cells would overwrite that: the
        caller compares cell by cell instead). Then the tabs the cells are in are read (or
        taken as read this cycle) and the cells go through :meth:`write`, cell by cell
        compared with what is there. None when anything but these cells moved meanwhile.
        ``moves`` are one ``spreadsheets.batchUpdate`` of ``insertDimension`` and
        ``deleteDimension`` requests, before the values."""
        spec = self.spec(source)
        if self._drive_version(spec) != version:
            return None  # changed since the caller read it: the cells would overwrite that
        cells = list(fit_cells(cells, self.cell_limit))
        titles = sorted({c[0] for c in cells} | {m.tab for m in moves})
        tabs = self._current(source, spec, titles, version, checked=True)
        moved = 0
        if moves:
            if not all(m.tab in tabs for m in moves):
                return None  # a tab is gone: read and diff instead
            try:
                moved = self._move(source, spec, moves, tabs)
            except TransientFailure:
                # Whether the rows moved is not known: the caller reads and diffs instead,
                # at the version after whatever happened (not the one fetched before).
                self._versions.pop(spec.spreadsheet, None)
                return None
        writes = _PositionalWrites(cells, tabs)
        if not all(tab in tabs for tab in titles):
            result = self._write(source, list(writes), version, tabs, steps=moved)
        else:
            placed = [c for c in cells if not identical_cell(cell_at(tabs[c[0]], c[1], c[2]), c[3])]
            result = self._write(source, writes, version, tabs, placed, steps=moved)
        return None if result.skipped or result.concurrent else result.version

    def _move(
        self, source: str, spec: SourceSpec, moves: Sequence[RowMove], tabs: dict[str, Grid]
    ) -> int:
        """Insert and delete rows in one ``spreadsheets.batchUpdate`` (the rows inserted
        take the format of the row below them), and move the rows of ``tabs`` (as read)
        the same way; returns the changes made (1). Never resent: moving rows twice is
        not moving them once (a transient failure is raised)."""
        sid = spec.spreadsheet
        titles = self._titles.get(source, {})
        if any(titles.get(m.tab, m.tab) not in self._sheet_ids.get(sid, {}) for m in moves):
            self._list_tabs(spec)
        ids = self._sheet_ids.get(sid, {})
        sizes = self._grids.setdefault(sid, {})
        requests: list[dict[str, Any]] = []
        for move in moves:
            sheet_id = ids[titles.get(move.tab, move.tab)]
            span = {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": move.at}
            if move.count > 0:
                span["endIndex"] = move.at + move.count
                requests.append({"insertDimension": {"range": span}})
            else:
                span["endIndex"] = move.at - move.count
                requests.append({"deleteDimension": {"range": span}})
        changed = self._batch_update(spec, requests, retry=False)
        for move in moves:
            title = titles.get(move.tab, move.tab)
            if title in sizes:
                sizes[title] = (sizes[title][0] + move.count, sizes[title][1])
            move_rows(tabs[move.tab], [move])
        return changed

    def _batch_update(
        self, spec: SourceSpec, requests: list[dict[str, Any]], *, retry: bool = True
    ) -> int:
        """One ``spreadsheets.batchUpdate`` (a change of the spreadsheet: returns 1)."""
        self.api.call(
            "sheets.spreadsheets.batchUpdate",
            "POST",
            f"{SHEETS}/{spec.spreadsheet}:batchUpdate",
            body={"requests": requests},
            where=spec.where,
            retry=retry,
        )
        return 1

    def _send(self, spec: SourceSpec, data: list[dict[str, Any]], *, check: bool) -> Any:
        """One RAW ``values.batchUpdate``; ``check`` asks for the written rows back and
        does not resend on a transient failure (the caller looks at the sheet first)."""
        body: dict[str, Any] = {"valueInputOption": "RAW", "data": data}
        if check:
            body |= {
                "includeValuesInResponse": True,
                "responseValueRenderOption": "UNFORMATTED_VALUE",
                "responseDateTimeRenderOption": "SERIAL_NUMBER",
            }
        return self.api.call(
            "sheets.values.batchUpdate",
            "POST",
            f"{SHEETS}/{spec.spreadsheet}/values:batchUpdate",
            body=body,
            where=spec.where,
            retry=not check,
        )

    def _result(
        self,
        spec: SourceSpec,
        writes: Sequence[CellWrite],
        skipped: list[tuple[CellWrite, str]],
        read_version: str | None,
        steps: int,
        troubled: bool,
    ) -> WriteResult:
        """The outcome, with the version our own writes produced (one Drive ``files.get``).

        ``concurrent`` is set when anything but our ``steps`` changes happened since the
        cycle's read (the version moved more), so the cycle reads the source again.
        """
        version = self._drive_version(spec)
        return WriteResult(
            applied=max(0, len(writes) - len(skipped)),
            skipped=skipped,
            version=version,
            concurrent=troubled or not _follows(read_version, version, steps),
        )

    def _titled(
        self, source: str, cells: Sequence[CellAt]
    ) -> tuple[Sequence[CellAt], dict[str, str]]:
        """Cells with logical tab names mapped to the tab titles in the spreadsheet (the
        same cells when no tab is renamed: a cold master's are millions), and title ->
        logical name."""
        titles = self._titles.get(source, {})
        spec = self.spec(source)
        title_of = {tab: titles.get(tab, spec.title(tab)) for tab in {c[0] for c in cells}}
        logical = {title: tab for tab, title in title_of.items()}
        if all(tab == title for tab, title in title_of.items()):
            return cells, logical
        return [(title_of[t], r, c, v) for t, r, c, v in cells], logical

    def _grow(self, spec: SourceSpec, cells: Sequence[CellAt]) -> int:
        """Make the grids big enough for ``cells`` (one ``spreadsheets.batchUpdate``, rarely)."""
        sid = spec.spreadsheet
        need: dict[str, tuple[int, int]] = {}
        for title, row, col, _ in cells:
            rows, cols = need.get(title, (0, 0))
            need[title] = (max(rows, row + 1), max(cols, col + 1))

        def fits(title: str) -> bool:
            size = self._grids.get(sid, {}).get(title)
            return size is not None and need[title][0] <= size[0] and need[title][1] <= size[1]

        short = [title for title in need if not fits(title)]
        if not short:
            return 0
        if any(t not in self._sheet_ids.get(sid, {}) for t in short):
            self._list_tabs(spec)  # sheet ids (and exact sizes) are needed to grow
            short = [title for title in need if not fits(title)]
        sizes = self._grids.setdefault(sid, {})
        requests = []
        for title in short:
            rows, cols = need[title]
            have_rows, have_cols = sizes.get(title, (rows, cols))
            sheet_id = self._sheet_ids.get(sid, {}).get(title)
            if sheet_id is None:
                continue  # the tab is gone: values.batchUpdate will say so
            if rows > have_rows:
                extra = max(rows - have_rows, GROW_ROWS)
                requests.append(_append_dimension(sheet_id, "ROWS", extra))
                have_rows += extra
            if cols > have_cols:
                requests.append(_append_dimension(sheet_id, "COLUMNS", cols - have_cols))
                have_cols = cols
            sizes[title] = (have_rows, have_cols)
        return self._batch_update(spec, requests) if requests else 0

    # -- layout (init) and check ----------------------------------------------------------------

    def forget(self, sid: str) -> None:
        """Drop what is cached of a spreadsheet (after layout changes)."""
        self._versions.pop(sid, None)
        self._fresh.discard(sid)
        self._sheet_ids.pop(sid, None)
        self._grids.pop(sid, None)
        for source in [s for s in self._titles if self.spec(s).spreadsheet == sid]:
            del self._titles[source]

    def ensure_layout(
        self,
        source: str,
        tabs: Mapping[str, Sequence[str]],
        *,
        text_columns: Mapping[str, Sequence[str]] = NO_TABS,
        dropdowns: Mapping[str, Mapping[str, Sequence[str]]] = NO_DROPDOWNS,
        protected: Mapping[str, Sequence[str]] = NO_TABS,
        aliases: Mapping[str, Sequence[str]] = NO_TABS,
        notes: Mapping[str, Mapping[str, str]] = NO_NOTES,
        highlights: Mapping[str, Sequence[DueHighlight]] = NO_HIGHLIGHTS,
        widths: Mapping[str, Mapping[str, int]] = NO_WIDTHS,
        header_colors: Mapping[str, Mapping[str, str]] = NO_NOTES,
        right_to_left: bool = False,
        dry_run: bool = False,
    ) -> list[str]:
        """Tabs, header cells, text formats, dropdowns, protected columns, header notes, due
        highlights and a frozen header row: two reads, and one ``spreadsheets.batchUpdate``
        when something is missing. ``dry_run`` only reports the drift (``sheetsync check``)."""
        return ensure_layout(
            self,
            self.spec(source),
            tabs,
            text_columns=text_columns,
            dropdowns=dropdowns,
            protected=protected,
            aliases=aliases,
            notes=notes,
            highlights=highlights,
            widths=widths,
            header_colors=header_colors,
            right_to_left=right_to_left,
            dry_run=dry_run,
        )


def _append_dimension(sheet_id: int, dimension: str, length: int) -> dict[str, Any]:
    return {"appendDimension": {"sheetId": sheet_id, "dimension": dimension, "length": length}}


def _split_title(echo: str) -> str:
    return split_range(echo)[0] if echo else ""
