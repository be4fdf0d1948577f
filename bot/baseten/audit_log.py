"""Models of Baseten's audit log of a chain (`GET /v1/chains/{chain_id}/audit_logs`, in the 2026-08 spec).

Baseten keeps adding event types, sources and fields to this log, so nothing here refuses an entry: an
unknown event type, source or actor type is kept as the string Baseten sent, `event_data` is kept as
sent, and `event` reads it into the typed payload of a chain event when it has the known shape (None
otherwise, never an exception)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.baseten.models import OpenStrEnum


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AuditLogEventType(OpenStrEnum):
    """AuditLogEventTypeV1; the chain events first, then the others an organisation's log holds."""

    CHAIN_DEPLOYED = "CHAIN_DEPLOYED"
    CHAIN_DEPLOYMENT_ACTIVATED = "CHAIN_DEPLOYMENT_ACTIVATED"
    CHAIN_DEPLOYMENT_DEACTIVATED = "CHAIN_DEPLOYMENT_DEACTIVATED"
    CHAIN_DEPLOYMENT_PROMOTED = "CHAIN_DEPLOYMENT_PROMOTED"
    CHAINLET_AUTOSCALING_SETTINGS_CHANGED = "CHAINLET_AUTOSCALING_SETTINGS_CHANGED"
    CHAINLET_INSTANCE_TYPE_CHANGED = "CHAINLET_INSTANCE_TYPE_CHANGED"
    CHAIN_DEPLOYMENT_DELETED = "CHAIN_DEPLOYMENT_DELETED"
    CHAIN_DELETED = "CHAIN_DELETED"
    CHAIN_ENVIRONMENT_CREATED = "CHAIN_ENVIRONMENT_CREATED"
    CHAIN_ENVIRONMENT_UPDATED = "CHAIN_ENVIRONMENT_UPDATED"
    MODEL_DEPLOYED = "MODEL_DEPLOYED"
    MODEL_DEPLOYMENT_ACTIVATED = "MODEL_DEPLOYMENT_ACTIVATED"
    MODEL_DEPLOYMENT_DEACTIVATED = "MODEL_DEPLOYMENT_DEACTIVATED"
    MODEL_DEPLOYMENT_RETRIED = "MODEL_DEPLOYMENT_RETRIED"
    MODEL_DEPLOYMENT_PROMOTED = "MODEL_DEPLOYMENT_PROMOTED"
    MODEL_DEPLOYMENT_AUTOSCALING_SETTINGS_CHANGED = "MODEL_DEPLOYMENT_AUTOSCALING_SETTINGS_CHANGED"
    MODEL_DEPLOYMENT_REQUEST_BACKPRESSURE_SETTINGS_CHANGED = (
        "MODEL_DEPLOYMENT_REQUEST_BACKPRESSURE_SETTINGS_CHANGED"
    )
    MODEL_DEPLOYMENT_INSTANCE_TYPE_CHANGED = "MODEL_DEPLOYMENT_INSTANCE_TYPE_CHANGED"
    MODEL_DEPLOYMENT_DELETED = "MODEL_DEPLOYMENT_DELETED"
    MODEL_DELETED = "MODEL_DELETED"
    SECRET_UPDATED = "SECRET_UPDATED"
    SECRET_DELETED = "SECRET_DELETED"
    API_KEY_CREATED = "API_KEY_CREATED"
    API_KEY_DELETED = "API_KEY_DELETED"
    GATEWAY_ENDPOINT_CREATED = "GATEWAY_ENDPOINT_CREATED"
    GATEWAY_ENDPOINT_UPDATED = "GATEWAY_ENDPOINT_UPDATED"
    GATEWAY_ENDPOINT_DELETED = "GATEWAY_ENDPOINT_DELETED"
    USER_INVITED = "USER_INVITED"
    USER_JOINED_ORGANIZATION = "USER_JOINED_ORGANIZATION"
    WEBHOOK_SIGNING_SECRET_CREATED = "WEBHOOK_SIGNING_SECRET_CREATED"
    WEBHOOK_SIGNING_SECRET_ROTATED = "WEBHOOK_SIGNING_SECRET_ROTATED"
    WEBHOOK_SIGNING_SECRET_DELETED = "WEBHOOK_SIGNING_SECRET_DELETED"
    USER_ROLE_UPDATED = "USER_ROLE_UPDATED"
    USER_TEAM_ROLE_UPDATED = "USER_TEAM_ROLE_UPDATED"
    USER_REMOVED = "USER_REMOVED"
    DIRECTORY_GROUP_ROLE_UPDATED = "DIRECTORY_GROUP_ROLE_UPDATED"
    REQUIRE_GROUP_BASED_ADMINS_ENABLED = "REQUIRE_GROUP_BASED_ADMINS_ENABLED"
    ENVIRONMENT_CREATED = "ENVIRONMENT_CREATED"
    ENVIRONMENT_UPDATED = "ENVIRONMENT_UPDATED"
    ENVIRONMENT_DELETED = "ENVIRONMENT_DELETED"
    REPLICA_TERMINATED = "REPLICA_TERMINATED"
    MODEL_PROMOTION_CONTROL_ACTION = "MODEL_PROMOTION_CONTROL_ACTION"
    SSH_CERTIFICATE_SIGNED = "SSH_CERTIFICATE_SIGNED"


