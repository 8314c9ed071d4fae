"""The shipped examples stay valid."""

from __future__ import annotations

from pathlib import Path

from bounceback.agent.config import load_config as load_agent_config
from bounceback.api.config_loader import load_settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_example_agent_config_is_valid() -> None:
    config = load_agent_config(EXAMPLES / "agent.toml", environ={})
    types = {action.type for action in config.actions}
    assert {
        "clear_cache",
        "memory_cleanup",
        "restart_process",
        "reset_connections",
        "scale_resources",
        "restart_service",
        "clean_temp",
        "clean_logs",
        "execute_script",
    } <= types


def test_the_example_hub_config_is_valid() -> None:
    assert load_settings(config_file=EXAMPLES / "hub.toml").bounceback_port == 4000


def test_the_example_escalation_section_names_only_what_it_defines() -> None:
    escalation = load_settings(config_file=EXAMPLES / "hub.toml").escalation
    assert [p.id for p in escalation.policies] == ["production"]
    assert {p.id for p in escalation.people} == {"ann", "bob", "cy"}
    assert escalation.schedules[0].layers[0].people == ("ann", "bob")


def test_the_example_degradation_rules_are_valid() -> None:
    degradation = load_settings(config_file=EXAMPLES / "hub.toml").degradation
    assert [rule.id for rule in degradation.rules] == ["checkout-db-down", "memory-pressure"]
    assert degradation.services["checkout"] == ("web-1", "web-2", "web-3", "web-4")
    assert degradation.hold(degradation.rules[1]) == 600
