"""Configuration: validated, with messages that name the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config import load_config
from sync.errors import ConfigError

GOOD = """
[database]
url = "sqlite:///data/sheetsync.db"
[phones]
default_region = "EG"
[master]
workbook = "master.xlsx"
[[agents]]
key = "ali"
name = "Ali Hassan"
email = "ali@company.com"
workbook = "agents/ali.xlsx"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sheetsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.database_url() == f"sqlite:///{tmp_path.resolve() / 'data/sheetsync.db'}"
    assert config.agent_source(config.agents[0]) == str(tmp_path.resolve() / "agents/ali.xlsx")
    assert config.sync.commission_rule == "first_to_complete"


def test_example_config_is_valid():
    config = load_config(Path(__file__).resolve().parents[2] / "config" / "example.toml")
    assert config.agents and config.aliases


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('default_region = "EG"', 'default_region = "XX"'),
            "phones.default_region: Value error, 'XX'",
        ),
        (
            ('key = "ali"', 'key = "Ali Hassan"'),
            "agents[0] (Ali Hassan).key: String should match pattern",
        ),
        (('workbook = "agents/ali.xlsx"', ""), "agents[0] (ali).workbook: Field required"),
        (
            ("[master]", '[sync]\ntimezone = "Mars/Base"\n[master]'),
            "sync.timezone: Value error, 'Mars/Base'",
        ),
        (
            ("[master]", '[sync]\ncommission_rule = "most"\n[master]'),
            "sync.commission_rule: Input should be",
        ),
        (
            ("[master]", "[sync]\nmass_removal_threshold = 2\n[master]"),
            "sync.mass_removal_threshold",
        ),
        (
            ("[master]", '[aliases]\nfone = ["x"]\n[master]'),
            "aliases: Value error, 'fone' is not a field",
        ),
        (("[master]", "[surprise]\n[master]"), "surprise: Extra inputs are not permitted"),
    ],
    ids=[
        "region",
        "agent-key",
        "missing-workbook",
        "timezone",
        "commission",
        "threshold",
        "alias",
        "unknown-section",
    ],
)
def test_bad_config_names_the_key_and_the_problem(tmp_path, change, expected):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.exit_code == 2


def test_duplicate_agent_is_refused(tmp_path):
    text = GOOD + GOOD[GOOD.index("[[agents]]") :].replace("agents/ali.xlsx", "agents/other.xlsx")
    with pytest.raises(ConfigError, match="agent key 'ali' appears twice"):
        load_config(write(tmp_path, text))


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[database\n"))


SARA = """
[[agents]]
key = "sara"
name = "Sara Ahmed"
workbook = "{book}"
"""


@pytest.mark.parametrize(
    ("master", "sara", "expected"),
    [
        (
            "agents/ali.xlsx",
            "agents/sara.xlsx",
            "agents[0] (ali).workbook: is the same file as master.workbook",
        ),
        (
            "master.xlsx",
            "./agents/../agents/ali.xlsx",
            "agents[1] (sara).workbook: is the same file as agents[0] (ali).workbook",
        ),
        (
            "master.xlsx",
            "shortcut.xlsx",  # a symlink to agents/ali.xlsx
            "agents[1] (sara).workbook: is the same file as agents[0] (ali).workbook",
        ),
        (
            "master-link.xlsx",  # a symlink to agents/sara.xlsx
            "agents/sara.xlsx",
            "agents[1] (sara).workbook: is the same file as master.workbook",
        ),
    ],
    ids=["master-is-an-agents", "dot-dot-path", "symlinked-agent", "symlinked-master"],
)
def test_two_sources_that_are_one_file_are_refused_naming_both_keys(
    tmp_path, master, sara, expected
):
    (tmp_path / "agents").mkdir()
    (tmp_path / "shortcut.xlsx").symlink_to(tmp_path / "agents/ali.xlsx")
    (tmp_path / "master-link.xlsx").symlink_to(tmp_path / "agents/sara.xlsx")
    text = GOOD.replace('workbook = "master.xlsx"', f'workbook = "{master}"') + SARA.format(
        book=sara
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert expected in str(info.value)
    assert info.value.exit_code == 2


def test_a_hard_link_to_the_master_is_refused(tmp_path):
    (tmp_path / "agents").mkdir()
    (tmp_path / "master.xlsx").write_bytes(b"PK")
    (tmp_path / "agents/ali.xlsx").hardlink_to(tmp_path / "master.xlsx")
    with pytest.raises(ConfigError, match=r"agents\[0\] \(ali\).workbook: is the same file as"):
        load_config(write(tmp_path, GOOD))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("[master]", "[databse]\n[master]"),
            "databse: Extra inputs are not permitted; did you mean 'database'?",
        ),
        (
            ('workbook = "master.xlsx"', 'workbok = "master.xlsx"'),
            "master.workbok: Extra inputs are not permitted; did you mean 'workbook'?",
        ),
        (
            ('email = "ali@company.com"', 'emial = "ali@company.com"'),
            "agents[0] (ali).emial: Extra inputs are not permitted; did you mean 'email'?",
        ),
        (("[master]", "[surprise]\n[master]"), "surprise: Extra inputs are not permitted"),
    ],
    ids=["section", "master-key", "agent-key", "nothing-close"],
)
def test_an_unknown_key_suggests_the_close_one(tmp_path, change, expected):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace(*change)))
    assert expected in str(info.value)
    if "did you mean" not in expected:
        assert "did you mean" not in str(info.value)


def test_a_config_without_agents_has_a_warning(tmp_path):
    assert load_config(write(tmp_path, GOOD)).warnings() == []
    (warning,) = load_config(write(tmp_path, GOOD[: GOOD.index("[[agents]]")])).warnings()
    assert "no [[agents]]" in warning
