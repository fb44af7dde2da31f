"""Drive v3 endpoints: files, permissions and changes (for spreadsheets)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sheets_emulator import fields
from sheets_emulator.api import ApiRequest, Options
from sheets_emulator.errors import ApiError
from sheets_emulator.model import SPREADSHEET_MIME, DriveFile, Store, rfc3339

Reply = tuple[int, dict[str, Any] | None]

FILE_DEFAULT = "kind,id,name,mimeType"
LIST_DEFAULT = "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)"
PERMISSION_DEFAULT = "kind,id,type,role"
CHANGES_DEFAULT = (
    "kind,nextPageToken,newStartPageToken,"
    "changes(kind,changeType,time,removed,fileId,file(kind,id,name,mimeType))"
)


def _not_found(file_id: str) -> ApiError:
    return ApiError(404, f"File not found: {file_id}.", api="drive")


def _file(store: Store, file_id: str) -> DriveFile:
    f = store.files.get(file_id)
    if f is None:
        raise _not_found(file_id)
    return f


def file_json(store: Store, f: DriveFile) -> dict[str, Any]:
    """The full Drive ``File`` resource of ``f``."""
    owner = next((p for p in f.permissions if p.get("role") == "owner"), None)
    owners = []
    if owner is not None:
        owners.append(
            {
                "kind": "drive#user",
                "displayName": owner.get("displayName", ""),
                "me": True,
                "permissionId": owner["id"],
                "emailAddress": owner.get("emailAddress", ""),
            }
        )
    out: dict[str, Any] = {
        "kind": "drive#file",
        "id": f.file_id,
        "name": f.name,
        "mimeType": f.mime_type,
        "starred": f.starred,
        "trashed": f.trashed,
        "explicitlyTrashed": f.trashed,
        "parents": list(f.parents),
        "version": str(f.version),
        "webViewLink": f"https://docs.google.com/spreadsheets/d/{f.file_id}/edit?usp=drivesdk",
        "createdTime": rfc3339(f.created_ms),
        "modifiedTime": rfc3339(f.modified_ms),
        "modifiedByMeTime": rfc3339(f.modified_ms),
        "modifiedByMe": True,
        "owners": owners,
        "lastModifyingUser": owners[0] if owners else {},
        "shared": len(f.permissions) > 1,
        "ownedByMe": True,
        "viewersCanCopyContent": True,
        "writersCanShare": True,
        "permissions": [dict(p) for p in f.permissions],
        "permissionIds": [p["id"] for p in f.permissions],
        "spaces": ["drive"],
    }
    if f.description is not None:
        out["description"] = f.description
    return out


def _masked(value: dict[str, Any], req: ApiRequest, default: str) -> dict[str, Any]:
    return fields.apply(value, fields.parse(req.q("fields") or default))


def files_create(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """POST /drive/v3/files (a spreadsheet; other MIME types are refused)."""
    body = req.json_body()
    mime = body.get("mimeType") or SPREADSHEET_MIME
    if mime != SPREADSHEET_MIME:
        raise ApiError(400, f"The emulator only creates {SPREADSHEET_MIME} files.", api="drive")
    ss = store.create_spreadsheet(body.get("name") or "Untitled spreadsheet")
    f = store.files[ss.spreadsheet_id]
    if body.get("parents"):
        f.parents = list(body["parents"])
    if body.get("description") is not None:
        f.description = body["description"]
    return 200, _masked(file_json(store, f), req, FILE_DEFAULT)


def files_get(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """GET /drive/v3/files/{id}?fields=..."""
    f = _file(store, req.params["id"])
    return 200, _masked(file_json(store, f), req, FILE_DEFAULT)


def files_update(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """PATCH /drive/v3/files/{id} (name, description, starred, trashed)."""
    f = _file(store, req.params["id"])
    body = req.json_body()
    if "name" in body and body["name"]:
        f.name = body["name"]
        ss = store.spreadsheets.get(f.file_id)
        if ss is not None:
            ss.title = f.name
    for key, attr in (
        ("description", "description"),
        ("starred", "starred"),
        ("trashed", "trashed"),
    ):
        if key in body:
            setattr(f, attr, body[key])
    store.touch(f.file_id)
    return 200, _masked(file_json(store, f), req, FILE_DEFAULT)


def files_delete(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """DELETE /drive/v3/files/{id} (permanent)."""
    _file(store, req.params["id"])
    store.delete_file(req.params["id"])
    return 204, None


_TERM = re.compile(
    r"""\s*(?:
      (?P<lp>\()|(?P<rp>\))|(?P<op>\band\b|\bor\b|\bnot\b)
      |(?P<str>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")
      |(?P<cmp>!=|<=|>=|=|<|>|\bcontains\b|\bin\b)
      |(?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE | re.IGNORECASE,
)


def _tokens(q: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(q):
        if q[pos:].strip() == "":
            break
        m = _TERM.match(q, pos)
        if not m or m.end() == pos:
            raise ApiError(400, f"Invalid Value: {q}", api="drive")
        kind = m.lastgroup or ""
        text = m.group(kind)
        if kind == "str":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        out.append((kind, text.lower() if kind in ("op", "cmp") else text))
        pos = m.end()
    return out


def _compare(f: dict[str, Any], field_name: str, op: str, value: str) -> bool:
    if field_name == "trashed" or field_name == "starred":
        actual: Any = str(f.get(field_name, False)).lower()
        value = value.lower()
    else:
        actual = f.get(field_name, "")
    if op == "=":
        return bool(actual == value)
    if op == "!=":
        return bool(actual != value)
    if op == "contains":
        return value.lower() in str(actual).lower()
    if op in ("<", ">", "<=", ">="):
        return bool(eval_cmp(str(actual), op, value))
    return False


def eval_cmp(a: str, op: str, b: str) -> bool:
    """String comparison (RFC 3339 times compare correctly as text)."""
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def matches_query(f: dict[str, Any], q: str) -> bool:
    """Evaluate a Drive ``q`` (name/mimeType/trashed/starred/times, 'x' in parents|owners)."""
    tokens = _tokens(q)
    pos = 0

    def expr() -> bool:
        nonlocal pos
        result = term()
        while pos < len(tokens) and tokens[pos] == ("op", "or"):
            pos += 1
            rhs = term()
            result = result or rhs
        return result

    def term() -> bool:
        nonlocal pos
        result = factor()
        while pos < len(tokens) and tokens[pos] == ("op", "and"):
            pos += 1
            rhs = factor()
            result = result and rhs
        return result

    def factor() -> bool:
        nonlocal pos
        if pos >= len(tokens):
            raise ApiError(400, f"Invalid Value: {q}", api="drive")
        kind, text = tokens[pos]
        if (kind, text) == ("op", "not"):
            pos += 1
            return not factor()
        if kind == "lp":
            pos += 1
            result = expr()
            pos += 1
            return result
        if kind == "str" and pos + 2 < len(tokens) and tokens[pos + 1] == ("cmp", "in"):
            where = tokens[pos + 2][1]
            pos += 3
            if where == "parents":
                return text in f.get("parents", [])
            if where == "owners":
                return any(o.get("emailAddress") == text for o in f.get("owners", []))
            if where in ("writers", "readers"):
                roles = {
                    "writers": ("owner", "writer"),
                    "readers": ("owner", "writer", "commenter", "reader"),
                }[where]
                return any(
                    p.get("emailAddress") == text and p.get("role") in roles
                    for p in f.get("permissions", [])
                )
            return False
        if kind == "word" and pos + 2 < len(tokens) and tokens[pos + 1][0] == "cmp":
            op = tokens[pos + 1][1]
            value = tokens[pos + 2][1]
            pos += 3
            return _compare(f, text, op, value)
        raise ApiError(400, f"Invalid Value: {q}", api="drive")

    result = expr()
    if pos != len(tokens):
        raise ApiError(400, f"Invalid Value: {q}", api="drive")
    return result


def files_list(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """GET /drive/v3/files?q=&pageSize=&pageToken=&orderBy="""
    q = req.q("q")
    items = [file_json(store, f) for f in store.files.values()]
    if q:
        items = [f for f in items if matches_query(f, q)]
    else:
        items = [f for f in items if not f["trashed"]]
    order = (req.q("orderBy") or "").split(",")[0].strip()
    if order:
        key, _, desc = order.partition(" ")
        items.sort(key=lambda f: str(f.get(key, "")), reverse=desc.strip() == "desc")
    else:
        items.sort(key=lambda f: f["modifiedTime"], reverse=True)
    size = min(int(req.q("pageSize") or 100), 1000)
    start = int(req.q("pageToken") or 0)
    page = items[start : start + size]
    out: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False, "files": page}
    if start + size < len(items):
        out["nextPageToken"] = str(start + size)
    return 200, _masked(out, req, LIST_DEFAULT)


# ------------------------------------------------------------------ permissions


def permissions_list(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """GET /drive/v3/files/{id}/permissions."""
    f = _file(store, req.params["id"])
    out = {"kind": "drive#permissionList", "permissions": [dict(p) for p in f.permissions]}
    mask = req.q("fields") or f"kind,permissions({PERMISSION_DEFAULT})"
    return 200, fields.apply(out, fields.parse(mask))


def permissions_create(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """POST /drive/v3/files/{id}/permissions (user, group, domain, anyone)."""
    f = _file(store, req.params["id"])
    body = req.json_body()
    ptype, role = body.get("type"), body.get("role")
    if ptype not in ("user", "group", "domain", "anyone"):
        raise ApiError(400, "Invalid permission type.", api="drive")
    if role not in ("owner", "organizer", "fileOrganizer", "writer", "commenter", "reader"):
        raise ApiError(400, "Invalid permission role.", api="drive")
    perm: dict[str, Any] = {
        "kind": "drive#permission",
        "type": ptype,
        "role": role,
        "deleted": False,
        "pendingOwner": False,
    }
    if ptype in ("user", "group"):
        email = body.get("emailAddress")
        if not email:
            raise ApiError(400, "The permission emailAddress field is required.", api="drive")
        existing = next((p for p in f.permissions if p.get("emailAddress") == email), None)
        if existing is not None:
            existing["role"] = role
            store.touch(f.file_id, modified=False)
            return 200, _masked(existing, req, PERMISSION_DEFAULT)
        perm["emailAddress"] = email
        perm["displayName"] = email.split("@")[0]
        perm["id"] = str(int(hashlib.sha1(email.encode()).hexdigest(), 16) % 10**20).rjust(20, "0")
    elif ptype == "domain":
        perm["domain"] = body.get("domain")
        perm["id"] = f"{body.get('domain')}"
    else:
        perm["id"] = "anyoneWithLink" if not body.get("allowFileDiscovery") else "anyone"
    f.permissions.append(perm)
    store.touch(f.file_id, modified=False)
    return 200, _masked(perm, req, PERMISSION_DEFAULT)


def permissions_delete(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """DELETE /drive/v3/files/{id}/permissions/{permissionId}."""
    f = _file(store, req.params["id"])
    pid = req.params["permissionId"]
    perm = next((p for p in f.permissions if p["id"] == pid), None)
    if perm is None:
        raise ApiError(404, f"Permission not found: {pid}.", api="drive")
    if perm.get("role") == "owner":
        raise ApiError(403, "The owner of a file cannot be removed.", api="drive")
    f.permissions.remove(perm)
    store.touch(f.file_id, modified=False)
    return 204, None


# ------------------------------------------------------------------ changes


def changes_start_token(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """GET /drive/v3/changes/startPageToken."""
    return 200, {"kind": "drive#startPageToken", "startPageToken": str(store.next_change_id)}


def changes_list(store: Store, opts: Options, req: ApiRequest) -> Reply:
    """GET /drive/v3/changes?pageToken=: the latest change per file since the token."""
    token = req.q("pageToken")
    if token is None:
        raise ApiError(400, "Required parameter: pageToken", api="drive")
    try:
        start = int(token)
    except ValueError:
        raise ApiError(400, f"Invalid Value: {token}", api="drive") from None
    size = min(int(req.q("pageSize") or 100), 1000)
    latest: dict[str, Any] = {}
    for ch in store.changes:
        if ch.change_id >= start:
            latest.pop(ch.file_id, None)
            latest[ch.file_id] = ch
    ordered = sorted(latest.values(), key=lambda c: c.change_id)
    page = ordered[:size]
    items = []
    for ch in page:
        item: dict[str, Any] = {
            "kind": "drive#change",
            "changeType": "file",
            "time": rfc3339(ch.time_ms),
            "removed": ch.file_id not in store.files,
            "fileId": ch.file_id,
        }
        if ch.file_id in store.files:
            item["file"] = file_json(store, store.files[ch.file_id])
        items.append(item)
    out: dict[str, Any] = {"kind": "drive#changeList", "changes": items}
    if len(ordered) > size:
        out["nextPageToken"] = str(page[-1].change_id + 1)
    else:
        out["newStartPageToken"] = str(store.next_change_id)
    return 200, _masked(out, req, CHANGES_DEFAULT)
