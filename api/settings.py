"""The hub's configuration: the seed's environment variables plus the hub's own.

Every value comes from, in order of precedence: a command-line flag, the environment (the exact
variable name), ``hub.toml`` (the same name in lower case, at the top level), the default.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bounceback.api.degradation.config import DegradationConfig
from bounceback.api.deployments.config import DeploymentsConfig
from bounceback.api.escalation.config import EscalationConfig
from bounceback.api.notify.config import WebhookTarget
from bounceback.api.recovery.models import RecoveryConfig


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class HubSettings(BaseSettings):
    """Effective hub configuration. Field names are the lower-case environment variable names."""

    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        validate_default=True,
        allow_inf_nan=False,  # "inf" minutes would overflow the first time it became a duration
    )

    # Where the hub listens and keeps its data.
    bounceback_host: str = "127.0.0.1"
    bounceback_port: int = Field(4000, ge=1, le=65535)
    bounceback_data_dir: Path = Path("./bounceback-data")
    database_url: SecretStr | None = None
    bounceback_database_schema: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    bounceback_log_format: LogFormat = LogFormat.TEXT
    bounceback_log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    bounceback_access_log: bool = True
    bounceback_max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # GET /metrics without a token (docs/metrics.md); off: a viewer token is needed.
    bounceback_metrics_public: bool = False
    # The dashboard (docs/dashboard.md): how long a sign-in lasts, how often open pages look for
    # changes in the store, and the public status page at /status (off: 404).
    bounceback_dashboard_session_hours: float = Field(12, gt=0, le=24 * 30)
    bounceback_dashboard_live_seconds: float = Field(1.0, ge=0.05, le=60)
    bounceback_status_page: bool = False
    # The URL people and CI reach the hub at: report links, and the OIDC audience.
    bounceback_public_url: str | None = Field(None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    # The token the hub dispatches rollback workflows with (repo scope / actions: write).
    bounceback_github_token: SecretStr | None = None
    # Failed authentications (401s) one client address or credential may have within the window
    # before it gets 429 with Retry-After (api/auth/ratelimit.py); 0 turns the limit off.
    bounceback_auth_failure_limit: int = Field(20, ge=0)
    bounceback_auth_failure_window_seconds: float = Field(60, gt=0, le=86400)
    # Scheduled work a hub claimed is its own for this long (renewed every third of it while it
    # runs); after a crash another replica takes it over once it runs out. Shorter: faster
    # takeover, more renewals.
    bounceback_work_lease_seconds: float = Field(30, ge=1, le=3600)
    # Retention (api/retention): how many days the hub keeps what grows with use; 0 keeps it for
    # ever, otherwise at least a day. Agent events (samples, check readings and the rest) and the
    # audit records of agent reports; every other audit record; finished scheduled work. The
    # pruning runs every interval on one replica, in small transactions.
    bounceback_retention_agent_events_days: float = Field(14, ge=0, le=36500)
    bounceback_retention_audit_days: float = Field(365, ge=0, le=36500)
    bounceback_retention_work_days: float = Field(7, ge=0, le=36500)
    bounceback_retention_interval_seconds: float = Field(3600, ge=60, le=86400)

    # Auto Recovery
    auto_recovery_enabled: bool = True
    max_concurrent_recoveries: int = Field(5, ge=1)
    global_cooldown_minutes: float = Field(5, ge=0)
    # hub.toml's [recovery] section: [[recovery.actions]] (docs/recovery.md)
    recovery: RecoveryConfig = Field(default_factory=RecoveryConfig)
    # Circuit Breaker (the recovery timeout is in milliseconds, as in the seed)
    circuit_breaker_failure_threshold: int = Field(5, ge=1)
    circuit_breaker_recovery_timeout: int = Field(60000, ge=0)
    circuit_breaker_success_threshold: int = Field(3, ge=1)
    # Graceful Degradation (seconds)
    degradation_enabled: bool = True
    degradation_check_interval: float = Field(30, gt=0)
    # hub.toml's [degradation] section: services, rules, the hold period (docs/degradation.md)
    degradation: DegradationConfig = Field(default_factory=DegradationConfig)
    # Incident Escalation
    escalation_enabled: bool = True
    l1_timeout_minutes: float = Field(15, gt=0)
    l2_timeout_minutes: float = Field(30, gt=0)
    l3_timeout_minutes: float = Field(45, gt=0)
    l4_timeout_minutes: float = Field(60, gt=0)
    l5_timeout_minutes: float = Field(90, gt=0)
    # hub.toml's [escalation] section: people, teams, schedules, policies, SMTP
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    # Self Healing (interval in seconds, thresholds in percent)
    self_healing_enabled: bool = True
    health_check_interval: float = Field(60, gt=0)
    memory_threshold: float = Field(85, ge=0, le=100)
    cpu_threshold: float = Field(80, ge=0, le=100)
    disk_threshold: float = Field(90, ge=0, le=100)
    # Deployment Monitoring
    deployment_monitoring_enabled: bool = True
    auto_rollback_enabled: bool = True
    stabilization_period_minutes: float = Field(15, ge=0)
    monitoring_duration_minutes: float = Field(60, gt=0)
    # hub.toml's [deployments] section: targets, gate, watch, judge, freeze windows, OIDC
    deployments: DeploymentsConfig = Field(default_factory=DeploymentsConfig)
    # Notifications
    email_notifications_enabled: bool = True
    slack_notifications_enabled: bool = True
    sms_notifications_enabled: bool = False
    phone_notifications_enabled: bool = False  # Twilio voice calls (critical incidents only)
    # Channels' providers (docs/channels.md). Secrets also come from a file named by the same
    # variable with _FILE appended (SLACK_BOT_TOKEN_FILE=/run/secrets/slack-bot-token).
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = Field("https://slack.com/api/", pattern=r"^https?://\S+$")
    twilio_account_sid: str | None = Field(None, pattern=r"^AC[0-9a-fA-F]{32}$")
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = Field(None, pattern=r"^\+[1-9][0-9]{6,14}$")
    twilio_api_url: str = Field("https://api.twilio.com", pattern=r"^https?://\S+$")
    teams_webhook_url: SecretStr | None = None
    # Outbound webhooks (hub.toml [[webhooks]]): JSON signed with HMAC-SHA256, per webhook.
    webhooks: tuple[WebhookTarget, ...] = ()

    @field_validator(
        "bounceback_retention_agent_events_days",
        "bounceback_retention_audit_days",
        "bounceback_retention_work_days",
    )
    @classmethod
    def _retention_days(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError("expected 0 (keep for ever) or a number of days of at least 1")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            async_database_url(value.get_secret_value())
        return value

    @field_validator("bounceback_log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL: DATABASE_URL made async, or SQLite in the data dir."""
        if self.database_url is None:
            path = (self.bounceback_data_dir / "bounceback.db").resolve()
            return f"sqlite+aiosqlite:///{path}"
        return async_database_url(self.database_url.get_secret_value())

    @property
    def public_url(self) -> str:
        """BOUNCEBACK_PUBLIC_URL without a trailing slash, else where the hub listens."""
        if self.bounceback_public_url:
            return self.bounceback_public_url.rstrip("/")
        return f"http://{self.bounceback_host}:{self.bounceback_port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = settings_cls.model_config.get("toml_file")
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


SECRET_FIELDS = frozenset(
    {
        "database_url",
        "bounceback_github_token",
        "slack_bot_token",
        "slack_signing_secret",
        "twilio_auth_token",
        "teams_webhook_url",
    }
)


def async_database_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver the hub uses."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("expected a URL such as postgresql://user@host:5432/db or sqlite:///path")
    base = scheme.split("+", 1)[0]
    if base in ("postgres", "postgresql"):
        return f"postgresql+asyncpg://{rest}"
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    raise ValueError("expected a postgresql:// or sqlite:// URL")


def env_name(field: str) -> str:
    return field.upper()


def settings_class_for(config_file: Path | None) -> type[HubSettings]:
    """A HubSettings subclass that also reads ``config_file`` (when given)."""
    if config_file is None:
        return HubSettings

    class _FromFile(HubSettings):
        model_config = SettingsConfigDict(toml_file=config_file)

    return _FromFile
