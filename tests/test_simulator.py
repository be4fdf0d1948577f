"""The built-in Baseten simulator answers the way the OpenAPI describes the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from bot.baseten.audit_log import api_key_prefix
from bot.baseten.models import (
    ChainDeployment,
    ChainEnvironment,
    DeploymentStatus,
    GetLogsResponse,
    InstanceTypePrices,
)
from bot.baseten.sim.server import serve
from bot.baseten.sim.state import Refused
from bot.baseten.sim.transport import BasetenSimulator
from tests.fakes.slack_api import text_of
from tests.world import Clock, World

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


# -- autoscaling settings ----------------------------------------------------------------------------------

SCALING = "/v1/chains/chain-hello/environments/{}/chainlet_settings/autoscaling_settings"


def scale(api: httpx.Client, updates: Any, name: str = "production") -> httpx.Response:
    return api.patch(SCALING.format(name), json={"updates": updates})


def scaling_of(api: httpx.Client, chainlet: str, name: str = "production") -> dict[str, Any]:
    [setting] = [s for s in env(api, name).chainlet_settings if s.chainlet_name == chainlet]
    assert setting.autoscaling_settings is not None
    return setting.autoscaling_settings.model_dump()


def test_an_autoscaling_update_is_accepted_and_active_replicas_converge_over_a_few_polls(
    api: httpx.Client, clock: Clock
) -> None:
    answer = scale(
        api, [{"chainlet_name": "HelloWorld", "autoscaling_settings": {"min_replica": 3, "max_replica": 5}}]
    )

    assert answer.status_code == 200 and answer.json()["status"] == "ACCEPTED" and answer.json()["message"]
    after = scaling_of(api, "HelloWorld")
    assert (after["min_replica"], after["max_replica"], after["concurrency_target"]) == (
        3,
        5,
        1,
    )  # the rest kept
    replicas = []
    for _ in range(4):
        replicas.append(env(api).active_replicas_of("HelloWorld"))
        clock.advance(10)
    assert replicas == [1, 2, 3, 3]  # one replica per step, then within [3, 5]
    assert env(api).active_replicas_of("RandInt") == 1  # untouched
    # Scaling down moves the other way.
    scale(
        api, [{"chainlet_name": "HelloWorld", "autoscaling_settings": {"min_replica": 1, "max_replica": 1}}]
    )
    assert env(api).active_replicas_of("HelloWorld") == 3
    clock.advance(20)
    assert env(api).active_replicas_of("HelloWorld") == 1


def test_an_autoscaling_update_that_changes_nothing_is_unchanged(api: httpx.Client) -> None:
    sim = api._transport
    assert isinstance(sim, BasetenSimulator)
    before = scaling_of(api, "RandInt")
    same = scale(
        api, [{"chainlet_name": "RandInt", "autoscaling_settings": {"min_replica": before["min_replica"]}}]
    )
    assert same.json()["status"] == "UNCHANGED"
    assert scaling_of(api, "RandInt") == before
    assert sim.audit.records.get("chain-hello", []) == []  # nothing changed, nothing recorded


@pytest.mark.parametrize(
    ("updates", "named"),
    [
        ([{"chainlet_name": "HelloWorld", "autoscaling_settings": {"min_replicas": 2}}], "min_replicas"),
        ([{"chainlet_name": "HelloWorld", "autoscaling_settings": {"min_replica": 1}, "note": "x"}], "note"),
        ([{"chainlet_name": "Nope", "autoscaling_settings": {"min_replica": 1}}], "Nope"),
        ([{"chainlet_name": "HelloWorld", "autoscaling_settings": {"min_replica": -1}}], "min_replica"),
        (
            [{"chainlet_name": "HelloWorld", "autoscaling_settings": {"min_replica": 4}}],
            "max_replica (3)",
        ),  # above today's max
        (
            [{"chainlet_name": "HelloWorld", "autoscaling_settings": {"target_utilization_percentage": 101}}],
            "target_utilization_percentage",
        ),
        ([{"chainlet_name": "HelloWorld", "autoscaling_settings": {"max_replica": "two"}}], "max_replica"),
        (
            [
                {"chainlet_name": "RandInt", "autoscaling_settings": {"max_replica": 2}},
                {"chainlet_name": "RandInt", "autoscaling_settings": {"max_replica": 3}},
            ],
            "more than once",
        ),
    ],
)
def test_autoscaling_bodies_are_strict_and_refused_whole(api: httpx.Client, updates: Any, named: str) -> None:
    # A valid update for HelloWorld rides along where it can: a refused request changes nothing at all.
    before = {c: scaling_of(api, c) for c in ("HelloWorld", "RandInt")}
    refused = scale(api, updates)
    assert refused.status_code == 400 and named in refused.json()["error"]
    assert {c: scaling_of(api, c) for c in ("HelloWorld", "RandInt")} == before


def test_an_autoscaling_update_during_a_promotion_is_queued_and_the_promoted_deployment_takes_it(
    api: httpx.Client, clock: Clock
) -> None:
    promote(api, {"deployment_id": "dep-hello-4"})
    queued = scale(
        api, [{"chainlet_name": "RandInt", "autoscaling_settings": {"min_replica": 2, "max_replica": 4}}]
    )
    assert queued.json()["status"] == "QUEUED"
    assert env(api).active_replicas_of("RandInt") == 1  # the live deployment is left alone
    clock.advance(100)
    promoted = env(api)
    assert promoted.current_deployment is not None and promoted.current_deployment.id == "dep-hello-4"
    assert promoted.active_replicas_of("RandInt") == 2 and scaling_of(api, "RandInt")["max_replica"] == 4


def test_an_autoscaling_write_can_be_applied_and_never_answered(clock: Clock) -> None:
    sim = BasetenSimulator(api_key="secret", clock=clock, step_seconds=10)
    api = httpx.Client(
        transport=sim, base_url="https://api.baseten.co", headers=AUTH, timeout=httpx.Timeout(5.0)
    )
    sim.slow_writes(30, path_contains="/autoscaling_settings")
    assert promote(api, {"deployment_id": "dep-hello-4"}).status_code == 200  # other writes answer
    with pytest.raises(httpx.ReadTimeout):
        scale(api, [{"chainlet_name": "HelloWorld", "autoscaling_settings": {"max_replica": 6}}])
    assert scaling_of(api, "HelloWorld")["max_replica"] == 6  # Baseten made the change all the same


# -- the audit log ----------------------------------------------------------------------------------------

AUDIT = "/v1/chains/chain-hello/audit_logs"


def audit(api: httpx.Client, **params: Any) -> dict[str, Any]:
    answer = api.get(AUDIT, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_every_change_made_through_the_api_is_in_the_audit_log_with_the_key_that_made_it(
    api: httpx.Client, clock: Clock
) -> None:
    promote(api, {"deployment_id": "dep-hello-4"})
    clock.advance(100)
    api.post(
        "/v1/chains/chain-hello/environments/staging/chainlet_settings/instance_types/update",
        json={"updates": [{"chainlet_name": "RandInt", "instance_type_id": "2x8"}]},
        headers={"User-Agent": "truss/0.11.2"},
    )
    scale(api, [{"chainlet_name": "HelloWorld", "autoscaling_settings": {"max_replica": 5}}])

    items = audit(api)["items"]
    assert [i["event_type"] for i in items] == [  # newest first
        "CHAINLET_AUTOSCALING_SETTINGS_CHANGED",
        "CHAIN_DEPLOYED",
        "CHAINLET_INSTANCE_TYPE_CHANGED",
        "CHAIN_DEPLOYMENT_PROMOTED",
    ]
    prefix = api_key_prefix("secret")
    assert all(
        i["actor"] == {"type": "API_KEY", "email": None, "api_key_prefix": prefix, "api_key_name": None}
        for i in items
    )
    assert "secret" not in str(items)  # the key itself is never in the log
    assert {i["source"] for i in items} == {"API"}
    promoted, changed_type, scaled = items[3]["event_data"], items[2], items[0]["event_data"]
    assert (promoted["chain_deployment_id"], promoted["environment_name"]) == ("dep-hello-4", "production")
    assert (changed_type["client_name"], changed_type["client_version"]) == ("truss", "0.11.2")
    assert changed_type["event_data"]["instance_type_name"].startswith("2x8")
    assert (scaled["previous_settings"]["max_replica"], scaled["max_replica"]) == (3, 5)
    created = [datetime.fromisoformat(i["created"]) for i in items]
    assert created == sorted(created, reverse=True)


def test_the_audit_log_pages_newest_first_with_a_cursor_and_filters(api: httpx.Client, clock: Clock) -> None:
    sim = api._transport
    assert isinstance(sim, BasetenSimulator)
    for n in range(5):
        scale(
            api,
            [{"chainlet_name": "RandInt", "autoscaling_settings": {"max_replica": 2 + n}}],
            name="staging",
        )
        clock.advance(60)
    promote(api, {"deployment_id": "dep-hello-4"})

    first = audit(api, limit=4)
    assert first["pagination"]["has_more"] and first["pagination"]["cursor"]
    rest = audit(api, limit=4, cursor=first["pagination"]["cursor"])
    assert rest["pagination"] == {"has_more": False, "cursor": None}
    every = [i["id"] for i in first["items"] + rest["items"]]
    assert len(every) == len(set(every)) == 6
    ascending = audit(api, direction="ASC", limit=200)["items"]
    assert [i["id"] for i in ascending] == list(reversed(every))

    assert [i["event_type"] for i in audit(api, event_type_groups="PROMOTED")["items"]] == [
        "CHAIN_DEPLOYMENT_PROMOTED"
    ]
    assert len(audit(api, environment_names="staging")["items"]) == 5
    both = api.get(
        AUDIT, params=[("environment_names", "staging"), ("environment_names", "production")]
    ).json()
    assert len(both["items"]) == 6
    created = [datetime.fromisoformat(i["created"]) for i in ascending]
    middle = int(created[2].timestamp() * 1000)
    assert len(audit(api, start_epoch_millis=middle)["items"]) == 4
    assert len(audit(api, end_epoch_millis=middle)["items"]) == 3
    assert api.get(AUDIT, params={"limit": 500}).status_code == 422
    assert api.get(AUDIT, params={"event_type_groups": "EVERYTHING"}).status_code == 422
    assert api.get(AUDIT, params={"cursor": "not-a-cursor"}).status_code == 400


def test_changes_from_outside_are_made_and_name_who_made_them(api: httpx.Client, clock: Clock) -> None:
    sim = api._transport
    assert isinstance(sim, BasetenSimulator)
    pushed = sim.outside_push("hello-chain", "production", by="ana@example.com")
    clock.advance(100)
    assert env(api).current_deployment.id == pushed  # type: ignore[union-attr]
    sim.outside_autoscaling(
        "chain-hello", "staging", "RandInt", {"max_replica": 4}, by="nightly-scaler", source="API"
    )
    sim.outside_promote("hello-chain", "staging", "dep-hello-4", by="bo@example.com")
    sim.outside_event(
        "hello-chain", "CHAIN_DEPLOYMENT_RETRIED", {"chain_deployment_id": pushed}, by="bo@example.com"
    )

    items = audit(api)["items"]
    assert [i["event_type"] for i in items] == [
        "CHAIN_DEPLOYMENT_RETRIED",
        "CHAIN_DEPLOYMENT_PROMOTED",
        "CHAINLET_AUTOSCALING_SETTINGS_CHANGED",
        "CHAIN_DEPLOYMENT_PROMOTED",
        "CHAIN_DEPLOYED",
    ]
    deployed = items[4]
    assert deployed["actor"]["email"] == "ana@example.com" and deployed["actor"]["type"] == "USER"
    assert (deployed["source"], deployed["client_name"], deployed["client_version"]) == (
        "API",
        "truss",
        "0.11.2",
    )
    assert items[3]["event_data"]["chain_deployment_id"] == pushed  # deployed and promoted in one call
    key = items[2]["actor"]
    assert key["type"] == "API_KEY" and key["api_key_name"] == "nightly-scaler" and key["api_key_prefix"]
    assert items[1]["source"] == "UI" and items[1]["client_name"] is None
    with pytest.raises(Refused) as refused:
        sim.outside_promote("hello-chain", "nope", "dep-hello-4", by="bo@example.com")
    assert refused.value.status == 404


def test_the_audit_log_can_be_missing_as_on_an_older_baseten_or_forbidden(api: httpx.Client) -> None:
    sim = api._transport
    assert isinstance(sim, BasetenSimulator)
    sim.audit_log_refuses(404)
    assert api.get(AUDIT).status_code == 404
    promote(api, {"deployment_id": "dep-hello-4"})  # changes still work, and are still recorded
    sim.audit_log_refuses(403)
    assert api.get(AUDIT).status_code == 403
    sim.audit_log_refuses(None)
    assert [i["event_type"] for i in audit(api)["items"]] == ["CHAIN_DEPLOYMENT_PROMOTED"]


def test_the_admin_endpoint_makes_changes_from_outside_over_http(clock: Clock) -> None:
    sim = BasetenSimulator(clock=clock, step_seconds=10)
    server = serve(sim)
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer any"}) as http:
            made = http.post(
                "/_sim/outside/promote",
                json={
                    "chain": "hello-chain",
                    "environment": "production",
                    "deployment": "dep-hello-4",
                    "by": "ana@example.com",
                },
            )
            assert made.status_code == 200 and made.json()["deployment_id"] == "dep-hello-4"
            [entry] = http.get(AUDIT).json()["items"]
            assert entry["actor"]["email"] == "ana@example.com" and entry["source"] == "UI"
            typo = http.post("/_sim/outside/promote", json={"chain": "hello-chain", "by": "ana@example.com"})
            assert typo.status_code == 400 and "environment" in typo.json()["error"]
            assert http.post("/_sim/outside/promote", content=b"not json").status_code == 400
            assert http.post("/_sim/outside/teleport", json={}).status_code == 404
            assert http.post("/_sim/audit_log", json={"refuse": 404}).status_code == 200
            assert http.get(AUDIT).status_code == 404
            assert http.post("/_sim/audit_log", json={"refuse": None}).status_code == 200
            assert http.get(AUDIT).status_code == 200
    finally:
        server.close()


def test_a_push_from_outside_overtakes_a_promotion_under_way(world: World) -> None:
    world.command("promote hello-chain production dep-hello-4")
    world.click(world.buttons()["chainops_confirm"])
    world.follow(seconds=10)
    pushed = world.sim.outside_push("hello-chain", "production", by="ana@example.com")
    for _ in range(8):
        world.follow(seconds=10)

    [parent] = world.channel_messages()
    closing = text_of(parent.replies[-1])
    assert "another change replaced it meanwhile" in closing and pushed in closing
    entries = world.sim.audit.records["chain-hello"]
    assert [(e.event_type, e.actor.email) for e in entries] == [
        ("CHAIN_DEPLOYMENT_PROMOTED", None),
        ("CHAIN_DEPLOYED", "ana@example.com"),
        ("CHAIN_DEPLOYMENT_PROMOTED", "ana@example.com"),
    ]


def test_an_api_key_named_in_baseten_is_named_in_its_entries(api: httpx.Client) -> None:
    sim = api._transport
    assert isinstance(sim, BasetenSimulator)
    sim.name_api_key("secret", "chainops-production")
    promote(api, {"deployment_id": "dep-hello-4"})
    [entry] = audit(api)["items"]
    assert entry["actor"]["api_key_name"] == "chainops-production"
    assert entry["actor"]["api_key_prefix"] == api_key_prefix("secret")
