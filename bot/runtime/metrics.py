"""What chainops measures about itself, in Prometheus form: every metric object and the one-line recording
functions the rest of the code calls.

Label values come only from the fixed sets below (a command's name, a Slack method, an endpoint template,
an HTTP status): never an id, a user's text or a secret, so label sets stay small. Events are counted per
OS process, which is what Prometheus scrapes; each Chainops builds its own registry over them, with gauges
read from its own database at scrape time (see `registry_for`).

Longer than most modules: every metric and its fixed label set in one file is what keeps ids and
people's text out of labels."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

# Outcomes of a command or interaction: done as asked, refused with an answer, or failed on our side.
OK, REFUSED, ERROR = "ok", "refused", "error"

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
SLOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)

COMMANDS = Counter(
    "chainops_commands",
    "Slash commands and interactions received, by what was asked and how it ended.",
    ["command", "outcome"],
    registry=None,
)
ACK_SECONDS = Histogram(
    "chainops_ack_seconds",
    "Time from a Slack request reaching the app to its acknowledgement, by kind of request.",
    ["kind"],
    buckets=LATENCY_BUCKETS,
    registry=None,
)
CLICK_TO_WRITE_SECONDS = Histogram(
    "chainops_click_to_write_seconds",
    "Time from the Slack request that led to a change (a click, or a command run at once) to its Baseten write.",
    buckets=SLOW_BUCKETS,
    registry=None,
)
BASETEN_REQUESTS = Counter(
    "chainops_baseten_requests",
    "Requests to the Baseten API by method, endpoint template and HTTP status (or transport failure).",
    ["method", "endpoint", "status"],
    registry=None,
)
BASETEN_SECONDS = Histogram(
    "chainops_baseten_request_seconds",
    "Latency of Baseten API requests by method and endpoint template.",
    ["method", "endpoint"],
    buckets=SLOW_BUCKETS,
    registry=None,
)
BASETEN_RATE_LIMIT_WAITS = Counter(
    "chainops_baseten_rate_limit_waits",
    "Rate-limit windows Baseten imposed: each 429 holds every request until its retry_after has passed.",
    registry=None,
)
BASETEN_RATE_LIMIT_WAIT_SECONDS = Counter(
    "chainops_baseten_rate_limit_wait_seconds",
    "Seconds of rate-limit windows Baseten imposed.",
    registry=None,
)
BASETEN_HELD = Counter(
    "chainops_baseten_requests_held",
    "Requests not sent to Baseten because its rate-limit window was still open, by method and endpoint template.",
    ["method", "endpoint"],
    registry=None,
)
SLACK_CALLS = Counter(
    "chainops_slack_calls",
    "Slack Web API calls (and response_url posts) by method and outcome.",
    ["method", "outcome"],
    registry=None,
)
SLACK_SECONDS = Histogram(
    "chainops_slack_call_seconds",
    "Latency of Slack Web API calls by method.",
    ["method"],
    buckets=SLOW_BUCKETS,
    registry=None,
)
ROLLOUTS_FINISHED = Counter(
    "chainops_rollouts_finished",
    "Rollouts that reached an end, by outcome.",
    ["outcome"],
    registry=None,
)
LEASE_TAKEOVERS = Counter(
    "chainops_lease_takeovers",
    "Rollouts this replica took over from another replica whose lease had run out.",
    registry=None,
)

EVENT_METRICS: tuple[Collector, ...] = (
    COMMANDS,
    ACK_SECONDS,
    CLICK_TO_WRITE_SECONDS,
    BASETEN_REQUESTS,
    BASETEN_SECONDS,
    BASETEN_RATE_LIMIT_WAITS,
    BASETEN_RATE_LIMIT_WAIT_SECONDS,
    BASETEN_HELD,
    SLACK_CALLS,
    SLACK_SECONDS,
    ROLLOUTS_FINISHED,
    LEASE_TAKEOVERS,
)

# The fixed label sets. Anything else is recorded as "other", so no value can come from outside.
# Commands are the registry's verbs (it names them here, `count_commands`, since this layer knows no
# verb); the rest are button presses and form steps.
COMMAND_NAMES = set(
    {
        "invalid",
        "confirm",
        "approve",
        "reject",
        "cancel",
        "rollback",
        "form-submit",
        "pick-chain",
        "pick-env",
        "chain-options",
    }
)


def count_commands(labels: Iterable[str]) -> None:
    """Commands counted under their own label."""
    COMMAND_NAMES.update(labels)


REQUEST_KINDS = frozenset({"command", "action", "view_submission", "view_closed", "options", "event"})
ROLLOUT_OUTCOMES = frozenset({"succeeded", "failed", "superseded", "timed_out", "refused_by_baseten"})
_SLACK_METHOD = re.compile(r"^[a-z][A-Za-z0-9._]{0,60}$")
_BASETEN_ENDPOINTS = tuple(
    (re.compile("^" + re.sub(r"\{[a-z_]+\}", "[^/]+", template) + "$"), template)
    for template in (
        "/v1/chains",
        "/v1/chains/{chain_id}/deployments",
        "/v1/chains/{chain_id}/deployments/{deployment_id}",
        "/v1/chains/{chain_id}/deployments/{deployment_id}/chainlets/{chainlet_id}/logs",
        "/v1/chains/{chain_id}/environments",
        "/v1/chains/{chain_id}/environments/{env_name}",
        "/v1/chains/{chain_id}/environments/{env_name}/promote",
        "/v1/chains/{chain_id}/environments/{env_name}/chainlet_settings/instance_types/update",
        "/v1/instance_types",
        "/v1/instance_type_prices",
    )
)


# -- commands and acknowledgements -----------------------------------------------------------------------


@dataclass
class RequestScope:
    """One Slack request as it travels from the ack to the work it started (contextvars carry it to the
    work pool): when it arrived, and how its command ended."""

    received_at: float = field(default_factory=time.monotonic)
    command: str | None = None
    outcome: str = OK


_scope: ContextVar[RequestScope | None] = ContextVar("chainops_request_scope", default=None)


@contextmanager
def slack_request(kind: str) -> Iterator[RequestScope]:
    """Around the handling of one Slack request up to its ack: times the ack and opens the request's scope."""
    scope = RequestScope()
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)
        kind = kind if kind in REQUEST_KINDS else "other"
        ACK_SECONDS.labels(kind=kind).observe(time.monotonic() - scope.received_at)