class AuditLogEventTypeGroup(OpenStrEnum):
    """AuditLogEventTypeGroupV1: the coarse groups the log can be filtered by."""

    DEPLOYED = "DEPLOYED"
    PROMOTED = "PROMOTED"
    ACTIVATED_DEACTIVATED = "ACTIVATED_DEACTIVATED"
    AUTOSCALING_SETTINGS = "AUTOSCALING_SETTINGS"
    REQUEST_BACKPRESSURE_SETTINGS = "REQUEST_BACKPRESSURE_SETTINGS"
    INSTANCE_TYPE_CHANGED = "INSTANCE_TYPE_CHANGED"
    ENVIRONMENT_SETTINGS = "ENVIRONMENT_SETTINGS"
    REPLICA_TERMINATED = "REPLICA_TERMINATED"
    DELETED = "DELETED"
    SECRETS = "SECRETS"
    API_KEYS = "API_KEYS"
    GATEWAY = "GATEWAY"
    WEBHOOK_SIGNING_SECRETS = "WEBHOOK_SIGNING_SECRETS"
    USER_MANAGEMENT = "USER_MANAGEMENT"
    DIRECTORY_GROUP_MANAGEMENT = "DIRECTORY_GROUP_MANAGEMENT"
    SSH = "SSH"


class AuditLogSource(OpenStrEnum):
    """AuditLogSourceV1: the surface a change came through."""

    UI = "UI"
    API = "API"
    MCP = "MCP"
    SYSTEM = "SYSTEM"
    OTHER = "OTHER"


class AuditLogActorType(OpenStrEnum):
    USER = "USER"
    API_KEY = "API_KEY"
    BASETEN_USER = "BASETEN_USER"
    BASETEN_SYSTEM = "BASETEN_SYSTEM"
    TOMBSTONE_USER = "TOMBSTONE_USER"


class AuditLogSortDirection(OpenStrEnum):
    DESC = "DESC"
    ASC = "ASC"


def api_key_prefix(api_key: str) -> str:
    """The prefix an audit entry names for a key (`<prefix>.<secret>`: the part before the dot).

    A key without a dot gets a fingerprint instead of any of its characters, so the part shown is never
    part of the secret; the simulator names such keys the same way."""
    prefix, dot, secret = api_key.partition(".")
    if dot and prefix and secret:
        return prefix
    return "k" + hashlib.sha256(api_key.encode()).hexdigest()[:7]


class AuditLogActor(_Response):
    type: AuditLogActorType
    email: str | None = None
    api_key_prefix: str | None = None
    api_key_name: str | None = None

    @property
    def who(self) -> str:
        """A person's email, else the key's name, else its prefix, else the kind of actor."""
        if self.email:
            return self.email
        if self.api_key_name:
            return self.api_key_name
        if self.api_key_prefix:
            return f"API key {self.api_key_prefix}"
        if self.type is AuditLogActorType.BASETEN_SYSTEM:
            return "Baseten"
        return self.type.value

    def is_key(self, api_key: str) -> bool:
        """True when the actor is this API key (by its prefix)."""
        return self.api_key_prefix is not None and self.api_key_prefix == api_key_prefix(api_key)


# -- the chain events' payloads (event_data) -------------------------------------------------------------
# Fields beyond the chain's id and name default to None, so a payload Baseten trims later still reads.


class _ChainEvent(_Response):
    event_type: str
    chain_id: str
    chain_name: str | None = None
    chain_deployment_id: str | None = None
    chain_deployment_name: str | None = None


class ChainDeployedEvent(_ChainEvent):
    is_primary: bool | None = None
    publish: bool | None = None


class ChainDeploymentActivatedEvent(_ChainEvent):
    pass


class ChainDeploymentDeactivatedEvent(_ChainEvent):
    pass


class ChainDeploymentPromotedEvent(_ChainEvent):
    environment_name: str | None = None
    environment_id: str | None = None


class AuditLogEventAutoscalingSettings(_Response):
    min_replica: int | None = None
    max_replica: int | None = None
    concurrency_target: int | None = None
    autoscaling_window: int | None = None
    scale_down_delay: int | None = None
    target_utilization_percentage: int | None = None
    target_in_flight_tokens: int | None = None
    max_scale_down_rate: float | None = None


class ChainletAutoscalingSettingsChangedEvent(_ChainEvent, AuditLogEventAutoscalingSettings):
    chainlet_name: str | None = None
    chainlet_id: str | None = None
    previous_settings: AuditLogEventAutoscalingSettings | None = None

    @property
    def settings(self) -> AuditLogEventAutoscalingSettings:
        return AuditLogEventAutoscalingSettings.model_validate(self.model_dump())


