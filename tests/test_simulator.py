"""The built-in Baseten simulator answers the way the OpenAPI describes the API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.baseten.models import ChainDeployment, ChainEnvironment, DeploymentStatus, GetLogsResponse, InstanceTypePrices
from bot.baseten.simulator import BasetenSimulator
from tests.world import Clock

AUTH = {"Authorization": "Api-Key secret"}


@pytest.fixture
def clock() -> Clock:
    return Clock(0.0)


@pytest.fixture
def api(clock: Clock) -> httpx.Client:
    return httpx.Client(transport=BasetenSimulator(api_key="secret", clock=clock, step_seconds=10), base_url="https://api.baseten.co", headers=AUTH)


def env(api: httpx.Client, name: str = "production") -> ChainEnvironment:
    return ChainEnvironment.model_validate(api.get(f"/v1/chains/chain-hello/environments/{name}").json())


def promote(api: httpx.Client, body: Any, name: str = "production") -> httpx.Response:
    return api.post(f"/v1/chains/chain-hello/environments/{name}/promote", json=body)


def test_seed_has_hello_chain_with_two_chainlets_and_two_environments(api: httpx.Client) -> None:
    assert [c["name"] for c in api.get("/v1/chains").json()["chains"]] == ["hello-chain", "summarizer"]
    assert [e["name"] for e in api.get("/v1/chains/chain-hello/environments").json()["environments"]] == ["production", "staging"]
    live = env(api).current_deployment
    assert live is not None and {c.name for c in live.chainlets} == {"HelloWorld", "RandInt"}


def test_requests_need_the_api_key(api: httpx.Client) -> None:
    assert api.get("/v1/chains", headers={"Authorization": "Api-Key wrong"}).status_code == 401
    assert api.get("/v1/chains", headers={"Authorization": ""}).status_code == 401


@pytest.mark.parametrize(
    "body",
    [{}, {"deployment_id": ""}, {"deployment_id": "dep-hello-4", "preserve_env_instance_type": True}, "not json"],
)
def test_promote_bodies_are_validated_against_the_schema(api: httpx.Client, body: Any) -> None:
    response = promote(api, body) if not isinstance(body, str) else api.post("/v1/chains/chain-hello/environments/production/promote", content=body)
    assert response.status_code == 422 and "detail" in response.json()


def test_unknown_chainlets_and_instance_types_are_rejected(api: httpx.Client) -> None:
    path = "/v1/chains/chain-hello/environments/production/chainlet_settings/instance_types/update"
    unknown_chainlet = api.post(path, json={"updates": [{"chainlet_name": "Nope", "instance_type_id": "1x4"}]})
    unknown_type = api.post(path, json={"updates": [{"chainlet_name": "RandInt", "instance_type_id": "9x9"}]})
    assert unknown_chainlet.status_code == 400 and "Nope" in unknown_chainlet.json()["error"]
    assert unknown_type.status_code == 400 and "9x9" in unknown_type.json()["error"]


def test_a_promotion_rolls_out_over_time_then_scales_the_previous_one_down(api: httpx.Client, clock: Clock) -> None:
    started = ChainDeployment.model_validate(promote(api, {"deployment_id": "dep-hello-4"}).json())
    assert started.id == "dep-hello-4" and started.status is DeploymentStatus.UPDATING
    assert env(api).candidate_deployment is not None

    seen = []
    for _ in range(5):
        clock.advance(10)
        seen.append(ChainDeployment.model_validate(api.get("/v1/chains/chain-hello/deployments/dep-hello-4").json()).status)
    assert DeploymentStatus.LOADING_MODEL in seen and seen[-1] is DeploymentStatus.ACTIVE

    now = env(api)
    assert now.current_deployment is not None and now.current_deployment.id == "dep-hello-4"
    assert now.candidate_deployment is None
    previous = api.get("/v1/chains/chain-hello/deployments/dep-hello-3").json()
    assert previous["status"] == "SCALED_TO_ZERO" and previous["environment"] is None


def test_keep_previous_leaves_it_running(api: httpx.Client, clock: Clock) -> None:
    promote(api, {"deployment_id": "dep-hello-4", "scale_down_previous_deployment": False})
    clock.advance(100)
    assert api.get("/v1/chains/chain-hello/deployments/dep-hello-3").json()["status"] == "ACTIVE"


def test_promoting_a_deployment_serving_another_environment_builds_a_copy(api: httpx.Client) -> None:
    started = ChainDeployment.model_validate(promote(api, {"deployment_id": "dep-hello-2"}).json())
    assert started.id != "dep-hello-2" and started.status is DeploymentStatus.BUILDING


def test_one_promotion_at_a_time_and_inactive_deployments_refused(api: httpx.Client) -> None:
    assert promote(api, {"deployment_id": "dep-hello-1"}).status_code == 400
    assert promote(api, {"deployment_id": "dep-hello-4"}).status_code == 200
    assert promote(api, {"deployment_id": "dep-hello-2"}).status_code == 409


def test_failing_rollouts_log_an_unleveled_traceback_that_min_level_drops(clock: Clock) -> None:
    sim = BasetenSimulator(api_key="secret", clock=clock, step_seconds=10)
    api = httpx.Client(transport=sim, base_url="https://api.baseten.co", headers=AUTH)
    sim.fail_rollouts("RandInt")
    promote(api, {"deployment_id": "dep-hello-4"})
    clock.advance(100)
    failed = ChainDeployment.model_validate(api.get("/v1/chains/chain-hello/deployments/dep-hello-4").json())
    assert failed.status is DeploymentStatus.DEPLOY_FAILED
    randint = next(c for c in failed.chainlets if c.name == "RandInt")
    path = f"/v1/chains/chain-hello/deployments/dep-hello-4/chainlets/{randint.id}/logs"

    def logs(**params: Any) -> list[Any]:
        return GetLogsResponse.model_validate(api.get(path, params=params).json()).logs

    errors_only = logs(min_level="ERROR")
    assert errors_only and all(entry.level == "ERROR" for entry in errors_only)
    assert not any("CUDA out of memory" in e.message for e in errors_only)  # unleveled: dropped
    everything = logs()
    final = next(e for e in reversed(everything) if e.level is None)
    assert final.message.startswith("RuntimeError: CUDA out of memory")
    # A window that ends before the failure holds none of it; a window over seven days is refused.
    assert not any("CUDA" in e.message for e in logs(end_epoch_millis=50_000))
    assert api.get(path, params={"start_epoch_millis": 0, "end_epoch_millis": 8 * 86_400_000}).status_code == 400
    assert api.get(path, params={"limit": 5000}).status_code == 422
    newest = logs(direction="desc", limit=1)
    assert len(newest) == 1 and newest[0].message == everything[-1].message


def test_environments_carry_their_promotion_settings(api: httpx.Client, clock: Clock) -> None:
    sim = api._transport
    assert isinstance(sim, BasetenSimulator)
    assert env(api).promotion_settings.promotion_cleanup_strategy == "SCALE_TO_ZERO"
    sim.set_promotion_settings("chain-hello", "production", promotion_cleanup_strategy="KEEP", redeploy_on_promotion=True)
    assert env(api).promotion_settings.promotion_cleanup_strategy == "KEEP"

    started = ChainDeployment.model_validate(promote(api, {"deployment_id": "dep-hello-4"}).json())
    assert started.id != "dep-hello-4"  # redeploy on promotion: a copy is built
    clock.advance(100)
    assert env(api).current_deployment.id == started.id  # type: ignore[union-attr]
    assert api.get("/v1/chains/chain-hello/deployments/dep-hello-3").json()["status"] == "ACTIVE"  # kept


def test_an_instance_type_update_that_changes_nothing_makes_no_deployment(api: httpx.Client) -> None:
    path = "/v1/chains/chain-hello/environments/production/chainlet_settings/instance_types/update"
    same = api.post(path, json={"updates": [{"chainlet_name": "RandInt", "instance_type_id": "1x2"}]}).json()
    assert same["requires_redeployment"] is False and same["chain_deployment"] is None
    assert env(api).candidate_deployment is None


def test_injected_faults(api: httpx.Client) -> None:
    sim = api._transport
    assert isinstance(sim, BasetenSimulator)
    sim.fail_next(429, retry_after=7)
    limited = api.get("/v1/chains")
    assert limited.status_code == 429 and limited.json()["retry_after"] == 7
    sim.clock.advance(7)  # type: ignore[attr-defined]
    sim.disconnect_next()
    with pytest.raises(httpx.ConnectError):
        api.get("/v1/chains")
    assert api.get("/v1/chains").status_code == 200


def test_prices_are_per_minute_and_one_type_has_none(api: httpx.Client) -> None:
    prices = InstanceTypePrices.model_validate(api.get("/v1/instance_type_prices").json()).instance_types
    types = {t["id"] for t in api.get("/v1/instance_types").json()["instance_types"]}
    assert {p.instance_type.id for p in prices} == types - {"H100:2x52x468"}
    assert all(0 < p.price < 1 for p in prices)


def test_every_request_inside_a_rate_limit_window_is_refused_with_what_is_left(api: httpx.Client, clock: Clock) -> None:
    sim = api._transport
    assert isinstance(sim, BasetenSimulator)
    sim.fail_next(429, retry_after=12, path_contains="/environments/")
    assert api.get("/v1/chains/chain-hello/environments/production").status_code == 429
    clock.advance(5)
    refused = [api.get("/v1/chains"), api.post("/v1/chains/chain-hello/environments/production/promote", json={"deployment_id": "dep-hello-4"})]
    assert [r.status_code for r in refused] == [429, 429]
    assert [r.json()["retry_after"] for r in refused] == [7, 7]
    clock.advance(7)
    assert api.get("/v1/chains").status_code == 200
    assert env(api).candidate_deployment is None  # the refused promote changed nothing
