"""The Baseten client against the simulator: typed results, readable errors, careful retries."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from bot import __version__
from bot.baseten.audit_log import (
    AuditLogEventType,
    AuditLogEventTypeGroup,
    AuditLogPosition,
    ChainDeploymentPromotedEvent,
    ChainletAutoscalingSettingsChangedEvent,
    api_key_prefix,
)
from bot.baseten.client import BasetenClient
from bot.baseten.errors import (
    BasetenAuditLogUnavailable,
    BasetenForbidden,
    BasetenInvalidName,
    BasetenNotFound,
    BasetenRateLimited,
    BasetenRejected,
    BasetenUnauthorized,
    BasetenUnavailable,
)
from bot.baseten.models import (
    ChainletEnvironmentAutoscalingSettingsUpdate,
    ChainletEnvironmentInstanceTypeUpdate,
    Phase,
    PromoteToChainEnvironmentRequest,
    UpdateAutoscalingSettings,
    UpdateAutoscalingSettingsStatus,
    UpdateChainletEnvironmentAutoscalingSettingsRequest,
    UpdateChainletEnvironmentInstanceTypeRequest,
)
from bot.baseten.sim.transport import BasetenSimulator
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


# -- autoscaling settings ----------------------------------------------------------------------------------


def scaling(chainlet: str, **settings: int) -> UpdateChainletEnvironmentAutoscalingSettingsRequest:
    return UpdateChainletEnvironmentAutoscalingSettingsRequest(
        updates=[
            ChainletEnvironmentAutoscalingSettingsUpdate(
                chainlet_name=chainlet, autoscaling_settings=UpdateAutoscalingSettings(**settings)
            )
        ]
    )


def test_an_autoscaling_update_sends_only_the_settings_it_names_and_reads_back(
    client: BasetenClient, sim: BasetenSimulator
) -> None:
    request = scaling("HelloWorld", min_replica=0, scale_down_delay=120)
    answer = client.update_autoscaling_settings("chain-hello", "production", request)

    assert answer.status is UpdateAutoscalingSettingsStatus.ACCEPTED and answer.message
    [write] = sim.writes
    assert (write.method, write.json) == (
        "PATCH",
        {
            "updates": [
                {
                    "chainlet_name": "HelloWorld",
                    "autoscaling_settings": {"min_replica": 0, "scale_down_delay": 120},
                }
            ]
        },
    )  # no other key, and no null for the settings left alone
    env = client.get_environment("chain-hello", "production")
    assert request.applied_in(env) and request.settled_in(env)
    setting = env.setting_of("HelloWorld")
    assert setting is not None and setting.autoscaling_settings is not None
    assert (setting.autoscaling_settings.min_replica, setting.autoscaling_settings.max_replica) == (
        0,
        3,
    )  # max kept
    again = client.update_autoscaling_settings("chain-hello", "production", request)
    assert again.status.changed_nothing


@pytest.mark.parametrize(
    "settings",
    [
        {"min_replicas": 1},
        {"min_replica": -1},
        {"max_replica": 0},
        {"min_replica": 3, "max_replica": 2},
        {"target_utilization_percentage": 0},
        {"max_scale_down_rate": 51},
    ],
)
def test_autoscaling_settings_no_chainlet_could_run_with_are_refused_before_sending(
    settings: dict[str, int],
) -> None:
    with pytest.raises(ValidationError):
        UpdateAutoscalingSettings.model_validate(settings)


def test_an_unknown_chainlet_is_refused_by_baseten_with_its_name(
    client: BasetenClient, sim: BasetenSimulator
) -> None:
    with pytest.raises(BasetenRejected) as caught:
        client.update_autoscaling_settings("chain-hello", "production", scaling("Nope", max_replica=2))
    assert "Nope" in caught.value.message and caught.value.status == 400


def test_an_autoscaling_status_baseten_adds_later_is_kept_as_sent(
    client: BasetenClient, sim: BasetenSimulator
) -> None:
    sim.answer_autoscaling_with("DEFERRED")
    answer = client.update_autoscaling_settings(
        "chain-hello", "production", scaling("RandInt", max_replica=2)
    )
    assert answer.status == "DEFERRED" and not answer.status.known and not answer.status.changed_nothing


def test_an_unanswered_autoscaling_write_is_not_sent_again_and_reads_back_as_made(
    sim: BasetenSimulator,
) -> None:
    client = BasetenClient(KEY, transport=sim, timeout=httpx.Timeout(2.0), sleep=lambda _s: None)
    sim.slow_writes(10, path_contains="/autoscaling_settings")
    request = scaling("RandInt", min_replica=2, max_replica=2)
    with pytest.raises(BasetenUnavailable) as caught:
        client.update_autoscaling_settings("chain-hello", "production", request)
    assert caught.value.timed_out and caught.value.sent
    assert len(sim.writes) == 1
    assert request.applied_in(client.get_environment("chain-hello", "production"))


# -- the audit log ----------------------------------------------------------------------------------------


def test_entries_after_a_position_come_oldest_first_across_pages(
    client: BasetenClient, sim: BasetenSimulator
) -> None:
    clock = Clock(1_800_000_000.0)
    sim.clock = clock
    start = client.audit_log_newest("chain-hello")
    assert start == AuditLogPosition()  # an empty log: everything is after it
    for n in range(7):
        sim.outside_autoscaling(
            "chain-hello", "staging", "RandInt", {"max_replica": 2 + n}, by=f"user{n}@example.com"
        )
        clock.advance(1)

    first = client.audit_log_after("chain-hello", start, page_size=2, max_pages=2)
    assert [e.actor.who for e in first.entries] == [
        "user0@example.com",
        "user1@example.com",
        "user2@example.com",
        "user3@example.com",
    ]
    assert first.has_more and first.position.cursor  # the page budget ran out: continue from there
    rest = client.audit_log_after("chain-hello", first.position, page_size=2)
    assert [e.actor.who for e in rest.entries] == [
        "user4@example.com",
        "user5@example.com",
        "user6@example.com",
    ]
    assert (
        not rest.has_more and rest.position.cursor is None and rest.position.entry_id == rest.entries[-1].id
    )
    assert client.audit_log_after("chain-hello", rest.position).entries == []

    client.promote("chain-hello", "production", PromoteToChainEnvironmentRequest(deployment_id="dep-hello-4"))
    [mine] = client.audit_log_after("chain-hello", rest.position).entries
    assert mine.event_type is AuditLogEventType.CHAIN_DEPLOYMENT_PROMOTED and mine.actor.is_key(KEY)
    assert not rest.entries[0].actor.is_key(KEY)
    # A position is stored as JSON between reads, and reads the same afterwards.
    stored = AuditLogPosition.model_validate_json(rest.position.model_dump_json())
    assert [e.id for e in client.audit_log_after("chain-hello", stored).entries] == [mine.id]


def test_a_position_that_names_only_an_entry_is_found_first(client: BasetenClient, sim: BasetenSimulator) -> None:
    for n in range(5):
        sim.outside_autoscaling("chain-hello", "staging", "RandInt", {"max_replica": 2 + n}, by=f"user{n}@example.com")
    ids = [e.id for e in client.audit_log_after("chain-hello", None).entries]
    after_second = client.audit_log_after("chain-hello", AuditLogPosition(entry_id=ids[1]), page_size=2)
    assert [e.id for e in after_second.entries] == ids[2:]
    with pytest.raises(BasetenNotFound):
        client.audit_log_after("chain-hello", AuditLogPosition(entry_id="ale-gone"))


def test_a_cursor_baseten_no_longer_accepts_falls_back_to_the_last_entry(
    client: BasetenClient, sim: BasetenSimulator
) -> None:
    for n in range(3):
        sim.outside_autoscaling(
            "chain-hello", "staging", "RandInt", {"max_replica": 2 + n}, by="ana@example.com"
        )
    [first] = client.audit_log_after("chain-hello", None, max_pages=1, page_size=1).entries
    stale = AuditLogPosition(entry_id=first.id, created=first.created, cursor="expired")
    assert len(client.audit_log_after("chain-hello", stale).entries) == 2


def test_audit_log_filters_reach_baseten(client: BasetenClient, sim: BasetenSimulator) -> None:
    sim.outside_autoscaling("chain-hello", "staging", "RandInt", {"max_replica": 2}, by="ana@example.com")
    sim.outside_promote("chain-hello", "production", "dep-hello-4", by="ana@example.com")
    groups = [AuditLogEventTypeGroup.PROMOTED, AuditLogEventTypeGroup.AUTOSCALING_SETTINGS]
    read = client.audit_log_after(
        "chain-hello", None, event_type_groups=groups, environment_names=["production"]
    )
    [promoted] = read.entries
    event = promoted.event
    assert isinstance(event, ChainDeploymentPromotedEvent) and event.environment_name == "production"
    assert promoted.environment_name == "production" and promoted.chain_deployment_id == "dep-hello-4"
    assert sim.requests[-1].query["environment_names"] == "production"
    assert promoted.actor.who == "ana@example.com" and promoted.via == "UI"


def test_audit_log_entries_baseten_adds_later_are_kept_not_refused(sim: BasetenSimulator) -> None:
    sim.outside_autoscaling("chain-hello", "staging", "RandInt", {"max_replica": 2}, by="ana@example.com")

    def newer_baseten(request: httpx.Request) -> httpx.Response:
        body = sim.handle_request(request).json()
        body["pagination"]["total"] = 2
        body["items"][0]["region"] = "us-east"
        body["items"][0]["event_data"]["max_scale_down_rate"] = 12.5
        body["items"].append(
            {
                "id": "ale-new",
                "created": "2027-01-15T08:00:00Z",
                "event_type": "CHAIN_TRAFFIC_SPLIT_CHANGED",
                "event_data": {"event_type": "CHAIN_TRAFFIC_SPLIT_CHANGED", "split": [90, 10]},
                "source": "TERRAFORM",
                "actor": {"type": "SERVICE_ACCOUNT", "api_key_name": "infra"},
            }
        )
        body["items"].append(
            {
                "id": "ale-odd",
                "created": "2027-01-15T08:00:01Z",
                "event_type": "CHAIN_DEPLOYED",
                "event_data": {"chain_id": 7},
                "actor": {"type": "USER"},
            }
        )
        body["items"].append({"id": "ale-bare", "created": "2027-01-15T08:00:02Z", "event_type": "CHAIN_DELETED", "event_data": None})
        return httpx.Response(200, json=body)

    client = BasetenClient(KEY, transport=httpx.MockTransport(newer_baseten))
    scaled, new, odd, bare = client.audit_log_page("chain-hello").items
    assert isinstance(scaled.event, ChainletAutoscalingSettingsChangedEvent)
    assert scaled.event.settings.max_scale_down_rate == 12.5 and scaled.event.previous_settings is not None
    assert new.event_type == "CHAIN_TRAFFIC_SPLIT_CHANGED" and not new.event_type.known and new.event is None
    assert new.event_data["split"] == [90, 10] and new.source == "TERRAFORM" and new.via == "TERRAFORM"
    assert new.actor.type == "SERVICE_ACCOUNT" and new.actor.who == "infra"
    assert odd.event is None and odd.actor.who == "USER"  # a payload of an unexpected shape: kept, not typed
    assert bare.event_data == {} and bare.event is None and bare.actor.who == "UNKNOWN"


def test_without_an_audit_log_the_client_says_why_and_a_missing_chain_stays_missing(
    client: BasetenClient, sim: BasetenSimulator
) -> None:
    sim.audit_log_refuses(404)
    with pytest.raises(BasetenAuditLogUnavailable) as older:
        client.audit_log_page("chain-hello")
    assert older.value.missing and "no audit log" in older.value.message
    with pytest.raises(BasetenNotFound) as gone:
        client.audit_log_page("chain-gone")
    assert not isinstance(gone.value, BasetenAuditLogUnavailable) and "chain chain-gone" in gone.value.message
    sim.audit_log_refuses(403)
    with pytest.raises(BasetenAuditLogUnavailable) as forbidden:
        client.audit_log_after("chain-hello", None)
    assert (
        not forbidden.value.missing
        and "HTTP 403" in forbidden.value.message
        and KEY not in forbidden.value.message
    )


def test_an_api_key_prefix_is_never_part_of_a_key_without_one() -> None:
    assert api_key_prefix("abcd1234.s3cr3t") == "abcd1234"
    assert api_key_prefix(KEY)[1:] not in KEY and len(api_key_prefix(KEY)) == 8
