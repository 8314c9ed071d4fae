"""How agent.toml declares self-healing actions (``[[actions]]``), one model per ``type``.

Every action carries the same safety fields (timeout, cooldown, retries, verify window, rollback,
pre-check); the type adds what it acts on. Nothing here runs anything: the executors live in
``actions_files`` and ``actions_process``, the limits in ``safety``, the orchestration in
``healing``. Commands are argv lists, never shell strings.
"""

from __future__ import annotations

import signal
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, JsonValue
from pydantic import model_validator as _model_validator

from bounceback.agent.actions_params import ParameterSpec

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
PROCESS_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # as ProcessSpec.name
UNIT_PATTERN = r"^[A-Za-z0-9_:@.\\-]{1,255}$"

# Cleaning one of these wholesale is never what anyone meant; declare a subdirectory instead.
_SYSTEM_DIRS = frozenset(
    {"/", "/bin", "/boot", "/etc", "/home", "/lib", "/lib64", "/opt", "/root", "/run", "/sbin"}
    | {"/srv", "/usr", "/var", "/var/lib"}
)
_PSEUDO_FILESYSTEMS = ("/dev", "/proc", "/sys")
# SIGKILL and SIGSTOP cannot be handled: a "cleanup" with them is a kill or a freeze.
_REFUSED_SIGNALS = frozenset({"SIGKILL", "SIGSTOP"})


def _absolute(value: Path) -> Path:
    if not value.is_absolute():
        raise ValueError(f"{str(value)!r} must be an absolute path")
    if ".." in value.parts:
        raise ValueError(f"{str(value)!r} must not contain '..'")
    return value


def _directory(value: Path) -> Path:
    text = str(_absolute(value))
    if text in _SYSTEM_DIRS:
        raise ValueError(f"{text!r} is a system directory; declare the subdirectory to clean")
    if any(text == top or text.startswith(top + "/") for top in _PSEUDO_FILESYSTEMS):
        raise ValueError(f"{text!r} is on a pseudo filesystem; there is nothing to clean there")
    return value


def _signal_name(value: str) -> str:
    if value not in signal.Signals.__members__:
        raise ValueError(f"unknown signal {value!r}; use a name such as SIGHUP or SIGUSR1")
    if value in _REFUSED_SIGNALS:
        raise ValueError(f"{value} cannot be caught by the process; use a restart instead")
    return value


def _argv(value: list[str]) -> list[str]:
    program = value[0]
    if "/" in program and not program.startswith("/"):
        raise ValueError(f"{program!r}: give an absolute path or a bare name found on PATH")
    if any("\0" in arg for arg in value):
        raise ValueError("arguments cannot contain NUL characters")
    return value


def _absolute_argv(value: list[str]) -> list[str]:
    if not value[0].startswith("/"):
        raise ValueError(f"{value[0]!r}: a script must be given by its absolute path")
    return value


Directory = Annotated[Path, AfterValidator(_directory)]
SignalName = Annotated[str, AfterValidator(_signal_name)]
Argv = Annotated[list[str], Field(min_length=1), AfterValidator(_argv)]
ScriptArgv = Annotated[
    list[str], Field(min_length=1), AfterValidator(_argv), AfterValidator(_absolute_argv)
]
Directories = Annotated[list[Directory], Field(min_length=1, max_length=32)]
AbsoluteFile = Annotated[Path, AfterValidator(_absolute)]


class _Spec(BaseModel):
    # Validated inside AgentConfig: no validator of its own until one is asked for.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class PreCheck(_Spec):
    """What must hold right before acting; otherwise the attempt is skipped, not counted."""

    # Act only while the triggering check still reports failing (ignored for manual runs).
    require_failing: bool = True
    command: Argv | None = None  # must exit 0
    timeout_seconds: float = Field(10, gt=0, le=600)


