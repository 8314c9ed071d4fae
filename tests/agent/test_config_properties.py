"""Property tests of agent.toml parsing (agent/config.py): any document, with any of the seed's
variables in the environment, is either a config or a ConfigError whose problems name where in
the file; any file's bytes likewise; a valid config survives a trip through TOML."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from bounceback.agent.config import AgentConfig, ConfigError, load_config, parse_config

EXAMPLES = settings(max_examples=200, deadline=None, derandomize=True)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agent.toml"
SECTIONS = ["agent", "checks", "actions", "processes", "dependencies", "safety", "hub"]
VARIABLES = [
    "HEALTH_CHECK_INTERVAL",
    "SELF_HEALING_ENABLED",
    "MEMORY_THRESHOLD",
    "CPU_THRESHOLD",
    "DISK_THRESHOLD",
]

toml_scalars = st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=20)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
documents = st.dictionaries(st.sampled_from(SECTIONS) | st.text(max_size=10), toml_values)
environments = st.dictionaries(st.sampled_from(VARIABLES), st.text(max_size=8))


def example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


def parsed(document: dict[str, Any], environ: dict[str, str]) -> AgentConfig | ConfigError:
    try:
        return parse_config(document, source="agent.toml", environ=environ)
    except ConfigError as exc:
        return exc


@EXAMPLES
@given(document=documents, environ=environments)
def test_any_document_is_a_config_or_problems_that_say_where(
    document: dict[str, Any], environ: dict[str, str]
) -> None:
    result = parsed(document, environ)
    if isinstance(result, ConfigError):
        assert result.problems
        assert all(problem.startswith("agent.toml: ") for problem in result.problems)


@st.composite
def example_with_one_change(draw: st.DrawFn) -> dict[str, Any]:
    """The example agent.toml with one key of one section set to anything."""
    document = example()
    section = draw(st.sampled_from(sorted(document)))
    body = document[section]
    entry = draw(st.sampled_from(body)) if isinstance(body, list) and body else body
    if isinstance(entry, dict):
        entry[draw(st.sampled_from(sorted(entry)) | st.text(max_size=8))] = draw(toml_values)
    else:
        document[section] = draw(toml_values)
    return document


@EXAMPLES
@given(document=example_with_one_change(), environ=environments)
def test_a_changed_example_is_a_config_or_problems_that_say_where(
    document: dict[str, Any], environ: dict[str, str]
) -> None:
    result = parsed(document, environ)
    if isinstance(result, ConfigError):
        assert all(problem.startswith("agent.toml: ") for problem in result.problems)
        assert all(problem != "agent.toml: " for problem in result.problems)


def test_any_bytes_are_a_config_or_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"

    @EXAMPLES
    @given(text=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
    def check(text: bytes) -> None:
        path.write_bytes(text)
        try:
            load_config(path, environ={})
        except ConfigError as exc:
            assert all(str(path) in problem for problem in exc.problems)

    check()


@pytest.mark.parametrize("environ", [{}, {"HEALTH_CHECK_INTERVAL": "15"}])
def test_the_example_survives_a_trip_through_toml(tmp_path: Path, environ: dict[str, str]) -> None:
    config = parse_config(example(), source="example", environ=environ)
    path = tmp_path / "agent.toml"
    path.write_text(tomli_w.dumps(config.model_dump(mode="json", exclude_none=True)))
    assert load_config(path, environ=environ) == config


@EXAMPLES
@given(
    interval=st.floats(0.001, 3600),
    wait=st.floats(1, 30),
    spool=st.floats(0.001, 1e6),
    agent_id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),
)
def test_valid_agent_settings_come_back_as_written(
    interval: float, wait: float, spool: float, agent_id: str
) -> None:
    document = example()
    document["agent"] = {
        **document.get("agent", {}),
        "id": agent_id,
        "interval_seconds": interval,
        "poll_wait_seconds": wait,
        "spool_max_mb": spool,
    }
    text = tomli_w.dumps(document)
    config = parse_config(tomllib.loads(text), source="agent.toml", environ={})
    assert (config.agent.id, config.agent.interval_seconds) == (agent_id, interval)
    assert (config.agent.poll_wait_seconds, config.agent.spool_max_mb) == (wait, spool)
