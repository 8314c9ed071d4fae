"""clear_cache, clean_temp and clean_logs on real directories, symlinks pointing out included."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from bounceback.agent.action_spec import ActionSpec, CleanLogs, CleanTemp, ClearCache
from bounceback.agent.actions_context import ActionContext
from bounceback.agent.actions_files import FileOp, execute, file_op, removes_empty_dir

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR, DAY = 3600.0, 86400.0


def ctx(dry_run: bool = False) -> ActionContext:
    return ActionContext(now=lambda: NOW, dry_run=dry_run)


def spec(kind: str, directory: Path, **fields: Any) -> ClearCache | CleanTemp | CleanLogs:
    data = {"name": "files", "type": kind, "directories": [str(directory)], **fields}
    parsed = TypeAdapter(ActionSpec).validate_python(data)
    assert isinstance(parsed, ClearCache | CleanTemp | CleanLogs)
    return parsed


def make(path: Path, age_seconds: float, content: bytes = b"x" * 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    when = NOW.timestamp() - age_seconds
    os.utime(path, (when, when))
    return path


def age(path: Path, seconds: float) -> None:
    when = NOW.timestamp() - seconds
    os.utime(path, (when, when), follow_symlinks=False)


def snapshot(root: Path) -> dict[str, tuple[bytes | str, float]]:
    """Every entry under root: content (or link target) and mtime, without following links."""
    seen: dict[str, tuple[bytes | str, float]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            seen[str(path)] = (os.readlink(path), info.st_mtime)
        elif path.is_file():
            seen[str(path)] = (path.read_bytes(), info.st_mtime)
        else:
            seen[str(path)] = ("<dir>", 0.0)
    return seen


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Old files that no action may touch: the targets of symlinks planted in cleaned dirs."""
    root = tmp_path / "outside"
    make(root / "precious.log", 90 * DAY)
    make(root / "precious.tmp", 90 * DAY)
    make(root / "nested" / "deep.log", 90 * DAY)
    age(root / "nested", 90 * DAY)
    return root


def plant_links(directory: Path, outside: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "link-to-file.log").symlink_to(outside / "precious.log")
    (directory / "link-to-file.tmp").symlink_to(outside / "precious.tmp")
    (directory / "link-to-dir").symlink_to(outside / "nested", target_is_directory=True)
    for name in ("link-to-file.log", "link-to-file.tmp", "link-to-dir"):
        age(directory / name, 90 * DAY)


@pytest.mark.parametrize(
    ("kind", "fields", "name", "age_seconds", "expected"),
    [
        ("clean_temp", {"older_than_hours": 24}, "a.tmp", 25 * HOUR, FileOp.DELETE),
        ("clean_temp", {"older_than_hours": 24}, "a.tmp", 23 * HOUR, FileOp.KEEP),
        ("clean_temp", {"patterns": ["*.tmp"]}, "a.dat", 99 * DAY, FileOp.KEEP),
        ("clear_cache", {}, "entry", 0.0, FileOp.DELETE),
        ("clear_cache", {"min_age_minutes": 10}, "entry", 300.0, FileOp.KEEP),
        ("clean_logs", {}, "app.log", 6 * DAY, FileOp.KEEP),
        ("clean_logs", {}, "app.log", 8 * DAY, FileOp.COMPRESS),
        ("clean_logs", {}, "app.log.1", 8 * DAY, FileOp.COMPRESS),
        ("clean_logs", {}, "app.log.2.gz", 8 * DAY, FileOp.KEEP),
        ("clean_logs", {}, "app.log.2.gz", 31 * DAY, FileOp.DELETE),
        ("clean_logs", {}, "app.log", 31 * DAY, FileOp.DELETE),
        ("clean_logs", {}, "notes.txt", 99 * DAY, FileOp.KEEP),
    ],
)
def test_file_op_decides_from_pattern_and_age(
    tmp_path: Path,
    kind: str,
    fields: dict[str, Any],
    name: str,
    age_seconds: float,
    expected: FileOp,
) -> None:
    now = NOW.timestamp()
    assert file_op(spec(kind, tmp_path, **fields), name, now - age_seconds, now) is expected


def test_only_temp_and_cache_actions_remove_emptied_directories(tmp_path: Path) -> None:
    now = NOW.timestamp()
    assert removes_empty_dir(spec("clean_temp", tmp_path), now - 25 * HOUR, now)
    assert not removes_empty_dir(spec("clean_temp", tmp_path), now - HOUR, now)
    assert not removes_empty_dir(spec("clean_temp", tmp_path, remove_empty_dirs=False), 0, now)
    assert removes_empty_dir(spec("clear_cache", tmp_path), now, now)
    assert not removes_empty_dir(spec("clean_logs", tmp_path), 0, now)


