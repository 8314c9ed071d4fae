"""action.yml's wiring, checked without a runner: inputs, outputs, env, no script injection."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import yaml

from bounceback.guard.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def action() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text())
    return loaded


def expressions(value: object) -> list[str]:
    if isinstance(value, str):
        return EXPRESSION.findall(value)
    if isinstance(value, dict):
        return [e for item in value.values() for e in expressions(item)]
    if isinstance(value, list):
        return [e for item in value for e in expressions(item)]
    return []


def guard_envvars() -> set[str]:
    command = main.commands["full"]
    names: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            envvar = param.envvar
            names.update([envvar] if isinstance(envvar, str) else envvar)
    return names


def test_every_input_reference_is_declared() -> None:
    spec = action()
    declared = set(spec["inputs"])
    used = {e.split(".")[1] for e in expressions(spec["runs"]) if e.startswith("inputs.")}
    assert used - declared == set()


def test_every_input_reaches_the_guard_through_env() -> None:
    spec = action()
    guard_step = next(step for step in spec["runs"]["steps"] if step.get("id") == "guard")
    passed = {EXPRESSION.findall(str(v))[0] for v in guard_step["env"].values()}
    assert {f"inputs.{name}" for name in spec["inputs"]} == passed


def test_guard_step_env_names_are_cli_environment_variables() -> None:
    spec = action()
    guard_step = next(step for step in spec["runs"]["steps"] if step.get("id") == "guard")
    assert set(guard_step["env"]) - {"BOUNCEBACK_COMMAND"} <= guard_envvars()


def test_no_expression_is_interpolated_into_a_script() -> None:
    for step in action()["runs"]["steps"]:
        assert "${{" not in step["run"], f"step {step.get('id')} interpolates into its script"


def test_every_output_maps_to_an_output_the_guard_sets() -> None:
    spec = action()
    step_ids = {step.get("id") for step in spec["runs"]["steps"]}
    source = "\n".join(p.read_text() for p in (ROOT / "guard").glob("*.py"))
    set_by_guard = set(re.findall(r'set_output\(\s*"([a-z-]+)"', source))
    for name, output in spec["outputs"].items():
        [expression] = EXPRESSION.findall(output["value"])
        step, key = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression).groups()  # type: ignore[union-attr]
        assert step in step_ids and key == name
        assert name in set_by_guard, f"the guard never sets output {name}"


def test_the_issue_inputs_and_outputs_exist_with_their_defaults() -> None:
    spec = action()
    inputs = spec["inputs"]
    for name in (
        "hub-url",
        "hub-token",
        "github-token",
        "environment",
        "target",
        "version",
        "command",
        "deploy-command",
        "rollback-command",
        "rollback-workflow",
        "health-url",
        "stabilization",
        "monitoring",
        "thresholds",
        "dry-run",
        "fail-open-on-hub-error",
    ):
        assert "description" in inputs[name], name
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    assert inputs["version"]["default"] == "${{ github.sha }}"
    assert (inputs["stabilization"]["default"], inputs["monitoring"]["default"]) == ("15", "60")
    assert inputs["fail-open-on-hub-error"]["default"] == "false"
    assert set(spec["outputs"]) == {
        "deployment-id",
        "github-deployment-id",
        "verdict",
        "rolled-back",
        "rollback-ref",
        "report-url",
    }


def test_the_guard_is_installed_from_the_action_path() -> None:
    install = next(s for s in action()["runs"]["steps"] if s.get("id") == "install")
    assert (
        'pip install --quiet --disable-pip-version-check "${GITHUB_ACTION_PATH}[guard]"'
        in (install["run"])
    )
