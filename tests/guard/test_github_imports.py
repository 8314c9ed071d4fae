"""The GitHub adapter and its fake run inside GitHub Actions: no hub or agent dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = {"starlette", "uvicorn", "sqlalchemy", "psutil", "slack_sdk", "twilio"}


@pytest.mark.parametrize(
    "module",
    [
        "bounceback.guard.github",
        "bounceback.guard.github_types",
        "bounceback.guard.testing",
        "bounceback.guard.cli",
    ],
)
def test_github_modules_import_no_heavy_dependencies(module: str) -> None:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    loaded = {name.split(".")[0] for name in json.loads(result.stdout)}
    assert loaded & FORBIDDEN == set()
