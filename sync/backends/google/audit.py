"""``sheetsync check`` for Google: credentials, access, layout drift and a privacy audit.

For every configured spreadsheet (each agent's and the master):

* access: Drive ``files.get`` answers (the spreadsheet exists and is shared with us);
* layout drift: what ``init`` would change (the same planning, without writing);
* sharing: every permission other than the agent (for an agent's spreadsheet), the
  service account and the admins is reported — "anyone with the link" and whole
  domains included. The master may be shared with the admins only.

Agents whose tabs live in one shared spreadsheet are reported as not private: every
editor of a spreadsheet sees all of its tabs (protected ranges restrict editing, never
viewing).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sync.backends.google.api import DRIVE
from sync.backends.google.backend import GoogleBackend
from sync.checked import CheckReport, SourceCheck
from sync.config import Config
from sync.errors import SourceError

_DRIFT = [
    (re.compile(r"^added tab (.+)$"), r"tab \1 is missing"),
    (re.compile(r"^added column (.+) to (.+)$"), r"\2 lacks column \1"),
    (re.compile(r"^formatted (.+) as text$"), r"\1 is not formatted as plain text"),
    (re.compile(r"^set dropdown of (.+)$"), r"\1 lacks its dropdown"),
    (re.compile(r"^protected (.+) \(only sheetsync edits it\)$"), r"\1 is not protected"),
    (re.compile(r"^froze the header row of (.+)$"), r"the header row of \1 is not frozen"),
    (re.compile(r"^added a filter to (.+)$"), r"\1 has no filter"),
    (re.compile(r"^coloured (.+)$"), r"the header of \1 is not coloured"),
    (re.compile(r"^highlighted due (.+)$"), r"\1 lacks the highlight of due dates"),
    (re.compile(r"^highlighted open (.+)$"), r"\1 lacks the highlight of open conflicts"),
]


def drift_text(change: str) -> str:
    """What ``init`` would change, said as what is wrong now."""
    for pattern, text in _DRIFT:
        if pattern.match(change):
            return pattern.sub(text, change)
    return change


def sharing_findings(
    backend: GoogleBackend, spreadsheet: str, allowed: Iterable[str], where: str
) -> list[str]:
    """Every permission of a spreadsheet that is not one of the ``allowed`` emails."""
    ok = {e.strip().lower() for e in allowed if e}
    findings: list[str] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {
            "fields": "nextPageToken,permissions(id,type,role,emailAddress,domain,displayName)",
            "supportsAllDrives": "true",
            "pageSize": 100,
        }
        if token:
            params["pageToken"] = token
        data = backend.api.call(
            "drive.permissions.list",
            "GET",
            f"{DRIVE}/files/{spreadsheet}/permissions",
            params=params,
            where=where,
        )
        for perm in data.get("permissions", []):
            kind, role = perm.get("type"), perm.get("role", "?")
            if kind == "anyone":
                findings.append(f"anyone with the link can open it ({role})")
            elif kind == "domain":
                findings.append(f"everyone at {perm.get('domain', '?')} can open it ({role})")
            else:
                email = str(perm.get("emailAddress") or "").lower()
                if email not in ok:
                    who = email or perm.get("displayName") or perm.get("id")
                    findings.append(f"shared with {who} ({role})")
        token = data.get("nextPageToken")
        if not token:
            return findings


def check_google(
    config: Config,
    backend: GoogleBackend,
    agent_layouts: Mapping[str, Mapping[str, Any]],
    master_layout: Mapping[str, Any],
    aliases: Mapping[str, Sequence[str]],
) -> CheckReport:
    """Run every check; a failing spreadsheet is reported, not raised.

    Args:
        agent_layouts: language -> an agent's layout in it (each agent's sheet is held to
            its language's).
    """
    identity = backend.api.identity or "(unknown: set google.service_account_email)"
    report = CheckReport("google", identity)
    admins = list(config.google.admins)
    me = [backend.api.identity or ""]
    by_spreadsheet: dict[str, list[str]] = defaultdict(list)
    for agent in config.agents:
        by_spreadsheet[agent.spreadsheet].append(agent.key)
    for sid, keys in by_spreadsheet.items():
        if len(keys) > 1:
            report.layout.append(
                f"agents {', '.join(keys)} share spreadsheet {sid}: every editor sees every "
                "tab, so this tab-per-agent layout is not private (give each agent its own "
                "spreadsheet)"
            )
    targets: list[tuple[str, str, list[str], dict[str, Any]]] = []
    for agent in config.agents:
        sharers = [a.email for a in config.agents if a.spreadsheet == agent.spreadsheet]
        targets.append(
            (
                config.agent_source(agent),
                f"agent {agent.key}",
                [*sharers, *admins, *me],
                {**agent_layouts[agent.language], "aliases": aliases},
            )
        )
    targets.append(
        (
            config.master_source(),
            "master",
            [*admins, *me],
            dict(master_layout),
        )
    )
    seen: set[str] = set()
    for source, label, allowed, layout in targets:
        spec = backend.spec(source)
        entry = SourceCheck(label, spec.spreadsheet)
        report.sources.append(entry)
        try:
            info = backend.api.call(
                "drive.files.get",
                "GET",
                f"{DRIVE}/files/{spec.spreadsheet}",
                params={"fields": "id,name,trashed", "supportsAllDrives": "true"},
                where=spec.where,
            )
            entry.title = str(info.get("name", ""))
            if info.get("trashed"):
                entry.access = "in the Drive trash"
                continue
            layout_args = dict(layout)
            tabs = layout_args.pop("tabs")
            changes = backend.ensure_layout(source, tabs, dry_run=True, **layout_args)
            entry.drift = [drift_text(c) for c in changes]
            if spec.spreadsheet not in seen:
                entry.sharing = sharing_findings(backend, spec.spreadsheet, allowed, spec.where)
        except SourceError as exc:
            entry.access = exc.message + (f" ({exc.hint})" if exc.hint else "")
        seen.add(spec.spreadsheet)
    return report
