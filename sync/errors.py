"""The one family of errors users can meet.

Every error says what went wrong, where (file, tab, row, column or config key)
and, when we know it, how to fix it.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error sheetsync reports to a user."""

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(SyncError):
    """The configuration file is missing, unreadable or invalid."""

    exit_code = 2


class SourceError(SyncError):
    """A spreadsheet source cannot be read or written this cycle."""


class SourceLocked(SourceError):
    """A workbook someone else holds (open in Excel or LibreOffice, or being written by
    another sheetsync process); it is skipped for now and taken again later.

    Args:
        holder: who holds it, as in "it is open in LibreOffice or Excel (lock file …)".
    """

    def __init__(
        self,
        message: str,
        *,
        holder: str = "locked",
        where: str | None = None,
        hint: str | None = None,
    ):
        self.holder = holder
        super().__init__(message, where=where, hint=hint)


class LayoutError(SourceError):
    """A tab is missing or its header row cannot be understood."""
