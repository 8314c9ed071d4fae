"""Starter ``[[checks]]`` for ``bounceback-agent init``: the host basics and every real mount."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import psutil

from bounceback.agent.check_spec import CPU_THRESHOLD, DISK_THRESHOLD, MEMORY_THRESHOLD

TomlTable = dict[str, str | int | float]

# Filesystems with nothing to fill up, or whose usage is somebody else's business.
PSEUDO_FILESYSTEMS = frozenset(
    {
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "efivarfs",
        "fuse.gvfsd-fuse",
        "fuse.lxcfs",
        "fuse.portal",
        "fusectl",
        "hugetlbfs",
        "iso9660",
        "mqueue",
        "nsfs",
        "overlay",
        "proc",
        "pstore",
        "ramfs",
        "rpc_pipefs",
        "securityfs",
        "squashfs",
        "sysfs",
        "tmpfs",
        "tracefs",
        "udf",
    }
)
PSEUDO_PREFIXES = ("/proc", "/sys", "/dev", "/run", "/snap", "/var/lib/docker", "/var/snap")


def real_mounts() -> list[str]:
    """This host's mount points worth a disk check, from ``psutil.disk_partitions()``."""
    return select_mounts((part.mountpoint, part.fstype) for part in psutil.disk_partitions())


def select_mounts(partitions: Iterable[tuple[str, str]]) -> list[str]:
    """Mount points of real filesystems (``(mountpoint, fstype)`` pairs), sorted, once each."""
    chosen = set()
    for mount, fstype in partitions:
        inside_pseudo = any(mount == top or mount.startswith(top + "/") for top in PSEUDO_PREFIXES)
        if fstype not in PSEUDO_FILESYSTEMS and not inside_pseudo:
            chosen.add(mount)
    return sorted(chosen)


def default_checks(mounts: Sequence[str]) -> list[TomlTable]:
    """TOML-ready tables: memory, cpu, swap and load, then disk and inodes per mount."""
    checks: list[TomlTable] = [
        {
            "name": "memory",
            "type": "memory",
            "threshold": MEMORY_THRESHOLD,
            "clear_threshold": MEMORY_THRESHOLD - 5,
            "for_cycles": 3,
        },
        {
            "name": "cpu",
            "type": "cpu",
            "threshold": CPU_THRESHOLD,
            "clear_threshold": CPU_THRESHOLD - 10,
            "for_cycles": 5,
        },
        {"name": "swap", "type": "swap", "threshold": 80.0, "for_cycles": 5},
        {"name": "load", "type": "load", "minutes": 5, "threshold": 1.5, "for_cycles": 5},
    ]
    names = {str(check["name"]) for check in checks}
    for mount in mounts:
        slug = _slug(mount)
        for kind in ("disk", "inodes"):
            name = _unique(f"{kind}-{slug}", names)
            checks.append(
                {
                    "name": name,
                    "type": kind,
                    "mount": mount,
                    "threshold": DISK_THRESHOLD,
                    "clear_threshold": DISK_THRESHOLD - 5,
                    "for_cycles": 2,
                }
            )
    return checks


def _slug(mount: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", mount).strip("-.")
    return slug[:48] or "root"


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}-{number}", number + 1
    taken.add(candidate)
    return candidate
