"""Typed Baseten errors whose messages a person can act on.

Messages are built only from the HTTP status and the response body, never from request headers, so the
API key cannot leak into an exception text or a log line.
"""

from __future__ import annotations

from typing import Any


class BasetenError(Exception):
    """Anything that went wrong talking to Baseten."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class BasetenUnauthorized(BasetenError):
    pass


class BasetenNotFound(BasetenError):
    pass


class BasetenRejected(BasetenError):
    """Baseten refused the request as invalid (400, 409, 422)."""


class BasetenRateLimited(BasetenError):
    retryable = True

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


class BasetenUnavailable(BasetenError):
    """5xx, a timeout or a connection failure: Baseten may answer again later."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = None, sent: bool = True) -> None:
        super().__init__(message, status=status)
        # False when no connection was made: the request cannot have reached Baseten.
        self.sent = sent


def detail_from_body(body: Any, fallback: str) -> str:
    """Baseten error bodies vary: try `error`, `message`, `detail` (string or list), then the raw text."""
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
            if isinstance(value, list) and value:
                first = value[0]
                if isinstance(first, dict):
                    loc = ".".join(str(p) for p in first.get("loc", []) if p != "body")
                    msg = str(first.get("msg", first))
                    return f"{loc}: {msg}" if loc else msg
                return str(first)
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return fallback


def error_for(status: int, body: Any, *, what: str) -> BasetenError:
    """Turn an error response into the exception a caller can act on.

    `what` names the thing asked for in a person's words ("deployment dep-1 in chain hello-chain").
    """
    detail = detail_from_body(body, f"HTTP {status}")
    if status in (401, 403):
        return BasetenUnauthorized(
            "Baseten rejected the API key (check BASETEN_API_KEY and its workspace).", status=status
        )
    if status == 404:
        return BasetenNotFound(f"Baseten has no {what} ({detail}).", status=status)
    if status == 429:
        retry_after = 1.0
        if isinstance(body, dict) and isinstance(body.get("retry_after"), int | float):
            retry_after = float(body["retry_after"])
        return BasetenRateLimited(
            f"Baseten is rate limiting requests; retry in {retry_after:g}s.", retry_after=retry_after
        )
    if status >= 500:
        return BasetenUnavailable(f"Baseten had an internal error (HTTP {status}): {detail}", status=status)
    return BasetenRejected(f"Baseten refused the request (HTTP {status}): {detail}", status=status)
