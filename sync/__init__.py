"""sheetsync: one canonical customer per phone number from many agents' spreadsheets."""

__version__ = "0.1.0"

DEFAULT_CONFIG = "sheetsync.toml"
"""The configuration file commands read when ``--config`` is not given."""
