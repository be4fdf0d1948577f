"""Typed Baseten errors whose messages a person can act on.

Messages are built only from the HTTP status and the response body, never from request headers, so the
API key cannot leak into an exception text or a log line.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from bot.slack.durations import duration


class BasetenError(Exception):
    """Anything that went wrong talking to Baseten."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class BasetenUnauthorized(BasetenError):
    """401: the API key itself was refused."""


class BasetenForbidden(BasetenError):
    """403: the key is valid but may not touch this resource (a restricted environment, say)."""


class BasetenInvalidName(BasetenError):
    """A name or id that cannot be a path segment (`..`, a slash, a space): refused before sending.

    `kind` says which part of the request it was (environment, chain, deployment, chainlet)."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class BasetenNotFound(BasetenError):
    pass


class BasetenRejected(BasetenError):
    """Baseten refused the request as invalid (400, 409, 422)."""


class BasetenAuditLogUnavailable(BasetenError):
    """The chain's audit log cannot be read: this Baseten has none (`missing`, a 404 for a chain that
    exists: an older API) or chainops' key may not read it (403). Changes can still be noticed by reading
    environments, only not attributed."""

    def __init__(self, chain_id: str, *, missing: bool) -> None:
        if missing:
            message = (
                f"Baseten has no audit log for chain {chain_id} (HTTP 404: an older API), so who made a "
                "change cannot be known."
            )
        else:
            message = (
                f"Baseten refused chainops' API key access to the audit log of chain {chain_id} (HTTP 403), "
                "so who made a change cannot be known. A Baseten admin can give the key access."
            )
        super().__init__(message, status=404 if missing else 403)
        self.missing = missing


class BasetenRateLimited(BasetenError):
    """Baseten's rate limit window is open: nothing was done, and nothing will be until it closes.

    Raised for the 429 itself and, until the window ends, for every call the client holds back without
    sending (`sent` False). `retry_after` is the seconds left; `write` tells a refused change (which was
    not made, and must not be retried on its own) from a read."""

    retryable = True

    def __init__(self, retry_after: float, *, write: bool, sent: bool) -> None:
        wait = max(1, math.ceil(retry_after))
        if write:
            message = f"Baseten is rate limiting requests, so the change was not made. Try again in {duration(wait)}."
        else:
            message = f"Baseten is rate limiting requests; try again in {duration(wait)}."
        super().__init__(message, status=429)
        self.retry_after = retry_after
        self.write = write
        self.sent = sent


class BasetenUnavailable(BasetenError):
    """5xx, a timeout or a connection failure: Baseten may answer again later."""

    retryable = True

    def __init__(
        self, message: str, *, status: int | None = None, sent: bool = True, timed_out: bool = False
    ) -> None:
        super().__init__(message, status=status)
        # False when no connection was made: the request cannot have reached Baseten.
        self.sent = sent
        # True when the request was sent and its answer did not come in time: Baseten is slow.
        self.timed_out = timed_out


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


def retry_after_of(body: Any, header: str | None, default: float) -> float:
    """Seconds until Baseten's window resets: the body's `retry_after`, or a `Retry-After` header."""
    candidates: list[float] = []
    if isinstance(body, dict) and isinstance(body.get("retry_after"), int | float):
        candidates.append(float(body["retry_after"]))
    if header:
        with contextlib.suppress(ValueError):
            candidates.append(float(header))
    finite = [c for c in candidates if math.isfinite(c) and c >= 0]
    return max(finite) if finite else default


def error_for(
    status: int, body: Any, *, what: str, env: str | None = None, write: bool = False
) -> BasetenError:
    """Turn an error response (other than 429, which the client's gate handles) into the exception a
    caller can act on.

    `what` names the thing asked for in a person's words ("deployment dep-1 in chain hello-chain"); `env`
    is the environment the request was about, if any."""
    detail = detail_from_body(body, f"HTTP {status}")
    if status == 401:
        return BasetenUnauthorized(
            "Baseten rejected the API key (check BASETEN_API_KEY and its workspace).", status=status
        )
    if status == 403:
        if env is not None:
            verb = "change" if write else "read"
            return BasetenForbidden(
                f"Baseten refused access to environment {env} (HTTP 403): it is restricted, and "
                f"chainops' API key may not {verb} it. Ask a Baseten admin to give the key access.",
                status=status,
            )
        return BasetenForbidden(
            f"Baseten refused access to {what} (HTTP 403): chainops' API key lacks the permission.",
            status=status,
        )
    if status == 404:
        return BasetenNotFound(f"Baseten has no {what} ({detail}).", status=status)
    if status >= 500:
        return BasetenUnavailable(f"Baseten had an internal error (HTTP {status}): {detail}", status=status)
    return BasetenRejected(f"Baseten refused the request (HTTP {status}): {detail}", status=status)
