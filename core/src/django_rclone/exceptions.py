"""Exceptions raised by django-rclone.

Every error a user can act on carries a message that says what went wrong and what to do.
Management commands turn these into a one-line ``CommandError``.
"""

from __future__ import annotations

from typing import Any


class DjangoRcloneError(Exception):
    """Base class of every django-rclone error."""


class ConnectorNotFound(DjangoRcloneError):
    """No connector could be resolved for a database alias."""

    def __init__(self, database: str, engine: str, package: str | None = None) -> None:
        self.database = database
        self.engine = engine
        self.package = package
        if package:
            hint = f"install the plugin with `pip install {package}`"
        else:
            hint = (
                "name a connector for it in DJANGO_RCLONE['CONNECTORS'][alias] or "
                "DJANGO_RCLONE['CONNECTOR_MAPPING'][engine], or install a plugin that serves this engine; "
                "for a data-only backup through Django's dumpdata/loaddata, name "
                "'django_rclone.db.django.DjangoDumpDataConnector' there (it is never chosen automatically)"
            )
        super().__init__(f"No connector for database {database!r} (ENGINE {engine!r}): {hint}.")


class RcloneError(DjangoRcloneError):
    """An rclone invocation failed; the message includes rclone's own stderr."""

    def __init__(self, action: str, returncode: int | None, stderr: str) -> None:
        self.action = action
        self.returncode = returncode
        self.stderr = stderr
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        detail = " | ".join(lines) or "(no output on stderr)"  # one line, as every command error
        status = f" (exit status {returncode})" if returncode is not None else ""  # None: the daemon's answer
        super().__init__(f"rclone {action} failed{status}: {detail}")


class PipelineError(DjangoRcloneError):
    """A process of a backup or restore pipeline failed.

    ``process`` names the process that failed first for its own reason (the root cause), and the
    message carries its stderr, not the broken pipe it caused in its neighbours.
    """

    def __init__(self, process: str, returncode: int | None, stderr: str, reason: str = "") -> None:
        self.process = process
        self.returncode = returncode
        self.stderr = stderr
        status = reason or f"exited with status {returncode}"
        detail = stderr.strip()
        message = f"{process} {status}"
        if detail:
            message += f": {detail}"
        super().__init__(message)


class Interrupted(DjangoRcloneError):
    """The operation was stopped by SIGINT or SIGTERM; every child process was stopped."""

    def __init__(self, signame: str) -> None:
        self.signame = signame
        super().__init__(f"interrupted by {signame}; child processes stopped, nothing was published")


class IncompleteDump(DjangoRcloneError):
    """A dump tool exited 0, but its output fails the connector's completeness check.

    Connectors raise it from ``BaseConnector.check_dump()`` with the reason (a missing trailer, an
    unreadable table of contents, an error reported on stderr); the core adds which dump it was,
    stops the upload before it completes and writes no manifest.
    """


class BackupNotFound(DjangoRcloneError):
    """The requested backup does not exist on the remote."""


class IntegrityError(DjangoRcloneError):
    """A backup's bytes do not match the size or checksum its manifest recorded."""


class FileTooLarge(IntegrityError):
    """A manifest, run marker or drill record on the remote holds more than ``rclone.SMALL_FILE_LIMIT``
    bytes (it is not one of ours); it was not read into memory."""


class UnsafeBackup(IntegrityError):
    """A backup holds a command its restore tool would run (a shell escape, a file write); the
    restore was stopped before the tool received it."""


class UnsignedBackup(IntegrityError):
    """A signing key is set and a backup's manifest is unsigned or its signature does not verify."""


class UnsafePath(DjangoRcloneError):
    """A backup name would escape the backup directory on the remote."""


class IncompatibleBackup(DjangoRcloneError):
    """A backup was made by another engine or connector than the one the target alias uses."""


class UndoBackupFailed(DjangoRcloneError):
    """The pre-restore (undo) backup failed, so the restore did not start."""


class LockTimeout(DjangoRcloneError):
    """Another backup of the same alias on this host held the lock longer than ``LOCK_TIMEOUT``."""


class NameConflict(DjangoRcloneError):
    """Another run claimed or wrote the backup name this run chose; nothing of it was committed."""


class CopyFailed(DjangoRcloneError):
    """A committed backup could not be copied to one or more remotes in ``COPIES``; the primary is kept.

    ``failures`` lists ``(remote, backup name, error)`` for each copy that failed.
    """

    def __init__(self, message: str, failures: list[tuple[str, str, str]]) -> None:
        super().__init__(message)
        self.failures = failures

    @property
    def remote(self) -> str:
        """The first remote that failed."""
        return self.failures[0][0] if self.failures else ""


class DrillFailed(DjangoRcloneError):
    """A restore drill found the restored scratch database different from what the backup recorded.

    ``result`` is the ``DrillResult`` (``None`` when the drill could not compare at all).
    """

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result
