"""agent.toml: the whole declaration of what the agent watches and may do on this host.

Precedence: command-line flag > environment (the seed's variables) > agent.toml > default. The
seed's thresholds (MEMORY_THRESHOLD, CPU_THRESHOLD, DISK_THRESHOLD) are the defaults of checks
that don't set their own; HEALTH_CHECK_INTERVAL and SELF_HEALING_ENABLED override the file.
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bounceback.agent.action_spec import ActionSpec, index_actions
from bounceback.agent.check_spec import CheckList
from bounceback.agent.credentials import DEFAULT_PATH as DEFAULT_CREDENTIALS
from bounceback.agent.process_spec import ProcessSpec
from bounceback.agent.safety import SafetySpec
from bounceback.api.agent_wire import AGENT_ID_PATTERN

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class AgentSection(BaseModel):
    # Validated inside AgentConfig: no validator of its own until one is asked for.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str = Field(default_factory=socket.gethostname, pattern=AGENT_ID_PATTERN)
    interval_seconds: float = Field(60, gt=0, le=3600)  # the seed's HEALTH_CHECK_INTERVAL
    spool_dir: Path = Path("/var/lib/bounceback-agent/spool")
    spool_max_mb: float = Field(50, gt=0)
    credentials_file: Path = DEFAULT_CREDENTIALS
    poll_wait_seconds: float = Field(25, ge=1, le=30)


class DependencyKind(StrEnum):
    DATABASE = "database"
    EXTERNAL_API = "external_api"
    INTERNAL_SERVICE = "internal_service"
    CACHE = "cache"
    FILE_STORAGE = "file_storage"


class DependencySpec(BaseModel):
    """A dependency whose circuit the agent tracks, driven by one of its probe checks."""

    # Validated inside AgentConfig: no validator of its own until one is asked for.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str = Field(pattern=NAME)
    kind: DependencyKind
    check: str = Field(pattern=NAME)  # the [[checks]] entry that probes it
    # The seed's CIRCUIT_BREAKER_* settings.
    failure_threshold: int = Field(5, ge=1)
    recovery_timeout_ms: int = Field(60000, ge=0)
    success_threshold: int = Field(3, ge=1)


class AgentConfig(BaseModel):
    # Its validator holds the whole tree, so the models inside it defer building their own
    # (defer_build): the daemon would otherwise keep a second copy of every one in memory.
    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: AgentSection = AgentSection()
    safety: SafetySpec = SafetySpec()
    checks: CheckList = Field(default_factory=list)
    actions: list[ActionSpec] = Field(default_factory=list)
    processes: list[ProcessSpec] = Field(default_factory=list)
    dependencies: list[DependencySpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> AgentConfig:
        processes = [process.name for process in self.processes]
        if len(set(processes)) != len(processes):
            raise ValueError("processes: a process name is declared twice")
        index_actions(self.actions, processes=processes)
        actions = {action.name for action in self.actions}
        dependencies = {dependency.name for dependency in self.dependencies}
        checks = {check.name for check in self.checks}
        for check in self.checks:
            if check.action is not None and check.action not in actions:
                raise ValueError(f"checks.{check.name}: action {check.action!r} is not declared")
            if check.dependency is not None and check.dependency not in dependencies:
                raise ValueError(
                    f"checks.{check.name}: dependency {check.dependency!r} is not declared"
                )
        for dependency in self.dependencies:
            if dependency.check not in checks:
                raise ValueError(
                    f"dependencies.{dependency.name}: check {dependency.check!r} is not declared"
                )
        return self


# Seed variable → (where it goes). Thresholds fill in checks that leave them unset.
_CHECK_DEFAULTS = {
    "MEMORY_THRESHOLD": "memory",
    "CPU_THRESHOLD": "cpu",
    "DISK_THRESHOLD": "disk",
}


def _apply_environment(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The seed's variables over the file. A section of the wrong type is left for validation
    to report under its own name."""
    data = {**data}
    agent, safety = data.get("agent", {}), data.get("safety", {})
    if "HEALTH_CHECK_INTERVAL" in environ and isinstance(agent, dict):
        data["agent"] = {**agent, "interval_seconds": environ["HEALTH_CHECK_INTERVAL"]}
    if "SELF_HEALING_ENABLED" in environ and isinstance(safety, dict):
        data["safety"] = {**safety, "self_healing": environ["SELF_HEALING_ENABLED"]}
    if not isinstance(data.get("checks", []), list):
        return data
    checks = []
    for check in data.get("checks", []):
        if isinstance(check, dict):
            for variable, kind in _CHECK_DEFAULTS.items():
                if check.get("type") == kind and "threshold" not in check and variable in environ:
                    check = {**check, "threshold": environ[variable]}
        checks.append(check)
    if checks:
        data["checks"] = checks
    return data


def _location(loc: tuple[int | str, ...], data: Mapping[str, Any]) -> str:
    """``checks[2] (disk-root).threshold``: the TOML path, with the entry's name when it has one."""
    parts: list[str] = []
    node: Any = data
    for part in loc:
        if isinstance(part, int) and parts and isinstance(node, list) and part < len(node):
            node = node[part]
            name = node.get("name") if isinstance(node, dict) else None
            parts[-1] += f"[{part}]" + (f" ({name})" if isinstance(name, str) else "")
        elif isinstance(node, dict) and part in node:
            parts.append(str(part))
            node = node[part]
        elif isinstance(node, dict) and part == node.get("type"):
            continue  # the tag pydantic adds for the entry's type
        else:
            parts.append(str(part))
            node = None
    return ".".join(parts) or "(file)"


def parse_config(
    data: dict[str, Any], *, source: str, environ: Mapping[str, str] | None = None
) -> AgentConfig:
    effective = _apply_environment(data, os.environ if environ is None else environ)
    try:
        return AgentConfig.model_validate(effective)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            where = _location(error["loc"], effective)
            value = error.get("input")
            shown = f" = {value!r}" if not isinstance(value, dict | list) else ""
            problems.append(f"{source}: {where}{shown}: {error['msg']}")
        raise ConfigError(problems) from None


def load_config(path: Path, *, environ: Mapping[str, str] | None = None) -> AgentConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found (run `bounceback-agent init`)"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start}); TOML is UTF-8"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    return parse_config(data, source=str(path), environ=environ)
