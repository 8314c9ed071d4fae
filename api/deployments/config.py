"""The ``[deployments]`` section of hub.toml: per-target settings, freeze windows, OIDC trusts,
the judge's defaults and the gate's policy. Pydantic only; validated at start-up, so a bad key
stops the hub with its dotted path (``deployments.targets.web.health_urls[0]``)."""

from __future__ import annotations

from enum import StrEnum
from string import Formatter
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bounceback.api.deployment_wire import MAX_HEALTH_URLS
from bounceback.api.deployments.freeze import CronError, parse_cron
from bounceback.api.deployments.verdict import JudgePolicy

DEFAULT_GITHUB_API = "https://api.github.com"
GITHUB_TOKEN_ENV = "BOUNCEBACK_GITHUB_TOKEN"  # noqa: S105 - the name of a variable
MAX_FREEZE_MINUTES = 7 * 24 * 60
RESTORE_FIELDS = ("to_version", "from_version", "deployment_id", "target", "environment")


class DegradationLevel(StrEnum):
    """The seed's degradation ladder; the gate blocks at and above the configured level."""

    NORMAL = "normal"
    MINIMAL = "minimal"
    MODERATE = "moderate"
    SEVERE = "severe"
    EMERGENCY = "emergency"


DEGRADATION_RANK = {level: rank for rank, level in enumerate(DegradationLevel)}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FreezeWindow(_Section):
    """A deny window: it opens at each time ``cron`` matches (minute hour day-of-month month
    day-of-week, in ``timezone``'s wall-clock time) and stays open ``duration_minutes``."""

    name: str = Field("freeze", min_length=1, max_length=100)
    cron: str = Field(min_length=9, max_length=200)
    duration_minutes: float = Field(gt=0, le=MAX_FREEZE_MINUTES)
    timezone: str = "UTC"
    environments: tuple[str, ...] | None = None  # None: every environment

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Europe/Paris"
            ) from None
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        try:
            parse_cron(value)
        except CronError as exc:
            raise ValueError(str(exc)) from None
        return value


class Trust(_Section):
    """A GitHub repository whose Actions OIDC tokens may act for the target."""

    repository_id: int = Field(gt=0)
    repository: str = Field(pattern=r"^[^/\s]+/[^/\s]+$")
    environments: tuple[str, ...] | None = None
    refs: tuple[str, ...] | None = None


class RollbackWorkflow(_Section):
    """A workflow the hub dispatches on ``POST /deployment/{target}/rollback``."""

    repository: str = Field(pattern=r"^[^/\s]+/[^/\s]+$")
    workflow: str = Field(min_length=1, max_length=255)  # file name or numeric id
    ref: str = Field("main", min_length=1, max_length=255)  # the branch the workflow runs on


class RestoreConfig(_Section):
    """An action each of the target's hosts declares in agent.toml, run on every host when a
    rollback is tracked; parameter values may use {to_version}, {from_version},
    {deployment_id}, {target} and {environment} (api/deployments/restore.py)."""

    action: str = Field(min_length=1, max_length=100)
    params: dict[str, str] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _known_fields(cls, params: dict[str, str]) -> dict[str, str]:
        for name, value in params.items():
            for _, field, _, _ in Formatter().parse(value):
                if field is not None and field not in RESTORE_FIELDS:
                    known = ", ".join("{" + f + "}" for f in RESTORE_FIELDS)
                    raise ValueError(f"params.{name}: unknown placeholder {{{field}}}; use {known}")
        return params


class TargetConfig(_Section):
    health_urls: tuple[str, ...] = Field((), max_length=MAX_HEALTH_URLS)
    hosts: tuple[str, ...] = ()  # agent ids whose readings join the baseline
    freeze: tuple[FreezeWindow, ...] = ()
    trusts: tuple[Trust, ...] = ()
    rollback_workflow: RollbackWorkflow | None = None
    restore_config: RestoreConfig | None = None

    @field_validator("health_urls")
    @classmethod
    def _http_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return urls


class OidcConfig(_Section):
    issuer: str = "https://token.actions.githubusercontent.com"
    jwks_url: str | None = None  # default <issuer>/.well-known/jwks
    audience: str | None = None  # default BOUNCEBACK_PUBLIC_URL


class DeploymentsConfig(_Section):
    # Gate
    block_degradation_level: DegradationLevel = DegradationLevel.SEVERE
    recent_failure_minutes: float = Field(60, ge=0)
    # Watch
    probe_interval_seconds: float = Field(10, gt=0)
    probe_samples: int = Field(3, ge=1, le=50)  # requests per health URL per probe round
    baseline_samples: int = Field(30, ge=0, le=500)  # requests per health URL at track
    probe_timeout_seconds: float = Field(5, gt=0)
    warmup_seconds: float = Field(60, ge=0)
    look_interval_seconds: float = Field(60, gt=0)
    agent_baseline_minutes: float = Field(30, gt=0)  # agent readings before track
    latency_floor_ms: float = Field(25, ge=0)  # a latency shift below this never fails
    judge: JudgePolicy = Field(default_factory=JudgePolicy)
    # Everything else
    freeze: tuple[FreezeWindow, ...] = ()  # for every target
    targets: dict[str, TargetConfig] = Field(default_factory=dict)
    oidc: OidcConfig = Field(default_factory=OidcConfig)
    github_api_url: str = DEFAULT_GITHUB_API

    def target(self, name: str) -> TargetConfig:
        return self.targets.get(name) or TargetConfig()

    def freeze_windows(self, target: str) -> tuple[FreezeWindow, ...]:
        return self.freeze + self.target(target).freeze

    @property
    def has_trusts(self) -> bool:
        return any(target.trusts for target in self.targets.values())
