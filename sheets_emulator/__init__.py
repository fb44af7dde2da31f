"""A loopback emulator of the Google Sheets v4 / Drive v3 subset that sheetsync uses.

Standard library only (openpyxl for .xlsx seeding). See :class:`Emulator`;
:func:`sheets_emulator.client.gspread_client` points gspread at a running emulator.
"""

from .api import ApiRequest, Options
from .errors import ApiError
from .faults import Fault, FaultInjector
from .server import Emulator

__all__ = ["ApiError", "ApiRequest", "Emulator", "Fault", "FaultInjector", "Options"]
