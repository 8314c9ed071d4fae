"""The agent and the guard stay light: they never pull in the hub's dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HUB_ONLY = {"starlette", "uvicorn", "sqlalchemy", "slack_sdk", "twilio"}


def loaded_after(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in json.loads(result.stdout)}


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("bounceback.agent", HUB_ONLY | {"github"}),
        ("bounceback.agent.cli", HUB_ONLY | {"github"}),
        ("bounceback.agent.breaker", HUB_ONLY | {"github", "psutil", "httpx", "pydantic"}),
        ("bounceback.agent.openfeature_provider", HUB_ONLY | {"github", "psutil", "pydantic"}),
        ("bounceback.guard", HUB_ONLY | {"psutil"}),
        ("bounceback.api", HUB_ONLY | {"github", "psutil"}),
        ("bounceback.api.schema", HUB_ONLY | {"github", "psutil"}),
    ],
)
def test_light_modules_import_no_heavy_dependencies(module: str, forbidden: set[str]) -> None:
    assert loaded_after(module) & forbidden == set()
