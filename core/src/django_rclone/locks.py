"""One backup per (remote, alias) at a time on this host.

Runs on one host share a lock file in the temporary directory: a second run for the same alias
waits for the first (saying so on stderr) and gives up after ``LOCK_TIMEOUT`` seconds. The lock
only orders runs that share a temporary directory; runs on other hosts (or with another TMPDIR)
are kept apart on the remote itself by the run markers of ``operations.backup``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from django_rclone.exceptions import DjangoRcloneError, LockTimeout

#: Seconds between attempts to take a busy lock.
POLL = 0.2


def lock_path(remote: str, database: str) -> Path:
    key = hashlib.sha256(f"{remote}\0{database}".encode()).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / f"django-rclone-{key}.lock"


def _to_stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


@contextlib.contextmanager
def alias_lock(
    remote: str, database: str, timeout: float = 600.0, notify: Callable[[str], None] = _to_stderr
) -> Iterator[None]:
    """Hold the host-wide lock for backups of ``database`` to ``remote``.

    When another run holds it, ``notify`` gets one line saying so, and ``LockTimeout`` is raised
    once ``timeout`` seconds have passed without getting it.
    """
    path = lock_path(remote, database)
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise DjangoRcloneError(
            f"cannot open the backup lock file {path} ({exc.strerror}); make its folder writable for this user, "
            "remove a stale file another user left there, or point TMPDIR at a private folder"
        ) from exc
    try:
        if not _try_lock(fd):
            notify(
                f"Waiting for another backup of database {database!r} to {remote} on this host "
                f"(lock {path}); giving up after {timeout:g} s (LOCK_TIMEOUT)."
            )
            deadline = time.monotonic() + timeout
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"another backup of database {database!r} to {remote} has held the lock {path} for more "
                        f"than {timeout:g} s (LOCK_TIMEOUT); nothing was backed up. Let it finish, or stop it "
                        "if it hangs"
                    )
                time.sleep(POLL)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
