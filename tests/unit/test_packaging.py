"""What a wheel of sheetsync holds: `init` migrates from the installed package alone."""

from __future__ import annotations

import tomllib
from pathlib import Path

from sync.schema import MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]


def test_every_migration_file_is_package_data():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package = ROOT / "sync"
    assert MIGRATIONS.is_relative_to(package)  # shipped inside the package, not beside it
    shipped = {
        path
        for glob in project["tool"]["setuptools"]["package-data"]["sync"]
        for path in package.glob(glob)
    }
    files = {
        path for path in MIGRATIONS.rglob("*") if path.is_file() and "__pycache__" not in path.parts
    }
    assert MIGRATIONS / "env.py" in files
    assert MIGRATIONS / "versions" / "0001_initial_schema.py" in files
    assert sorted(files - shipped) == []
