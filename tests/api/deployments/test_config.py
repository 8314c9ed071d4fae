from __future__ import annotations

from pathlib import Path

import pytest

from bounceback.api.config_loader import ConfigError, load_settings


def test_a_bad_deployments_key_is_named_by_its_dotted_path(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        '[deployments.targets.web]\nhealth_urls = ["ftp://x"]\n'
        '[[deployments.freeze]]\ncron = "0 25 * * *"\nduration_minutes = 5\n'
        'timezone = "Mars/Olympus"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file=config)
    problems = "\n".join(caught.value.problems)
    assert "'deployments.targets.web.health_urls'" in problems and "ftp://x" in problems
    assert "'deployments.freeze[0].cron'" in problems and "hour" in problems
    assert "'deployments.freeze[0].timezone'" in problems and "Mars/Olympus" in problems


def test_targets_inherit_the_global_freeze_windows(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        '[[deployments.freeze]]\ncron = "0 18 * * FRI"\nduration_minutes = 60\n'
        '[[deployments.targets.web.freeze]]\nname = "sale"\ncron = "0 0 24 11 *"\n'
        "duration_minutes = 1440\n"
    )
    deployments = load_settings(config_file=config).deployments
    assert [window.name for window in deployments.freeze_windows("web")] == ["freeze", "sale"]
    assert [window.name for window in deployments.freeze_windows("api")] == ["freeze"]
