"""Reading the team's legacy shared sheet: a .csv file, an .xlsx workbook tab or a Google tab.

The sheet is read once, row by row, into :class:`SourceRow` values: the header row is
found by name (it need not be row 1; ``sync.rows.find_header``), every cell is parsed by
its field's kind (``sync.rows.parse_rows``) and every non-blank cell is kept as text
under its column title, so nothing of the source is lost even when a column maps to no
field. Nothing here touches the database.

One module at this size because each reader (CSV, .xlsx, Google) is small and most of the
code is what they share: the fields an import reads, the header search, and the rules for
titles, fill-down and repeated rows that make a CSV and its .xlsx or Google twin read alike.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import re
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sync.cells import CellValue, Grid, SourceSnapshot, cell_text
from sync.errors import LayoutError, SourceError, SyncError
from sync.fields import (
    CUSTOMER_FIELDS,
    FOLLOW_UP_TYPES,
    Field,
    Kind,
    Owner,
    header_index,
    header_key,
)
from sync.rows import CellIssue, ParseOptions, column_letter, find_header, parse_rows

# -- the fields an import reads --------------------------------------------------------------------

AGENT_ALIASES = (
    "agent",
    "agent name",
    "sales agent",
    "sales rep",
    "assigned to",
    "owner",
    "employee",
    "الموظف",
    "اسم الموظف",
    "المندوب",
    "الوكيل",
    "المسؤول",
)

# One follow-up per row, where the shared sheet has such columns.
FOLLOW_UP_IMPORT_FIELDS: tuple[Field, ...] = (
    Field(
        "follow_up_date",
        "Follow-up date",
        Owner.AGENT,
        Kind.DATE,
        aliases=(
            "follow up date",
            "followup date",
            "last follow-up",
            "last follow up",
            "last followup",
            "last contact",
            "last contact date",
            "last call",
            "call date",
            "تاريخ المتابعة",
            "آخر متابعة",
            "آخر تواصل",
        ),
    ),
    Field(
        "follow_up_type",
        "Follow-up type",
        Owner.AGENT,
        Kind.ENUM,
        FOLLOW_UP_TYPES,
        aliases=("followup type", "contact type", "نوع المتابعة"),
    ),
    Field(
        "follow_up_method",
        "Follow-up method",
        Owner.AGENT,
        aliases=("followup method", "contact method", "طريقة التواصل"),
    ),
    Field(
        "follow_up_notes",
        "Follow-up notes",
        Owner.AGENT,
        aliases=("followup notes", "call notes", "last call notes", "ملاحظات المتابعة"),
    ),
    Field(
        "follow_up_next_action",
        "Next action",
        Owner.AGENT,
        aliases=("follow-up next action", "next step", "الإجراء التالي", "الخطوة التالية"),
    ),
)
FOLLOW_UP_IMPORT_KEYS = {
    "follow_up_date": "date",
    "follow_up_type": "type",
    "follow_up_method": "method",
    "follow_up_notes": "notes",
    "follow_up_next_action": "next_action",
}
# Sync-owned columns (Customer #, Also tracked by, Sync notes) are never read from a legacy
# sheet: a "Customer ID" there is another system's number. Such a column stays unmapped.
# Headers common in the teams' own sheets, read by the import only (the agents' sheets
# have sheetsync's layout). When a sheet also has the built-in header of the same field
# ("Phone" and "Tel"), the built-in one wins and the other column stays unmapped.
IMPORT_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("client name", "client", "student name", "student", "lead name", "lead"),
    "phone": (
        "tel",
        "tel.",
        "telephone",
        "tel no",
        "phone no",
        "mobile no",
        "mobile number",
        "cell",
        "cell phone",
        "contact number",
        "رقم الجوال",
        "رقم الموبايل",
        "التليفون",
    ),
    "other_phone": ("phone 2", "mobile 2", "tel 2", "alternative phone", "alt phone", "landline"),
    "email": ("email address", "mail", "e-mail address"),
    "city": ("town", "governorate", "المحافظة"),
    "nationality": ("citizenship",),
    "status": ("stage", "lead status"),
    "notes": ("remarks", "remark", "comments", "comment", "note", "ملاحظة", "تعليق"),
}
CUSTOMER_IMPORT_FIELDS = tuple(
    dataclasses.replace(f, aliases=(*f.aliases, *IMPORT_ALIASES.get(f.key, ())))
    for f in CUSTOMER_FIELDS
    if f.owner is not Owner.SYNC
)
_IMPORT_ONLY = {header_key(name): key for key, names in IMPORT_ALIASES.items() for name in names}
IGNORE = frozenset({"-", "ignore", "skip"})
HEADER_SCAN_ROWS = 30
BATCH = 2000


def import_fields(agent_column: str | None) -> tuple[Field, ...]:
    """Every field an import maps columns to: customer fields, the agent, a follow-up."""
    agent = Field(
        "agent",
        agent_column or "Agent",
        Owner.SYNC,
        aliases=() if agent_column else AGENT_ALIASES,
    )
    return (agent, *CUSTOMER_IMPORT_FIELDS, *FOLLOW_UP_IMPORT_FIELDS)


def resolve_target(target: str, fields: Sequence[Field]) -> str | None:
    """The field key a ``--map`` target names (a key or a header); None for "ignore".

    Raises:
        SyncError: the target names no field.
    """
    folded = header_key(target)
    if target.strip().casefold() in IGNORE:
        return None
    for f in fields:
        if folded in (header_key(f.key), header_key(f.header)):
            return f.key
    known = ", ".join(f.key for f in fields)
    raise SyncError(
        f"--map target '{target}' is not a field",
        hint=f"use one of: {known}; or '-' to skip the column",
    )


def parse_maps(
    maps: Sequence[str], fields: Sequence[Field]
) -> tuple[dict[str, list[str]], set[str]]:
    """``HEADER=field`` options -> (field key -> header texts, folded headers to skip)."""
    aliases: dict[str, list[str]] = {}
    skipped: set[str] = set()
    for item in maps:
        header, sep, target = item.rpartition("=")
        if not sep or not header.strip():
            raise SyncError(f"--map '{item}' is not HEADER=field", hint='e.g. --map "Mobile=phone"')
        key = resolve_target(target, fields)
        if key is None:
            skipped.add(header_key(header))
        else:
            aliases.setdefault(key, []).append(header.strip())
    return aliases, skipped


# -- what a read produces --------------------------------------------------------------------------


@dataclass(slots=True)
class SourceRow:
    """One data row of the legacy sheet.

    Attributes:
        row: the 1-based row number a person sees in the sheet.
        values: field key -> parsed value, for non-blank cells that could be read.
        issues: cells that could not be read (the row is still imported without them).
        cells: column title -> cell text, for every non-blank cell, mapped or not.
        digest: a hash of the row's content (and of its occurrence, for identical rows):
            the import ledger's key, so a rerun recognizes rows it already imported.
    """

    row: int
    values: dict[str, object]
    issues: tuple[CellIssue, ...]
    cells: dict[str, str]
    digest: str


@dataclass
class SourceRead:
    """The legacy sheet as read."""

    label: str  # file name (and tab), for notes, reports and the audit actor
    where: str  # full path and tab, for messages
    kind: str  # csv or xlsx
    encoding: str | None
    header_row: int  # 1-based
    columns: dict[str, str]  # field key -> column title, in column order
    unmapped: list[str]  # titles of non-blank header cells that map to no field
    rows: list[SourceRow] = field(default_factory=list)
    blank_rows: int = 0
    above_header: list[tuple[int, str]] = field(default_factory=list)  # (row, text) of title rows
    merged_filled: int = 0  # cells filled from a merged range above them (xlsx)
    filled_down: int = 0  # cells filled by --fill-down
    delimiter: str | None = None  # CSV: the delimiter used, and how it was chosen


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # csv, xlsx or google
    location: str  # a path or a spreadsheet id
    tab: str | None = None


_GOOGLE_URL = re.compile(r"https?://docs\.google\.com/spreadsheets/d/([A-Za-z0-9_-]+)")
_GOOGLE_ID = re.compile(r"[A-Za-z0-9_-]{30,}")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_XLSX_SUFFIXES = (".xlsx", ".xlsm")


def classify(source: str, tab: str | None = None) -> SourceSpec:
    """What kind of source a SOURCE argument names.

    Raises:
        SyncError: an unsupported file type, or a missing file.
    """
    match = _GOOGLE_URL.match(source.strip())
    if match or source.startswith("gsheet:"):
        sid = match.group(1) if match else source.removeprefix("gsheet:")
        return SourceSpec("google", sid, tab)
    path = Path(source).expanduser()
    suffix = path.suffix.lower()
    if not path.exists():
        if _GOOGLE_ID.fullmatch(source.strip()) and not suffix:
            return SourceSpec("google", source.strip(), tab)
        raise SyncError("file not found", where=source)
    if suffix in _CSV_SUFFIXES:
        return SourceSpec("csv", str(path), tab)
    if suffix in _XLSX_SUFFIXES:
        return SourceSpec("xlsx", str(path), tab)
    if suffix == ".xls":
        raise SyncError(
            "old .xls workbooks cannot be read", where=source, hint="save it as .xlsx or .csv"
        )
    raise SyncError(
        f"cannot import a '{suffix or 'file without extension'}'",
        where=source,
        hint="import a .csv or .xlsx export of the sheet, or a Google spreadsheet id/URL",
    )


# -- reading ---------------------------------------------------------------------------------------


def read_source(
    spec: SourceSpec,
    *,
    options: ParseOptions,
    agent_column: str | None = None,
    maps: Sequence[str] = (),
    fill_down: Sequence[str] = (),
    encoding: str | None = None,
    delimiter: str | None = None,
    google: GoogleReader | None = None,
) -> SourceRead:
    """Read every row of a legacy sheet.

    Args:
        spec: from :func:`classify`.
        options: day-first, the configuration's aliases (``--map`` ones are added here).
        agent_column: the header of the agent column; None: "Agent" and common spellings.
        maps: ``HEADER=field`` (or ``HEADER=-`` to skip a column).
        fill_down: headers whose blank cells take the value above them (a column that was
            merged across rows before the sheet was exported).
        encoding: CSV only; None detects it (BOM, UTF-8, else charset-normalizer).
        delimiter: CSV only; None sniffs it.
        google: Google only: the backend that reads the spreadsheet (``sync.backends.google``).

    Raises:
        SyncError: the source cannot be read (Google: no backend or no such tab).
        LayoutError: no header row with a phone and an agent column.
    """
    fields = import_fields(agent_column)
    mapped, skipped = parse_maps(maps, fields)
    extra: dict[str, list[str]] = {
        k: list(v) for k, v in options.extra_aliases.items() if k in {f.key for f in fields}
    }
    for key, names in mapped.items():
        extra[key] = [*extra.get(key, []), *names]
    if agent_column:
        extra["agent"] = [*extra.get("agent", []), agent_column]
        mapped_headers = {header_key(h) for names in mapped.values() for h in names}
        if header_key(agent_column) != "agent" and "agent" not in mapped_headers:
            # --agent-column names the agent column: a column titled "Agent" is not it.
            skipped = {*skipped, "agent"}
    opts = dataclasses.replace(options, extra_aliases=extra, header_scan_rows=HEADER_SCAN_ROWS)

    if spec.kind == "google":
        if google is None:
            raise SyncError(
                "reading a Google spreadsheet needs the Google Sheets backend",
                where=f"spreadsheet {spec.location}",
                hint="configure [google] (docs/google.md), or download the tab as .xlsx or "
                ".csv (File > Download) and import that file",
            )
        where = f"spreadsheet {spec.location}"
        tabs = google_tabs(google, spec)
        return _first_with_header(
            ((title, iter(grid), None) for title, grid in tabs),
            fields,
            opts,
            skipped,
            fill_down,
            lambda title: (f"Google tab {title}", f"{where}, tab {title}"),
            where,
            "google",
        )
    path = Path(spec.location)
    if spec.kind == "csv":
        text, used_encoding = decode(path.read_bytes(), encoding, where=str(path))
        text, chosen, how = choose_delimiter(text, delimiter, header_index(fields, extra))
        read = _read(
            _csv_rows(text, chosen), fields, opts, skipped, fill_down, path.name, str(path)
        )
        read.kind, read.encoding = "csv", used_encoding
        read.delimiter = f"{DELIMITER_NAMES.get(chosen, repr(chosen))} ({how})"
        return read
    book, sheets = _open_xlsx(path, spec.tab)
    try:

        def xlsx_tabs() -> Iterator[tuple[str, Iterator[list[CellValue]], MergedCells]]:
            for sheet in sheets:
                merged = MergedCells(sheet)
                rows = (merged.fill(i, cells) for i, cells in enumerate(_xlsx_rows(sheet)))
                yield sheet.title, rows, merged

        return _first_with_header(
            xlsx_tabs(),
            fields,
            opts,
            skipped,
            fill_down,
            lambda title: (f"{path.name}, tab {title}", f"{path}, tab {title}"),
            str(path),
            "xlsx",
        )
    finally:
        book.close()


def _first_with_header(
    tabs: Iterable[tuple[str, Iterator[list[CellValue]], MergedCells | None]],
    fields: tuple[Field, ...],
    opts: ParseOptions,
    skipped: set[str],
    fill_down: Sequence[str],
    names: Callable[[str], tuple[str, str]],
    where: str,
    kind: str,
) -> SourceRead:
    """The first tab (of a workbook or a spreadsheet) that has the header row, read."""
    first_error: LayoutError | None = None
    titles: list[str] = []
    for title, rows, merged in tabs:
        titles.append(title)
        label, tab_where = names(title)
        try:
            read = _read(rows, fields, opts, skipped, fill_down, label, tab_where)
        except LayoutError as exc:
            first_error = first_error or exc
            continue  # without --tab: the first tab that has the header row
        read.kind = kind
        read.merged_filled = merged.filled if merged is not None else 0
        return read
    if first_error is None:
        raise SyncError("the spreadsheet has no tab", where=where)
    if len(titles) > 1:
        raise LayoutError(
            f"no tab has a header row with Phone and Agent ({first_error.message})",
            where=where,
            hint="pass --tab; tabs: " + ", ".join(titles),
        )
    raise first_error


# -- Google ----------------------------------------------------------------------------------------


class GoogleReader(Protocol):
    """What an import needs of ``sync.backends.google.GoogleBackend``: its sources and ``read``."""

    sources: dict[str, Any]

    def read(self, source: str) -> SourceSnapshot: ...


def google_tabs(google: GoogleReader, spec: SourceSpec) -> list[tuple[str, Grid]]:
    """The tab ``spec.tab`` (or, without it, every tab in order) of a Google spreadsheet.

    One Drive ``files.get`` and one ``values.batchGet`` (plus one ``spreadsheets.get``
    listing the tabs when no tab is named or the named one is missing), through the
    backend's rate limiter and bounded retries. Values are read unformatted: dates arrive
    as serial numbers, which the date fields parse.

    Raises:
        SourceError: the spreadsheet cannot be read (Google's status and message kept).
        SyncError: the named tab does not exist.
    """
    from sync.backends.google import SourceSpec as GoogleSpec

    address = f"{spec.location}#import"
    google.sources[address] = GoogleSpec(
        spreadsheet=spec.location,
        expected=(spec.tab,) if spec.tab else (),
        label="legacy sheet",
    )
    snapshot = google.read(address)
    if spec.tab is not None and not snapshot.tabs:
        raise SyncError(
            f"no tab '{spec.tab}'",
            where=f"spreadsheet {spec.location}",
            hint="pass the tab's title as it shows in Google Sheets, or leave out --tab",
        )
    return list(snapshot.tabs.items())


def _read(
    rows: Iterator[list[CellValue]],
    fields: tuple[Field, ...],
    opts: ParseOptions,
    skipped: set[str],
    fill_down: Sequence[str],
    label: str,
    where: str,
) -> SourceRead:
    rows = iter(rows)
    head: Grid = []
    for cells in rows:
        head.append(cells)
        if len(head) >= opts.header_scan_rows:
            break
    # A skipped (--map HEADER=-) column must not make a header row ambiguous, nor may a
    # column named by an import-only alias when the field's own header is there too.
    probe = [
        _prefer_built_in([None if header_key(cell_text(c)) in skipped else c for c in r], opts)
        for r in head
    ]
    try:
        header = find_header(probe, fields, required=("phone", "agent"), options=opts, where=where)
    except LayoutError as exc:
        raise LayoutError(
            exc.message,
            where=exc.where,
            hint=(exc.hint + "; " if exc.hint else "")
            + "name the agent column with --agent-column, map others with --map HEADER=field",
        ) from None
    titles = _unique_titles([_title(c) for c in head[header.row]])
    mapped_cols = set(header.columns.values())
    read = SourceRead(
        label=label,
        where=where,
        kind="",
        encoding=None,
        header_row=header.row + 1,
        columns={key: titles[col] for key, col in header.columns.items()},
        unmapped=[
            t for i, t in enumerate(titles) if i not in mapped_cols and t != column_letter(i)
        ],
    )
    for index in range(header.row):
        text = " | ".join(cell_text(c) for c in head[index] if cell_text(c))
        if text:
            read.above_header.append((index + 1, text))
    fill_cols = _fill_columns(fill_down, titles, where)
    field_of = {titles[col]: key for key, col in header.columns.items()}
    sub = dataclasses.replace(header, row=-1)
    seen: Counter[str] = Counter()
    last: dict[int, CellValue] = {}
    batch: Grid = []
    first = header.row + 1  # 0-based grid index of the batch's first row

    def flush() -> None:
        nonlocal first
        for parsed, raw_cells in zip(parse_rows(batch, sub, fields, opts), batch, strict=True):
            cells: dict[str, str] = {}
            for i, v in enumerate(raw_cells):
                if v is None:
                    continue
                text = v.strip() if type(v) is str else cell_text(v)
                if text:
                    cells[titles[i] if i < len(titles) else column_letter(i)] = text
            if not cells:
                read.blank_rows += 1
                continue
            values = {k: v for k, v in parsed.values.items() if v is not None}
            content = {field_of.get(t, "?" + t): x for t, x in cells.items()}
            read.rows.append(
                SourceRow(
                    first + parsed.index + 1,
                    values,
                    tuple(parsed.issues),
                    cells,
                    _digest(content, seen),  # by field: renaming a column changes nothing
                )
            )
        first += len(batch)
        batch.clear()

    for cells in _chain(head[header.row + 1 :], rows):
        if fill_cols and any(cell_text(c) for c in cells):
            for col in fill_cols:
                value = cells[col] if col < len(cells) else None
                if cell_text(value):
                    last[col] = value
                elif col in last:
                    cells = list(cells) + [None] * (col + 1 - len(cells))
                    cells[col] = last[col]
                    read.filled_down += 1
        batch.append(cells)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return read


def _prefer_built_in(cells: list[CellValue], opts: ParseOptions) -> list[CellValue]:
    """Drop cells named by an import-only alias of a field another cell of the row names
    by a built-in or configured header ("Tel" beside "Phone")."""
    base = header_index(tuple(CUSTOMER_FIELDS), {k: list(v) for k, v in opts.extra_aliases.items()})
    keys = [header_key(cell_text(c)) for c in cells]
    named = {base[k] for k in keys if k in base}
    return [
        None if k not in base and _IMPORT_ONLY.get(k) in named else c
        for c, k in zip(cells, keys, strict=True)
    ]


def _chain(
    first: Iterable[list[CellValue]], rest: Iterator[list[CellValue]]
) -> Iterator[list[CellValue]]:
    yield from first
    yield from rest


def _unique_titles(titles: list[str]) -> list[str]:
    """Column titles as keys: a blank one is its letter, a repeated one gets its letter."""
    out: list[str] = []
    for i, title in enumerate(titles):
        if not title:
            out.append(column_letter(i))
        elif title in out or titles.count(title) > 1:
            out.append(f"{title} ({column_letter(i)})")
        else:
            out.append(title)
    return out


def _title(cell: CellValue) -> str:
    return " ".join(cell_text(cell).split())


def _fill_columns(fill_down: Sequence[str], titles: list[str], where: str) -> list[int]:
    cols = []
    folded = [header_key(t) for t in titles]
    for name in fill_down:
        key = header_key(name)
        if key not in folded:
            raise SyncError(
                f"--fill-down '{name}': no such column in the header row",
                where=where,
                hint=f"columns: {', '.join(t for t in titles if t)}",
            )
        cols.append(folded.index(key))
    return cols


def _digest(content: Mapping[str, str], seen: Counter[str]) -> str:
    """The ledger key of a row: its content by field, plus which occurrence of it this is."""
    body = "\x1e".join(f"{k}\x1f{v}" for k, v in sorted(content.items()))
    base = hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]
    seen[base] += 1
    return base if seen[base] == 1 else f"{base}#{seen[base]}"


# -- CSV -------------------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode(data: bytes, encoding: str | None, *, where: str) -> tuple[str, str]:
    """Decode a CSV file: the given encoding, else a BOM, else UTF-8, else a detected one.

    Returns:
        The text and the encoding used (with "(detected)" when charset-normalizer chose it).

    Raises:
        SyncError: the bytes are not text in the given (or any detectable) encoding.
    """
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise SyncError(f"unknown encoding '{encoding}'", hint="e.g. utf-8, cp1256") from None
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise SyncError(
                f"not valid {encoding} at byte {exc.start}",
                where=where,
                hint="leave out --encoding to detect it",
            ) from None
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data.decode(name), name
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise SyncError(
            "cannot tell the file's encoding", where=where, hint="pass --encoding, e.g. cp1256"
        )
    return str(best), f"{best.encoding} (detected)"


DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}


def choose_delimiter(
    text: str, given: str | None, index: Mapping[str, str]
) -> tuple[str, str, str]:
    """The CSV delimiter: given, from Excel's ``sep=`` first line, or detected.

    Detection looks at the rows where the header may be (a title line above it is
    common) and takes the delimiter that splits one of them into the most known
    headers; csv.Sniffer over the whole text is only the fallback, because a title
    line such as "Customers, March" fools it.

    Returns:
        The text (without a ``sep=`` line), the delimiter, and how it was chosen.
    """
    first_line = text[:12].split("\n", 1)[0].strip()
    if first_line.lower().startswith("sep=") and len(first_line) == 5:
        text = text.split("\n", 1)[1] if "\n" in text else ""
        if given is None:
            return text, first_line[4], "from the sep= line"
    if given is not None:
        return text, given, "given"
    lines = text.splitlines()[:HEADER_SCAN_ROWS]
    best, chosen = 1, None
    for delimiter in DELIMITER_NAMES:
        for cells in csv.reader(lines, delimiter=delimiter):
            known = {index.get(header_key(cell)) for cell in cells} - {None}
            if len(known) > best:
                best, chosen = len(known), delimiter
    if chosen is not None:
        return text, chosen, "detected from the header"
    try:
        return text, csv.Sniffer().sniff(text[:65536], delimiters=",;\t|").delimiter, "detected"
    except csv.Error:
        return text, ",", "default"


def _csv_rows(text: str, delimiter: str) -> Iterator[list[CellValue]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for record in reader:
        yield list(record)


# -- .xlsx -----------------------------------------------------------------------------------------


def _open_xlsx(path: Path, tab: str | None) -> tuple[Any, Any]:
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise SourceError(
            f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})", where=str(path)
        ) from None
    if tab is None:
        sheets = list(book.worksheets)
    else:
        wanted = header_key(tab)
        sheets = [ws for ws in book.worksheets if header_key(ws.title) == wanted][:1]
        if not sheets:
            book.close()
            raise SyncError(
                f"no tab '{tab}'",
                where=str(path),
                hint=f"tabs: {', '.join(ws.title for ws in book.worksheets)}",
            )
    for sheet in sheets:
        sheet.reset_dimensions()  # some writers store a wrong size; read to the end instead
    return book, sheets


def _xlsx_rows(sheet: Any) -> Iterator[list[CellValue]]:
    for values in sheet.iter_rows(min_row=1, values_only=True):
        yield [_xlsx_value(v) for v in values]


def _xlsx_value(value: object) -> CellValue:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time() else value
    if isinstance(value, dt.date):
        return value
    return str(value)


_MERGE_TAG = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}mergeCell"


class MergedCells:
    """Merged ranges over several rows: their first column is filled down.

    An agent's name merged over that agent's block of rows means the same value on each
    row; a range over a single row (a title across the sheet) fills nothing.
    """

    def __init__(self, sheet: Any) -> None:
        self.tops: dict[tuple[int, int], int] = {}  # (row, col) of a top-left cell -> last row
        self.by_row: dict[int, list[tuple[int, tuple[int, int]]]] = {}  # row -> (col, top-left)
        self.values: dict[tuple[int, int], CellValue] = {}
        self.filled = 0
        from openpyxl.utils.cell import range_boundaries

        try:
            source = sheet._get_source()  # read-only worksheets expose no merged_cells
        except AttributeError:
            return
        with source:
            for _event, elem in ET.iterparse(source):
                if elem.tag == _MERGE_TAG:
                    min_col, min_row, _max_col, max_row = range_boundaries(elem.get("ref", ""))
                    if max_row > min_row:
                        top = (min_row - 1, min_col - 1)
                        self.tops[top] = max_row - 1
                        for r in range(min_row, max_row):
                            self.by_row.setdefault(r, []).append((min_col - 1, top))
                elem.clear()

    def fill(self, index: int, cells: list[CellValue]) -> list[CellValue]:
        """Row ``index`` (0-based) with its covered cells set to their range's value."""
        if not self.tops:
            return cells
        for col, value in enumerate(cells):
            if (index, col) in self.tops:
                self.values[(index, col)] = value
        for col, top in self.by_row.get(index, ()):
            if top in self.values and cell_text(self.values[top]):
                if col >= len(cells):
                    cells = cells + [None] * (col + 1 - len(cells))
                if not cell_text(cells[col]):
                    cells[col] = self.values[top]
                    self.filled += 1
        return cells
