"""Contract tests: real flows through the bot, with every request the client built and every answer the
simulator gave validated against Baseten's published OpenAPI (tests/openapi/)."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.baseten.audit_log import AuditLogEventTypeGroup
from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError
from bot.baseten.models import (
    ChainletEnvironmentAutoscalingSettingsUpdate,
    DeploymentStatus,
    PromoteToChainEnvironmentRequest,
    UpdateAutoscalingSettings,
    UpdateChainletEnvironmentAutoscalingSettingsRequest,
)
from bot.baseten.sim.transport import BasetenSimulator
from tests.contract import ContractTransport, check_request, check_response
from tests.fakes.slack_api import text_of
from tests.world import API_KEY, Clock, World

USED_BY_CHAINOPS = {
    ("GET", "/v1/chains"),
    ("GET", "/v1/chains/{chain_id}/deployments"),
    ("GET", "/v1/chains/{chain_id}/deployments/{chain_deployment_id}"),
    ("GET", "/v1/chains/{chain_id}/deployments/{chain_deployment_id}/chainlets/{chainlet_id}/logs"),
    ("GET", "/v1/chains/{chain_id}/environments"),
    ("GET", "/v1/chains/{chain_id}/environments/{env_name}"),
    ("POST", "/v1/chains/{chain_id}/environments/{env_name}/promote"),
    ("POST", "/v1/chains/{chain_id}/environments/{env_name}/chainlet_settings/instance_types/update"),
    ("GET", "/v1/instance_types"),
    ("GET", "/v1/instance_type_prices"),
}


def confirm(world: World, text: str, response: str) -> None:
    world.command(text, response=response)
    world.click(world.buttons(response)["chainops_confirm"], response=response)


def test_every_exchange_of_real_flows_follows_the_published_schemas(world: World) -> None:
    world.command("status hello-chain", response="status")
    world.command("promote hello-chain production dep-nope", response="typo")  # lists the newest
    # A promote followed to the end, then an instance-type change followed to the end.
    confirm(world, "promote hello-chain production dep-hello-4", "promote")
    for _ in range(8):
        world.follow(seconds=10)
    confirm(world, "instance-type hello-chain production RandInt=2x8", "types")
    for _ in range(8):
        world.follow(seconds=10)
    # A failed rollout whose report reads the chainlet's logs.
    world.sim.fail_rollouts("HelloWorld", status=DeploymentStatus.DEPLOY_FAILED)
    confirm(world, "promote hello-chain staging dep-hello-3", "failing")
    for _ in range(8):
        world.follow(seconds=10)
    # Errors Baseten answers: a server error, a refusal, a rate limit.
    world.sim.fail_next(500, times=10, method="GET", path_contains="/environments/")
    world.command("status hello-chain production", response="down")
    world.sim.clear_failures()
    world.sim.fail_next(409, method="POST")
    confirm(world, "promote hello-chain production dep-hello-2", "refused")
    world.sim.fail_next(429, retry_after=3)
    world.command("status summarizer", response="limited")

    assert "is live in hello-chain/*production*" in "\n".join(text_of(m.replies[-1]) for m in world.channel_messages())
    assert "try again in 3 seconds" in world.private_text("limited")
    exercised = {(e.method, e.template) for e in world.contract.exchanges}
    assert USED_BY_CHAINOPS <= exercised
    assert {e.status for e in world.contract.exchanges} >= {200, 409, 429, 500}
    assert world.contract.violations == []


def test_an_instance_type_change_baseten_needs_no_deployment_for_is_reported_as_applied(world: World) -> None:
    world.command("instance-type hello-chain production RandInt=2x8")
    # Meanwhile the same setting was applied in Baseten without a new deployment.
    world.sim.set_chainlet_instance_type("chain-hello", "production", "RandInt", "2x8")
    world.click(world.buttons()["chainops_confirm"])
    world.follow(seconds=10)

    [update] = [e for e in world.contract.exchanges if e.template.endswith("/instance_types/update")]
    assert update.status == 200
    [parent] = world.channel_messages()
    replies = [text_of(r) for r in parent.replies]
    assert any("Baseten needed no new deployment" in r for r in replies)
    assert not any("following deployment" in r or "failed" in r.lower() for r in replies)
    assert world.contract.violations == []


def test_the_contract_catches_what_the_schema_does_not_define() -> None:
    promote = httpx.Request(
        "POST",
        "https://api.baseten.co/v1/chains/c1/environments/production/promote",
        headers={"Authorization": "Api-Key k"},
        json={"deployment_id": "d1", "preserve_env_instance_type": True},
    )
    problems = check_request(promote)
    assert any("Bearer" in p for p in problems)
    assert any("preserve_env_instance_type" in p for p in problems)

    logs = httpx.Request(
        "GET",
        "https://api.baseten.co/v1/chains/c1/deployments/d1/chainlets/x/logs",
        params={"min_level": "FATAL", "limit": 5000, "since": "1h"},
        headers={"Authorization": "Bearer k"},
    )
    problems = check_request(logs)
    assert len(problems) == 3  # an unknown level, a limit over 1000, an undefined parameter
    assert check_request(httpx.Request("GET", "https://api.baseten.co/v1/chains/c1/logs", headers={"Authorization": "Bearer k"}))

    deployment = {"id": "d1", "created_at": "2026-11-01T09:00:00", "chain_id": "c1", "chainlets": [], "status": "QUEUED"}
    answer = httpx.Response(200, content=json.dumps(deployment).encode())
    problems = check_response(httpx.Request("GET", "https://api.baseten.co/v1/chains/c1/deployments/d1"), answer)
    assert any("environment" in p for p in problems)  # required, even when null
    assert any("QUEUED" in p for p in problems)  # not (yet) a published status
    assert any("created_at" in p for p in problems)  # a date-time needs its offset
    limited = httpx.Response(429, json={"error": "slow down"})
    assert check_response(httpx.Request("GET", "https://api.baseten.co/v1/chains"), limited)


BASETEN_LAYER = {
    ("PATCH", "/v1/chains/{chain_id}/environments/{env_name}/chainlet_settings/autoscaling_settings"),
    ("GET", "/v1/chains/{chain_id}/audit_logs"),
    ("GET", "/v1/chains/{chain_id}"),
}


def test_autoscaling_and_the_audit_log_follow_the_published_schemas() -> None:
    clock = Clock()
    sim = BasetenSimulator(api_key=API_KEY, clock=clock, step_seconds=10)
    contract = ContractTransport(sim)
    client = BasetenClient(API_KEY, transport=contract, sleep=lambda _s: None)
    update = UpdateChainletEnvironmentAutoscalingSettingsRequest(
        updates=[
            ChainletEnvironmentAutoscalingSettingsUpdate(
                chainlet_name=name,
                autoscaling_settings=UpdateAutoscalingSettings(
                    min_replica=1, max_replica=2, concurrency_target=4
                ),
            )
            for name in ("HelloWorld", "RandInt")
        ]
    )
    statuses = [client.update_autoscaling_settings("chain-hello", "production", update).status]
    statuses.append(client.update_autoscaling_settings("chain-hello", "production", update).status)
    client.promote("chain-hello", "staging", PromoteToChainEnvironmentRequest(deployment_id="dep-hello-4"))
    statuses.append(client.update_autoscaling_settings("chain-hello", "staging", update).status)
    for _ in range(6):
        clock.advance(10)
        client.get_environment("chain-hello", "production")
    sim.outside_push("hello-chain", "production", by="ana@example.com")
    sim.outside_instance_type("hello-chain", "staging", "RandInt", "2x8", by="ci-deployer", source="API")
    clock.advance(100)
    sim.outside_deactivate("hello-chain", "dep-hello-1", by="ana@example.com")
    sim.outside_activate("hello-chain", "dep-hello-1", by="ana@example.com")
    sim.outside_event(
        "hello-chain",
        "CHAIN_ENVIRONMENT_UPDATED",
        {
            "environment_name": "staging",
            "redeploy_on_promotion": True,
            "ramp_up_while_promoting": None,
            "ramp_up_duration_seconds": None,
        },
        by="ana@example.com",
        environment="staging",
    )
    read = client.audit_log_after(
        "chain-hello",
        None,
        page_size=3,
        event_type_groups=[
            AuditLogEventTypeGroup.DEPLOYED,
            AuditLogEventTypeGroup.PROMOTED,
            AuditLogEventTypeGroup.AUTOSCALING_SETTINGS,
            AuditLogEventTypeGroup.INSTANCE_TYPE_CHANGED,
            AuditLogEventTypeGroup.ACTIVATED_DEACTIVATED,
            AuditLogEventTypeGroup.ENVIRONMENT_SETTINGS,
        ],
    )
    client.audit_log_page(
        "chain-hello",
        environment_names=["production", "staging"],
        start=read.entries[0].created,
        end=read.entries[-1].created,
    )
    sim.audit_log_refuses(404)
    with pytest.raises(BasetenError):
        client.audit_log_page("chain-hello")

    assert statuses == ["ACCEPTED", "UNCHANGED", "QUEUED"]
    assert len(read.entries) == 12 and {e.event is not None for e in read.entries} == {True}
    assert BASETEN_LAYER <= {(e.method, e.template) for e in contract.exchanges}
    assert contract.violations == []


def test_the_contract_holds_the_new_endpoints_to_their_schemas() -> None:
    scaling = httpx.Request(
        "PATCH",
        "https://api.baseten.co/v1/chains/c1/environments/production/chainlet_settings/autoscaling_settings",
        headers={"Authorization": "Bearer k"},
        json={
            "updates": [
                {"chainlet_name": "A", "autoscaling_settings": {"min_replicas": 1, "max_scale_down_rate": 80}}
            ]
        },
    )
    problems = check_request(scaling)
    assert any("min_replicas" in p for p in problems) and any("80" in p for p in problems)
    audit = httpx.Request(
        "GET",
        "https://api.baseten.co/v1/chains/c1/audit_logs",
        params={"event_type_groups": "EVERYTHING", "limit": 500, "after": "x"},
        headers={"Authorization": "Bearer k"},
    )
    assert len(check_request(audit)) == 3
    entry = {
        "id": "e1",
        "created": "2027-01-15T08:00:00Z",
        "event_type": "CHAIN_DEPLOYMENT_PROMOTED",
        "event_data": {"event_type": "CHAIN_DEPLOYMENT_PROMOTED", "chain_id": "c1"},
        "actor": {"type": "USER"},
    }
    page = httpx.Response(200, json={"items": [entry], "pagination": {"has_more": False}})
    assert check_response(audit, page)  # a promotion's payload names its deployment and environment
