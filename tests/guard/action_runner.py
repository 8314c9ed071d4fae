"""Run a composite action's steps the way the GitHub runner does, for end-to-end tests.

What it does like the runner: input defaults and ``${{ … }}`` expressions (``inputs.*``,
``github.*``, ``env.*``, ``steps.<id>.outputs.*``: the subset action.yml uses; anything else is
an error, so the action cannot drift beyond what is tested), ``shell: bash`` steps run as
``bash --noprofile --norc -eo pipefail <script>`` with the step's ``env``, and the runner files:
a fresh ``GITHUB_OUTPUT`` and ``GITHUB_STEP_SUMMARY`` per step, ``GITHUB_ENV`` and ``GITHUB_PATH``
carried to later steps and later runs in the same job, ``GITHUB_ACTION_PATH``, ``RUNNER_TEMP``,
``GITHUB_ACTIONS=true``. Workflow commands are parsed from each step's output. A failing step
stops the action, and its status is the action's.

One deliberate difference: ``replace={"install": …}`` swaps a step's script. The tests replace
the install step (``pip install "$GITHUB_ACTION_PATH[guard]"`` into a fresh venv, which needs
the network and minutes) with one that puts the test venv's ``bin`` on ``GITHUB_PATH``; the
real pip line stays in action.yml and is checked by the structural tests.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ActionRun", "ActionRunner", "WorkflowCommand", "parse_commands", "parse_file_commands"]

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_COMMAND = re.compile(r"^::([A-Za-z][\w-]*)(?: ([^:]*))?::(.*)$")


@dataclass(frozen=True)
class WorkflowCommand:
    name: str
    properties: dict[str, str]
    message: str


@dataclass
class StepRun:
    id: str
    status: int
    output: str
    outputs: dict[str, str]


@dataclass
class ActionRun:
    status: int
    outputs: dict[str, str]
    steps: list[StepRun]
    summary: str

    @property
    def log(self) -> str:
        return "".join(step.output for step in self.steps)

    @property
    def commands(self) -> list[WorkflowCommand]:
        return parse_commands(self.log)

    def annotations(self, name: str) -> list[WorkflowCommand]:
        return [command for command in self.commands if command.name == name]


def _unescape(text: str, *, property: bool = False) -> str:
    text = text.replace("%0D", "\r").replace("%0A", "\n")
    if property:
        text = text.replace("%3A", ":").replace("%2C", ",")
    return text.replace("%25", "%")


def parse_commands(log: str) -> list[WorkflowCommand]:
    found: list[WorkflowCommand] = []
    for line in log.splitlines():
        match = _COMMAND.match(line)
        if match is None:
            continue
        properties: dict[str, str] = {}
        for pair in (match.group(2) or "").split(","):
            if "=" in pair:
                key, _, value = pair.partition("=")
                properties[key.strip()] = _unescape(value, property=True)
        found.append(WorkflowCommand(match.group(1), properties, _unescape(match.group(3))))
    return found


def parse_file_commands(path: Path) -> dict[str, str]:
    """``name=value`` and ``name<<DELIMITER`` … ``DELIMITER`` blocks, later ones winning."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, _, delimiter = line.partition("<<")
            body: list[str] = []
            while lines[index] != delimiter:
                body.append(lines[index])
                index += 1
            index += 1
            values[name] = "\n".join(body)
        else:
            name, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"{path.name}: {line!r} is neither name=value nor a heredoc")
            values[name] = value
    return values


