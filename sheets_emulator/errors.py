"""Google-format API errors raised by the emulator's handlers.

Sheets answers errors as ``{"error": {"code", "message", "status"}}`` (``google.rpc``);
Drive v3 adds an ``errors`` list with ``domain``/``reason`` (its classic envelope).
"""

from __future__ import annotations

from typing import Any

STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

DEFAULT_MESSAGES: dict[int, str] = {
    401: (
        "Request is missing required authentication credential. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project."
    ),
    404: "Requested entity was not found.",
    429: (
        "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute per user' "
        "of service 'sheets.googleapis.com' (emulated)."
    ),
    500: "Internal error encountered.",
    502: "Bad Gateway",
    503: "The service is currently unavailable.",
    504: "The request timed out.",
}

DRIVE_REASONS: dict[int, tuple[str, str]] = {
    400: ("global", "badRequest"),
    401: ("global", "authError"),
    403: ("global", "forbidden"),
    404: ("global", "notFound"),
    429: ("usageLimits", "rateLimitExceeded"),
    500: ("global", "backendError"),
    503: ("global", "backendError"),
}


class ApiError(Exception):
    """An error answered to the client in Google's JSON format.

    Args:
        code: HTTP status code.
        message: Human-readable message (Google's wording where known).
        api: ``"sheets"`` or ``"drive"``: selects the error envelope.
        details: Optional extra ``details`` list (Sheets) for the body.
    """

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        api: str = "sheets",
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        self.code = code
        self.message = message or DEFAULT_MESSAGES.get(code, "Error")
        self.api = api
        self.details = details
        super().__init__(f"{code}: {self.message}")

    def body(self) -> dict[str, Any]:
        """Return the JSON body Google would send for this error."""
        return error_body(self.code, self.message, api=self.api, details=self.details)


def error_body(
    code: int,
    message: str | None = None,
    *,
    api: str = "sheets",
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Build an error body in the Sheets (``google.rpc``) or Drive v3 envelope."""
    message = message or DEFAULT_MESSAGES.get(code, "Error")
    if api == "drive":
        domain, reason = DRIVE_REASONS.get(code, ("global", "error"))
        return {
            "error": {
                "code": code,
                "message": message,
                "errors": [{"message": message, "domain": domain, "reason": reason}],
            }
        }
    err: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if details:
        err["details"] = details
    return {"error": err}


def bad_request(message: str) -> ApiError:
    """A 400 INVALID_ARGUMENT error with ``message``."""
    return ApiError(400, message)


def invalid_value(field: str, value: Any, type_name: str) -> ApiError:
    """Google's protobuf decoding error for a JSON value of the wrong type."""
    import json

    shown = json.dumps(value, ensure_ascii=False)
    message = f"Invalid value at '{field}' ({type_name}), {shown}"
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": field, "description": message}],
        }
    ]
    return ApiError(400, message, details=details)
