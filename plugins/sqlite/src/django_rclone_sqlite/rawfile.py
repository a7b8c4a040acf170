"""Helper for the raw-file SQLite connectors, run as
``python -m django_rclone_sqlite.rawfile [--busy-timeout S] {backup-dump,copy-dump,backup-restore,copy-restore} NAME``.

Dumps write the database file's bytes to stdout; restores read them from stdin.

- ``backup-dump``: Copies NAME with SQLite's online backup API (one step, under one read lock, so the
  copy is consistent while the application writes; waiting up to ``--busy-timeout`` seconds, default
  30, for a writer's lock) into a private temporary file (0600, inside a 0700 folder), checks the copy
  with ``PRAGMA quick_check``, then streams that file. The backup API needs a destination it can seek
  in, which a pipe is not; hence the one local copy. The folder is removed on every path.
- ``copy-dump``: Streams NAME as it is on disk. Refuses when a ``-wal`` or ``-journal`` file with
  content sits beside it: committed pages in the WAL, or a write in progress, would be missing or torn.
- ``backup-restore`` / ``copy-restore``: Write stdin into a scratch file next to NAME and check it with
  ``PRAGMA integrity_check``. Only then is NAME replaced: with the backup API (one step for every other
  connection) or with ``os.replace`` (an atomic rename; other open connections keep the old file). Any
  failure, or SIGTERM/SIGINT, removes the scratch file and leaves NAME untouched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from django_rclone_sqlite.fdcopy import copy_fd

HEADER = b"SQLite format 3\x00"
SIDE_FILES = ("-journal", "-wal", "-shm")
DEFAULT_BUSY_TIMEOUT = 30.0
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def expected_size(header: bytes) -> int | None:
    """The file size an SQLite database header promises (page size x page count), or ``None`` when
    the header's page count is not valid (written by SQLite before 3.7.0) or the header is short."""
    if len(header) < 100 or not header.startswith(HEADER):
        return None
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if pages == 0 or header[24:28] != header[92:96]:
        return None
    return page_size * pages


class HelperError(Exception):
    """A refusal or failure to report on stderr (exit status 1)."""


class _Stop(Exception):
    pass


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _uri(path: Path, mode: str) -> str:
    """A ``file:`` URI for ``path``; quoting keeps ``?`` and ``#`` in file names literal."""
    from urllib.parse import quote

    return f"file:{quote(str(path.resolve()))}?mode={mode}"


def _stream_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        copy_fd(fd, sys.stdout.buffer.fileno())
    finally:
        os.close(fd)


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _existing(name: str) -> Path:
    path = Path(name)
    if not path.is_file():
        raise HelperError(f"{path} does not exist or is not a file")
    return path


