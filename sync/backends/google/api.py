"""Talking to Google: credentials, the gspread client, and one rate-limited, retried request.

Every request of the Google backend goes through :meth:`GoogleApi.call`, which

* takes a slot from the per-minute limiter of its quota kind (Sheets reads or writes; Drive
  requests are not counted against the Sheets quota),
* retries 429/500/502/503/504, timeouts and broken connections a bounded number of times
  (``Retry-After`` honoured, see :mod:`sync.limits`),
* turns every failure into a :class:`GoogleError` (a :class:`SourceError`) that keeps
  Google's status code and message — and never shows credentials.
"""

from __future__ import annotations

import collections
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
import requests

from sync.errors import ConfigError, SourceError
from sync.limits import RETRY_STATUSES, Limits, RetryPolicy, Transient, parse_retry_after

log = logging.getLogger("sheetsync.google")

SHEETS = "https://sheets.googleapis.com/v4/spreadsheets"
DRIVE = "https://www.googleapis.com/drive/v3"
SCOPES = (
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive.readonly",
)

READ_KINDS = frozenset(
    {
        "sheets.spreadsheets.get",
        "sheets.values.get",
        "sheets.values.batchGet",
        "sheets.values.batchGetByDataFilter",
        "sheets.developerMetadata.get",
        "sheets.developerMetadata.search",
    }
)


def quota_of(kind: str) -> str | None:
    """The Sheets quota a request kind counts against ("read"/"write"), None for Drive."""
    if not kind.startswith("sheets."):
        return None
    return "read" if kind in READ_KINDS else "write"


