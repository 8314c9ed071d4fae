"""How agent.toml declares health checks (``[[checks]]``), one model per ``type``.

Every check carries the same Monit-style debounce fields: it fails after ``for_cycles``
consecutive breaches, or after ``times`` breaches ``within_cycles`` (which catches flapping), and
clears after ``clear_cycles`` consecutive good cycles. A numeric check may clear only below a
lower ``clear_threshold`` (hysteresis). Nothing here measures anything; see ``checks``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic import model_validator as _model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# A leading letter or digit: a unit name must never be read by systemctl as an option.
UNIT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_:@.\\-]{0,254}$"
MAX_CYCLES = 64  # the longest history a check keeps

# The seed's defaults (MEMORY_THRESHOLD, CPU_THRESHOLD, DISK_THRESHOLD), in percent.
MEMORY_THRESHOLD = 85.0
CPU_THRESHOLD = 80.0
DISK_THRESHOLD = 90.0

Cycles = Annotated[int, Field(ge=1, le=MAX_CYCLES)]
Percent = Annotated[float, Field(ge=0, le=100)]
Seconds = Annotated[float, Field(gt=0, le=3600)]


def _absolute(value: Path) -> Path:
    if not value.is_absolute():
        raise ValueError(f"{str(value)!r} must be an absolute path")
    return value


def _absolute_mount(value: str) -> str:
    _absolute(Path(value))
    return value


def _argv(value: list[str]) -> list[str]:
    program = value[0]
    if not program or ("/" in program and not program.startswith("/")):
        raise ValueError(f"{program!r}: give an absolute path or a bare name found on PATH")
    if any("\0" in arg for arg in value):
        raise ValueError("arguments cannot contain NUL characters")
    return value


AbsolutePath = Annotated[Path, AfterValidator(_absolute)]
Argv = Annotated[list[str], Field(min_length=1), AfterValidator(_argv)]
Mount = Annotated[str, Field(min_length=1), AfterValidator(_absolute_mount)]


def _field_error(field: str, message: str, value: object) -> ValidationError:
    """A model-level rule reported at the field a user has to change."""
    error = PydanticCustomError("check_rule", message)
    detail = InitErrorDetails(type=error, loc=(field,), input=value)
    return ValidationError.from_exception_data("check", [detail])


class _Check(BaseModel):
    # Validated inside AgentConfig: no validator of its own until one is asked for.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str = Field(pattern=NAME_PATTERN)
    for_cycles: Cycles = 1
    times: Cycles | None = None
    within_cycles: Cycles | None = None
    clear_cycles: Cycles = 1
    action: str | None = Field(None, pattern=NAME_PATTERN)  # run while failing (by the loop)
    dependency: str | None = Field(None, pattern=NAME_PATTERN)  # breaker this probe drives

    @property
    def limit(self) -> float | None:
        """The value above which a cycle counts as a breach; None for pass/fail probes."""
        return None

    @property
    def clear_limit(self) -> float | None:
        """A failing check clears only once its value is below this."""
        return self.limit

    @_model_validator(mode="after")
    def _debounce_rule(self) -> _Check:
        if (self.times is None) != (self.within_cycles is None):
            missing = "within_cycles" if self.within_cycles is None else "times"
            raise _field_error(missing, "times and within_cycles go together", None)
        if self.times is not None and self.within_cycles is not None:
            if self.times > self.within_cycles:
                raise _field_error("times", "times must not exceed within_cycles", self.times)
            if self.for_cycles != 1:
                raise _field_error(
                    "for_cycles",
                    "use either for_cycles or times/within_cycles, not both",
                    self.for_cycles,
                )
        return self


class _Threshold(_Check):
    clear_threshold: float | None = Field(None, ge=0)

    @property
    def clear_limit(self) -> float | None:
        return self.limit if self.clear_threshold is None else self.clear_threshold

    @_model_validator(mode="after")
    def _hysteresis(self) -> _Threshold:
        limit = self.limit
        if self.clear_threshold is not None and limit is not None and self.clear_threshold > limit:
            raise _field_error(
                "clear_threshold",
                f"clear_threshold must not exceed the threshold ({limit:g})",
                self.clear_threshold,
            )
        return self


class _Percent(_Threshold):
    threshold: Percent

    @property
    def limit(self) -> float | None:
        return self.threshold


class MemoryCheck(_Percent):
    type: Literal["memory"] = "memory"
    threshold: Percent = MEMORY_THRESHOLD


class SwapCheck(_Percent):
    type: Literal["swap"] = "swap"
    threshold: Percent = 80.0


class CpuCheck(_Percent):
    type: Literal["cpu"] = "cpu"
    threshold: Percent = CPU_THRESHOLD


class DiskCheck(_Percent):
    type: Literal["disk"] = "disk"
    mount: Mount
    threshold: Percent = DISK_THRESHOLD


class InodesCheck(_Percent):
    type: Literal["inodes"] = "inodes"
    mount: Mount
    threshold: Percent = DISK_THRESHOLD


class LoadCheck(_Threshold):
    """Load average divided by the number of cores."""

    type: Literal["load"] = "load"
    minutes: Literal[1, 5, 15] = 5
    threshold: float = Field(1.5, gt=0)

    @property
    def limit(self) -> float | None:
        return self.threshold


class NetworkErrorsCheck(_Threshold):
    """Receive/transmit errors plus drops since the previous cycle."""

    type: Literal["network_errors"] = "network_errors"
    interface: str | None = Field(None, min_length=1, max_length=64)  # None: all interfaces
    threshold: float = Field(10, ge=0)

    @property
    def limit(self) -> float | None:
        return self.threshold


class ProcessCheck(_Threshold):
    """A watched process, by pidfile or by its ``[[processes]]`` name; a missing one fails."""

    type: Literal["process"] = "process"
    pidfile: AbsolutePath | None = None
    process: str | None = Field(None, pattern=NAME_PATTERN)
    metric: Literal["cpu_percent", "rss_mb", "open_files"]
    threshold: float = Field(ge=0)

    @property
    def limit(self) -> float | None:
        return self.threshold

    @_model_validator(mode="after")
    def _one_process(self) -> ProcessCheck:
        if (self.pidfile is None) == (self.process is None):
            raise _field_error("pidfile", "give exactly one of pidfile or process", None)
        return self


class SystemdCheck(_Check):
    """Fails while the unit's ActiveState is not ``active``."""

    type: Literal["systemd"] = "systemd"
    unit: str = Field(pattern=UNIT_PATTERN)
    timeout: Seconds = 10