@dataclass
class ActionRunner:
    """One job: ``run()`` the action once per step of the job that uses it."""

    action_dir: Path
    workspace: Path
    github: dict[str, str]
    environ: dict[str, str] = field(default_factory=dict)
    replace: dict[str, str] = field(default_factory=dict)
    job_env: dict[str, str] = field(default_factory=dict)
    job_path: list[str] = field(default_factory=list)
    _count: int = 0

    def __post_init__(self) -> None:
        self.action: dict[str, Any] = yaml.safe_load((self.action_dir / "action.yml").read_text())
        self.runner_temp = self.workspace / "_runner_temp"
        self.runner_temp.mkdir(parents=True, exist_ok=True)

    def run(self, inputs: Mapping[str, str], *, timeout: float = 300) -> ActionRun:
        declared: dict[str, Any] = self.action.get("inputs") or {}
        unknown = set(inputs) - set(declared)
        if unknown:
            raise ValueError(f"inputs not declared in action.yml: {sorted(unknown)}")
        values: dict[str, str] = {}
        for name, spec in declared.items():
            if name in inputs:
                values[name] = inputs[name]
            else:
                values[name] = self._evaluate(str((spec or {}).get("default", "")), values, {})
        runs = self.action["runs"]
        assert runs["using"] == "composite", "only composite actions are supported"
        steps: list[StepRun] = []
        outputs_by_step: dict[str, dict[str, str]] = {}
        status = 0
        summary: list[str] = []
        for number, step in enumerate(runs["steps"]):
            for key in ("uses", "if", "working-directory", "continue-on-error"):
                if key in step:
                    raise NotImplementedError(f"step {number}: `{key}` is not supported here")
            if step.get("shell") != "bash":
                raise NotImplementedError(f"step {number}: only `shell: bash` is supported")
            step_id = str(step.get("id", f"__{number}"))
            result = self._step(step_id, step, values, outputs_by_step, summary, timeout)
            steps.append(result)
            outputs_by_step[step_id] = result.outputs
            if result.status != 0:
                status = result.status
                break
        outputs = {
            name: self._evaluate(str(spec["value"]), values, outputs_by_step)
            for name, spec in (self.action.get("outputs") or {}).items()
        }
        return ActionRun(status, outputs, steps, "".join(summary))

    def _step(
        self,
        step_id: str,
        step: Mapping[str, Any],
        inputs: Mapping[str, str],
        outputs: Mapping[str, Mapping[str, str]],
        summary: list[str],
        timeout: float,
    ) -> StepRun:
        self._count += 1
        files = self.runner_temp / f"step-{self._count}"
        files.mkdir()
        env_file, path_file = files / "env", files / "path"
        output_file, summary_file = files / "output", files / "summary"
        for created in (env_file, path_file, output_file, summary_file):
            created.touch()
        script = self.replace.get(step_id) or self._evaluate(str(step["run"]), inputs, outputs)
        script_file = files / "script.sh"
        script_file.write_text(script)
        env = dict(self.environ)
        env.update(self.job_env)
        step_env = {
            str(k): self._evaluate(str(v), inputs, outputs)
            for k, v in (step.get("env") or {}).items()
        }
        env.update(step_env)
        env.update(
            {
                "GITHUB_ACTIONS": "true",
                "CI": "true",
                "GITHUB_ACTION_PATH": str(self.action_dir),
                "GITHUB_WORKSPACE": str(self.workspace),
                "RUNNER_TEMP": str(self.runner_temp),
                "GITHUB_OUTPUT": str(output_file),
                "GITHUB_ENV": str(env_file),
                "GITHUB_PATH": str(path_file),
                "GITHUB_STEP_SUMMARY": str(summary_file),
                "PATH": os.pathsep.join([*reversed(self.job_path), env.get("PATH", os.defpath)]),
            }
        )
        completed = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            env=env,
            cwd=self.workspace,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.job_env.update(parse_file_commands(env_file))
        self.job_path.extend(line for line in path_file.read_text().splitlines() if line.strip())
        summary.append(summary_file.read_text())
        return StepRun(
            step_id, completed.returncode, completed.stdout, parse_file_commands(output_file)
        )

    def _evaluate(
        self, text: str, inputs: Mapping[str, str], steps: Mapping[str, Mapping[str, str]]
    ) -> str:
        def value(match: re.Match[str]) -> str:
            expression = match.group(1)
            parts = expression.split(".")
            if parts[0] == "inputs" and len(parts) == 2:
                return inputs[parts[1]]
            if parts[0] == "github" and len(parts) == 2:
                return self.github.get(parts[1], "")
            if parts[0] == "env" and len(parts) == 2:
                return {**self.environ, **self.job_env}.get(parts[1], "")
            if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
                return steps.get(parts[1], {}).get(parts[3], "")
            raise NotImplementedError(f"expression not supported by the test runner: {expression}")

        return _EXPRESSION.sub(value, text)
