"""A loopback emulator of the Google Sheets v4 / Drive v3 subset that sheetsync uses.

Standard library only (openpyxl for .xlsx seeding). See :class:`Emulator`;
:func:`sheets_emulator.client.gspread_client` points gspread at a running emulator.
"""

from sheets_emulator.api import ApiRequest, Options
from sheets_emulator.errors import ApiError
from sheets_emulator.faults import Fault, FaultInjector
from sheets_emulator.server import Emulator

__all__ = ["ApiError", "ApiRequest", "Emulator", "Fault", "FaultInjector", "Options"]
