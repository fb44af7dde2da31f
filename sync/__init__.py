"""sheetsync: one canonical customer per phone number from many agents' spreadsheets."""

__version__ = "0.1.0"
