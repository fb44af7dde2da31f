"""What ``sheetsync check`` found, on any backend: access to every source and, on Google,
layout drift and who else can open each spreadsheet (:mod:`sync.backends.google.audit`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CheckReport", "SourceCheck"]


@dataclass
class SourceCheck:
    """What ``check`` found for one spreadsheet."""

    source: str
    spreadsheet: str
    title: str = ""
    access: str = "ok"
    drift: list[str] = field(default_factory=list)
    sharing: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return (self.access != "ok") + len(self.drift) + len(self.sharing)


@dataclass
class CheckReport:
    """Everything ``sheetsync check`` reports."""

    backend: str
    identity: str
    sources: list[SourceCheck] = field(default_factory=list)
    layout: list[str] = field(default_factory=list)  # privacy of the layout itself

    @property
    def problems(self) -> int:
        return sum(s.problems for s in self.sources) + len(self.layout)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "problems": self.problems}
