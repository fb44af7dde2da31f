"""Pointing gspread (and any ``requests``-based Google client) at an emulator.

gspread builds absolute URLs from constants (``https://sheets.googleapis.com/v4/...``,
``https://www.googleapis.com/drive/v3/...``). Rather than patching those module constants,
the session gets a transport adapter that rewrites the scheme and host of every request to
Google's API hosts (and the OAuth token host) to the emulator's base URL. Paths and query
strings are sent unchanged, so the emulator sees exactly what Google would.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

GOOGLE_HOSTS = (
    "https://sheets.googleapis.com/",
    "https://www.googleapis.com/",
    "https://oauth2.googleapis.com/",
)


class RedirectAdapter(HTTPAdapter):
    """A transport adapter that sends requests for Google's hosts to ``target`` instead.

    Args:
        target: Emulator base URL, e.g. ``http://127.0.0.1:8765``.
    """

    def __init__(self, target: str, **kwargs: Any) -> None:
        self.target = target.rstrip("/")
        super().__init__(**kwargs)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        """Rewrite the URL to the emulator, then send as usual."""
        parts = urlsplit(request.url or "")
        request.url = self.target + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, stream, timeout, verify, cert, proxies)


def mount(session: requests.Session, emulator_url: str) -> requests.Session:
    """Route ``session``'s Google API traffic to ``emulator_url``; returns the session."""
    adapter = RedirectAdapter(emulator_url)
    for prefix in GOOGLE_HOSTS:
        session.mount(prefix, adapter)
    return session


def emulator_session(emulator_url: str, credentials: Any = None) -> requests.Session:
    """An ``AuthorizedSession`` whose requests (and token refreshes) reach the emulator.

    Args:
        emulator_url: Emulator base URL.
        credentials: google-auth credentials; default: a static bearer token.
    """
    from google.auth.transport.requests import AuthorizedSession, Request
    from google.oauth2.credentials import Credentials

    creds = credentials if credentials is not None else Credentials(token="emulator-token")
    auth_request = Request(mount(requests.Session(), emulator_url))
    session = AuthorizedSession(creds, auth_request=auth_request)
    return mount(session, emulator_url)


def gspread_client(
    emulator_url: str,
    credentials: Any = None,
    *,
    timeout: float | tuple[float, float] | None = None,
    http_client: Any = None,
) -> Any:
    """A ``gspread.Client`` that talks to the emulator at ``emulator_url``.

    Args:
        emulator_url: Emulator base URL (``Emulator.url``).
        credentials: google-auth credentials (service account, OAuth user...); their token
            refreshes go to the emulator's ``/token`` too. Default: a static bearer token.
        timeout: Request timeout in seconds (or ``(connect, read)``).
        http_client: gspread HTTP client class (default ``gspread.http_client.HTTPClient``).
    """
    import gspread
    from gspread.http_client import HTTPClient

    session = emulator_session(emulator_url, credentials)
    client = gspread.Client(
        auth=None,  # type: ignore[arg-type]
        session=session,
        http_client=http_client or HTTPClient,
    )
    if credentials is not None:
        client.http_client.auth = credentials
    if timeout is not None:
        client.set_timeout(timeout)
    return client
