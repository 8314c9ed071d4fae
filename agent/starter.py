"""The commented starter agent.toml that ``bounceback-agent init`` writes for this host."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import tomli_w

from bounceback.agent.checks_defaults import default_checks, real_mounts

# Services worth a check when their unit is installed here.
COMMON_SERVICES = ("nginx", "apache2", "postgresql", "mysql", "mariadb", "redis-server", "docker")
UNIT_DIRS = (
    Path("/etc/systemd/system"),
    Path("/lib/systemd/system"),
    Path("/usr/lib/systemd/system"),
)


def installed_services(
    unit_dirs: tuple[Path, ...] = UNIT_DIRS, systemd_dir: Path = Path("/run/systemd/system")
) -> list[str]:
    """Common services installed here, when systemd runs this host (sd_booted)."""
    if not systemd_dir.is_dir():
        return []
    return [
        name
        for name in COMMON_SERVICES
        if any((directory / f"{name}.service").exists() for directory in unit_dirs)
    ]


def _section(comment: str, data: dict[str, Any]) -> str:
    lines = "".join(f"# {line}\n" if line else "#\n" for line in comment.splitlines())
    return f"{lines}{tomli_w.dumps(data)}\n"


def starter_config(mounts: list[str] | None = None, services: list[str] | None = None) -> str:
    mounts = real_mounts() if mounts is None else mounts
    services = installed_services() if services is None else services
    checks: list[dict[str, Any]] = list(default_checks(mounts))
    checks += [
        {"name": f"service-{name}", "type": "systemd", "unit": f"{name}.service", "for_cycles": 2}
        for name in services
    ]
    parts = [
        _section(
            "Bounceback agent configuration. Validate with `bounceback-agent validate FILE`.\n"
            "The seed's environment variables override this file: HEALTH_CHECK_INTERVAL,\n"
            "SELF_HEALING_ENABLED; MEMORY_THRESHOLD, CPU_THRESHOLD and DISK_THRESHOLD fill in\n"
            "checks that set no threshold of their own.",
            {
                "agent": {
                    "id": socket.gethostname(),
                    "interval_seconds": 60,
                    "spool_dir": "/var/lib/bounceback-agent/spool",
                    "credentials_file": "/etc/bounceback/agent-credentials.toml",
                }
            },
        ),
        _section(
            "Safety limits on every healing action. dry_run = true logs what would be done.",
            {
                "safety": {
                    "self_healing": True,
                    "dry_run": False,
                    "max_actions_per_hour": 20,
                    "max_concurrent_actions": 2,
                    "max_attempts_per_target": 3,
                    "attempts_window_cycles": 60,
                }
            },
        ),
        _section(
            "Checks. Debounce with for_cycles = N, or times = X with within_cycles = Y;\n"
            'clear_threshold adds hysteresis. `action = "name"` runs a declared action while\n'
            'the check fails; `dependency = "name"` drives that dependency\'s circuit breaker.',
            {"checks": checks},
        ),
        "# Actions: see examples/agent.toml for every type (restart_service, restart_process,\n"
        "# clear_cache, memory_cleanup, reset_connections, scale_resources, clean_logs,\n"
        "# clean_temp, execute_script). Only declared actions ever run.\n"
        "#\n"
        "# [[actions]]\n"
        '# name = "clean-tmp"\n'
        '# type = "clean_temp"\n'
        '# directories = ["/tmp/myapp"]\n'
        "# older_than_hours = 1\n"
        "#\n"
        "# Processes the agent supervises itself (restarted at once when they exit):\n"
        "# [[processes]]\n"
        '# name = "web"\n'
        '# command = ["/usr/bin/python3", "-m", "http.server", "8080"]\n',
    ]
    return "\n".join(parts)
