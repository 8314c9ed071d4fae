"""The daemon's memory: `run` loads only what it runs, and TLS costs nothing until it is used."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bounceback.agent.http_transport import LazyTlsTransport, SharedTls

# Code of the other subcommands (init, check, test, install-service, enroll's writer).
NOT_IN_THE_DAEMON = {
    "tomli_w",
    "bounceback.agent.starter",
    "bounceback.agent.checks_defaults",
    "bounceback.agent.check_table",
    "bounceback.agent.action_cli",
    "bounceback.agent.systemd_unit",
}

# `bounceback-agent run` for one cycle, in a fresh interpreter: SIGTERM stops it as systemd does.
RUN_ONE_CYCLE = """
import json, os, signal, sys, threading
from bounceback.agent.cli import main
threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
main(["run", "--config", sys.argv[1]], standalone_mode=False)
print(json.dumps(sorted(sys.modules)))
"""

CONFIG = """
[agent]
id = "footprint"
interval_seconds = 1
spool_dir = "{spool}"
credentials_file = "{creds}"

[[checks]]
name = "memory"
type = "memory"

[[checks]]
name = "web"
type = "http"
url = "{web}/"
"""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_run_does_not_load_the_other_commands_code(tmp_path: Path, web: str) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        CONFIG.format(spool=tmp_path / "spool", creds=tmp_path / "none.toml", web=web)
    )
    result = subprocess.run(
        [sys.executable, "-c", RUN_ONE_CYCLE, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert "bounceback.agent.build" in loaded  # it did run
    assert loaded & NOT_IN_THE_DAEMON == set()


@pytest.mark.anyio
async def test_plain_http_never_loads_the_ca_bundle(web: str) -> None:
    tls = SharedTls()
    async with httpx.AsyncClient(transport=LazyTlsTransport(tls)) as client:
        response = await client.get(web)
    assert response.text == "ok"
    assert not tls.loaded


@pytest.mark.anyio
async def test_https_loads_one_context_shared_by_every_client() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port = unused.getsockname()[1]
        tls = SharedTls()
        for _ in range(2):
            async with httpx.AsyncClient(transport=LazyTlsTransport(tls)) as client:
                with pytest.raises(httpx.ConnectError):
                    await client.get(f"https://127.0.0.1:{port}/")
    assert tls.loaded
    assert tls.context() is tls.context()
    assert tls.context().verify_mode.name == "CERT_REQUIRED"
