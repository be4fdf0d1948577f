"""The Baseten client against the simulator: typed results, readable errors, careful retries."""

from __future__ import annotations

import httpx
import pytest

from bot import __version__
from bot.baseten.client import BasetenClient
from bot.baseten.errors import (
    BasetenForbidden,
    BasetenInvalidName,
    BasetenNotFound,
    BasetenRateLimited,
    BasetenRejected,
    BasetenUnauthorized,
    BasetenUnavailable,
)
from bot.baseten.models import (
    ChainletEnvironmentInstanceTypeUpdate,
    PromoteToChainEnvironmentRequest,
    UpdateChainletEnvironmentInstanceTypeRequest,
)
from bot.baseten.models import Phase
from bot.baseten.simulator import BasetenSimulator
from tests.world import Clock

KEY = "bt-very-secret"


@pytest.fixture
def sim() -> BasetenSimulator:
    return BasetenSimulator(api_key=KEY)


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(sim: BasetenSimulator, waits: list[float]) -> BasetenClient:
    return BasetenClient(KEY, transport=sim, sleep=waits.append)


def test_requests_carry_the_key_and_name_chainops(sim: BasetenSimulator) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return sim.handle_request(request)

    BasetenClient(KEY, transport=httpx.MockTransport(record)).list_chains()

    assert seen[0].headers["Authorization"] == f"Bearer {KEY}"  # the scheme the OpenAPI names
    assert seen[0].headers["User-Agent"].startswith(f"chainops/{__version__}")


def test_timeouts_are_explicit(client: BasetenClient) -> None:
    timeout = client._http.timeout  # noqa: SLF001
    assert timeout.connect and timeout.read


def test_responses_are_typed_models(client: BasetenClient) -> None:
    env = client.get_environment("chain-hello", "production")
    assert env.current_deployment is not None and env.current_deployment.id == "dep-hello-3"
    assert {s.chainlet_name for s in env.chainlet_settings} == {"HelloWorld", "RandInt"}
    deployments = client.list_deployments("chain-hello")
    assert [d.id for d in deployments][0] == "dep-hello-4"  # newest first


def test_bad_key_gives_an_actionable_message_without_the_key(sim: BasetenSimulator) -> None:
    with pytest.raises(BasetenUnauthorized) as caught:
        BasetenClient("wrong-key", transport=sim).list_chains()
    assert "Baseten rejected the API key" in str(caught.value)
    assert "wrong-key" not in str(caught.value)


def test_not_found_names_what_was_missing(client: BasetenClient) -> None:
    with pytest.raises(BasetenNotFound) as caught:
        client.get_deployment("chain-hello", "dep-x")
    assert "no deployment dep-x in chain chain-hello" in str(caught.value)


def test_reads_retry_server_errors_with_backoff(client: BasetenClient, sim: BasetenSimulator, waits: list[float]) -> None:
    sim.fail_next(502)
    assert client.list_chains()
    assert len(waits) == 1


def test_a_rate_limit_fails_fast_and_holds_every_request_for_its_whole_window(sim: BasetenSimulator, waits: list[float]) -> None:
    clock = Clock(0.0)
    sim.clock = clock
    client = BasetenClient(KEY, transport=sim, sleep=waits.append, clock=clock)
    sim.fail_next(429, retry_after=30)  # longer than any backoff cap: honoured in full all the same

    with pytest.raises(BasetenRateLimited) as first:
        client.list_chains()
    assert first.value.retry_after == 30 and first.value.sent and "try again in 30 seconds" in first.value.message
    sent = len(sim.requests)

    clock.advance(29)
    with pytest.raises(BasetenRateLimited) as held:
        client.get_environment("chain-hello", "production")
    with pytest.raises(BasetenRateLimited) as write:
        client.promote("chain-hello", "production", PromoteToChainEnvironmentRequest(deployment_id="dep-hello-4"))
    assert not held.value.sent and held.value.retry_after == pytest.approx(1)
    assert write.value.write and "the change was not made" in write.value.message
    assert len(sim.requests) == sent and waits == []  # nothing went out, nobody slept

    clock.advance(1)
    assert client.list_chains()


def test_a_429_without_a_window_still_holds_requests_briefly(sim: BasetenSimulator) -> None:
    clock = Clock(0.0)
    client = BasetenClient(KEY, transport=sim, clock=clock)
    sim.fail_next(429, body={"error": "Rate limit exceeded."})
    with pytest.raises(BasetenRateLimited) as caught:
        client.list_chains()
    assert caught.value.retry_after > 0
    with pytest.raises(BasetenRateLimited):
        client.list_chains()


