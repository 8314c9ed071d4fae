"""Time to recovery of a supervised HTTP server: our supervisor against Monit, in the same run.

A small HTTP server (it answers with its pid) is SIGKILLed ``runs`` times; each figure is the
time from the kill until a GET is answered by a new pid. Ours: `Supervisor` from
bounceback.agent.supervisor in this process, which learns of the exit from the child wait and
restarts after the initial backoff (0.1 s). Monit, where installed: ``set daemon 1`` and a
``check process … with pidfile``, the same server (which, given a pid file, detaches as Monit
expects of a start program) and the same kills.

The server runs ``PAUSE`` seconds between kills, longer than ``stable_after_seconds``, so each
kill is a fresh crash rather than a crash loop; ``max_restarts`` is set above the number of
kills, since this measures recovery, not the give-up rule.

    .venv/bin/python bench/mttr.py [--quick]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bounceback.agent.process_spec import ProcessSpec
from bounceback.agent.supervisor import Supervisor

logging.getLogger("bounceback.agent.supervisor").setLevel(logging.ERROR)  # one line per kill

PAUSE = 1.0  # seconds the server runs between kills
PROBE_EVERY = 0.005
RECOVERY_TIMEOUT = 30.0
TARGET_MEDIAN = 0.5

SERVER = """\
import http.server, os, sys

class Pid(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = str(os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Pid)
if len(sys.argv) > 2:  # for Monit: detach like a daemon and leave a pid file
    child = os.fork()
    if child:
        with open(sys.argv[2] + ".tmp", "w") as out:
            out.write(str(child))
        os.replace(sys.argv[2] + ".tmp", sys.argv[2])
        os._exit(0)
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
server.serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def serving_pid(client: httpx.AsyncClient, url: str, not_pid: int | None) -> int:
    """Wait until a server other than ``not_pid`` answers; its pid."""
    async with asyncio.timeout(RECOVERY_TIMEOUT):
        while True:
            try:
                response = await client.get(url, timeout=1.0)
                if response.status_code == 200 and int(response.text) != not_pid:
                    return int(response.text)
            except (httpx.TransportError, ValueError):
                pass
            await asyncio.sleep(PROBE_EVERY)


async def kill_and_time(client: httpx.AsyncClient, url: str, runs: int) -> list[float]:
    """SIGKILL whatever serves ``url``, ``runs`` times; seconds until a new pid serves."""
    pid = await serving_pid(client, url, None)
    times = []
    for _ in range(runs):
        await asyncio.sleep(PAUSE)
        start = time.perf_counter()
        os.kill(pid, signal.SIGKILL)
        pid = await serving_pid(client, url, pid)
        times.append(time.perf_counter() - start)
    return times


async def ours(server: Path, runs: int) -> list[float]:
    port = free_port()
    spec = ProcessSpec(
        name="http",
        command=[sys.executable, str(server), str(port)],
        stable_after_seconds=PAUSE / 2,
        max_restarts=runs + 1,
    )
    async with Supervisor([spec]), httpx.AsyncClient() as client:
        return await kill_and_time(client, f"http://127.0.0.1:{port}/", runs)


async def monit(binary: str, server: Path, runs: int, work: Path) -> list[float]:
    port, pidfile, rc = free_port(), work / "server.pid", work / "monitrc"
    rc.write_text(
        f"set daemon 1\n"
        f"set logfile {work / 'monit.log'}\n"
        f"set idfile {work / 'monit.id'}\n"
        f"set statefile {work / 'monit.state'}\n"
        f"set pidfile {work / 'monit.pid'}\n"
        f"check process bench-http with pidfile {pidfile}\n"
        f'  start program = "{sys.executable} {server} {port} {pidfile}"\n'
    )
    rc.chmod(0o600)  # Monit refuses a control file others can read
    daemon = await asyncio.create_subprocess_exec(
        binary, "-c", str(rc), "-I", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        async with httpx.AsyncClient() as client:
            return await kill_and_time(client, f"http://127.0.0.1:{port}/", runs)
    except TimeoutError:
        log = work / "monit.log"
        tail = log.read_text().splitlines()[-5:] if log.exists() else ["(no monit.log)"]
        print("monit did not bring the server back; monit.log ends:", *tail, sep="\n  ")
        raise
    finally:
        daemon.terminate()
        await daemon.wait()
        if pidfile.exists():  # the server Monit started outlives Monit
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)


def p95(values: list[float]) -> float:
    ranked = sorted(values)
    return ranked[math.ceil(0.95 * len(ranked)) - 1]  # nearest rank


def summary(name: str, times: list[float]) -> str:
    return (
        f"{name:6} median {statistics.median(times):.3f} s  p95 {p95(times):.3f} s  "
        f"min {min(times):.3f} s  max {max(times):.3f} s  ({len(times)} kills)"
    )


async def run(runs: int) -> dict[str, object]:
    binary = shutil.which("monit")
    with tempfile.TemporaryDirectory(prefix="bb-mttr-") as tmp:
        work = Path(tmp)
        server = work / "server.py"
        server.write_text(SERVER)
        our_times = await ours(server, runs)
        print(summary("ours", our_times))
        monit_times = await monit(binary, server, runs, work) if binary else None
    median = statistics.median(our_times)
    if monit_times is None:
        print("monit not installed (Debian: apt-get install monit): no comparison")
        monit_median = ratio = None
    else:
        print(summary("monit", monit_times) + "  [set daemon 1]")
        monit_median = statistics.median(monit_times)
        ratio = round(monit_median / median, 1)
        print(f"monit/ours median: {ratio}x")
    verdict = "meets" if median <= TARGET_MEDIAN else "MISSES"
    print(f"target median <= {TARGET_MEDIAN} s: {verdict}")
    return {
        "bench": "mttr",
        "runs": runs,
        "median_s": round(median, 3),
        "p95_s": round(p95(our_times), 3),
        "monit_median_s": None if monit_median is None else round(monit_median, 3),
        "monit_p95_s": None if monit_times is None else round(p95(monit_times), 3),
        "ratio": ratio,
        "target_median_s": TARGET_MEDIAN,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="8 kills each instead of 20")
    args = parser.parse_args()
    result = asyncio.run(run(8 if args.quick else 20))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
