"""Where a source address points in Google: the spreadsheet and its tabs' titles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["SourceSpec"]


@dataclass(frozen=True)
class SourceSpec:
    """What the backend knows of one source address.

    Attributes:
        spreadsheet: the Google spreadsheet id.
        tabs: logical tab name ("Customers") -> title in this spreadsheet, when renamed.
        expected: the logical tabs ``read`` fetches (empty: every tab of the spreadsheet).
        label: how messages name the source ("agent ali", "master").
    """

    spreadsheet: str
    tabs: Mapping[str, str] = field(default_factory=dict)
    expected: tuple[str, ...] = ()
    label: str = ""

    def title(self, logical: str) -> str:
        """The tab title a logical tab name has in this spreadsheet."""
        return self.tabs.get(logical, logical)

    @property
    def where(self) -> str:
        short = self.spreadsheet if len(self.spreadsheet) <= 16 else self.spreadsheet[:12] + "…"
        return f"{self.label} (spreadsheet {short})" if self.label else f"spreadsheet {short}"
