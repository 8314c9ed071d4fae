"""Load HubSettings from flags, environment and file, and explain where each value came from."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from bounceback.api.settings import SECRET_FIELDS, HubSettings, env_name, settings_class_for

FLAG_NAMES = {
    "bounceback_host": "--host",
    "bounceback_port": "--port",
    "bounceback_data_dir": "--data-dir",
    "bounceback_log_format": "--log-format",
}


class ConfigError(Exception):
    """Invalid configuration; each problem names the variable or key, value and expected form."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class EffectiveValue:
    name: str
    value: str
    source: str


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found (--config)"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start}); TOML is UTF-8"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None


def _env_values(environ: Mapping[str, str]) -> dict[str, str]:
    lowered = {key.lower(): value for key, value in environ.items()}
    return {field: lowered[field] for field in HubSettings.model_fields if field in lowered}


def _origin(
    field: str,
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    file_values: Mapping[str, Any],
    config_file: Path | None,
) -> tuple[str, Any]:
    if field in flags:
        return f"flag {FLAG_NAMES.get(field, field)}", flags[field]
    if field in env:
        return f"environment variable {env_name(field)}", env[field]
    if field in file_values:
        return f"{config_file} key '{field}'", file_values[field]
    return "default", None


def load_settings(
    flags: Mapping[str, Any] | None = None, config_file: Path | None = None
) -> HubSettings:
    """Build the settings from flags, the process environment and the file; raise ConfigError
    naming every bad value."""
    flags = {key: value for key, value in (flags or {}).items() if value is not None}
    file_values = read_config_file(config_file) if config_file is not None else {}
    settings_cls = settings_class_for(config_file)
    try:
        return settings_cls(**flags)
    except ValidationError as exc:
        env = _env_values(os.environ)
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            # A key inside a section ([deployments], [[escalation.people]], …): its dotted path.
            path = field + "".join(
                f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"][1:]
            )
            if error["type"] == "extra_forbidden":
                expected = (
                    "the keys documented for that section"
                    if len(error["loc"]) > 1
                    else "one of the documented keys (see `bounceback-hub config show`)"
                )
                problems.append(f"{config_file}: unknown key '{path}'; expected {expected}")
                continue
            if len(error["loc"]) > 1:
                problems.append(f"{config_file} key '{path}': {error['msg']}")
                continue
            where, value = _origin(field, flags, env, file_values, config_file)
            shown = "***" if field in SECRET_FIELDS else repr(value)
            problems.append(f"{where} = {shown}: {error['msg']}")
        raise ConfigError(problems) from None


def describe(
    settings: HubSettings,
    flags: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
) -> list[EffectiveValue]:
    """Each setting with its effective value (secrets masked) and where it came from."""
    flags = {key: value for key, value in (flags or {}).items() if value is not None}
    env = _env_values(os.environ)
    file_values = read_config_file(config_file) if config_file is not None else {}
    rows = []
    for field in HubSettings.model_fields:
        value = getattr(settings, field)
        if isinstance(value, SecretStr):
            shown = "********"
        elif value is None:
            shown = ""
        else:
            shown = str(value)
        source, _ = _origin(field, flags, env, file_values, config_file)
        rows.append(EffectiveValue(env_name(field), shown, source))
    return rows