@contextmanager
def command(name: str) -> Iterator[None]:
    """Around the work of one command or interaction: counted once it ends, with its outcome."""
    outer = _scope.get()
    scope = RequestScope(received_at=outer.received_at if outer else time.monotonic(), command=name)
    token = _scope.set(scope)
    try:
        yield
    except BaseException:
        scope.outcome = ERROR
        raise
    finally:
        _scope.reset(token)
        label = name if name in COMMAND_NAMES else "other"
        COMMANDS.labels(command=label, outcome=scope.outcome).inc()


def outcome(value: str) -> None:
    """How the command under way ended, when it is not "ok" (a refusal, an error answered politely)."""
    scope = _scope.get()
    if scope is not None and value in (OK, REFUSED, ERROR):
        scope.outcome = value


def baseten_write_starting() -> None:
    """A change is about to be sent to Baseten: how long after the person's click (or command)."""
    scope = _scope.get()
    if scope is not None:
        CLICK_TO_WRITE_SECONDS.observe(time.monotonic() - scope.received_at)


# -- Baseten ---------------------------------------------------------------------------------------------


def baseten_endpoint(path: str) -> str:
    """The endpoint template of a request path: ids never become label values."""
    path = path.split("?", 1)[0]
    for pattern, template in _BASETEN_ENDPOINTS:
        if pattern.match(path):
            return template
    return "other"


def baseten_request(method: str, path: str, status: str, seconds: float) -> None:
    """One request to Baseten; `status` is the HTTP status, or "unreachable"/"timeout" when none came."""
    endpoint = baseten_endpoint(path)
    method = _method(method)
    known = status in ("unreachable", "timeout") or (status.isdigit() and len(status) == 3)
    status_label = status if known else "other"
    BASETEN_REQUESTS.labels(method=method, endpoint=endpoint, status=status_label).inc()
    BASETEN_SECONDS.labels(method=method, endpoint=endpoint).observe(seconds)