class ChainletInstanceTypeChangedEvent(_ChainEvent):
    chainlet_name: str | None = None
    chainlet_id: str | None = None
    instance_type_name: str | None = None


class ChainDeploymentDeletedEvent(_ChainEvent):
    deployment_name: str | None = None


class ChainDeletedEvent(_ChainEvent):
    pass


class ChainEnvironmentCreatedEvent(_ChainEvent):
    environment_name: str | None = None
    redeploy_on_promotion: bool | None = None
    ramp_up_while_promoting: bool | None = None
    ramp_up_duration_seconds: int | None = None


class ChainEnvironmentUpdatedEvent(ChainEnvironmentCreatedEvent):
    pass


ChainEvent = (
    ChainDeployedEvent
    | ChainDeploymentActivatedEvent
    | ChainDeploymentDeactivatedEvent
    | ChainDeploymentPromotedEvent
    | ChainletAutoscalingSettingsChangedEvent
    | ChainletInstanceTypeChangedEvent
    | ChainDeploymentDeletedEvent
    | ChainDeletedEvent
    | ChainEnvironmentCreatedEvent
    | ChainEnvironmentUpdatedEvent
)

CHAIN_EVENTS: dict[AuditLogEventType, type[_ChainEvent]] = {
    AuditLogEventType.CHAIN_DEPLOYED: ChainDeployedEvent,
    AuditLogEventType.CHAIN_DEPLOYMENT_ACTIVATED: ChainDeploymentActivatedEvent,
    AuditLogEventType.CHAIN_DEPLOYMENT_DEACTIVATED: ChainDeploymentDeactivatedEvent,
    AuditLogEventType.CHAIN_DEPLOYMENT_PROMOTED: ChainDeploymentPromotedEvent,
    AuditLogEventType.CHAINLET_AUTOSCALING_SETTINGS_CHANGED: ChainletAutoscalingSettingsChangedEvent,
    AuditLogEventType.CHAINLET_INSTANCE_TYPE_CHANGED: ChainletInstanceTypeChangedEvent,
    AuditLogEventType.CHAIN_DEPLOYMENT_DELETED: ChainDeploymentDeletedEvent,
    AuditLogEventType.CHAIN_DELETED: ChainDeletedEvent,
    AuditLogEventType.CHAIN_ENVIRONMENT_CREATED: ChainEnvironmentCreatedEvent,
    AuditLogEventType.CHAIN_ENVIRONMENT_UPDATED: ChainEnvironmentUpdatedEvent,
}


class AuditLogEntry(_Response):
    """AuditLogEntryV1."""

    id: str
    created: datetime
    event_type: AuditLogEventType
    event_data: dict[str, Any] = Field(default_factory=dict)
    source: AuditLogSource | None = None
    # Required by the spec; an entry without one still reads (as made by an unknown actor).
    actor: AuditLogActor = Field(default_factory=lambda: AuditLogActor(type=AuditLogActorType("UNKNOWN")))
    client_name: str | None = None
    client_version: str | None = None
    client_session_id: str | None = None

    @field_validator("event_data", mode="before")
    @classmethod
    def _any_payload(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {}

    @property
    def event(self) -> ChainEvent | None:
        """The typed payload of a chain event; None for other or unknown types, or an unexpected shape."""
        model = CHAIN_EVENTS.get(self.event_type)
        if model is None:
            return None
        try:
            return model.model_validate(self.event_data)  # type: ignore[return-value]
        except ValidationError:
            return None

    @property
    def environment_name(self) -> str | None:
        """The environment the entry names, when its payload names one (promotions, environment events)."""
        value = self.event_data.get("environment_name")
        return value if isinstance(value, str) and value else None

    @property
    def chain_deployment_id(self) -> str | None:
        value = self.event_data.get("chain_deployment_id")
        return value if isinstance(value, str) and value else None

    @property
    def via(self) -> str:
        """The surface: `truss 0.9.1` when the client is known, else the source (`UI`, `API`, ...)."""
        if self.client_name:
            return f"{self.client_name} {self.client_version}" if self.client_version else self.client_name
        return self.source.value if self.source is not None else "unknown"


class PaginationResponse(_Response):
    has_more: bool
    cursor: str | None = None


class ListAuditLogsResponse(_Response):
    items: list[AuditLogEntry]
    pagination: PaginationResponse


class AuditLogPosition(BaseModel):
    """Where a reader of the log stands: the last entry it was given (id and time) and, while a walk
    through more pages is unfinished, the cursor of the next page. Stored as JSON between reads."""

    model_config = ConfigDict(frozen=True)

    entry_id: str | None = None
    created: datetime | None = None
    cursor: str | None = None


class AuditLogRead(BaseModel):
    """Entries after a position, oldest first, and the position to read from next."""

    entries: list[AuditLogEntry]
    position: AuditLogPosition
    has_more: bool  # the page budget ran out before the newest entry: read again from `position`
