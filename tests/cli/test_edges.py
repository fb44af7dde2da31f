"""Nothing lost at the edges: every command, in every set-up problem, says one clear line.

The commands are taken from the typer app itself, so a new command is driven through
every scenario without anyone listing it here. Commands are run in-process through
``sync.cli.main`` (what the ``sheetsync`` script runs), output captured.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from sync import cli
from sync.cli.reference import command_paths
from tests.commands import Ran, run

CONFIG = """
[database]
url = "{url}"
[master]
workbook = "master.xlsx"
[[agents]]
key = "{key}"
name = "Ali Hassan"
workbook = "agents/ali.xlsx"
"""
SQLITE = "sqlite:///sheetsync.db"
# Port 1 on the loopback refuses at once; the user name and password must never be shown.
UNREACHABLE = "postgresql+psycopg://bob:s3cret-pw@127.0.0.1:1/sheetsync"

# Commands that never open the database, and why.
NO_DATABASE = {
    "demo": "writes its own configuration and database in --dir (tests/cli/test_cli.py)",
    "emulator": "serves spreadsheets until Ctrl-C; it has no database",
    "check": "checks the spreadsheets, not the database",
}
# Commands that create the database: "before init" does not apply to them.
CREATE_DATABASE = {"init", "import"}
# Choices a command needs that its signature cannot say (exactly one of several flags).
CHOICE = {("conflicts", "resolve"): ["--keep"]}
# Commands that do not read the configuration at all.
NO_CONFIG = {"demo"}


def arguments(path: tuple[str, ...], cwd: Path) -> list[str]:
    """The command with a value for each required argument and option."""
    group: Any = typer.main.get_command(cli.app)
    for name in path:
        group = group.commands[name]
    args: list[str] = [*path, *CHOICE.get(path, [])]
    for param in group.params:
        if not param.required:
            continue
        value = "1"  # an ID, a number, a name: every argument takes it
        if path == ("import",):
            value = str(cwd / "team.csv")
        if param.param_type_name == "option":
            args += [param.opts[0], value]
        else:
            args.append(value)
    return args


def deployment(tmp_path: Path, url: str = SQLITE, key: str = "ali") -> Path:
    (tmp_path / "sheetsync.toml").write_text(CONFIG.format(url=url, key=key), encoding="utf-8")
    (tmp_path / "team.csv").write_text("Name,Phone,Agent\nAhmed,01001234567,ali\n", "utf-8")
    return tmp_path


def one_error_line(ran: Ran) -> str:
    assert "Traceback" not in ran.out + ran.err
    assert ran.out == ""
    lines = ran.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), ran.err
    return lines[0]


COMMANDS = command_paths(cli.app)
NAMES = [" ".join(p) for p in COMMANDS]


def test_the_command_list_is_the_apps_and_the_exemptions_are_real_commands():
    assert {"sync", "status", "conflicts", "conflicts resolve", "report commission"} <= set(NAMES)
    assert set(NO_DATABASE) | CREATE_DATABASE | NO_CONFIG <= set(NAMES)


@pytest.mark.parametrize("path", COMMANDS, ids=NAMES)
def test_before_init_every_command_says_run_init_and_creates_nothing(tmp_path, path):
    if path[0] in NO_DATABASE or path[0] in CREATE_DATABASE:
        pytest.skip(f"{path[0]} does not need an initialised database")
    root = deployment(tmp_path)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    ran = run(root, *arguments(path, root))
    line = one_error_line(ran)
    assert ran.code == 2
    assert f"SQLite database {root.resolve() / 'sheetsync.db'}" in line
    assert "run `sheetsync init` first" in line
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


@pytest.mark.parametrize("path", COMMANDS, ids=NAMES)
def test_with_the_database_unreachable_every_command_says_where_without_the_password(
    tmp_path, path
):
    if path[0] in NO_DATABASE:
        pytest.skip(f"{path[0]}: {NO_DATABASE[path[0]]}")
    root = deployment(tmp_path, UNREACHABLE)
    ran = run(root, *arguments(path, root))
    line = one_error_line(ran)
    assert ran.code == 1
    assert "cannot reach PostgreSQL at 127.0.0.1:1/sheetsync" in line
    assert "s3cret-pw" not in line and "bob" not in line


@pytest.mark.parametrize("path", COMMANDS, ids=NAMES)
def test_with_a_bad_config_every_command_names_the_file_and_key(tmp_path, path):
    if path[0] in NO_CONFIG:
        pytest.skip(f"{path[0]} does not read the configuration")
    root = deployment(tmp_path, key="Ali")
    ran = run(root, *arguments(path, root))
    line = one_error_line(ran)
    assert ran.code == 2
    assert "sheetsync.toml: agents[0] (Ali).key: String should match pattern" in line
    assert "'^[a-z0-9][a-z0-9_.-]*$'" in line  # rich markup once ate "[a-z0-9]"
    assert not (root / "sheetsync.db").exists()


def test_a_database_without_tables_says_run_init(tmp_path):
    root = deployment(tmp_path)
    (root / "sheetsync.db").write_bytes(b"")  # e.g. made by an older sheetsync's status
    line = one_error_line(run(root, "status"))
    assert "has no sheetsync tables yet (run `sheetsync init` first)" in line


def test_a_database_a_newer_sheetsync_migrated_is_refused_in_one_line(tmp_path):
    root = deployment(tmp_path)
    assert run(root, "init").code == 0
    with sqlite3.connect(root / "sheetsync.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    for command in ("sync", "init", "status"):
        ran = run(root, command)
        line = one_error_line(ran)
        assert ran.code == 2, command
        assert "at revision 9999, which this sheetsync (up to " in line, command
        assert "a newer sheetsync migrated it (run that newer sheetsync" in line, command


# -- one line each: encodings, folders, full disks, patterns, help -------------------------


def test_a_config_that_is_not_utf8_is_one_line(tmp_path):
    root = deployment(tmp_path)
    text = (root / "sheetsync.toml").read_text(encoding="utf-8").replace("Ali Hassan", "علي")
    (root / "sheetsync.toml").write_bytes(text.encode("cp1256"))
    ran = run(root, "status")
    line = one_error_line(ran)
    assert ran.code == 2
    assert "sheetsync.toml: not UTF-8 text (byte 0x" in line and "save it as UTF-8" in line


def test_a_sqlite_folder_that_cannot_be_created_is_one_line(tmp_path):
    root = deployment(tmp_path, url="sqlite:///blocker/data/sheetsync.db")
    (root / "blocker").write_text("a file where the folder should be", encoding="utf-8")
    ran = run(root, "init")
    line = one_error_line(ran)
    assert ran.code == 2
    assert f"database.url ({root.resolve() / 'blocker/data'}): cannot create the folder" in line


def _disk_failure_mid_savepoint(url: str) -> BaseException:
    """The exception chain a full disk leaves behind, made by SQLite itself.

    On SQLITE_IOERR SQLite rolls the whole transaction back; the savepoint's rollback
    then fails with "no such savepoint", raised while handling the I/O error.
    """
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from sync.db import make_engine, session_factory, transaction
    from sync.schema import upgrade_schema

    engine = make_engine(url)
    upgrade_schema(engine)
    try:
        with transaction(session_factory(engine)) as s, s.begin_nested():
            s.connection().exec_driver_sql("ROLLBACK")  # what SQLite does on SQLITE_IOERR
            raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("disk I/O error"))
    except Exception as exc:  # noqa: BLE001 - the chain is the point
        assert "savepoint" in str(exc)  # what users used to see as the last line
        return exc
    finally:
        engine.dispose()
    raise AssertionError("no error")


def test_a_full_disk_names_the_disk_not_the_savepoint(tmp_path, monkeypatch):
    root = deployment(tmp_path)
    assert run(root, "init").code == 0
    failure = _disk_failure_mid_savepoint(f"sqlite:///{tmp_path / 'other.db'}")

    def lookup(*_args: object) -> None:
        raise failure

    monkeypatch.setattr(cli.service, "lookup", lookup)
    ran = run(root, "lookup", "01001234567")
    line = one_error_line(ran)
    assert ran.code == 1
    assert "disk I/O error" in line and "is the disk full" in line
    assert "savepoint" not in line


def test_an_unforeseen_error_is_one_line_naming_where_it_was_raised(tmp_path, monkeypatch):
    root = deployment(tmp_path)
    assert run(root, "init").code == 0

    def lookup(*_args: object) -> None:
        raise KeyError("Customer #")

    monkeypatch.setattr(cli.service, "lookup", lookup)
    line = one_error_line(run(root, "lookup", "01001234567"))
    assert "unexpected KeyError at test_edges.py:" in line and "--verbose" in line


def test_a_config_without_agents_warns(tmp_path):
    (tmp_path / "sheetsync.toml").write_text('[master]\nworkbook = "master.xlsx"\n', "utf-8")
    ran = run(tmp_path, "init")
    assert ran.code == 0
    assert "warning: the configuration has no [[agents]]: there is nothing to sync" in ran.err


@pytest.mark.parametrize("path", COMMANDS, ids=NAMES)
def test_help_shows_brackets_rewraps_sentences_and_no_bool_placeholders(path, tmp_path):
    ran = run(tmp_path, *path, "-h")
    assert ran.code == 0
    assert "<bool>" not in ran.out


def test_import_help_shows_agents_blocks_and_rewrapped_paragraphs(tmp_path):
    text = run(tmp_path, "import", "-h").out
    assert "[[agents]]" in text
    # The docstring's source line ends at "trackings;": the help rewraps the paragraph.
    (line,) = [line for line in text.splitlines() if "Rows of one phone" in line]
    assert not line.rstrip().endswith("trackings;")


# -- exit codes as documented -------------------------------------------------------------


def test_run_once_exits_1_while_a_source_backs_off_and_health_says_since_when(
    tmp_path, monkeypatch
):
    import re

    from sqlalchemy import select, update

    from sync.db import make_engine, session_factory
    from sync.health import health
    from sync.model import Agent, SyncRun
    from sync.worker import Worker

    # In-process `run` must not take over pytest's SIGINT/SIGTERM handling.
    monkeypatch.setattr(Worker, "install_signal_handlers", lambda self: None)
    root = deployment(tmp_path)
    assert run(root, "init").code == 0
    (root / "agents/.~lock.ali.xlsx#").write_text("user,host", encoding="utf-8")  # open in Excel

    assert run(root, "sync").code == 1  # by hand: ali failed once
    backed_off = run(root, "run", "--once")  # ali sits this cycle out
    assert "1 backed off" in backed_off.err
    assert backed_off.code == 1  # the README: 1 partial

    engine = make_engine(f"sqlite:///{root / 'sheetsync.db'}")
    with session_factory(engine)() as s:
        ali = s.execute(select(Agent)).scalar_one()
        first_run = s.execute(select(SyncRun).order_by(SyncRun.id)).scalars().first()
        assert first_run is not None and ali.failing_since is not None
        assert abs((ali.failing_since - first_run.started_at).total_seconds()) < 60
    shown = run(root, "health")
    since = re.search(r"failing ali: 1 in a row since (\S+)", shown.out)
    assert since is not None and since.group(1) != "?", shown.out

    # A database from before failing_since was kept: found from the runs' errors.
    with session_factory(engine)() as s, s.begin():
        s.execute(update(Agent).values(failing_since=None))
    (failing,) = health(engine).as_dict()["failing_sources"]
    assert failing["failing_since"] == first_run.started_at.replace(microsecond=0).isoformat() + "Z"
    engine.dispose()


# -- the README and the demo say what works --------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_usages() -> list[str]:
    """The command syntax of the README's command table (its first column)."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## Commands")
    table = text[start : text.index("\n## ", start)]  # to the next section
    spans: list[str] = []
    for line in table.splitlines():
        if line.startswith("| `"):
            spans += re.findall(r"`([^`]+)`", line.split(" | ")[0])
    return spans


