"""The HTTP server: routing, auth, counters, faults, and the :class:`Emulator` facade.

At this size because routing, the token check, the request counters and the injected
faults all act on the one request handler and the store it serves; the APIs themselves
are :mod:`sheets_emulator.spreadsheet_api`, ``values_api`` and ``drive_api``."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from os import PathLike
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sheets_emulator import drive_api, persist, spreadsheet_api, values_api
from sheets_emulator.api import ApiRequest, Options
from sheets_emulator.errors import ApiError, error_body
from sheets_emulator.faults import Fault, FaultInjector
from sheets_emulator.model import Store
from sheets_emulator.xlsx import dump_to_xlsx, seed_from_xlsx

Handler = Callable[[Store, Options, ApiRequest], tuple[int, Any]]

_SS = r"^/v4/spreadsheets/(?P<id>[^/:]+)"
_FILE = r"^/drive/v3/files/(?P<id>[^/]+)"


def _token(store: Store, opts: Options, req: ApiRequest) -> tuple[int, Any]:
    return 200, {"access_token": "emulator-token", "expires_in": 3600, "token_type": "Bearer"}


ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = [
    (m, re.compile(p), k, h)
    for m, p, k, h in [
        ("POST", r"^/token$", "oauth.token", _token),
        (
            "POST",
            r"^/v4/spreadsheets$",
            "sheets.spreadsheets.create",
            spreadsheet_api.spreadsheets_create,
        ),
        ("GET", _SS + r"$", "sheets.spreadsheets.get", spreadsheet_api.spreadsheets_get),
        (
            "POST",
            _SS + r":batchUpdate$",
            "sheets.spreadsheets.batchUpdate",
            spreadsheet_api.spreadsheets_batch_update,
        ),
        (
            "GET",
            _SS + r"/developerMetadata/(?P<metadataId>[^/:]+)$",
            "sheets.developerMetadata.get",
            spreadsheet_api.metadata_get,
        ),
        (
            "POST",
            _SS + r"/developerMetadata:search$",
            "sheets.developerMetadata.search",
            spreadsheet_api.metadata_search,
        ),
        ("GET", _SS + r"/values:batchGet$", "sheets.values.batchGet", values_api.values_batch_get),
        (
            "POST",
            _SS + r"/values:batchUpdate$",
            "sheets.values.batchUpdate",
            values_api.values_batch_update,
        ),
        (
            "POST",
            _SS + r"/values:batchClear$",
            "sheets.values.batchClear",
            values_api.values_batch_clear,
        ),
        (
            "POST",
            _SS + r"/values:batchGetByDataFilter$",
            "sheets.values.batchGetByDataFilter",
            values_api.values_batch_get_by_data_filter,
        ),
        (
            "POST",
            _SS + r"/values:batchUpdateByDataFilter$",
            "sheets.values.batchUpdateByDataFilter",
            values_api.values_batch_update_by_data_filter,
        ),
        (
            "POST",
            _SS + r"/values/(?P<range>.+):append$",
            "sheets.values.append",
            values_api.values_append,
        ),
        (
            "POST",
            _SS + r"/values/(?P<range>.+):clear$",
            "sheets.values.clear",
            values_api.values_clear,
        ),
        ("GET", _SS + r"/values/(?P<range>.+)$", "sheets.values.get", values_api.values_get),
        ("PUT", _SS + r"/values/(?P<range>.+)$", "sheets.values.update", values_api.values_update),
        ("POST", r"^/drive/v3/files$", "drive.files.create", drive_api.files_create),
        ("GET", r"^/drive/v3/files$", "drive.files.list", drive_api.files_list),
        ("GET", _FILE + r"$", "drive.files.get", drive_api.files_get),
        ("PATCH", _FILE + r"$", "drive.files.update", drive_api.files_update),
        ("DELETE", _FILE + r"$", "drive.files.delete", drive_api.files_delete),
        ("GET", _FILE + r"/permissions$", "drive.permissions.list", drive_api.permissions_list),
        (
            "POST",
            _FILE + r"/permissions$",
            "drive.permissions.create",
            drive_api.permissions_create,
        ),
        (
            "DELETE",
            _FILE + r"/permissions/(?P<permissionId>[^/]+)$",
            "drive.permissions.delete",
            drive_api.permissions_delete,
        ),
        (
            "GET",
            r"^/drive/v3/changes/startPageToken$",
            "drive.changes.getStartPageToken",
            drive_api.changes_start_token,
        ),
        ("GET", r"^/drive/v3/changes$", "drive.changes.list", drive_api.changes_list),
    ]
]

STOP_POLL = 0.01
"""Seconds between the server loop's looks at a stop request: ``stop`` waits up to this
long (a test suite starts and stops an emulator for every Google test)."""

# Google's read quota, as the emulator counts it. sync.backends.google.api keeps its own
# list for its rate limiter: the emulator stands in for Google and shares no table with
# the client it tests, so a wrong entry in one is caught by the other.
READ_KINDS = {
    "sheets.spreadsheets.get",
    "sheets.values.get",
    "sheets.values.batchGet",
    "sheets.values.batchGetByDataFilter",
    "sheets.developerMetadata.get",
    "sheets.developerMetadata.search",
}


def route(method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
    """Find the route for ``method`` + raw ``path``: (kind, handler, unquoted path params)."""
    for m, pattern, kind, handler in ROUTES:
        if m != method:
            continue
        match = pattern.match(path)
        if match:
            return kind, handler, {k: unquote(v) for k, v in match.groupdict().items()}
    return None


Response = tuple[int, list[tuple[str, str]], bytes]


def _json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
    hdrs = [("Content-Type", "application/json; charset=UTF-8")] + (headers or [])
    return status, hdrs, body


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Emulator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()  # connections a client keeps alive
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End the connections clients keep open: each one's thread waits for the next
        request and, with it, would keep the emulator and its spreadsheets alive."""
        with self._open_lock:
            still_open = list(self._open)
        for request in still_open:
            with contextlib.suppress(OSError):  # already closed by the client
                request.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes: without this, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, body = self.server.emulator.dispatch(self.command, self.path, headers, raw)
        try:
            self.send_response(status)
            for key, value in extra:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