class _Action(_Spec):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field("", max_length=500)
    timeout_seconds: float = Field(30, gt=0, le=3600)
    cooldown_minutes: float = Field(10, ge=0)
    max_retries: int = Field(3, ge=1, le=100)  # attempts per trigger episode
    verify_cycles: int = Field(2, ge=1, le=100)  # the trigger must clear within this many cycles
    rollback: str | None = Field(None, pattern=NAME_PATTERN)
    pre_check: PreCheck = PreCheck()
    escalate_on_failure: bool = True

    @property
    def target(self) -> str:
        """What the action acts on: the key of the restart-loop limiter."""
        return self.name


class RestartService(_Action):
    """``systemctl restart UNIT``, unless systemd is already restarting it or gave up on it."""

    type: Literal["restart_service"]
    unit: str = Field(pattern=UNIT_PATTERN)
    # systemd's own Restart= counter: at or past this, systemd is looping; don't add to it.
    max_nrestarts: int = Field(3, ge=1)

    @property
    def target(self) -> str:
        return self.unit


class RestartProcess(_Action):
    """Restart a ``[[processes]]`` entry through the agent's own supervisor."""

    type: Literal["restart_process"]
    process: str = Field(pattern=PROCESS_PATTERN)

    @property
    def target(self) -> str:
        return self.process


class _Signalled(_Spec):
    """A process addressed either by its ``[[processes]]`` name or by a pid file."""

    process: str | None = Field(None, pattern=PROCESS_PATTERN)
    pid_file: AbsoluteFile | None = None

    def _one_process(self, what: str) -> None:
        if (self.process is None) == (self.pid_file is None):
            raise ValueError(f"{what} needs exactly one of `process` or `pid_file`")

    @property
    def process_target(self) -> str:
        return self.process if self.process is not None else str(self.pid_file)


class MemoryCleanup(_Action, _Signalled):
    """Ask a process to free memory with a signal (e.g. SIGHUP, SIGUSR1), or restart it."""

    type: Literal["memory_cleanup"]
    method: Literal["signal", "restart"] = "signal"
    signal: SignalName = "SIGHUP"

    @_model_validator(mode="after")
    def _check(self) -> MemoryCleanup:
        self._one_process("memory_cleanup")
        if self.method == "restart" and self.process is None:
            raise ValueError("method = 'restart' needs `process` (a [[processes]] name)")
        return self

    @property
    def target(self) -> str:
        return self.process_target


class ResetConnections(_Action, _Signalled):
    """Run a declared command, or send a declared signal, that makes a service reset its pools."""

    type: Literal["reset_connections"]
    command: Argv | None = None
    signal: SignalName | None = None

    @_model_validator(mode="after")
    def _check(self) -> ResetConnections:
        if (self.command is None) == (self.signal is None):
            raise ValueError("reset_connections needs exactly one of `command` or `signal`")
        if self.signal is not None:
            self._one_process("reset_connections with a signal")
        elif self.process is not None or self.pid_file is not None:
            raise ValueError("`process`/`pid_file` go with `signal`, not with `command`")
        return self

    @property
    def target(self) -> str:
        return Path(self.command[0]).name if self.command else self.process_target


class HttpCall(_Spec):
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    url: AnyHttpUrl
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, JsonValue] | None = None  # sent as JSON
    expect_status: list[int] = Field(default_factory=list)  # empty: any 2xx


class ScaleResources(_Action):
    """Ask for more capacity: a declared command or one declared HTTP call."""

    type: Literal["scale_resources"]
    command: Argv | None = None
    http: HttpCall | None = None

    @_model_validator(mode="after")
    def _check(self) -> ScaleResources:
        if (self.command is None) == (self.http is None):
            raise ValueError("scale_resources needs exactly one of `command` or `http`")
        return self

    @property
    def target(self) -> str:
        if self.http is not None:
            return self.http.url.host or str(self.http.url)
        assert self.command is not None
        return Path(self.command[0]).name


class _Files(_Action):
    directories: Directories
    patterns: list[str] = Field(default_factory=lambda: ["*"], min_length=1)  # file-name globs
    recursive: bool = True

    @property
    def target(self) -> str:
        return ",".join(str(d) for d in self.directories)


