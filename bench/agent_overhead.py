"""The agent's own footprint: `bounceback-agent run` with 10 checks at a 5 s interval.

Measures the agent process's resident memory and CPU use over ``--duration`` seconds (default
300) with psutil. Targets: <= 40 MB RSS and <= 0.5 % of one core. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

CONFIG = """
[agent]
id = "bench"
interval_seconds = 5
spool_dir = "{spool}"
credentials_file = "{creds}"

[[checks]]
name = "memory"
type = "memory"

[[checks]]
name = "cpu"
type = "cpu"

[[checks]]
name = "swap"
type = "swap"

[[checks]]
name = "load"
type = "load"

[[checks]]
name = "disk-root"
type = "disk"
mount = "/"

[[checks]]
name = "inodes-root"
type = "inodes"
mount = "/"

[[checks]]
name = "web-tcp"
type = "tcp"
host = "127.0.0.1"
port = {port}

[[checks]]
name = "web-http"
type = "http"
url = "http://127.0.0.1:{port}/"

[[checks]]
name = "log-fresh"
type = "file_age"
path = "{log}"
max_age_minutes = 15

[[checks]]
name = "work-size"
type = "dir_size"
path = "{work}"
max_mb = 100
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--quick", action="store_true", help="30 s instead of --duration")
    args = parser.parse_args()
    duration = 30.0 if args.quick else args.duration
    # The agent installed next to this interpreter (the checkout under test), started through
    # its console script exactly as systemd starts it; PATH only when there is none.
    beside = Path(sys.executable).parent / "bounceback-agent"
    agent = str(beside) if beside.exists() else shutil.which("bounceback-agent")
    if agent is None:
        sys.exit("bench/agent_overhead.py: bounceback-agent is not installed")

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "work").mkdir()
        (root / "work" / "f").write_bytes(b"x" * 4096)
        (root / "app.log").write_text("started\n")
        port = free_port()
        web = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            cwd=root / "work",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        config = root / "agent.toml"
        config.write_text(
            CONFIG.format(
                spool=root / "spool",
                creds=root / "none.toml",
                port=port,
                log=root / "app.log",
                work=root / "work",
            )
        )
        env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG")}
        process = subprocess.Popen(
            [agent, "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            watched = psutil.Process(process.pid)
            time.sleep(6)  # start-up (imports, first cycle) is not steady state
            cpu_start = sum(watched.cpu_times()[:2])
            started = time.monotonic()
            peak_rss = 0
            while time.monotonic() - started < duration:
                peak_rss = max(peak_rss, watched.memory_info().rss)
                time.sleep(1)
            elapsed = time.monotonic() - started
            cpu_used = sum(watched.cpu_times()[:2]) - cpu_start
            rss = watched.memory_info().rss
        finally:
            process.terminate()
            process.wait(timeout=30)
            web.terminate()
            web.wait(timeout=10)
    figures = {
        "bench": "agent_overhead",
        "checks": 10,
        "interval_s": 5,
        "duration_s": round(elapsed, 1),
        "rss_mb": round(rss / 2**20, 1),
        "peak_rss_mb": round(peak_rss / 2**20, 1),
        "cpu_percent": round(100 * cpu_used / elapsed, 3),
        "target_rss_mb": 40,
        "target_cpu_percent": 0.5,
        "agent": agent,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(
        f"agent: {figures['rss_mb']} MB RSS (peak {figures['peak_rss_mb']}), "
        f"{figures['cpu_percent']} % of one core over {figures['duration_s']} s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
