"""Declaring actions in agent.toml: one model per type, safety defaults, cross-action checks."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from bounceback.agent.action_spec import (
    ACTION_TYPES,
    ActionSpec,
    CleanLogs,
    ExecuteScript,
    MemoryCleanup,
    index_actions,
)
from bounceback.agent.actions_params import ParameterError, as_args, as_env, validate_params

EXAMPLE = Path(__file__).parents[2] / "examples" / "agent.toml"
ADAPTER: TypeAdapter[ActionSpec] = TypeAdapter(ActionSpec)

MINIMAL: dict[str, dict[str, Any]] = {
    "restart_service": {"unit": "postgresql.service"},
    "restart_process": {"process": "myapp"},
    "clear_cache": {"directories": ["/var/cache/myapp"]},
    "memory_cleanup": {"process": "myapp"},
    "reset_connections": {"command": ["/usr/bin/app-admin", "reset"]},
    "scale_resources": {"http": {"url": "http://127.0.0.1:9/scale"}},
    "clean_logs": {"directories": ["/var/log/myapp"]},
    "clean_temp": {"directories": ["/var/tmp/myapp"]},
    "execute_script": {"command": ["/opt/scripts/cleanup.sh"]},
}


def action(kind: str, **fields: Any) -> ActionSpec:
    return ADAPTER.validate_python({"name": "a", "type": kind, **MINIMAL[kind], **fields})


def rejects(kind: str, **fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        action(kind, **fields)
    return str(caught.value)


@pytest.mark.parametrize("kind", ACTION_TYPES)
def test_every_type_parses_with_the_safety_defaults(kind: str) -> None:
    spec = action(kind)
    assert spec.type == kind
    assert (spec.timeout_seconds, spec.cooldown_minutes, spec.max_retries) == (30, 10, 3)
    assert (spec.verify_cycles, spec.rollback, spec.escalate_on_failure) == (2, None, True)
    assert spec.pre_check.require_failing is True
    assert spec.pre_check.command is None
    assert spec.target


def test_examples_file_declares_valid_actions_for_the_seed_recoveries() -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    actions = TypeAdapter(list[ActionSpec]).validate_python(data["actions"])
    by_name = index_actions(actions, processes={"myapp"})
    assert {a.type for a in actions} >= {
        "clear_cache",
        "memory_cleanup",
        "restart_process",
        "reset_connections",
        "scale_resources",
        "restart_service",
        "clean_temp",
        "clean_logs",
    }
    assert by_name["scale-out"].rollback == "scale-in"


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        ("clean_temp", {"name": "has space"}, "name"),
        ("clean_temp", {"type": "reboot"}, "does not match any of the expected tags"),
        ("clean_temp", {"shell": "rm -rf /"}, "Extra inputs are not permitted"),
        ("clean_temp", {"directories": ["tmp/app"]}, "must be an absolute path"),
        ("clean_temp", {"directories": ["/var/tmp/../../etc"]}, "must not contain '..'"),
        ("clean_temp", {"directories": ["/"]}, "is a system directory"),
        ("clear_cache", {"directories": ["/etc"]}, "is a system directory"),
        ("clear_cache", {"directories": ["/proc/1"]}, "pseudo filesystem"),
        ("clean_temp", {"directories": []}, "at least 1 item"),
        ("clean_logs", {"compress_after_days": 30, "delete_after_days": 7}, "must be greater"),
        ("memory_cleanup", {"signal": "SIGFOO"}, "unknown signal"),
        ("memory_cleanup", {"signal": "SIGKILL"}, "use a restart instead"),
        ("memory_cleanup", {"pid_file": "/run/app.pid"}, "exactly one of `process` or `pid_file`"),
        (
            "memory_cleanup",
            {"process": None, "pid_file": "/a.pid", "method": "restart"},
            "needs `process`",
        ),
        ("reset_connections", {"signal": "SIGUSR1"}, "exactly one of `command` or `signal`"),
        ("reset_connections", {"command": None, "signal": "SIGUSR1"}, "`process` or `pid_file`"),
        ("reset_connections", {"command": ["./reset"]}, "absolute path or a bare name"),
        ("scale_resources", {"command": ["/bin/scale"]}, "exactly one of `command` or `http`"),
        ("scale_resources", {"http": {"url": "ftp://x/scale"}}, "URL scheme"),
        ("execute_script", {"command": ["cleanup.sh"]}, "absolute path"),
        ("execute_script", {"command": []}, "at least 1 item"),
        ("restart_service", {"unit": "-bad; reboot"}, "unit"),
        ("clean_temp", {"timeout_seconds": 0}, "greater than 0"),
        ("clean_temp", {"max_retries": 0}, "greater than or equal to 1"),
    ],
)
def test_invalid_declarations_are_refused_with_the_field_named(
    kind: str, fields: dict[str, Any], message: str
) -> None:
    assert message in rejects(kind, **fields)


def test_memory_cleanup_signal_or_restart() -> None:
    spec = action("memory_cleanup", signal="SIGUSR1")
    assert isinstance(spec, MemoryCleanup)
    assert (spec.method, spec.signal, spec.target) == ("signal", "SIGUSR1", "myapp")
    by_file = action("memory_cleanup", process=None, pid_file="/run/myapp.pid")
    assert by_file.target == "/run/myapp.pid"


def test_clean_logs_defaults_compress_after_a_week_and_delete_after_a_month() -> None:
    spec = action("clean_logs")
    assert isinstance(spec, CleanLogs)
    assert (spec.compress_after_days, spec.delete_after_days) == (7, 30)
    assert spec.patterns == ["*.log", "*.log.*"]
    assert spec.recursive is False


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ({"type": "integer", "pattern": "^a$"}, "string parameters only"),
        ({"type": "string", "min": 1}, "integer and number parameters only"),
        ({"type": "number", "min": 5, "max": 1}, "greater than `max`"),
        ({"type": "string", "pattern": "("}, "not a valid regular expression"),
        ({"type": "integer", "default": "many"}, "expected integer"),
        ({"type": "integer", "choices": ["x"]}, "expected integer"),
        ({"required": True, "default": "x"}, "no default"),
    ],
)
def test_inconsistent_parameter_declarations_are_refused(
    parameter: dict[str, Any], message: str
) -> None:
    assert message in rejects("execute_script", parameters={"p": parameter})


def test_parameter_names_must_suit_arguments_and_environment() -> None:
    assert "parameter name" in rejects("execute_script", parameters={"Bad-Name": {}})


SCRIPT_PARAMS = {
    "target": {"type": "string", "required": True},
    "count": {"type": "integer", "min": 1, "max": 10, "default": 2},
    "ratio": {"type": "number", "max": 1},
    "aggressive": {"type": "boolean"},
    "mode": {"type": "string", "choices": ["fast", "safe"]},
    "host": {"type": "string", "pattern": r"[a-z0-9.-]+"},
}


def script() -> ExecuteScript:
    spec = action("execute_script", parameters=SCRIPT_PARAMS)
    assert isinstance(spec, ExecuteScript)
    return spec


def test_parameters_are_rendered_in_declaration_order_with_defaults() -> None:
    values = validate_params(
        script().parameters, {"aggressive": "yes", "target": "; rm -rf /", "ratio": 0.5}
    )
    assert values == {"target": "; rm -rf /", "count": "2", "ratio": "0.5", "aggressive": "true"}
    assert as_args(values)[0] == "--target=; rm -rf /"
    assert as_env(values)["BOUNCEBACK_PARAM_AGGRESSIVE"] == "true"


@pytest.mark.parametrize(
    ("supplied", "message"),
    [
        ({}, "'target' is required"),
        ({"target": "x", "extra": 1}, "undeclared parameter(s) ['extra']"),
        ({"target": "x", "count": 11}, "above 10"),
        ({"target": "x", "count": 0}, "below 1"),
        ({"target": "x", "count": "3; reboot"}, "expected integer"),
        ({"target": "x", "count": True}, "expected integer"),
        ({"target": "x", "ratio": "nan"}, "expected number"),
        ({"target": "x", "aggressive": "maybe"}, "expected boolean"),
        ({"target": "x", "mode": "reckless"}, "not one of ['fast', 'safe']"),
        ({"target": "x", "host": "evil host;"}, "does not match"),
        ({"target": "nul\0byte"}, "NUL"),
        ({"target": 5}, "expected string"),
    ],
)
def test_invalid_parameter_values_are_refused_naming_the_parameter(
    supplied: dict[str, object], message: str
) -> None:
    with pytest.raises(ParameterError, match=r"parameter|undeclared") as caught:
        validate_params(script().parameters, supplied)
    assert message in str(caught.value)


def test_index_actions_returns_actions_by_name() -> None:
    a = action("clean_temp", name="a", rollback="b")
    b = action("clean_temp", name="b")
    assert index_actions([a, b]) == {"a": a, "b": b}


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ([("a", None), ("a", None)], "declared twice"),
        ([("a", "missing")], "rollback 'missing' is not a declared action"),
        ([("a", "a")], "rollback cycle a → a"),
        ([("a", "b"), ("b", "c"), ("c", "a")], "rollback cycle a → b → c → a"),
    ],
)
def test_index_actions_refuses_duplicates_unknown_rollbacks_and_cycles(
    actions: list[tuple[str, str | None]], message: str
) -> None:
    specs = [action("clean_temp", name=name, rollback=rollback) for name, rollback in actions]
    with pytest.raises(ValueError, match="actions") as caught:
        index_actions(specs)
    assert message in str(caught.value)


def test_index_actions_refuses_an_unsupervised_process() -> None:
    with pytest.raises(ValueError, match="process 'myapp' is not declared in"):
        index_actions([action("restart_process")], processes={"other"})
