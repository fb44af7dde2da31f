"""Configuration: one TOML file, validated with pydantic.

Relative paths (the SQLite file, workbooks) are relative to the configuration
file, so a deployment directory can be moved as a whole.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import zoneinfo
from pathlib import Path
from typing import Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from sync.errors import ConfigError
from sync.fields import (
    CHECK_TAB,
    CUSTOMERS_TAB,
    FIELDS_BY_KEY,
    FOLLOW_UP_FIELDS_BY_KEY,
    FOLLOW_UPS_TAB,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Strict):
    url: str = "sqlite:///sheetsync.db"


class PhonesConfig(_Strict):
    default_region: str = "EG"

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"'{value}' is not an ISO 3166 region code libphonenumber knows (e.g. EG, SA, GB)"
            )
        return region


class SyncConfig(_Strict):
    backend: Literal["xlsx", "google"] = "xlsx"
    mass_removal_threshold: float = Field(0.5, gt=0, le=1)
    mass_removal_min_rows: int = Field(5, ge=1)
    commission_rule: Literal["first_to_complete", "split", "separate_opportunities"] = (
        "first_to_complete"
    )
    day_first: bool = True
    timezone: str = "Africa/Cairo"
    admin: str = "admin"
    flag_after_failures: int = Field(5, ge=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"'{value}' is not an IANA time zone (e.g. Africa/Cairo, UTC)"
            ) from None
        return value


class GoogleConfig(_Strict):
    """The ``[google]`` section: credentials, endpoint, quotas (see docs/google.md)."""

    credentials_file: str = ""  # service-account JSON key (path, relative to this file)
    credentials_env: str = ""  # name of an environment variable holding that JSON
    oauth_token_file: str = ""  # authorized-user JSON (OAuth user credentials), optional
    endpoint: str = ""  # e.g. "http://127.0.0.1:8765" for the emulator; empty: Google
    read_per_minute: int = Field(60, ge=1)
    write_per_minute: int = Field(60, ge=1)
    max_retries: int = Field(5, ge=0, le=20)
    timeout: float = Field(30.0, gt=0)
    revalidate: bool = True  # re-read the target tabs right before every write
    admins: list[str] = []
    service_account_email: str = ""

    @model_validator(mode="after")
    def _one_credential(self) -> GoogleConfig:
        given = [
            name
            for name in ("credentials_file", "credentials_env", "oauth_token_file")
            if getattr(self, name)
        ]
        if len(given) > 1:
            raise ValueError(f"set only one of {', '.join(given)}")
        if self.endpoint and not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint '{self.endpoint}' is not an http(s) URL")
        return self


class MasterConfig(_Strict):
    workbook: str = "master.xlsx"
    spreadsheet: str = ""  # Google spreadsheet id (backend "google")
    # The language of the master: its headers, header notes, the Resolution words it offers
    # and how to resolve, the choices it shows; right to left for Arabic. The admin's words
    # are read in either language.
    language: Literal["en", "ar"] = "en"


AGENT_TAB_NAMES = (CUSTOMERS_TAB, FOLLOW_UPS_TAB, CHECK_TAB)
"""The tabs of an agent's workbook, by the names ``tabs`` may rename."""


