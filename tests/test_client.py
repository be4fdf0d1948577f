"""The Baseten client against the simulator: typed results, readable errors, careful retries."""

from __future__ import annotations

import httpx
import pytest

from bot import __version__
from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenNotFound, BasetenRateLimited, BasetenRejected, BasetenUnauthorized, BasetenUnavailable
from bot.baseten.models import (
    ChainletEnvironmentInstanceTypeUpdate,
    PromoteToChainEnvironmentRequest,
    UpdateChainletEnvironmentInstanceTypeRequest,
)
from bot.baseten.simulator import BasetenSimulator

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

    assert seen[0].headers["Authorization"] == f"Api-Key {KEY}"
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


def test_reads_retry_rate_limits_honouring_retry_after(client: BasetenClient, sim: BasetenSimulator, waits: list[float]) -> None:
    sim.fail_next(429, retry_after=3)
    sim.fail_next(502)
    assert client.list_chains()
    assert waits[0] == 3.0 and len(waits) == 2


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


def test_user_input_cannot_change_the_path(client: BasetenClient, sim: BasetenSimulator) -> None:
    with pytest.raises(BasetenNotFound):
        client.get_deployment("chain-hello", "../../instance_types")
    assert sim.requests[-1].path.startswith("/v1/chains/chain-hello/deployments/")
