"""The commented ``[recovery]`` example at the end of examples/hub.toml stays valid."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bounceback.api.recovery.models import RecoveryConfig

HUB_TOML = Path(__file__).resolve().parents[3] / "examples" / "hub.toml"


def test_the_commented_recovery_example_is_a_valid_recovery_section() -> None:
    text = HUB_TOML.read_text()
    block = text[text.index("# [recovery]\n") :]
    uncommented = "\n".join(line.removeprefix("#").removeprefix(" ") for line in block.splitlines())
    config = RecoveryConfig.model_validate(tomllib.loads(uncommented)["recovery"])
    [action] = config.actions
    assert action.id == "checkout-memory"
    assert [step.type.value for step in action.actions.immediate] == ["agent_action", "webhook"]
    assert action.conditions.metric_thresholds == {"memory_percent": 85}
    assert action.cooldown_period == 15
