"""``bounceback-hub demo``: the Quick start's hub, with sample events and a way in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bounceback.api.testing import free_port


def test_the_demo_sends_its_events_and_says_how_to_open_the_dashboard(tmp_path: Path) -> None:
    port = free_port()
    script = str(Path(sys.executable).parent / "bounceback-hub")
    done = subprocess.run(
        [script, "demo", "--exit-after-demo", "--port", str(port), "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Sample events sent:" in done.stdout
    assert f"Dashboard: open http://127.0.0.1:{port}/ in a browser" in done.stdout
    assert "Admin token: bbt_" in done.stdout