class GoogleError(SourceError):
    """A Google request failed for good (after retries, or not worth retrying).

    Attributes:
        status: Google's HTTP status code (None for a timeout or a broken connection).
        google_message: Google's error message, as Google wrote it.
        kind: the request kind, e.g. ``sheets.values.batchGet``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        google_message: str = "",
        kind: str = "",
        where: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.google_message = google_message
        self.kind = kind
        super().__init__(message, where=where, hint=hint)


# ---------------------------------------------------------------------------------------------
# credentials
# ---------------------------------------------------------------------------------------------

_SA_FIELDS = ("type", "client_email", "private_key", "token_uri")


def _service_account(info: Any, origin: str) -> Any:
    """Service-account credentials from parsed JSON; errors name ``origin`` only."""
    from google.oauth2 import service_account

    if not isinstance(info, dict):
        raise ConfigError(f"{origin} does not hold a JSON object (a service-account key)")
    missing = [f for f in _SA_FIELDS if not info.get(f)]
    if missing:
        raise ConfigError(
            f"{origin} is not a service-account key: missing {', '.join(missing)}",
            hint="download a JSON key from Google Cloud console > IAM > Service accounts > Keys",
        )
    if info.get("type") != "service_account":
        raise ConfigError(
            f"{origin} is a '{str(info.get('type'))[:40]}' credential, not a service account",
            hint="use google.oauth_token_file for OAuth user credentials",
        )
    try:
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except Exception:  # noqa: BLE001 - the message could quote the key: never show it
        raise ConfigError(
            f"{origin}: the private key of this service-account key cannot be loaded",
            hint="download a new JSON key for the service account",
        ) from None


def _read_json(path: Path, origin: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{origin} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {origin}: {exc.strerror or type(exc).__name__}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigError(
            f"{origin} is not valid JSON" + (f" (line {line})" if line else "")
        ) from None


def load_credentials(
    *,
    credentials_file: Path | None = None,
    credentials_env: str = "",
    oauth_token_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Any:
    """Credentials from the ``[google]`` settings, or None when none is configured.

    Raises:
        ConfigError: naming the file or the environment variable, never their content.
    """
    env = os.environ if environ is None else environ
    if credentials_env:
        origin = f"environment variable {credentials_env}"
        text = env.get(credentials_env)
        if not text:
            raise ConfigError(f"{origin} is not set or empty (google.credentials_env)")
        try:
            info = json.loads(text)
        except ValueError:
            raise ConfigError(f"{origin} does not hold valid JSON") from None
        return _service_account(info, origin)
    if credentials_file is not None:
        origin = f"credentials file {credentials_file}"
        return _service_account(_read_json(credentials_file, origin), origin)
    if oauth_token_file is not None:
        from google.oauth2.credentials import Credentials

        origin = f"OAuth token file {oauth_token_file}"
        info = _read_json(oauth_token_file, origin)
        try:
            return Credentials.from_authorized_user_info(info, scopes=list(SCOPES))
        except Exception:  # noqa: BLE001 - never echo a token
            raise ConfigError(
                f"{origin} is not an authorized-user JSON (client_id, client_secret, refresh_token)"
            ) from None
    return None


def identity_of(credentials: Any) -> str | None:
    """The account the credentials act as, when they say (service accounts do)."""
    email = getattr(credentials, "service_account_email", None)
    return email if isinstance(email, str) and email else None


def make_client(credentials: Any, *, endpoint: str = "", timeout: float = 30.0) -> Any:
    """A ``gspread.Client`` (plain ``HTTPClient``: retries are ours, and bounded).

    Args:
        endpoint: base URL of an emulator; empty for Google itself.
    """
    from gspread import Client
    from gspread.http_client import HTTPClient

    if endpoint:
        from sheets_emulator.client import gspread_client

        return gspread_client(endpoint, credentials, timeout=timeout)
    if credentials is None:
        raise ConfigError(
            "no Google credentials configured",
            where="google",
            hint="set google.credentials_file (a service-account JSON key) or credentials_env",
        )
    client = Client(auth=credentials, http_client=HTTPClient)
    client.set_timeout(timeout)
    return client


# ---------------------------------------------------------------------------------------------
# one request
# ---------------------------------------------------------------------------------------------


def classify(exc: BaseException) -> Transient | None:
    """Whether a failed request is worth retrying, and after how long."""
    from google.auth import exceptions as auth_errors
    from gspread.exceptions import APIError

    if isinstance(exc, APIError):
        if exc.code in RETRY_STATUSES:
            header = exc.response.headers.get("Retry-After") if exc.response is not None else None
            return Transient(exc.code, parse_retry_after(header), _api_message(exc))
        return None
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return Transient(None, None, type(exc).__name__)
    if isinstance(exc, auth_errors.TransportError):
        return Transient(None, None, "token endpoint unreachable")
    if isinstance(exc, auth_errors.RefreshError) and getattr(exc, "retryable", False):
        return Transient(None, None, "token refresh failed")
    return None


def _api_message(exc: Any) -> str:
    error = getattr(exc, "error", None)
    if isinstance(error, Mapping):
        return str(error.get("message", ""))[:500]
    return ""


_HINTS = {
    401: "check the credentials in the [google] section",
    403: "share the spreadsheet with the service account as Editor",
    404: "check the spreadsheet id, and share it with the service account",
    429: "Google's per-minute quota was exceeded; lower google.read_per_minute/write_per_minute",
}


def to_source_error(exc: BaseException, kind: str, where: str | None) -> SourceError:
    """A :class:`GoogleError` for any failure of one request (no credentials in it)."""
    from google.auth import exceptions as auth_errors
    from gspread.exceptions import APIError

    api = "Drive" if kind.startswith("drive.") else "Sheets"
    if isinstance(exc, APIError):
        status = exc.code if isinstance(exc.code, int) else None
        text = _api_message(exc)
        state = exc.error.get("status", "") if isinstance(exc.error, Mapping) else ""
        return GoogleError(
            f"Google {api} answered {status} {state}: {text}".replace("  ", " "),
            status=status,
            google_message=text,
            kind=kind,
            where=where,
            hint=_HINTS.get(status or 0),
        )
    if isinstance(exc, requests.Timeout):
        return GoogleError(f"Google {api} did not answer in time ({kind})", kind=kind, where=where)
    if isinstance(exc, requests.ConnectionError):
        return GoogleError(f"cannot reach Google {api} ({kind})", kind=kind, where=where)
    if isinstance(exc, auth_errors.GoogleAuthError):
        reason = str(exc.args[0])[:200] if exc.args and isinstance(exc.args[0], str) else ""
        return GoogleError(
            "cannot authenticate with Google" + (f": {reason}" if reason else ""),
            kind=kind,
            where=where,
            hint=_HINTS[401],
        )
    return GoogleError(f"Google {api} request failed: {type(exc).__name__}", kind=kind, where=where)


class GoogleApi:
    """Rate-limited, retried requests through a lazily built gspread client.

    Args:
        client_factory: builds the ``gspread.Client`` on first use (loading credentials).
        limits: the per-minute limiters.
        retry: the retry policy.
        identity: the account the credentials act as (for messages and the privacy audit).

    Attributes:
        counts: requests sent, by kind (retries included).
    """

    def __init__(
        self,
        client_factory: Callable[[], Any],
        *,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        identity: str | None = None,
    ) -> None:
        self._factory = client_factory
        self._client: Any = None
        self.limits = limits or Limits.per_minute()
        self.retry = retry or RetryPolicy()
        self.identity = identity
        self.counts: collections.Counter[str] = collections.Counter()

    @property
    def http(self) -> Any:
        """gspread's HTTP client (built on first use)."""
        if self._client is None:
            self._client = self._factory()
        return self._client.http_client

    def call(
        self,
        kind: str,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        where: str | None = None,
        retry: bool = True,
    ) -> Any:
        """Send one request; returns the JSON answer (None for an empty one).

        Args:
            kind: the request kind (``sheets.values.batchGet``...), for quota and counters.
            retry: False for a request whose outcome must be checked before resending
                (a values write): a transient failure is raised as :class:`TransientFailure`.

        Raises:
            GoogleError: the request failed for good.
            TransientFailure: ``retry`` is False and the failure was transient.
        """
        quota = quota_of(kind)

        # Bodies and answers are JSON of millions of cells in a cold cycle: orjson does
        # them several times faster than the standard library (what it refuses, it leaves).
        try:
            data = None if body is None else orjson.dumps(body)
        except TypeError:
            data = None
        payload = {"json": body} if data is None and body is not None else {}
        headers = {"Content-Type": "application/json"} if data is not None else None

        def attempt() -> Any:
            self.limits.acquire(quota)
            self.counts[kind] += 1
            response = self.http.request(
                method, url, params=params, data=data, headers=headers, **payload
            )
            return _answer(response.content)

        def on_retry(n: int, why: Transient) -> None:
            log.info(
                "%s %s: retry %d after %s %s", kind, where or "", n + 1, why.status, why.reason
            )

        try:
            if not retry:
                return attempt()
            return self.retry.run(attempt, classify, on_retry=on_retry)
        except Exception as exc:
            if isinstance(exc, SourceError):
                raise
            transient = classify(exc)
            error = to_source_error(exc, kind, where)
            if not retry and transient is not None:
                raise TransientFailure(error, transient) from None
            raise error from None


def _answer(content: bytes) -> Any:
    """A response's JSON (None for an empty one)."""
    if not content:
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


class TransientFailure(Exception):
    """A request sent with ``retry=False`` failed transiently; its outcome is unknown."""

    def __init__(self, error: SourceError, transient: Transient) -> None:
        super().__init__(str(error))
        self.error = error
        self.transient = transient
