"""A hardened systemd unit for the agent (``bounceback-agent install-service``)."""

from __future__ import annotations

import shlex
from pathlib import Path


def unit_text(executable: str, config: Path, *, user: str = "root") -> str:
    """The unit. The agent acts on services and files, so it keeps the privileges its declared
    actions need; everything else is locked down."""
    command = shlex.join([executable, "run", "--config", str(config)])
    return f"""[Unit]
Description=Bounceback agent: health checks and self-healing
Documentation=https://github.com/bounceback/bounceback
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User={user}
ExecStart={command}
Restart=always
RestartSec=5s
# Never give up for good: back off instead (systemd's start limit counts manual starts too).
StartLimitIntervalSec=0
TimeoutStopSec=30s
KillMode=mixed
StateDirectory=bounceback-agent
NoNewPrivileges=yes
PrivateTmp=no
ProtectSystem=full
ProtectHome=read-only
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
MemoryMax=128M
CPUQuota=20%

[Install]
WantedBy=multi-user.target
"""
