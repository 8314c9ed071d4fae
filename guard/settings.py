"""The guard's resolved settings: one frozen value built by the CLI from flags and environment."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from bounceback.api.deployment_wire import Thresholds

__all__ = ["GuardSettings", "UsageProblem", "parse_thresholds", "run_url_from", "split_urls"]


class UsageProblem(Exception):
    """A setting is missing or wrong; the message names the flag and its environment variable."""


@dataclass(frozen=True)
class GuardSettings:
    hub_url: str
    target: str | None = None
    environment: str = "production"
    version: str | None = None
    repository: str | None = None
    run_url: str | None = None
    actor: str | None = None
    health_urls: tuple[str, ...] = ()
    environment_url: str | None = None
    stabilization_minutes: float | None = None
    monitoring_minutes: float | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    dry_run: bool = False
    fail_open: bool = False
    poll_interval: float = 30.0  # seconds
    watch_timeout: float | None = None  # seconds; default from the deployment's periods
    deploy_command: tuple[str, ...] | None = None
    rollback_command: tuple[str, ...] | None = None
    rollback_workflow: str | None = None
    rollback_workflow_ref: str | None = None
    rollback_ref: str | None = None
    reason: str | None = None
    deployment_id: int | None = None
    github_deployment_id: int | None = None
    production: bool | None = None
    transient: bool = False

    @property
    def is_production(self) -> bool:
        return self.production if self.production is not None else self.environment == "production"

    def need(self, value: str | None, flag: str, env: str, command: str) -> str:
        if not value:
            raise UsageProblem(f"{command} needs {flag} (or {env})")
        return value


_PAIR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*[=:]\s*(\S+)\s*$")


def parse_thresholds(text: str | None) -> Thresholds:
    """``error_rate_ratio=2, latency_tolerance=0.3`` (commas or new lines) or a JSON object."""
    if text is None or not text.strip():
        return Thresholds()
    raw: object
    if text.lstrip().startswith("{"):
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise UsageProblem(f"--thresholds: not valid JSON ({exc})") from None
    else:
        pairs: dict[str, str] = {}
        for item in re.split(r"[,\n]", text):
            if not item.strip():
                continue
            match = _PAIR.match(item)
            if match is None:
                raise UsageProblem(f"--thresholds: {item.strip()!r} is not name=value")
            pairs[match.group(1).replace("-", "_")] = match.group(2)
        raw = pairs
    try:
        return Thresholds.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "thresholds"
        known = ", ".join(Thresholds.model_fields)
        raise UsageProblem(f"--thresholds: {name}: {first['msg']} (known names: {known})") from None


def split_urls(values: tuple[str, ...]) -> tuple[str, ...]:
    """Health URLs from repeated flags, each possibly a newline- or space-separated list."""
    return tuple(url for value in values for url in value.split())


def run_url_from(environ: Mapping[str, str]) -> str | None:
    server = environ.get("GITHUB_SERVER_URL", "").rstrip("/")
    repository = environ.get("GITHUB_REPOSITORY")
    run_id = environ.get("GITHUB_RUN_ID")
    if not (server and repository and run_id):
        return None
    url = f"{server}/{repository}/actions/runs/{run_id}"
    attempt = environ.get("GITHUB_RUN_ATTEMPT")
    return url + (f"/attempts/{attempt}" if attempt and attempt != "1" else "")
