"""Packaging guard rails (ARCHITECTURE.md §1)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = ("agent", "api", "guard")


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_source_package_is_listed_in_pyproject() -> None:
    config = pyproject()
    listed = set(config["tool"]["setuptools"]["packages"])  # type: ignore[index]
    on_disk = {
        ".".join(["bounceback", *init.parent.relative_to(ROOT).parts])
        for component in COMPONENTS
        for init in (ROOT / component).rglob("__init__.py")
    }
    assert listed == on_disk


def test_the_package_dirs_map_the_three_folders_under_bounceback() -> None:
    mapping = pyproject()["tool"]["setuptools"]["package-dir"]  # type: ignore[index]
    assert mapping == {f"bounceback.{name}": name for name in COMPONENTS}


def test_extras_exist_for_each_deployable() -> None:
    extras = pyproject()["project"]["optional-dependencies"]  # type: ignore[index]
    assert {"agent", "hub", "guard", "postgres", "all", "dev"} <= set(extras)


def run_isolated(code: str) -> str:
    # -I: no current directory on sys.path, so the bare folder names cannot be imported.
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return result.stdout


@pytest.mark.parametrize("name", COMPONENTS)
def test_bare_folder_names_are_not_importable(name: str) -> None:
    out = run_isolated(f"import importlib.util; print(importlib.util.find_spec({name!r}))")
    assert out.strip() == "None"