class TcpCheck(_Check):
    type: Literal["tcp"] = "tcp"
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)
    timeout: Seconds = 5


class HttpCheck(_Check):
    """A GET that must answer ``expect_status`` (and contain ``body_contains``) in time."""

    type: Literal["http"] = "http"
    url: str = Field(pattern=r"^https?://[^\s/]+", max_length=2048)
    expect_status: int = Field(200, ge=100, le=599)
    body_contains: str | None = Field(None, min_length=1)
    max_latency_ms: float | None = Field(None, gt=0)
    timeout: Seconds = 10


class FileAgeCheck(_Threshold):
    """Fails when ``path`` was not modified for ``max_age_minutes`` (or does not exist)."""

    type: Literal["file_age"] = "file_age"
    path: AbsolutePath
    max_age_minutes: float = Field(gt=0)

    @property
    def limit(self) -> float | None:
        return self.max_age_minutes


class DirSizeCheck(_Threshold):
    """The apparent size of every file below ``path`` (symlinks are not followed)."""

    type: Literal["dir_size"] = "dir_size"
    path: AbsolutePath
    max_mb: float = Field(gt=0)

    @property
    def limit(self) -> float | None:
        return self.max_mb


class CommandCheck(_Check):
    """Runs ``argv`` (never through a shell); fails unless it exits with ``expect_exit``."""

    type: Literal["command"] = "command"
    argv: Argv
    expect_exit: int = Field(0, ge=0, le=255)
    timeout: Seconds = 30


CheckSpec = Annotated[
    MemoryCheck
    | SwapCheck
    | CpuCheck
    | LoadCheck
    | DiskCheck
    | InodesCheck
    | NetworkErrorsCheck
    | ProcessCheck
    | SystemdCheck
    | TcpCheck
    | HttpCheck
    | FileAgeCheck
    | DirSizeCheck
    | CommandCheck,
    Field(discriminator="type"),
]


def _unique_names(checks: list[CheckSpec]) -> list[CheckSpec]:
    seen: set[str] = set()
    for index, check in enumerate(checks):
        if check.name in seen:
            error = PydanticCustomError(
                "duplicate_check", "check name '{name}' is used twice", {"name": check.name}
            )
            detail = InitErrorDetails(type=error, loc=(index, "name"), input=check.name)
            raise ValidationError.from_exception_data("checks", [detail])
        seen.add(check.name)
    return checks


# What the agent config holds: ``checks: CheckList = Field(default_factory=list)``.
CheckList = Annotated[list[CheckSpec], AfterValidator(_unique_names)]