@contextlib.contextmanager
def _private_file(suffix: str) -> Iterator[Path]:
    """An empty 0600 file in a new 0700 temporary folder; the folder is removed afterwards."""
    folder = tempfile.mkdtemp(prefix="django-rclone-sqlite-")
    try:
        path = Path(folder) / f"copy{suffix}"
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def backup_dump(name: str, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
    source_path = _existing(name)
    with _private_file(".sqlite3") as copy:
        source = sqlite3.connect(_uri(source_path, "ro"), uri=True, timeout=busy_timeout)
        try:
            target = sqlite3.connect(str(copy))
            try:
                deadline = time.monotonic() + busy_timeout

                def give_up_when_locked(status: int, remaining: int, total: int) -> None:
                    # Python's backup() retries a locked source forever; stop at the busy timeout.
                    if status in (_SQLITE_BUSY, _SQLITE_LOCKED) and time.monotonic() >= deadline:
                        raise HelperError(
                            "database is locked: another connection held a lock for longer than the busy "
                            f"timeout ({busy_timeout:g} s)"
                        )

                # pages=-1: the whole database in one step, under one read lock.
                source.backup(target, progress=give_up_when_locked, sleep=0.05)
                target.execute("PRAGMA journal_mode=DELETE")
                rows = target.execute("PRAGMA quick_check").fetchall()
                if rows != [("ok",)]:
                    raise HelperError(f"the copy failed PRAGMA quick_check: {'; '.join(str(r[0]) for r in rows[:5])}")
            finally:
                target.close()
        finally:
            source.close()
        _stream_file(copy)


def copy_dump(name: str, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
    path = _existing(name)
    for suffix in ("-wal", "-journal"):
        if _has_content(Path(f"{path}{suffix}")):
            raise HelperError(
                f"{path}{suffix} is not empty: the database is being written to or has pages outside the main "
                "file, so a file copy would be incomplete. Use SqliteBackupConnector for live databases."
            )
    _stream_file(path)


def _check(scratch: Path) -> None:
    with scratch.open("rb") as handle:
        if handle.read(len(HEADER)) != HEADER:
            raise HelperError("the backup is not an SQLite database file")
    conn = sqlite3.connect(_uri(scratch, "ro"), uri=True)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        raise HelperError(f"the backup is not a valid SQLite database: {exc}") from exc
    finally:
        conn.close()
    if rows != [("ok",)]:
        detail = "; ".join(str(r[0]) for r in rows[:5])
        raise HelperError(f"the backup failed PRAGMA integrity_check: {detail}")


def restore(name: str, *, rename: bool) -> None:
    target = Path(name)
    if not target.parent.is_dir():
        raise HelperError(f"the folder of {target} does not exist")
    if rename:
        for suffix in ("-wal", "-journal"):
            if _has_content(Path(f"{target}{suffix}")):
                raise HelperError(
                    f"{target}{suffix} is not empty: something is using the database, and SQLite would apply "
                    "that file to the restored copy. Use SqliteBackupConnector for live databases."
                )
    scratch = target.with_name(f".django-rclone-restore-{os.getpid()}.sqlite3")
    try:
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            copy_fd(sys.stdin.buffer.fileno(), fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        _check(scratch)
        if rename:
            if target.exists():
                os.chmod(scratch, target.stat().st_mode & 0o7777)
            os.replace(scratch, target)
            return
        source = sqlite3.connect(_uri(scratch, "ro"), uri=True)
        try:
            dest = sqlite3.connect(str(target), timeout=60)
            try:
                source.backup(dest)  # one step: other connections see the old or the new database
            finally:
                dest.close()
        finally:
            source.close()
    finally:
        for path in (scratch, *(Path(f"{scratch}{s}") for s in SIDE_FILES)):
            with contextlib.suppress(OSError):
                path.unlink()


def backup_restore(name: str, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
    restore(name, rename=False)


def copy_restore(name: str, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
    restore(name, rename=True)


ACTIONS: dict[str, Callable[[str, float], None]] = {
    "backup-dump": backup_dump,
    "copy-dump": copy_dump,
    "backup-restore": backup_restore,
    "copy-restore": copy_restore,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    busy_timeout = DEFAULT_BUSY_TIMEOUT
    if len(args) == 4 and args[0] == "--busy-timeout":
        try:
            busy_timeout = float(args[1])
        except ValueError:
            busy_timeout = -1.0
        args = args[2:]
    if len(args) != 2 or args[0] not in ACTIONS or busy_timeout < 0:
        print(
            f"usage: python -m django_rclone_sqlite.rawfile [--busy-timeout S] {{{','.join(ACTIONS)}}} NAME",
            file=sys.stderr,
        )
        return 2
    action, name = args
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    unchanged = f"; {name} was not changed" if action.endswith("restore") else ""
    try:
        ACTIONS[action](name, busy_timeout)
        return 0
    except _Stop as stop:
        print(f"{action} interrupted by {stop}{unchanged}", file=sys.stderr)
        return 128 + 15
    except BrokenPipeError:
        print(f"{action}: the reader went away", file=sys.stderr)
        return 1
    except (HelperError, OSError, sqlite3.Error) as exc:
        print(f"{action} failed: {exc}{unchanged}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