class AgentConfig(_Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    name: str = Field(min_length=1)
    email: str = ""
    workbook: str = ""
    spreadsheet: str = ""  # Google spreadsheet id (backend "google")
    # Tab titles in this agent's spreadsheet when they differ from "Customers"/"Follow-ups"/
    # "Check" (a tab per agent inside one shared spreadsheet; reported by `check` as not
    # private).
    tabs: dict[str, str] = {}
    # The language of this agent's sheet: the headers init makes, dropdowns, notes, the
    # Check tab's answers, laid out right to left for Arabic. Reading understands both.
    language: Literal["en", "ar"] = "en"

    @field_validator("tabs")
    @classmethod
    def _known_tabs(cls, value: dict[str, str]) -> dict[str, str]:
        for logical, title in value.items():
            if logical not in AGENT_TAB_NAMES:
                raise ValueError(
                    f"'{logical}' is not a tab; tabs are Customers, Follow-ups and Check"
                )
            if not title.strip():
                raise ValueError(f"the title of tab '{logical}' is empty")
        return value

    def tab_titles(self) -> dict[str, str]:
        """Logical tab -> its title in this agent's spreadsheet, for the tabs renamed. An
        agent whose tabs are renamed (colleagues' tabs may be beside them) has a Check tab
        of its own too: ``<Customers title> check`` unless ``tabs`` names it."""
        if not self.tabs or CHECK_TAB in self.tabs:
            return dict(self.tabs)
        customers = self.tabs.get(CUSTOMERS_TAB, CUSTOMERS_TAB)
        return {**self.tabs, CHECK_TAB: f"{customers} check"}


class Config(_Strict):
    database: DatabaseConfig = DatabaseConfig()
    phones: PhonesConfig = PhonesConfig()
    sync: SyncConfig = SyncConfig()
    master: MasterConfig = MasterConfig()
    google: GoogleConfig = GoogleConfig()
    aliases: dict[str, list[str]] = {}
    agents: list[AgentConfig] = []
    base_dir: Path = Path(".")

    @field_validator("aliases")
    @classmethod
    def _known_fields(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        known = set(FIELDS_BY_KEY) | set(FOLLOW_UP_FIELDS_BY_KEY)
        for key in value:
            if key not in known:
                raise ValueError(
                    f"'{key}' is not a field; known fields: {', '.join(sorted(known))}"
                )
        return value

    @model_validator(mode="after")
    def _unique_agents(self) -> Config:
        seen_keys: set[str] = set()
        google = self.sync.backend == "google"
        for i, agent in enumerate(self.agents):
            if agent.key in seen_keys:
                raise ValueError(f"agent key '{agent.key}' appears twice")
            seen_keys.add(agent.key)
            where = "spreadsheet" if google else "workbook"
            if not getattr(agent, where):
                raise PydanticCustomError(
                    "missing_source", f"agents[{i}] ({agent.key}).{where}: Field required"
                )
        if google:
            self._check_google_sources()
        else:
            self._check_workbooks()
        return self

    def _check_workbooks(self) -> None:
        """No two sources may be one file: an agent whose workbook is the master's (or a
        colleague's) would see every colleague's tracking. Paths are compared resolved
        (``./a.xlsx`` and ``a.xlsx``, symlinks), and as files when both exist (hard links)."""
        keys = [("master.workbook", self.master.workbook)] + [
            (f"agents[{i}] ({a.key}).workbook", a.workbook) for i, a in enumerate(self.agents)
        ]
        seen: list[tuple[str, Path]] = []
        for key, workbook in keys:
            path = self.path(workbook).resolve()
            for other_key, other in seen:
                if path == other or _same_file(path, other):
                    why = (
                        "agents must never see the master"
                        if other_key == "master.workbook"
                        else "each agent needs a workbook of their own"
                    )
                    raise PydanticCustomError(
                        "source_shared",
                        f"{key}: is the same file as {other_key} ({path}); {why}",
                    )
            seen.append((key, path))

    def _check_google_sources(self) -> None:
        if not self.master.spreadsheet:
            raise PydanticCustomError("missing_source", "master.spreadsheet: Field required")
        seen: dict[tuple[str, str], str] = {}
        for i, agent in enumerate(self.agents):
            if agent.spreadsheet == self.master.spreadsheet:
                raise PydanticCustomError(
                    "master_shared",
                    f"agents[{i}] ({agent.key}).spreadsheet: is the master spreadsheet; "
                    "agents must never see the master",
                )
            titles = agent.tab_titles()
            for logical in AGENT_TAB_NAMES:
                spot = (agent.spreadsheet, titles.get(logical, logical).strip().casefold())
                if spot in seen:
                    raise PydanticCustomError(
                        "tab_shared",
                        f"agents[{i}] ({agent.key}).tabs: tab "
                        f"'{titles.get(logical, logical)}' of spreadsheet "
                        f"{agent.spreadsheet} is already agent {seen[spot]}'s; give each "
                        "agent its own spreadsheet (or its own tab names)",
                    )
                seen[spot] = agent.key

    def warnings(self) -> list[str]:
        """What is allowed but probably not meant (printed by every command)."""
        if not self.agents:
            return [
                "the configuration has no [[agents]]: there is nothing to sync "
                "(add one [[agents]] block per agent)"
            ]
        return []

    def path(self, relative: str) -> Path:
        """A path from the configuration, resolved against the configuration's folder."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def database_url(self) -> str:
        """The database URL, with a relative SQLite path made relative to the config file."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and url != "sqlite:///:memory:":
            file = url[len(prefix) :]
            if file and not Path(file).is_absolute():
                return prefix + str(self.path(file).resolve())
        return url

    def agent_source(self, agent: AgentConfig) -> str:
        """The source address of an agent: a workbook path, or (backend "google") the
        spreadsheet id, followed by ``#<agent key>`` when the agent's tabs are renamed
        (several agents may then share one spreadsheet, each with its own source)."""
        if self.sync.backend == "google":
            return f"{agent.spreadsheet}#{agent.key}" if agent.tabs else agent.spreadsheet
        return str(self.path(agent.workbook))

    def master_source(self) -> str:
        if self.sync.backend == "google":
            return self.master.spreadsheet
        return str(self.path(self.master.workbook))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def load_config(path: str | Path) -> Config:
    """Read and validate a configuration file.

    Raises:
        ConfigError: naming the file and, for invalid values, the key and the problem.
    """
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            "configuration file not found",
            where=str(file),
            hint="pass --config PATH, or run `sheetsync demo` to see a working one",
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
            where=str(file),
            hint="save it as UTF-8 (in Notepad: Save as, Encoding: UTF-8)",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(file)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", where=str(file)) from None
    return config_from_dict(raw, base_dir=file.resolve().parent, where=str(file))


def config_from_dict(raw: dict, *, base_dir: Path, where: str = "configuration") -> Config:
    """Validate a configuration given as a dict (tests, the demo)."""
    if "base_dir" in raw:
        raise ConfigError("'base_dir' is not a configuration key", where=where)
    try:
        return Config.model_validate({**raw, "base_dir": base_dir})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = _key_path(raw, err["loc"])
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message += _did_you_mean(err["loc"])
            problems.append(f"{key}: {message}" if key else message)
        raise ConfigError("; ".join(problems), where=where) from None


_SECTIONS: dict[str, type[BaseModel]] = {
    "database": DatabaseConfig,
    "phones": PhonesConfig,
    "sync": SyncConfig,
    "master": MasterConfig,
    "google": GoogleConfig,
    "agents": AgentConfig,
}


def _did_you_mean(loc: tuple) -> str:
    """ "; did you mean 'workbook'?" for an unknown key close to a known one, else ""."""
    names = [item for item in loc if isinstance(item, str)]
    if not names:
        return ""
    section = _SECTIONS.get(names[0]) if len(names) > 1 else Config
    if section is None:
        return ""
    known = [name for name in section.model_fields if name != "base_dir"]
    close = difflib.get_close_matches(names[-1], known, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _key_path(raw: dict, loc: tuple) -> str:
    parts: list[str] = []
    node: object = raw
    for item in loc:
        if isinstance(item, int):
            name = ""
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                name = node[item].get("key", "")
            parts[-1] += f"[{item}]" + (f" ({name})" if name else "") if parts else f"[{item}]"
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)