class Emulator:
    """A loopback emulator of the Sheets v4 / Drive v3 subset sheetsync and gspread use.

    Args:
        state_dir: Directory for ``state.json`` (loaded at start, saved at stop/``save()``).
        host: Interface to bind (loopback only by default).
        port: TCP port; 0 picks a free one.
        cell_limit: Cells per spreadsheet before Google's 10M-cell error.
        metadata_follows_sort: Whether row developer metadata follows sortRange.
        seed: Seed for generated ids.
        owner_email: The account owning every file.
        clock: Time source in seconds (for modifiedTime).

    Example::

        with Emulator() as emu:
            gc = gspread_client(emu.url)
            sh = gc.create("demo")
    """

    def __init__(
        self,
        state_dir: str | PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cell_limit: int = 10_000_000,
        metadata_follows_sort: bool = False,
        seed: int | None = None,
        owner_email: str = "emulator@sheetsync.local",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.host = host
        self.port = port
        self.options = Options(cell_limit=cell_limit, metadata_follows_sort=metadata_follows_sort)
        self.store = Store(seed=seed, clock=clock, owner_email=owner_email)
        self.faults = FaultInjector()
        self.counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._inflight = 0
        if state_dir is not None:
            persist.load(self.store, state_dir)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Emulator:
        """Start serving in a background thread; returns ``self``."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _HTTPServer((self.host, self.port), _RequestHandler)
        server.emulator = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            args=(STOP_POLL,),
            name="sheets-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (waking delayed requests) and save state if a state_dir is set."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.state_dir is not None:
            self.save()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765``."""
        return f"http://{self.host}:{self.port}"

    def serve_until_signalled(self, autosave_seconds: float) -> None:
        """Serve (started already) until SIGINT or SIGTERM, saving the state every
        ``autosave_seconds`` when it changed and a ``state_dir`` is set; then stop."""
        stop = threading.Event()

        def _stop(signum: int, frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        while not stop.wait(autosave_seconds):
            if self.state_dir is not None and self.store.dirty:
                self.save()
        self.stop()

    def save(self) -> None:
        """Write the state to ``state_dir``."""
        if self.state_dir is None:
            raise ValueError("Emulator has no state_dir")
        persist.save(self.store, self.state_dir)

    # ------------------------------------------------------------ counters

    def reset_counts(self) -> None:
        """Zero the request counters."""
        with self._counts_lock:
            self.counts.clear()

    def count(self, pattern: str = "*") -> int:
        """Requests counted whose kind matches the fnmatch ``pattern`` (``"sheets.*"``)."""
        import fnmatch

        with self._counts_lock:
            return sum(n for k, n in self.counts.items() if fnmatch.fnmatchcase(k, pattern))

    def quota_counts(self) -> dict[str, int]:
        """Sheets requests split as Google's quota counts them: ``read`` and ``write``."""
        with self._counts_lock:
            reads = sum(n for k, n in self.counts.items() if k in READ_KINDS)
            writes = sum(
                n for k, n in self.counts.items() if k.startswith("sheets.") and k not in READ_KINDS
            )
        return {"read": reads, "write": writes}

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being processed (e.g. one delayed past a client timeout)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout)

    # ------------------------------------------------------------ dispatch

    def dispatch(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> Response:
        """Answer one HTTP request (used by the server; callable directly in tests)."""
        with self._idle:
            self._inflight += 1
        try:
            return self._dispatch(method, raw_path, headers, raw_body)
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    def _dispatch(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> Response:
        parts = urlsplit(raw_path)
        found = route(method, parts.path)
        if found is None:
            return _json_response(404, error_body(404, f"Not found: {method} {parts.path}"))
        kind, handler, params = found
        api = "drive" if kind.startswith("drive.") else "sheets"
        with self._counts_lock:
            self.counts[kind] += 1
        auth = headers.get("authorization", "")
        if kind != "oauth.token" and not auth.startswith("Bearer "):
            return _json_response(401, error_body(401, api=api))
        body: Any = None
        if raw_body and kind != "oauth.token":
            try:
                body = json.loads(raw_body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return _json_response(
                    400,
                    error_body(400, "Invalid JSON payload received. Unexpected token.", api=api),
                )
        query = parse_qs(parts.query, keep_blank_values=True)
        req = ApiRequest(method, parts.path, query, body, headers, kind, params)
        for hook in self.faults.hooks_for(req):
            hook.fn(kind, req)
        fault = self.faults.take(req)
        if fault is not None and fault.when == "before":
            reply = self._fault_reply(fault, api)
            if reply is not None:
                return reply
        try:
            with self.store.lock:
                status, payload = handler(self.store, self.options, req)
        except ApiError as err:
            status, payload = (
                err.code,
                error_body(err.code, err.message, api=err.api, details=err.details),
            )
        if fault is not None and fault.when == "after":
            reply = self._fault_reply(fault, api)
            if reply is not None:
                return reply
        return _json_response(status, payload)

    def _fault_reply(self, fault: Fault, api: str) -> Response | None:
        if fault.delay:
            self._stopping.wait(fault.delay)
        if fault.status is None:
            return None
        headers = []
        if fault.retry_after is not None:
            ra = fault.retry_after
            headers.append(("Retry-After", str(int(ra)) if float(ra).is_integer() else str(ra)))
        return _json_response(
            fault.status, error_body(fault.status, fault.message, api=api), headers
        )

    def before_request(
        self, fn: Callable[[str, ApiRequest], Any], *, kind: str = "*", times: int | None = None
    ) -> Any:
        """Call ``fn(kind, request)`` before matching requests are processed.

        Use it to edit a sheet between two requests of a client, as an agent typing during a
        sync cycle would (the hook may call :meth:`set_values` / :meth:`batch_update`).
        Returns the hook entry (pass it to ``faults.remove`` to unregister).
        """
        return self.faults.add_hook(fn, kind=kind, times=times)

    # ------------------------------------------------------------ direct API

    def call(
        self,
        kind: str,
        params: dict[str, str],
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """Run a handler directly (no HTTP, counters, faults or hooks); raises ApiError."""
        handler = next(h for _, _, k, h in ROUTES if k == kind)
        q = {k: v if isinstance(v, list) else [str(v)] for k, v in (query or {}).items()}
        req = ApiRequest("DIRECT", "", q, body, {}, kind, params)
        with self.store.lock:
            status, payload = handler(self.store, self.options, req)
        return payload

    def create_spreadsheet(self, title: str = "Untitled spreadsheet") -> str:
        """Create a spreadsheet (one ``Sheet1``, 1000 x 26); returns its id."""
        return str(self.call("drive.files.create", {}, body={"name": title})["id"])

    def get_values(
        self, spreadsheet_id: str, range_: str, render: str = "FORMATTED_VALUE"
    ) -> list[list[Any]]:
        """The values of a range, as values.get answers them."""
        out = self.call(
            "sheets.values.get",
            {"id": spreadsheet_id, "range": range_},
            query={"valueRenderOption": render},
        )
        return list(out.get("values", []))

    def set_values(
        self,
        spreadsheet_id: str,
        range_: str,
        values: list[list[Any]],
        input_option: str = "USER_ENTERED",
    ) -> dict[str, Any]:
        """Write values as a person typing would (bumps version/modifiedTime)."""
        return dict(
            self.call(
                "sheets.values.update",
                {"id": spreadsheet_id, "range": range_},
                query={"valueInputOption": input_option},
                body={"values": values},
            )
        )

    def batch_update(
        self, spreadsheet_id: str, requests: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Apply spreadsheets.batchUpdate requests; returns the replies."""
        out = self.call(
            "sheets.spreadsheets.batchUpdate", {"id": spreadsheet_id}, body={"requests": requests}
        )
        return list(out["replies"])

    def spreadsheet(self, spreadsheet_id: str, *, grid_data: bool = False) -> dict[str, Any]:
        """The spreadsheets.get resource."""
        return dict(
            self.call(
                "sheets.spreadsheets.get",
                {"id": spreadsheet_id},
                query={"includeGridData": str(grid_data).lower()},
            )
        )

    def file(self, spreadsheet_id: str) -> dict[str, Any]:
        """The Drive file resource (all fields)."""
        return dict(self.call("drive.files.get", {"id": spreadsheet_id}, query={"fields": "*"}))

    def seed_from_xlsx(
        self,
        path: str | PathLike[str],
        title: str | None = None,
        spreadsheet_id: str | None = None,
    ) -> str:
        """Create a spreadsheet from an .xlsx workbook (with the given id, if any); returns
        its id."""
        return seed_from_xlsx(self.store, path, title, spreadsheet_id)

    def dump_to_xlsx(self, spreadsheet_id: str, path: str | PathLike[str]) -> None:
        """Write a spreadsheet to an .xlsx workbook."""
        dump_to_xlsx(self.store, spreadsheet_id, path)
