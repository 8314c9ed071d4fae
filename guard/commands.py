"""Running the deploy and rollback commands: split like a shell would, run without one.

A workflow input is text from a YAML file; handing it to ``sh -c`` would make every quote and
``$(...)`` in it live. ``shlex.split`` gives the argument vector instead, and the command runs
with the job's environment plus the guard's ``BOUNCEBACK_*`` facts about the deployment. A
command that needs a pipeline can be a script in the repository.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = ["CommandRunner", "SubprocessRunner", "split_command"]


def split_command(text: str, *, flag: str) -> tuple[str, ...]:
    """The argument vector of ``text``; ValueError names ``flag`` when it cannot be split."""
    try:
        argv = tuple(shlex.split(text))
    except ValueError as exc:
        raise ValueError(f"{flag}: cannot split {text!r} into arguments ({exc})") from None
    if not argv:
        raise ValueError(f"{flag} is empty")
    return argv


class CommandRunner(Protocol):
    def run(self, argv: Sequence[str], env: Mapping[str, str]) -> int:
        """Run ``argv`` to completion with ``env`` added; its exit status (127: not found)."""
        ...


class SubprocessRunner:
    def run(self, argv: Sequence[str], env: Mapping[str, str]) -> int:
        try:
            completed = subprocess.run(  # noqa: S603 - an argument vector, never a shell
                list(argv), env={**os.environ, **env}, check=False
            )
        except FileNotFoundError:
            return 127
        except PermissionError:
            return 126
        return completed.returncode
