"""``[[checks]]`` entries: defaults, every type, and errors that name the field to fix."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from pydantic import TypeAdapter, ValidationError

from bounceback.agent.check_spec import (
    CheckList,
    CheckSpec,
    CpuCheck,
    DiskCheck,
    FileAgeCheck,
    HttpCheck,
    MemoryCheck,
    ProcessCheck,
    SystemdCheck,
)
from bounceback.agent.checks_defaults import default_checks, select_mounts

CHECKS: TypeAdapter[list[CheckSpec]] = TypeAdapter(CheckList)


def parse(*entries: dict[str, Any]) -> list[CheckSpec]:
    return CHECKS.validate_python(list(entries))


def error_at(*entries: dict[str, Any]) -> tuple[tuple[int | str, ...], str]:
    with pytest.raises(ValidationError) as caught:
        parse(*entries)
    first = caught.value.errors()[0]
    return tuple(first["loc"]), first["msg"]


def test_thresholds_default_to_the_seed_values() -> None:
    memory, cpu, disk = parse(
        {"type": "memory", "name": "memory"},
        {"type": "cpu", "name": "cpu"},
        {"type": "disk", "name": "root", "mount": "/"},
    )
    assert (memory.limit, cpu.limit, disk.limit) == (85.0, 80.0, 90.0)
    assert (memory.for_cycles, memory.clear_cycles, memory.times) == (1, 1, None)


@pytest.mark.parametrize(
    "entry",
    [
        {"type": "memory", "threshold": 90, "clear_threshold": 80},
        {"type": "swap"},
        {"type": "cpu", "for_cycles": 5},
        {"type": "load", "minutes": 15, "threshold": 2.5},
        {"type": "disk", "mount": "/var", "times": 3, "within_cycles": 5},
        {"type": "inodes", "mount": "/"},
        {"type": "network_errors", "interface": "eth0", "threshold": 0},
        {"type": "process", "pidfile": "/run/nginx.pid", "metric": "rss_mb", "threshold": 512},
        {"type": "process", "process": "worker", "metric": "open_files", "threshold": 900},
        {"type": "systemd", "unit": "nginx.service", "action": "restart-nginx"},
        {"type": "tcp", "host": "db.internal", "port": 5432, "dependency": "db"},
        {"type": "http", "url": "https://example.org/health", "body_contains": "ok"},
        {"type": "file_age", "path": "/var/log/app.log", "max_age_minutes": 15},
        {"type": "dir_size", "path": "/var/spool/app", "max_mb": 500},
        {"type": "command", "argv": ["/usr/lib/check-queue", "--max", "10"], "expect_exit": 0},
    ],
    ids=lambda entry: str(entry["type"]),
)
def test_every_check_type_parses(entry: dict[str, Any]) -> None:
    (spec,) = parse({"name": "probe", **entry})
    assert spec.type == entry["type"]
    assert spec.name == "probe"


def test_clear_limit_defaults_to_the_threshold() -> None:
    assert MemoryCheck(name="m", threshold=90).clear_limit == 90
    assert MemoryCheck(name="m", threshold=90, clear_threshold=70).clear_limit == 70
    assert FileAgeCheck(name="f", path=Path("/x"), max_age_minutes=5).limit == 5
    assert SystemdCheck(name="s", unit="a.service").limit is None


def test_models_are_frozen() -> None:
    spec = CpuCheck(name="cpu")
    with pytest.raises(ValidationError):
        spec.threshold = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    ("entry", "loc", "message"),
    [
        ({"type": "memory", "times": 3}, ("memory", "within_cycles"), "go together"),
        ({"type": "memory", "within_cycles": 3}, ("memory", "times"), "go together"),
        (
            {"type": "memory", "times": 4, "within_cycles": 3},
            ("memory", "times"),
            "must not exceed within_cycles",
        ),
        (
            {"type": "memory", "for_cycles": 2, "times": 2, "within_cycles": 3},
            ("memory", "for_cycles"),
            "not both",
        ),
        ({"type": "memory", "within_cycles": 65, "times": 1}, ("memory", "within_cycles"), "64"),
        ({"type": "memory", "for_cycles": 0}, ("memory", "for_cycles"), "greater than"),
        (
            {"type": "memory", "threshold": 80, "clear_threshold": 85},
            ("memory", "clear_threshold"),
            "must not exceed the threshold (80)",
        ),
        ({"type": "cpu", "threshold": 120}, ("cpu", "threshold"), "100"),
        ({"type": "disk", "mount": "var"}, ("disk", "mount"), "absolute path"),
        (
            {"type": "process", "metric": "rss_mb", "threshold": 1},
            ("process", "pidfile"),
            "exactly one of pidfile or process",
        ),
        (
            {"type": "process", "pidfile": "/a.pid", "process": "a", "metric": "rss_mb"}
            | {"threshold": 1},
            ("process", "pidfile"),
            "exactly one",
        ),
        (
            {"type": "process", "process": "a", "metric": "threads", "threshold": 1},
            ("process", "metric"),
            "cpu_percent",
        ),
        ({"type": "systemd", "unit": "--now"}, ("systemd", "unit"), "pattern"),
        ({"type": "http", "url": "ftp://example.org"}, ("http", "url"), "pattern"),
        ({"type": "command", "argv": []}, ("command", "argv"), "at least 1"),
        (
            {"type": "command", "argv": ["bin/check"]},
            ("command", "argv"),
            "absolute path or a bare",
        ),
        ({"type": "command", "argv": ["check", "a\0b"]}, ("command", "argv"), "NUL"),
        ({"type": "file_age", "path": "log", "max_age_minutes": 5}, ("file_age", "path"), "abs"),
        ({"type": "memory", "treshold": 90}, ("memory", "treshold"), "Extra inputs"),
        ({"type": "memory", "action": "rm -rf"}, ("memory", "action"), "pattern"),
        ({"type": "gpu"}, (), "does not match any of the expected tags"),
    ],
)
def test_errors_name_the_field(entry: dict[str, Any], loc: tuple[str, ...], message: str) -> None:
    where, why = error_at({"name": "c", **entry})
    assert where == (0, *loc)
    assert message in why


def test_a_bad_name_is_refused() -> None:
    assert error_at({"type": "memory", "name": "-memory"})[0] == (0, "memory", "name")


def test_duplicate_names_point_at_the_second_entry() -> None:
    where, why = error_at(
        {"type": "memory", "name": "host"},
        {"type": "cpu", "name": "other"},
        {"type": "cpu", "name": "host"},
    )
    assert where == (2, "name")
    assert "'host' is used twice" in why


def test_http_defaults_expect_200_within_10_seconds() -> None:
    spec = HttpCheck(name="web", url="http://localhost:8080/health")
    assert (spec.expect_status, spec.timeout, spec.max_latency_ms) == (200, 10, None)


def test_process_check_accepts_a_supervised_name() -> None:
    spec = ProcessCheck(name="w", process="worker", metric="cpu_percent", threshold=90)
    assert spec.pidfile is None


def test_starter_checks_are_valid_and_cover_every_mount() -> None:
    tables = default_checks(["/", "/var/lib/data", "/srv/a b"])
    specs = parse(*tables)
    assert [spec.type for spec in specs[:4]] == ["memory", "cpu", "swap", "load"]
    disks = {spec.mount: spec.name for spec in specs if isinstance(spec, DiskCheck)}
    assert disks == {
        "/": "disk-root",
        "/var/lib/data": "disk-var-lib-data",
        "/srv/a b": "disk-srv-a-b",
    }
    assert sum(spec.type == "inodes" for spec in specs) == 3


def test_starter_checks_round_trip_through_toml() -> None:
    text = tomli_w.dumps({"checks": default_checks(["/"])})
    assert parse(*tomllib.loads(text)["checks"]) == parse(*default_checks(["/"]))


def test_starter_check_names_stay_unique_when_mounts_slug_alike() -> None:
    names = [table["name"] for table in default_checks(["/a-b", "/a b"])]
    assert len(names) == len(set(names))


def test_only_real_filesystems_get_disk_checks() -> None:
    partitions = [
        ("/", "ext4"),
        ("/boot/efi", "vfat"),
        ("/dev/shm", "tmpfs"),
        ("/snap/core/1", "squashfs"),
        ("/run/user/1000", "ext4"),
        ("/data", "xfs"),
        ("/data", "xfs"),
        ("/var/lib/docker/overlay2/x/merged", "overlay"),
    ]
    assert select_mounts(partitions) == ["/", "/boot/efi", "/data"]
