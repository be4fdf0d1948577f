"""Configuration from the environment. A missing or malformed variable stops start-up with one line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


class ConfigError(Exception):
    """One line naming the variable and what is wrong with it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    slack_bot_token: SecretStr = Field(default=SecretStr(""))
    slack_signing_secret: SecretStr = Field(default=SecretStr(""))
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    baseten_api_key: SecretStr | None = None
    baseten_api_url: str = "https://api.baseten.co"
    port: int = Field(default=3000, ge=1, le=65535)
    database_url: str = "sqlite:///chainops.db"
    chainops_poll_interval: float = Field(default=5.0, gt=0, le=3600)
    chainops_rollout_timeout: float = Field(default=7200.0, gt=0)
    chainops_confirmation_ttl: float = Field(default=900.0, gt=0)
    chainops_rollback_window: float = Field(default=3600.0, gt=0)
    chainops_lease_seconds: float = Field(default=30.0, gt=0)
    # How often each watched chain's audit log is read (one request per chain, whatever the channels).
    chainops_watch_interval: float = Field(default=30.0, gt=0, le=3600)
    chainops_policy: Path | None = None
    chainops_audit_channel: str | None = None
    chainops_workers: int = Field(default=16, ge=1, le=256)
    chainops_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    chainops_log_format: Literal["text", "json"] = "text"
    chainops_http_connections: int = Field(default=1000, ge=16, le=100_000)
    # Seconds from a request's first byte to its last; Slack sends in milliseconds, so a slower client
    # loses its connection rather than holding it.
    chainops_http_request_deadline: float = Field(default=10.0, gt=0, le=300)
    # Slack delivery: seconds between posts in one channel, and how long an outage is retried.
    chainops_slack_pace: float = Field(default=1.0, ge=0, le=60)
    chainops_outbox_give_up: float = Field(default=4 * 3600.0, gt=0)
    # Seconds from SIGTERM to exit: a few under the platform's kill (Heroku and Kubernetes: 30).
    chainops_shutdown_seconds: float = Field(default=25.0, ge=5, le=3600)

    @field_validator("database_url")
    @classmethod
    def _sqlalchemy_url(cls, value: str) -> str:
        # Heroku and others hand out postgres://, which SQLAlchemy no longer accepts as a dialect name.
        if value.startswith("postgres://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgres://")
        elif value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if not value.startswith(("sqlite:", "postgresql+psycopg://")):
            raise ValueError("must be a sqlite:/// or postgres(ql):// URL")
        return value

    @field_validator("baseten_api_url", "slack_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value.strip()

    @field_validator("chainops_audit_channel")
    @classmethod
    def _channel_id(cls, value: str | None) -> str | None:
        # Slack posts by id; a name such as #deploys would fail at the first announcement instead.
        if value is not None and not re.fullmatch(r"[CG][A-Z0-9]{2,}", value.strip()):
            raise ValueError(
                "must be a channel id such as C0123ABCDE, not a channel name (the id is at the bottom of "
                "the channel's details in Slack)"
            )
        return value.strip() if value else value

    @field_validator(
        "chainops_policy",
        "chainops_audit_channel",
        "chainops_metrics_port",
        "slack_app_token",
        "baseten_api_key",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("chainops_log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    def where(self) -> str:
        """Which Baseten and which database, for the start-up line: no password, query or key."""
        baseten = urlsplit(self.baseten_api_url)
        host = f"{baseten.hostname}:{baseten.port}" if baseten.port else baseten.hostname
        database = make_url(self.database_url).set(query={}).render_as_string(hide_password=True)
        return f"Baseten at {baseten.scheme}://{host}{baseten.path.rstrip('/')}, database {database}"

    def require_slack(self) -> None:
        """Serving Slack needs the bot token and, in HTTP mode, the signing secret."""
        if not self.slack_bot_token.get_secret_value():
            raise ConfigError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-...)")
        if self.slack_app_token is None and not self.slack_signing_secret.get_secret_value():
            raise ConfigError("SLACK_SIGNING_SECRET is not set (needed in HTTP mode)")
        if self.baseten_api_key is None:
            raise ConfigError("BASETEN_API_KEY is not set")


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "configuration"
        # Never echo the value: it may be a secret.
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{name} is invalid: {message}") from None