@pytest.mark.parametrize("usage", readme_usages())
def test_the_readmes_command_table_parses_as_the_cli_does(usage):
    tokens = re.findall(r"[^\s\[\]|\\]+", usage)
    command: Any = typer.main.get_command(cli.app)
    while tokens and tokens[0] in getattr(command, "commands", {}):
        command = command.commands[tokens.pop(0)]
    options = {o: p for p in command.params if p.param_type_name == "option" for o in p.opts}
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    positional = 0
    while tokens:
        token = tokens.pop(0)
        if token.startswith("-"):
            assert token in options, f"{usage}: {token} is not an option of this command"
            if not options[token].is_flag:
                assert tokens, f"{usage}: {token} needs a value"
                tokens.pop(0)
        else:
            positional += 1
    assert positional <= len(arguments), f"{usage}: more arguments than the command takes"
    required = [o for o in options.values() if o.required]
    for option in required:
        assert any(opt in usage for opt in option.opts), f"{usage}: lacks {option.opts[0]}"


def test_the_readme_says_how_the_postgresql_tests_run():
    quick = README.read_text(encoding="utf-8").split("```")[1]
    assert "whole test suite" not in quick
    assert "SHEETSYNC_TEST_PG_URL=" in quick


@pytest.mark.parametrize(
    ("argv0", "expected"),
    [
        (".venv/bin/sheetsync", ".venv/bin/sheetsync"),
        ("{cwd}/.venv/bin/sheetsync", ".venv/bin/sheetsync"),
        ("/opt/elsewhere/bin/sheetsync", "/opt/elsewhere/bin/sheetsync"),
        ("{path}/sheetsync", "sheetsync"),  # on PATH: the bare name works
        ("{cwd}/sync/__main__.py", "{python} -m sync"),
    ],
    ids=["relative", "absolute-below-cwd", "elsewhere", "on-path", "python-m"],
)
def test_the_demo_suggests_the_command_as_it_was_run(tmp_path, monkeypatch, argv0, expected):
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / "sheetsync").write_text("#!/bin/sh\n", encoding="utf-8")
    (on_path / "sheetsync").chmod(0o755)
    monkeypatch.setenv("PATH", str(on_path))
    monkeypatch.chdir(tmp_path)
    python = cli._relative(sys.executable)
    fill = {"cwd": str(tmp_path), "path": str(on_path), "python": python}
    assert cli.command_as_invoked(argv0.format(**fill)) == expected.format(**fill)


def test_the_worker_logs_the_full_disk_too(tmp_path):
    from sync.logs import safe_error

    failure = _disk_failure_mid_savepoint(f"sqlite:///{tmp_path / 'full.db'}")
    assert safe_error(failure) == "database error (OperationalError): disk I/O error"