@pytest.mark.anyio
async def test_clean_temp_removes_old_files_and_keeps_recent_ones(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    make(temp / "old.tmp", 30 * HOUR, b"o" * 1000)
    make(temp / "sub" / "old2.tmp", 48 * HOUR, b"o" * 24)
    age(temp / "sub", 48 * HOUR)
    recent = make(temp / "recent.tmp", HOUR)
    make(temp / "busy" / "recent2.tmp", HOUR)

    outcome = await execute(spec("clean_temp", temp), ctx())

    assert outcome.ok, outcome.message
    assert sorted(p.name for p in temp.rglob("*")) == ["busy", "recent.tmp", "recent2.tmp"]
    assert recent.exists() and temp.is_dir()
    assert outcome.details["files_removed"] == 2
    assert outcome.details["bytes_freed"] == 1024
    assert outcome.details["dirs_removed"] == 1
    assert "removed 2 file(s) (1.0 KB)" in outcome.message


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kind", "fields"),
    [("clean_temp", {}), ("clear_cache", {}), ("clean_logs", {"recursive": True})],
)
async def test_symlinks_are_skipped_and_nothing_outside_is_touched(
    tmp_path: Path, outside: Path, kind: str, fields: dict[str, Any]
) -> None:
    directory = tmp_path / "declared"
    make(directory / "old.log", 60 * DAY)
    plant_links(directory, outside)
    plant_links(directory / "sub", outside)
    before_outside = snapshot(outside)

    outcome = await execute(spec(kind, directory, **fields), ctx())

    assert outcome.ok, outcome.message
    assert snapshot(outside) == before_outside
    for parent in (directory, directory / "sub"):
        for name in ("link-to-file.log", "link-to-file.tmp", "link-to-dir"):
            assert (parent / name).is_symlink()
    assert not (directory / "old.log").exists()
    assert outcome.details["symlinks_skipped"] == 6
    assert "skipped 6 symlink(s)" in outcome.message


@pytest.mark.anyio
async def test_a_declared_directory_that_is_a_symlink_is_refused(
    tmp_path: Path, outside: Path
) -> None:
    link = tmp_path / "cache"
    link.symlink_to(outside, target_is_directory=True)
    before_outside = snapshot(outside)

    outcome = await execute(spec("clear_cache", link), ctx())

    assert not outcome.ok
    assert "is a symlink; declare its real path" in outcome.message
    assert snapshot(outside) == before_outside


@pytest.mark.anyio
async def test_a_missing_directory_is_nothing_to_clean(tmp_path: Path) -> None:
    outcome = await execute(spec("clean_temp", tmp_path / "absent"), ctx())
    assert outcome.ok
    assert outcome.details["files_removed"] == 0


@pytest.mark.anyio
async def test_clear_cache_empties_the_directory_but_keeps_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    make(cache / "a", 10.0)
    make(cache / "x" / "y" / "b", 10.0)

    outcome = await execute(spec("clear_cache", cache), ctx())

    assert outcome.ok
    assert cache.is_dir() and list(cache.iterdir()) == []
    assert outcome.details["files_removed"] == 2
    assert outcome.details["dirs_removed"] == 2


@pytest.mark.anyio
async def test_clear_cache_spares_entries_younger_than_min_age(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    make(cache / "old", 3600.0)
    fresh = make(cache / "fresh", 60.0)

    outcome = await execute(spec("clear_cache", cache, min_age_minutes=10), ctx())

    assert outcome.ok
    assert [p.name for p in cache.iterdir()] == [fresh.name]


@pytest.mark.anyio
async def test_clean_logs_compresses_then_deletes_by_age(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    current = make(logs / "app.log", HOUR, b"today\n")
    make(logs / "app.log.1", 8 * DAY, b"last week\n" * 1000)
    make(logs / "app.log.2.gz", 40 * DAY)
    make(logs / "ancient.log", 40 * DAY)
    make(logs / "keep.txt", 90 * DAY)
    make(logs / "nested" / "deep.log", 90 * DAY)  # not recursive by default

    outcome = await execute(spec("clean_logs", logs), ctx())

    assert outcome.ok, outcome.message
    names = sorted(p.name for p in logs.iterdir())
    assert names == ["app.log", "app.log.1.gz", "keep.txt", "nested"]
    assert current.read_bytes() == b"today\n"
    packed = logs / "app.log.1.gz"
    assert gzip.decompress(packed.read_bytes()) == b"last week\n" * 1000
    assert packed.stat().st_mtime == pytest.approx(NOW.timestamp() - 8 * DAY)
    assert (logs / "nested" / "deep.log").exists()
    assert outcome.details["files_compressed"] == 1
    assert outcome.details["files_removed"] == 2
    assert outcome.details["bytes_freed"] > 10_000


@pytest.mark.anyio
async def test_clean_logs_leaves_a_log_whose_gz_name_is_taken(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    log = make(logs / "app.log", 8 * DAY, b"original")
    taken = make(logs / "app.log.gz", HOUR, b"someone else's")

    outcome = await execute(spec("clean_logs", logs), ctx())

    assert log.read_bytes() == b"original"
    assert taken.read_bytes() == b"someone else's"
    assert outcome.details["errors"] == 1
    assert "error" in outcome.message


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["clean_temp", "clear_cache", "clean_logs"])
async def test_dry_run_reports_what_it_would_do_and_changes_nothing(
    tmp_path: Path, kind: str
) -> None:
    directory = tmp_path / "d"
    make(directory / "old.log", 40 * DAY)
    make(directory / "older.log.1", 10 * DAY)
    make(directory / "sub" / "x.tmp", 40 * DAY)
    age(directory / "sub", 40 * DAY)
    before = snapshot(directory)

    outcome = await execute(spec(kind, directory), ctx(dry_run=True))

    assert outcome.ok
    assert snapshot(directory) == before
    assert outcome.message.startswith("would remove")
    assert outcome.details["files_removed"] >= 1
