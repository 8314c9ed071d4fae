"""The README's Python examples run as written and its hub.toml examples load."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_python_examples_in_the_readme_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - our own documentation


def test_hub_toml_examples_in_the_readme_are_valid_configuration(tmp_path: Path) -> None:
    from bounceback.api.config_loader import load_settings

    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)
    hub_blocks = [b for b in blocks if b.startswith("# hub.toml")]
    assert hub_blocks
    for n, block in enumerate(hub_blocks):
        config = tmp_path / f"hub-{n}.toml"
        config.write_text(block)
        load_settings(config_file=config)  # raises ConfigError naming the key
