"""One backup per (remote, alias) at a time on this host.

Two runs for the same alias in the same second would render the same name and overwrite each
other's object and manifest. Holding an exclusive ``flock`` from choosing the name until the
manifest is written makes the second run wait, then pick a fresh name. Runs on different hosts
writing one alias to one remote should put ``{servername}`` in ``DB_FILENAME_TEMPLATE``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django_rclone.exceptions import DjangoRcloneError


def lock_path(remote: str, database: str) -> Path:
    key = hashlib.sha256(f"{remote}\0{database}".encode()).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / f"django-rclone-{key}.lock"


@contextlib.contextmanager
def alias_lock(remote: str, database: str) -> Iterator[None]:
    """Hold the host-wide lock for backups of ``database`` to ``remote`` (blocks while taken)."""
    path = lock_path(remote, database)
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise DjangoRcloneError(
            f"cannot open the backup lock file {path} ({exc.strerror}); make its folder writable for this user, "
            "remove a stale file another user left there, or point TMPDIR at a private folder"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
