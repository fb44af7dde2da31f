"""Modules loaded on first use, so that ``sheetsync --help`` starts without the database,
spreadsheet and reporting stacks (SQLAlchemy's ORM, openpyxl, calamine, gspread,
matplotlib): a command imports what it needs when it runs.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """``name`` as a module whose code runs at its first attribute access.

    Already imported modules are returned as they are. See ``importlib.util.LazyLoader``.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