class ClearCache(_Files):
    """Delete the files in cache directories (the directories themselves stay)."""

    type: Literal["clear_cache"]
    min_age_minutes: float = Field(0, ge=0)  # spare entries written this recently
    remove_empty_dirs: bool = True


class CleanTemp(_Files):
    """Delete files (and emptied subdirectories) older than ``older_than_hours``."""

    type: Literal["clean_temp"]
    older_than_hours: float = Field(24, gt=0)
    remove_empty_dirs: bool = True  # subdirectories left empty and older than the threshold


class CleanLogs(_Files):
    """Gzip log files older than ``compress_after_days``; delete those older than
    ``delete_after_days`` (compressed or not)."""

    type: Literal["clean_logs"]
    patterns: list[str] = Field(default_factory=lambda: ["*.log", "*.log.*"], min_length=1)
    recursive: bool = False
    compress_after_days: float = Field(7, gt=0)
    delete_after_days: float = Field(30, gt=0)

    @_model_validator(mode="after")
    def _check(self) -> CleanLogs:
        if self.delete_after_days <= self.compress_after_days:
            raise ValueError(
                f"delete_after_days ({self.delete_after_days:g}) must be greater than "
                f"compress_after_days ({self.compress_after_days:g})"
            )
        return self


class ExecuteScript(_Action):
    """Run a declared executable; parameters are validated, then passed as ``--name=value``
    arguments or ``BOUNCEBACK_PARAM_NAME`` environment variables. Never through a shell."""

    type: Literal["execute_script"]
    command: ScriptArgv
    env: dict[str, str] = Field(default_factory=dict)
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict, max_length=32)
    pass_as: Literal["args", "env"] = Field("args")

    @_model_validator(mode="after")
    def _check(self) -> ExecuteScript:
        for name in self.parameters:
            ParameterSpec.check_name(name)
        return self

    @property
    def target(self) -> str:
        return Path(self.command[0]).name


ActionSpec = Annotated[
    RestartService
    | RestartProcess
    | ClearCache
    | MemoryCleanup
    | ResetConnections
    | ScaleResources
    | CleanLogs
    | CleanTemp
    | ExecuteScript,
    Field(discriminator="type"),
]
ACTION_TYPES = (
    "restart_service",
    "restart_process",
    "clear_cache",
    "memory_cleanup",
    "reset_connections",
    "scale_resources",
    "clean_logs",
    "clean_temp",
    "execute_script",
)


def index_actions(
    actions: Sequence[ActionSpec], *, processes: Collection[str] | None = None
) -> dict[str, ActionSpec]:
    """Check the actions against each other and return them by name.

    Raises ValueError naming the action when a name repeats, a rollback names no declared action
    or leads back to itself, or (given ``processes``, the ``[[processes]]`` names) an action
    refers to a process the agent does not supervise.
    """
    by_name: dict[str, ActionSpec] = {}
    for action in actions:
        if action.name in by_name:
            raise ValueError(f"actions: the name {action.name!r} is declared twice")
        by_name[action.name] = action
    for action in actions:
        _check_rollback_chain(action, by_name)
        process = getattr(action, "process", None)
        if processes is not None and process is not None and process not in processes:
            raise ValueError(
                f"actions.{action.name}: process {process!r} is not declared in [[processes]]"
            )
    return by_name


def _check_rollback_chain(action: ActionSpec, by_name: Mapping[str, ActionSpec]) -> None:
    seen = [action.name]
    current = action
    while current.rollback is not None:
        if current.rollback not in by_name:
            raise ValueError(
                f"actions.{current.name}: rollback {current.rollback!r} is not a declared action"
            )
        if current.rollback in seen:
            chain = " → ".join([*seen, current.rollback])
            raise ValueError(f"actions.{action.name}: rollback cycle {chain}")
        seen.append(current.rollback)
        current = by_name[current.rollback]
