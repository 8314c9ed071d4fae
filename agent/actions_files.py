"""clear_cache, clean_temp and clean_logs: age-based cleaning confined to declared directories.

Confinement does not rely on checking path strings alone. The walk opens each directory with
``O_NOFOLLOW`` relative to its parent's descriptor and acts through that descriptor (``unlink``,
``rmdir`` and ``open`` with ``dir_fd``), so a symlink swapped in mid-walk cannot lead it out.
Symlinks are skipped entirely, whatever they point at, inside or outside: they are never
followed, never deleted, never compressed. A declared directory that is itself a symlink is
refused (declare its real path): otherwise whoever can replace it, in /tmp say, chooses what we
delete. As a second guard each candidate's ``os.path.realpath`` must lie inside the declared
directory's. The file operations run in a worker thread that stops at the action's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Protocol

from bounceback.agent.action_spec import CleanLogs, CleanTemp, ClearCache
from bounceback.agent.actions_context import ActionContext, ActionOutcome

FileAction = ClearCache | CleanTemp | CleanLogs
MAX_DEPTH = 32
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_DAY, _HOUR, _MINUTE = 86_400.0, 3_600.0, 60.0
_COUNTS: tuple[str, ...] = ("files_removed", "files_compressed", "bytes_freed", "dirs_removed")
_COUNTS += ("symlinks_skipped", "errors")


class FileOp(StrEnum):
    KEEP = "keep"
    DELETE = "delete"
    COMPRESS = "compress"


def file_op(spec: FileAction, name: str, mtime: float, now: float) -> FileOp:
    """What the action does to a regular file called ``name``, last modified at ``mtime``."""
    if not any(fnmatchcase(name, pattern) for pattern in spec.patterns):
        return FileOp.KEEP
    age = now - mtime
    if isinstance(spec, ClearCache):
        return FileOp.DELETE if _old(age, spec.min_age_minutes * _MINUTE) else FileOp.KEEP
    if isinstance(spec, CleanTemp):
        return FileOp.DELETE if age >= spec.older_than_hours * _HOUR else FileOp.KEEP
    if age >= spec.delete_after_days * _DAY:
        return FileOp.DELETE
    if age >= spec.compress_after_days * _DAY and not name.endswith(".gz"):
        return FileOp.COMPRESS
    return FileOp.KEEP


def removes_empty_dir(spec: FileAction, mtime: float, now: float) -> bool:
    """Whether a subdirectory left empty is removed (never the declared directory itself)."""
    if isinstance(spec, ClearCache):
        return spec.remove_empty_dirs and _old(now - mtime, spec.min_age_minutes * _MINUTE)
    if isinstance(spec, CleanTemp):
        return spec.remove_empty_dirs and now - mtime >= spec.older_than_hours * _HOUR
    return False


def _old(age: float, minimum: float) -> bool:
    return minimum <= 0 or age >= minimum  # no minimum: even a clock-skewed future mtime


async def execute(spec: FileAction, ctx: ActionContext) -> ActionOutcome:
    walk = _Walk(spec, ctx.now().timestamp(), ctx.dry_run, time.monotonic() + spec.timeout_seconds)
    await asyncio.to_thread(walk.run)
    return walk.outcome()


class _OutOfTime(Exception):
    pass


@dataclass
class _Walk:
    spec: FileAction
    now: float
    dry_run: bool
    deadline: float
    counts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_COUNTS, 0.0))
    problems: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # declared directories we could not clean
    timed_out: bool = False

    def run(self) -> None:
        for directory in self.spec.directories:
            root = str(directory)
            try:
                fd = os.open(root, _DIR_FLAGS)
            except FileNotFoundError:
                continue  # nothing to clean
            except OSError as exc:
                why = "is a symlink; declare its real path" if _is_link(root) else exc.strerror
                self.refused.append(f"{root} {why}")
                continue
            try:
                self._directory(fd, root, os.path.realpath(root), 0)
            except _OutOfTime:
                self.timed_out = True
                return
            finally:
                os.close(fd)

    def _directory(self, fd: int, path: str, real_root: str, depth: int) -> bool:
        """Clean one open directory; True if it is (in a dry run: would be) empty afterwards."""
        remaining = 0
        with os.scandir(fd) as scan:
            entries = list(scan)
        for entry in entries:
            if time.monotonic() > self.deadline:
                raise _OutOfTime
            child = os.path.join(path, entry.name)
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(info.st_mode):
                self.counts["symlinks_skipped"] += 1
                remaining += 1
            elif stat.S_ISDIR(info.st_mode):
                remaining += not self._subdirectory(fd, entry.name, child, info, real_root, depth)
            elif not stat.S_ISREG(info.st_mode) or not _inside(real_root, child):
                remaining += 1
            else:
                op = file_op(self.spec, entry.name, info.st_mtime, self.now)
                done = op is FileOp.DELETE and self._guarded(self._delete, fd, entry.name, info)
                # A file with other hard links may be one we were never meant to read.
                if op is FileOp.COMPRESS and info.st_nlink == 1:
                    self._guarded(self._compress, fd, entry.name, info)
                remaining += not done
        return remaining == 0

    def _subdirectory(
        self, parent: int, name: str, path: str, info: os.stat_result, real_root: str, depth: int
    ) -> bool:
        """Clean a subdirectory; True if it was (would be) removed."""
        if not self.spec.recursive or depth + 1 >= MAX_DEPTH:
            return False
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:  # swapped for a symlink since the scan (ELOOP), or unreadable
            self._problem(path, exc)
            return False
        try:
            if os.fstat(fd).st_ino != info.st_ino:
                return False
            empty = self._directory(fd, path, real_root, depth + 1)
        finally:
            os.close(fd)
        if not (empty and removes_empty_dir(self.spec, info.st_mtime, self.now)):
            return False
        if not self.dry_run:
            try:
                os.rmdir(name, dir_fd=parent)
            except OSError as exc:  # something new appeared in it
                self._problem(path, exc)
                return False
        self.counts["dirs_removed"] += 1
        return True

    def _guarded(self, op: _FileStep, fd: int, name: str, info: os.stat_result) -> bool:
        try:
            return op(fd, name, info)
        except OSError as exc:
            self._problem(name, exc)
            return False

    def _delete(self, fd: int, name: str, info: os.stat_result) -> bool:
        if not self.dry_run:
            if not _same_file(fd, name, info):
                return False
            os.unlink(name, dir_fd=fd)  # removes the entry itself, never what it might point at
        self.counts["files_removed"] += 1
        self.counts["bytes_freed"] += info.st_size
        return True

    def _compress(self, fd: int, name: str, info: os.stat_result) -> bool:
        if self.dry_run:
            self.counts["files_compressed"] += 1
            return True
        target = name + ".gz"
        source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | _CLOEXEC, dir_fd=fd)
        with os.fdopen(source, "rb") as reader:
            if not _same_stat(os.fstat(reader.fileno()), info):
                return False
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC
            out = os.open(target, flags, stat.S_IMODE(info.st_mode), dir_fd=fd)
            try:
                with contextlib.suppress(PermissionError):
                    os.fchown(out, info.st_uid, info.st_gid)
                with (
                    os.fdopen(out, "wb") as raw,
                    gzip.GzipFile(name, "wb", fileobj=raw, mtime=int(info.st_mtime)) as packed,
                ):
                    shutil.copyfileobj(reader, packed)
                # Keep the original age, so delete_after_days counts from the log's last write.
                os.utime(target, (info.st_atime, info.st_mtime), dir_fd=fd, follow_symlinks=False)
                packed_size = os.stat(target, dir_fd=fd, follow_symlinks=False).st_size
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(target, dir_fd=fd)
                raise
        os.unlink(name, dir_fd=fd)
        self.counts["files_compressed"] += 1
        self.counts["bytes_freed"] += max(0, info.st_size - packed_size)
        return True

    def _problem(self, where: str, exc: OSError) -> None:
        self.counts["errors"] += 1
        if len(self.problems) < 3:
            self.problems.append(f"{where}: {exc.strerror or exc}")

    def outcome(self) -> ActionOutcome:
        c = self.counts
        verb = ("would remove", "would compress") if self.dry_run else ("removed", "compressed")
        parts = [f"{verb[0]} {c['files_removed']:.0f} file(s) ({_size(c['bytes_freed'])})"]
        if c["files_compressed"]:
            parts.append(f"{verb[1]} {c['files_compressed']:.0f}")
        if c["dirs_removed"]:
            parts.append(f"{c['dirs_removed']:.0f} empty dir(s)")
        if c["symlinks_skipped"]:
            parts.append(f"skipped {c['symlinks_skipped']:.0f} symlink(s)")
        if c["errors"]:
            parts.append(f"{c['errors']:.0f} error(s): {'; '.join(self.problems)}")
        if self.refused:
            parts.append("refused " + "; ".join(self.refused))
        if self.timed_out:
            parts.append(f"stopped at the {self.spec.timeout_seconds:g} s timeout")
        return ActionOutcome(not (self.refused or self.timed_out), ", ".join(parts), dict(c))


class _FileStep(Protocol):
    def __call__(self, fd: int, name: str, info: os.stat_result, /) -> bool: ...


def _inside(real_root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real != real_root and os.path.commonpath([real_root, real]) == real_root


def _is_link(path: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def _same_file(fd: int, name: str, info: os.stat_result) -> bool:
    """The entry is still the regular file we examined (not replaced, e.g. by a symlink)."""
    return _same_stat(os.stat(name, dir_fd=fd, follow_symlinks=False), info)


def _same_stat(now: os.stat_result, then: os.stat_result) -> bool:
    return stat.S_ISREG(now.st_mode) and (now.st_dev, now.st_ino) == (then.st_dev, then.st_ino)


def _size(count: float) -> str:
    if count < 1024:
        return f"{count:.0f} B"
    for unit in ("KB", "MB"):
        count /= 1024
        if count < 1024:
            return f"{count:.1f} {unit}"
    return f"{count / 1024:.1f} GB"
