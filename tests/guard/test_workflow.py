"""Workflow commands and runner files, and the same calls on a plain terminal."""

from __future__ import annotations

import io
from pathlib import Path

from bounceback.guard.workflow import Console, escape_data, escape_property


def actions_console(tmp_path: Path) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    console = Console.from_environ(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(tmp_path / "output"),
            "GITHUB_ENV": str(tmp_path / "env"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        },
        out=out,
        err=out,
    )
    return console, out


def test_masked_secrets_are_announced_once_and_scrubbed_everywhere(tmp_path: Path) -> None:
    console, out = actions_console(tmp_path)
    console.mask("s3cr3t")
    console.mask("s3cr3t")
    console.info("token is s3cr3t")
    console.error("bad s3cr3t", title="t s3cr3t")
    console.set_output("x", "s3cr3t")

    lines = out.getvalue().splitlines()
    assert lines[0] == "::add-mask::s3cr3t"
    assert sum("s3cr3t" in line for line in lines) == 1
    assert "token is ***" in lines
    assert (tmp_path / "output").read_text() == "x=***\n"


def test_plain_terminal_never_prints_add_mask(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console.from_environ({"GITHUB_OUTPUT": str(tmp_path / "o")}, out=out, err=err)
    console.mask("s3cr3t")
    console.warning("careful s3cr3t", title="Heads up")
    console.set_output("deployment-id", "12")

    assert "add-mask" not in out.getvalue() + err.getvalue()
    assert err.getvalue() == "warning: Heads up: careful ***\n"
    assert out.getvalue() == "deployment-id=12\n"
    assert not (tmp_path / "o").exists()


def test_groups_and_annotations_use_workflow_command_syntax(tmp_path: Path) -> None:
    console, out = actions_console(tmp_path)
    with console.group("Gate: checkout"):
        console.error("50% errors\nafter deploy", title="error_rate: failed, badly")

    assert out.getvalue().splitlines() == [
        "::group::Gate: checkout",
        "::error title=error_rate%3A failed%2C badly::50%25 errors%0Aafter deploy",
        "::endgroup::",
    ]


def test_multiline_outputs_use_a_random_delimiter(tmp_path: Path) -> None:
    console, _ = actions_console(tmp_path)
    console.set_output("report", "line one\nline two")
    console.set_env("BOUNCEBACK_GUARD_DEPLOYMENT_ID", "5")

    name, *body, end = (tmp_path / "output").read_text().splitlines()
    delimiter = name.removeprefix("report<<")
    assert delimiter.startswith("ghadelimiter_") and end == delimiter
    assert body == ["line one", "line two"]
    assert (tmp_path / "env").read_text() == "BOUNCEBACK_GUARD_DEPLOYMENT_ID=5\n"


def test_summaries_append(tmp_path: Path) -> None:
    console, _ = actions_console(tmp_path)
    console.summary("## one")
    console.summary("## two\n")
    assert (tmp_path / "summary").read_text() == "## one\n\n## two\n\n"


def test_escaping_follows_the_runner() -> None:
    assert escape_data("a%b\r\nc") == "a%25b%0D%0Ac"
    assert escape_property("a:b,c") == "a%3Ab%2Cc"