def test_reads_give_up_after_bounded_attempts(client: BasetenClient, sim: BasetenSimulator, waits: list[float]) -> None:
    sim.fail_next(503, times=10)
    with pytest.raises(BasetenUnavailable):
        client.list_chains()
    assert len(waits) == 3 and max(waits) <= 8.0


def test_connection_errors_on_reads_are_retried(client: BasetenClient, sim: BasetenSimulator) -> None:
    sim.disconnect_next()
    assert client.list_chains()


def test_writes_are_never_retried(client: BasetenClient, sim: BasetenSimulator) -> None:
    sim.fail_next(503, method="POST")
    with pytest.raises(BasetenUnavailable):
        client.promote("chain-hello", "production", PromoteToChainEnvironmentRequest(deployment_id="dep-hello-4"))
    assert len(sim.writes) == 1
    sim.fail_next(429, method="POST")
    with pytest.raises(BasetenRateLimited):
        client.promote("chain-hello", "production", PromoteToChainEnvironmentRequest(deployment_id="dep-hello-4"))
    assert len(sim.writes) == 2


def test_write_bodies_follow_the_schema(client: BasetenClient, sim: BasetenSimulator) -> None:
    request = UpdateChainletEnvironmentInstanceTypeRequest(
        updates=[ChainletEnvironmentInstanceTypeUpdate(chainlet_name="RandInt", instance_type_id="2x8")]
    )
    result = client.update_instance_types("chain-hello", "production", request)
    assert result.requires_redeployment and result.chain_deployment is not None
    assert sim.writes[-1].json == {"updates": [{"chainlet_name": "RandInt", "instance_type_id": "2x8"}]}


def test_baseten_refusals_carry_its_message(client: BasetenClient) -> None:
    request = UpdateChainletEnvironmentInstanceTypeRequest(
        updates=[ChainletEnvironmentInstanceTypeUpdate(chainlet_name="Nope", instance_type_id="2x8")]
    )
    with pytest.raises(BasetenRejected) as caught:
        client.update_instance_types("chain-hello", "production", request)
    assert "Nope" in str(caught.value)


@pytest.mark.parametrize("bad", ["..", ".", "../../instance_types", "a/b", "", " production", "prod%2e", "é"])
def test_names_that_are_not_ids_never_reach_a_url(client: BasetenClient, sim: BasetenSimulator, bad: str) -> None:
    calls = [
        lambda: client.get_environment("chain-hello", bad),
        lambda: client.get_deployment("chain-hello", bad),
        lambda: client.list_deployments(bad),
        lambda: client.chainlet_logs("chain-hello", "dep-hello-3", bad),
        lambda: client.promote("chain-hello", bad, PromoteToChainEnvironmentRequest(deployment_id="dep-hello-4")),
    ]
    for call in calls:
        with pytest.raises(BasetenInvalidName) as caught:
            call()
        assert "is not a valid" in caught.value.message
    assert sim.requests == []


def test_a_forbidden_environment_is_not_called_a_bad_key(client: BasetenClient, sim: BasetenSimulator) -> None:
    sim.fail_next(403, body={"error": "Forbidden"})
    with pytest.raises(BasetenForbidden) as caught:
        client.promote("chain-hello", "production", PromoteToChainEnvironmentRequest(deployment_id="dep-hello-4"))
    message = caught.value.message
    assert "environment production" in message and "may not change it" in message
    assert "rejected the API key" not in message and KEY not in message


def test_statuses_levels_and_fields_baseten_adds_later_are_kept(sim: BasetenSimulator) -> None:
    def newer_baseten(request: httpx.Request) -> httpx.Response:
        answer = sim.handle_request(request)
        body = answer.json()
        if request.url.path.endswith("/environments/production"):
            body["brand_new_field"] = {"x": 1}
            body["current_deployment"]["status"] = "QUEUED_FOR_CAPACITY"
            body["current_deployment"]["chainlets"][0]["status"] = "MIGRATING"
        if request.url.path.endswith("/logs"):
            body["logs"].append({"timestamp": "9", "message": "boom", "replica": None, "level": "CRITICAL", "shard": 3})
        return httpx.Response(answer.status_code, json=body)

    client = BasetenClient(KEY, transport=httpx.MockTransport(newer_baseten))
    live = client.get_environment("chain-hello", "production").current_deployment
    assert live is not None
    assert live.status == "QUEUED_FOR_CAPACITY" and not live.status.known
    assert live.status.phase is Phase.IN_PROGRESS and live.rollout_phase is Phase.IN_PROGRESS
    assert live.chainlets[0].status.value == "MIGRATING"
    [line] = [e for e in client.chainlet_logs("chain-hello", "dep-hello-3", live.chainlets[0].id) if e.message == "boom"]
    assert line.level == "CRITICAL"
