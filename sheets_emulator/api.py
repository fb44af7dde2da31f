"""The request object handlers receive, and the options they honour."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sheets_emulator.errors import ApiError
from sheets_emulator.model import Spreadsheet, Store


@dataclass
class Options:
    """Behaviour switches of an emulator instance.

    Attributes:
        cell_limit: Cells per spreadsheet (Google: 10,000,000).
        metadata_follows_sort: Whether row developer metadata moves with sorted values.
    """

    cell_limit: int = 10_000_000
    metadata_follows_sort: bool = False


@dataclass
class ApiRequest:
    """One HTTP request as the handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = ""
    params: dict[str, str] = field(default_factory=dict)

    def q(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def flag(self, name: str) -> bool:
        """A boolean query parameter (``true``/``True``/``1``)."""
        return (self.q(name) or "").lower() in ("true", "1")

    @property
    def spreadsheet_id(self) -> str | None:
        """The spreadsheet/file id of the path, if any."""
        return self.params.get("id")

    def json_body(self) -> dict[str, Any]:
        """The body as a JSON object (``{}`` when absent)."""
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise ApiError(400, "Invalid JSON payload received. Expected an object.")
        return self.body


def get_spreadsheet(store: Store, spreadsheet_id: str | None) -> Spreadsheet:
    """The spreadsheet or Google's 404."""
    ss = store.spreadsheets.get(spreadsheet_id or "")
    if ss is None:
        raise ApiError(404, "Requested entity was not found.")
    return ss
