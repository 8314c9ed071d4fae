"""Talking to the GitHub Actions runner, or to a terminal when there is none.

Inside Actions (``GITHUB_ACTIONS=true``) the guard speaks workflow commands (``::add-mask::``,
``::group::``, ``::error title=…::``) and writes the runner's files: step outputs to
``GITHUB_OUTPUT``, variables for later steps to ``GITHUB_ENV`` and Markdown to
``GITHUB_STEP_SUMMARY``. Elsewhere the same calls print plain text, and outputs are printed as
``name=value`` lines so a shell script can pick up the deployment id.

Every line printed is scrubbed of the secrets registered with :meth:`Console.mask`, in both modes:
the runner masks them too, but a terminal does not.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

__all__ = ["Console", "escape_data", "escape_property"]


def escape_data(text: str) -> str:
    """A workflow command's message: the runner reads ``%``, CR and LF as escapes."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value, where ``:`` and ``,`` are separators too."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _path(environ: Mapping[str, str], name: str) -> Path | None:
    value = environ.get(name)
    return Path(value) if value else None


class Console:
    def __init__(
        self,
        *,
        actions: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
        output_file: Path | None = None,
        env_file: Path | None = None,
        summary_file: Path | None = None,
    ) -> None:
        self.actions = actions
        self._out = out if out is not None else sys.stdout
        self._err = err if err is not None else sys.stderr
        self._output_file = output_file
        self._env_file = env_file
        self._summary_file = summary_file
        self._secrets: list[str] = []
        self.outputs: dict[str, str] = {}

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], *, out: TextIO | None = None, err: TextIO | None = None
    ) -> Console:
        actions = environ.get("GITHUB_ACTIONS", "").lower() == "true"
        return cls(
            actions=actions,
            out=out,
            err=err,
            output_file=_path(environ, "GITHUB_OUTPUT") if actions else None,
            env_file=_path(environ, "GITHUB_ENV") if actions else None,
            summary_file=_path(environ, "GITHUB_STEP_SUMMARY") if actions else None,
        )

    # -- secrets -----------------------------------------------------------------------------

    def mask(self, secret: str | None) -> None:
        """Hide ``secret`` from every later line; call before anything could print it."""
        if not secret or secret in self._secrets:
            return
        self._secrets.append(secret)
        if self.actions:
            # The one place a secret is written out: the runner needs it to mask it.
            self._out.write(f"::add-mask::{escape_data(secret)}\n")
            self._out.flush()

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # -- log ---------------------------------------------------------------------------------

    def info(self, line: str = "") -> None:
        self._print(self._out, self.scrub(line))

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.actions:
            self._print(self._out, f"::group::{escape_data(self.scrub(title))}")
        else:
            self._print(self._out, f"== {self.scrub(title)}")
        try:
            yield
        finally:
            if self.actions:
                self._print(self._out, "::endgroup::")

    def error(self, message: str, *, title: str | None = None) -> None:
        self._annotate("error", message, title)

    def warning(self, message: str, *, title: str | None = None) -> None:
        self._annotate("warning", message, title)

    def notice(self, message: str, *, title: str | None = None) -> None:
        self._annotate("notice", message, title)

    def _annotate(self, level: str, message: str, title: str | None) -> None:
        message = self.scrub(message)
        if self.actions:
            props = f" title={escape_property(self.scrub(title))}" if title else ""
            self._print(self._out, f"::{level}{props}::{escape_data(message)}")
            return
        prefix = f"{level}: {self.scrub(title)}: " if title else f"{level}: "
        self._print(self._out if level == "notice" else self._err, prefix + message)

    # -- runner files --------------------------------------------------------------------------

    def set_output(self, name: str, value: str) -> None:
        value = self.scrub(value)
        self.outputs[name] = value
        if self._output_file is not None:
            _append_variable(self._output_file, name, value)
        elif not self.actions:
            self._print(self._out, f"{name}={value}")

    def set_env(self, name: str, value: str) -> None:
        """Visible to the job's later steps (Actions only; a terminal has no later steps)."""
        if self._env_file is not None:
            _append_variable(self._env_file, name, self.scrub(value))

    def summary(self, markdown: str) -> None:
        if self._summary_file is None:
            return
        with self._summary_file.open("a", encoding="utf-8") as summary:
            summary.write(self.scrub(markdown).rstrip("\n") + "\n\n")

    @staticmethod
    def _print(stream: TextIO, line: str) -> None:
        stream.write(line + "\n")
        stream.flush()


def _append_variable(path: Path, name: str, value: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
            handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            handle.write(f"{name}={value}\n")
