"""Declared parameters of an ``execute_script`` action and the checks a supplied value must pass.

A value reaches the script only after validation, and only as one argv element
(``--name=value``) or one environment variable (``BOUNCEBACK_PARAM_NAME``): there is no shell
to interpret it, so ``"; rm -rf /"`` is just a string the script receives.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_VALUE_LENGTH = 4096
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")
_TRUE, _FALSE = frozenset({"true", "yes", "1"}), frozenset({"false", "no", "0"})

# bool first: a bool is also an int, and a union serializes as the first member that matches.
Scalar = bool | int | float | str


class ParameterError(ValueError):
    """A supplied parameter is unknown, missing or invalid; the message names it."""


class ParameterSpec(BaseModel):
    # Validated inside AgentConfig: no validator of its own until one is asked for.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    type: Literal["string", "integer", "number", "boolean"] = "string"
    required: bool = False
    default: Scalar | None = None
    description: str = Field("", max_length=500)
    choices: list[Scalar] | None = Field(None, min_length=1)
    pattern: str | None = None  # strings only; the whole value must match
    min: float | None = None  # integers and numbers only
    max: float | None = None

    @staticmethod
    def check_name(name: str) -> None:
        if not PARAM_NAME.match(name):
            raise ValueError(
                f"parameter name {name!r} must match {PARAM_NAME.pattern} (it becomes "
                "--name=value or BOUNCEBACK_PARAM_NAME)"
            )

    @model_validator(mode="after")
    def _consistent(self) -> ParameterSpec:
        if self.pattern is not None:
            if self.type != "string":
                raise ValueError("`pattern` applies to string parameters only")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"`pattern` is not a valid regular expression: {exc}") from None
        if (self.min is not None or self.max is not None) and self.type not in (
            "integer",
            "number",
        ):
            raise ValueError("`min`/`max` apply to integer and number parameters only")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min:g}) is greater than `max` ({self.max:g})")
        if self.required and self.default is not None:
            raise ValueError("a required parameter has no default")
        try:
            for choice in self.choices or []:
                _coerce("choices", self.type, choice)
            if self.default is not None:
                self.render("default", self.default)
        except ParameterError as exc:
            raise ValueError(str(exc)) from None
        return self

    def render(self, name: str, value: object) -> str:
        """The value as the text the script receives; raises ParameterError if it is invalid."""
        text = _coerce(name, self.type, value)
        if self.type in ("integer", "number"):
            number = float(text)
            if self.min is not None and number < self.min:
                raise ParameterError(f"parameter {name!r}: {text} is below {self.min:g}")
            if self.max is not None and number > self.max:
                raise ParameterError(f"parameter {name!r}: {text} is above {self.max:g}")
        if self.pattern is not None and not re.fullmatch(self.pattern, text):
            raise ParameterError(f"parameter {name!r}: {text!r} does not match {self.pattern!r}")
        if self.choices is not None:
            allowed = [_coerce(name, self.type, choice) for choice in self.choices]
            if text not in allowed:
                raise ParameterError(f"parameter {name!r}: {text!r} is not one of {allowed}")
        return text


def _coerce(name: str, kind: str, value: object) -> str:
    """Accept native JSON values (hub commands) and their text forms (the CLI)."""
    if kind == "boolean":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return "true" if value.lower() in _TRUE else "false"
    elif kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and _INTEGER.match(value):
            return str(int(value))
    elif kind == "number":
        number: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        if number is not None and math.isfinite(number):
            return repr(number)
    elif isinstance(value, str):
        if "\0" in value:
            raise ParameterError(f"parameter {name!r}: NUL characters are not allowed")
        if len(value) > MAX_VALUE_LENGTH:
            raise ParameterError(f"parameter {name!r}: longer than {MAX_VALUE_LENGTH} characters")
        return value
    raise ParameterError(f"parameter {name!r}: expected {kind}, got {value!r}")


def validate_params(
    declared: Mapping[str, ParameterSpec], supplied: Mapping[str, object]
) -> dict[str, str]:
    """The parameters as text, in declaration order, with defaults filled in.

    Raises ParameterError for an undeclared name, a missing required one or an invalid value.
    """
    unknown = sorted(set(supplied) - set(declared))
    if unknown:
        allowed = ", ".join(declared) or "none"
        raise ParameterError(f"undeclared parameter(s) {unknown}; declared: {allowed}")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in supplied:
            values[name] = spec.render(name, supplied[name])
        elif spec.required:
            raise ParameterError(f"parameter {name!r} is required")
        elif spec.default is not None:
            values[name] = spec.render(name, spec.default)
    return values


def as_args(values: Mapping[str, str]) -> list[str]:
    return [f"--{name}={value}" for name, value in values.items()]


def as_env(values: Mapping[str, str]) -> dict[str, str]:
    return {f"BOUNCEBACK_PARAM_{name.upper()}": value for name, value in values.items()}