def baseten_rate_limit_wait(seconds: float) -> None:
    """Baseten opened a rate-limit window of `seconds`."""
    BASETEN_RATE_LIMIT_WAITS.inc()
    BASETEN_RATE_LIMIT_WAIT_SECONDS.inc(max(0.0, seconds))


def baseten_held(method: str, path: str) -> None:
    """A request was kept back because the rate-limit window was open."""
    BASETEN_HELD.labels(method=_method(method), endpoint=baseten_endpoint(path)).inc()


def _method(method: str) -> str:
    return method.upper() if method.upper() in ("GET", "POST", "PATCH", "PUT", "DELETE") else "other"


# -- Slack -----------------------------------------------------------------------------------------------


def slack_call(method: str, outcome: str, seconds: float) -> None:
    """One Slack call: outcome is ok, an error Slack answered (error), rate_limited or unreachable."""
    method = method if _SLACK_METHOD.match(method) else "other"
    outcome = outcome if outcome in ("ok", "error", "rate_limited", "unreachable") else "error"
    SLACK_CALLS.labels(method=method, outcome=outcome).inc()
    SLACK_SECONDS.labels(method=method).observe(seconds)


class MeteredWebClient(WebClient):
    """slack_sdk's WebClient, counting every Web API call (Bolt's own included) by method and outcome."""

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        started = time.monotonic()
        outcome = "unreachable"
        try:
            response = super().api_call(api_method, **kwargs)
            outcome = "ok"
            return response
        except SlackApiError as exc:
            outcome = "rate_limited" if exc.response.status_code == 429 else "error"
            raise
        finally:
            slack_call(api_method, outcome, time.monotonic() - started)


# -- rollouts --------------------------------------------------------------------------------------------


def rollout_finished(outcome: str) -> None:
    ROLLOUTS_FINISHED.labels(outcome=outcome if outcome in ROLLOUT_OUTCOMES else "other").inc()


def lease_taken_over() -> None:
    LEASE_TAKEOVERS.inc()


# -- gauges read from the database at scrape time ----------------------------------------------------------

Backlog = Callable[[], tuple[int, float | None]]
"""Reads how many items wait and when the oldest of them started (epoch seconds; None when none wait)."""


@dataclass(frozen=True)
class BacklogCollector(Collector):
    """A count and the age of its oldest item, read from the database at each scrape: every replica
    reports the same values, whoever does the work."""

    read: Backlog
    name: str
    what: str
    age_name: str

    def collect(self) -> Iterable[Metric]:
        try:
            count, oldest = self.read()
        except Exception as exc:  # a scrape must answer even while the database does not
            log.warning("metrics could not read %s: %s", self.what, type(exc).__name__)
            return
        yield GaugeMetricFamily(self.name, f"{self.what.capitalize()} now.", value=count)
        yield GaugeMetricFamily(
            self.age_name,
            f"Age of the oldest of the {self.what} (0 when none).",
            value=time.time() - oldest if oldest is not None else 0.0,
        )


def registry_for(*, rollouts: Backlog, outbox: Backlog | None = None) -> CollectorRegistry:
    """The registry one Chainops serves on /metrics: the process's event metrics, and gauges read from its
    database: rollouts being followed and, given a reader, the Slack messages waiting in an outbox."""
    registry = CollectorRegistry()
    for collector in EVENT_METRICS:
        registry.register(collector)
    registry.register(
        BacklogCollector(
            rollouts,
            "chainops_rollouts_following",
            "rollouts being followed",
            "chainops_rollout_oldest_following_seconds",
        )
    )
    if outbox is not None:
        registry.register(
            BacklogCollector(
                outbox,
                "chainops_outbox_depth",
                "messages waiting in the outbox",
                "chainops_outbox_oldest_seconds",
            )
        )
    ProcessCollector(namespace="chainops", registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The body and content type of a /metrics answer."""
    return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4  # the format every Prometheus reads
