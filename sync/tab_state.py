"""What a tab's state keeps besides its rows, by name (``SheetState.snapshot``).

The column holds JSON; code reads and writes it through :class:`TabSnapshot`, whose
fields say what each part is for, never through dict keys. The JSON is the one earlier
versions wrote: a part left at its default is not stored, and a part this version does
not know is kept as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Layout:
    """Where an agent's Customers tab has its header (0-based row) and each field's
    column: what setting its rows without reading it needs."""

    row: int
    columns: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "columns": dict(self.columns)}


@dataclass
class TabSnapshot:
    """A tab's state besides its rows and version.

    Attributes:
        layout: an agent's Customers tab: where its header and columns are, as last
            written (None: not known, so its rows are not set without reading it).
        accept_removal: an agent's tab: an admin accepted a mass removal, applied once.
        digest: a master tab: the digest of its rows as written
            (:func:`sync.sheet_rows.tab_digest`).
        rows: a master tab: how many rows under its header were written.
        order: a master row tab: what says its rows are still those written
            (:class:`sync.row_order.RowOrder`).
        keys: a small master tab: the digest of its rows' keys, in order.
        resolutions: the master's Conflicts tab: the words the admin typed that are
            still to apply, by conflict id.
        errors: the master's Conflicts tab: why a typed resolution was not applied.
        audit: the master's Conflicts tab, an agent's Check tab: the newest audit event
            it has seen.
        team: the master's Conflicts tab, an agent's Check tab: the digest of the team it
            was rendered for.
        asked: an agent's Check tab: phone -> what the sync did with its ``yes``
            (:func:`sync.check.next_asked`).
        checks: an agent's Check tab: phone -> [``yes`` when it asked to add, then the
            answer as written (:meth:`sync.check.Answer.as_list`)].
        zone: the master's Conflicts tab: the zone its times were shown in.
        language: the master's Conflicts tab: the language it was shown in (None: English,
            or written before there was a choice).
        conflicts_from: the master's Conflicts tab: the digest of what its rows were
            rendered from (:func:`sync.master.conflicts_source`; None: not known).
        other: parts written by another version, kept as they are (a master's bases
            of an earlier version: ``shared``, ``commission``).
    """

    layout: Layout | None = None
    accept_removal: bool = False
    digest: str | None = None
    rows: int | None = None
    order: dict[str, Any] | None = None
    keys: str | None = None
    resolutions: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    audit: int | None = None
    team: str | None = None
    asked: dict[str, str] = field(default_factory=dict)
    checks: dict[str, list[str]] = field(default_factory=dict)
    zone: str | None = None
    language: str | None = None
    conflicts_from: str | None = None
    other: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TabSnapshot:
        data = dict(data or {})
        layout = data.pop("layout", None)
        known = {f.name for f in fields(cls)} - {"layout", "other"}
        parts = {name: data.pop(name) for name in list(data) if name in known}
        return cls(
            layout=Layout(layout["row"], dict(layout["columns"])) if layout else None,
            other=data,
            **parts,
        )

    def as_json(self) -> dict[str, Any]:
        """The JSON to store: the parts not at their defaults, and the others kept."""
        found: dict[str, Any] = dict(self.other)
        for f in fields(self):
            if f.name == "other":
                continue
            value = getattr(self, f.name)
            if value is None or value is False or value == {}:
                continue
            found[f.name] = value.as_json() if isinstance(value, Layout) else value
        return found
