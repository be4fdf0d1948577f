from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings, load_settings


def test_postgres_urls_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example.com/chainops")
    assert load_settings().database_url == "postgresql+psycopg://u:p@db.example.com/chainops"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert load_settings().database_url == "postgresql+psycopg://u@h/db"


def test_malformed_variable_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith("PORT is invalid") and "\n" not in str(caught.value)


def test_secret_values_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://user:hunter2@h/db")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)
    monkeypatch.delenv("DATABASE_URL")
    assert "hunter2" not in repr(Settings(slack_bot_token="xoxb-hunter2"))  # type: ignore[arg-type]


def test_missing_slack_token_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN is not set"):
        load_settings().require_slack()


def test_metrics_port_is_off_unless_set_and_log_format_is_text_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().chainops_metrics_port is None
    assert load_settings().chainops_log_format == "text"
    monkeypatch.setenv("CHAINOPS_METRICS_PORT", " ")
    assert load_settings().chainops_metrics_port is None
    monkeypatch.setenv("CHAINOPS_METRICS_PORT", "9464")
    monkeypatch.setenv("CHAINOPS_LOG_FORMAT", "JSON")
    assert (load_settings().chainops_metrics_port, load_settings().chainops_log_format) == (9464, "json")
    monkeypatch.setenv("CHAINOPS_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="CHAINOPS_LOG_FORMAT is invalid"):
        load_settings()


@pytest.mark.parametrize(
    "name, value, said",
    [
        ("BASETEN_API_URL", "notaurl", "BASETEN_API_URL is invalid: must be an http:// or https:// URL"),
        ("BASETEN_API_URL", "api.baseten.co", "BASETEN_API_URL is invalid"),
        ("SLACK_API_URL", "ftp://slack.com/api/", "SLACK_API_URL is invalid"),
        ("CHAINOPS_AUDIT_CHANNEL", "general", "CHAINOPS_AUDIT_CHANNEL is invalid: must be a channel id such as C0123ABCDE, not a channel name"),
        ("CHAINOPS_AUDIT_CHANNEL", "#deploys", "CHAINOPS_AUDIT_CHANNEL is invalid"),
        ("CHAINOPS_AUDIT_CHANNEL", "U0ALICE", "CHAINOPS_AUDIT_CHANNEL is invalid"),
    ],
)
def test_urls_and_the_audit_channel_are_refused_in_one_line_when_malformed(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(said) and "\n" not in str(caught.value)
    assert "Value error" not in str(caught.value)


def test_well_formed_urls_and_channel_ids_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASETEN_API_URL", "http://127.0.0.1:8765")
    monkeypatch.setenv("CHAINOPS_AUDIT_CHANNEL", " C0AUDIT ")
    settings = load_settings()
    assert (settings.baseten_api_url, settings.chainops_audit_channel) == ("http://127.0.0.1:8765", "C0AUDIT")


def test_the_start_line_names_baseten_and_the_database_without_secrets() -> None:
    settings = Settings(
        database_url="postgres://chainops:hunter2@db.example.com:5432/chainops?password=hunter3",
        baseten_api_url="https://key:hunter4@api.baseten.co/?token=hunter5",
    )
    where = settings.where()
    assert where == "Baseten at https://api.baseten.co, database postgresql+psycopg://chainops:***@db.example.com:5432/chainops"
    assert "hunter" not in where
