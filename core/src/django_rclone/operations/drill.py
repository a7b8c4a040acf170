"""Restore drills: restore a backup into a scratch database, compare it with the backup's record.

A drill never touches the live database: the connector's ``drill_target()`` returns a connector
for a scratch database on the same server (PostgreSQL: a new database; MariaDB: a scratch schema;
SQLite: a temporary file), the backup is streamed into it through the ordinary restore path
(size and SHA-256 checked against the manifest), the scratch database's tables are counted, and
it is dropped on every path. Passed when every table the backup recorded is there with the
recorded row count (``metadata["table_counts"]`` in the manifest).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from django_rclone import names
from django_rclone.conf import RcloneSettings, get_settings
from django_rclone.db.base import BaseConnector, DrillNotSupported
from django_rclone.exceptions import DjangoRcloneError, DrillFailed, FileTooLarge, IntegrityError
from django_rclone.failures import DRILL, PREPARE, RESTORE, reached, reports_failures
from django_rclone.interrupts import interruptible, shield
from django_rclone.manifest import Manifest
from django_rclone.operations.restore import (
    _compatibility_notes,
    _inspect,
    _signature_notes,
    check_whole,
    select,
    stored_compression,
    stream_into,
)
from django_rclone.pipeline import Expected
from django_rclone.plugins import get_host
from django_rclone.rclone import Rclone, join
from django_rclone.resolution import resolve
from django_rclone.signals import db_drill_failed, post_db_drill, pre_db_drill, send_after

#: Folder (inside ``DB_BACKUP_DIR``) holding the last drill result per alias. Its name can never
#: parse as a backup name (no date), so listing, retention and orphan sweeps pass it by.
RECORD_FOLDER = ".drills"


@dataclass(frozen=True)
class DrillResult:
    """A finished drill (passed, or failed with ``problems``)."""

    database: str
    name: str
    passed: bool
    #: Row counts the backup recorded, and found in the restored scratch database.
    recorded: dict[str, int] | None
    found: dict[str, int]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duration: float = 0.0
    scratch: str = ""

    @property
    def tables(self) -> int:
        return len(self.recorded if self.recorded is not None else self.found)

    @property
    def rows(self) -> int:
        return sum((self.recorded if self.recorded is not None else self.found).values())

    def report(self) -> str:
        """Several lines for a person: what was compared and what differed."""
        head = "passed" if self.passed else "FAILED"
        lines = [f"drill {head}: {self.database!r} from {self.name} ({self.tables} tables, {self.rows} rows)"]
        lines += [f"  - {problem}" for problem in self.problems]
        lines += [f"  note: {warning}" for warning in self.warnings]
        return "\n".join(lines)


def compare(recorded: dict[str, int] | None, found: dict[str, int]) -> list[str]:
    """What differs between the counts the backup recorded and those of the restored database.

    Every recorded table must exist with exactly its recorded row count; tables the restore made
    that the backup did not count (none with the bundled connectors) are not an error.
    """
    if recorded is None:
        return []
    problems = []
    for table in sorted(recorded):
        if table not in found:
            problems.append(f"table {table} is missing from the restored database")
        elif found[table] != recorded[table]:
            problems.append(
                f"table {table} has {found[table]} rows after the restore, the backup recorded {recorded[table]}"
            )
    return problems


def recorded_counts(manifest: Manifest) -> dict[str, int] | None:
    """The manifest's table counts, ``None`` when it has none; ``IntegrityError`` if malformed."""
    raw = (manifest.metadata or {}).get(BaseConnector.TABLE_COUNTS)
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0 for k, v in raw.items()
    ):
        raise IntegrityError(f"the table counts in the manifest of {manifest.name} are malformed")
    return dict(raw)


def record_path(conf: RcloneSettings, database: str) -> str:
    """Where the last drill result of ``database`` is kept on the remote."""
    return join(conf.remote, conf.db_backup_dir, RECORD_FOLDER, names.check_name(database) + ".json")


def _write_record(conf: RcloneSettings, rclone: Rclone, database: str, record: dict[str, Any]) -> None:
    rclone.rcat_bytes(record_path(conf, database), (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())


def last_record(conf: RcloneSettings, rclone: Rclone, database: str) -> dict[str, Any] | None:
    """The last drill result of ``database`` written to the remote, ``None`` if none (or unreadable)."""
    path = record_path(conf, database)
    if rclone.stat(path) is None:
        return None
    try:
        data = json.loads(rclone.cat_bytes(path))
    except (ValueError, FileTooLarge):
        return None
    return data if isinstance(data, dict) else None


def last_records(conf: RcloneSettings, rclone: Rclone) -> dict[str, dict[str, Any]]:
    """The last drill record of every alias that has one (one listing, one read per record)."""
    folder = join(conf.remote, conf.db_backup_dir, RECORD_FOLDER)
    records: dict[str, dict[str, Any]] = {}
    for entry in rclone.lsjson(folder):
        name = str(entry.get("Name", ""))
        if not name.endswith(".json"):
            continue
        try:
            data = json.loads(rclone.cat_bytes(join(folder, name)))
        except (ValueError, DjangoRcloneError):
            continue
        if isinstance(data, dict):
            records[name[: -len(".json")]] = data
    return records


def describe(record: dict[str, Any] | None) -> str:
    """One line for a person (the status page): outcome, when, which backup, and why it failed."""
    if not record:
        return "never"
    outcome = "passed" if record.get("passed") else "FAILED"
    line = f"{outcome} {record.get('finished_at', '?')} ({record.get('backup') or '?'})"
    problems = record.get("problems") or []
    reason = (problems[0] if problems and isinstance(problems, list) else "") or record.get("error") or ""
    if not record.get("passed") and reason:
        line += f": {reason}"
    return line


def drill(database: str = "default", *, input_path: str | None = None, sender: Any = None) -> DrillResult:
    """Restore the newest (or ``input_path``) backup of ``database`` into a scratch database and
    compare it with the backup's recorded table counts; the scratch database is dropped on every path.

    Returns the passed ``DrillResult``; raises ``DrillFailed`` (with the full report) when the
    restored database differs, ``DrillNotSupported`` when the connector cannot drill, and the
    restore's own errors otherwise. Sends ``pre_db_drill`` / ``post_db_drill`` /
    ``db_drill_failed``; the result (passed or not) is written to the remote for the status page.
    """
    conf = get_settings()
    rclone = Rclone.from_settings(conf)
    clock = time.monotonic()
    name = input_path or ""
    try:
        result = _drill(database, input_path=input_path, sender=sender)
    except DrillNotSupported:
        raise
    except DrillFailed as exc:
        _record_quietly(conf, rclone, database, _as_record(exc.result, str(exc), clock, name))
        raise
    except BaseException as exc:
        _record_quietly(conf, rclone, database, _as_record(None, f"{type(exc).__name__}: {exc}", clock, name))
        raise
    _record_quietly(conf, rclone, database, _as_record(result, "", clock, result.name))
    return result


def _as_record(result: DrillResult | None, error: str, clock: float, name: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "passed": result is not None and result.passed and not error,
        "backup": result.name if result else name,
        "duration": round(time.monotonic() - clock, 3),
        "error": error.splitlines()[0] if error else "",
    }
    if result is not None:
        record.update({k: v for k, v in asdict(result).items() if k in ("problems", "warnings", "recorded", "found")})
    return record


def _record_quietly(conf: RcloneSettings, rclone: Rclone, database: str, record: dict[str, Any]) -> None:
    """Write the drill record; a remote that refuses it must not hide the drill's own outcome."""
    from django_rclone.signals import logger

    with shield():
        try:
            _write_record(conf, rclone, database, record)
        except Exception as exc:  # the drill's outcome is what the caller needs
            logger.warning("django-rclone: could not write the drill record of %r: %s", database, exc)


@reports_failures(db_drill_failed, "database", path=None)
def _drill(database: str, *, input_path: str | None, sender: Any) -> DrillResult:
    conf = get_settings()
    rclone = Rclone.from_settings(conf)
    host = get_host()
    resolution = resolve(database, host)
    connector = resolution.connector
    if not connector.supports_drill:
        raise DrillNotSupported(f"restore drills are not supported by {type(connector).__name__}")
    name = select(database, input_path)
    reached(PREPARE, path=name)
    path, record, manifest = _inspect(conf, rclone, name, verify=True)
    if manifest is None:
        raise DrillFailed(f"{name} has no manifest: a drill has nothing to check it against")
    warnings = _signature_notes(conf, name, manifest, allow_unsigned=False)  # SIGNING_KEY: signed or refused
    warnings += _compatibility_notes(conf, host, resolution, database, name, manifest, force=False)
    recorded = recorded_counts(manifest)
    if recorded is None:
        warnings.append(
            f"{name} recorded no table counts (made by an older version or a connector that does not count): "
            "only the restore itself was checked"
        )
    if int(record.get("Size", -1)) not in (manifest.size, -1):
        raise IntegrityError(
            f"{name} is {record.get('Size')} bytes on the remote but its manifest says {manifest.size}"
        )
    expected = Expected(size=manifest.size, sha256=manifest.sha256)
    compression = stored_compression(conf, name, manifest, host.extension(connector, database))
    scratch = connector.drill_target()
    if scratch.name == connector.name or scratch is connector:
        raise DjangoRcloneError(
            f"{type(connector).__name__}.drill_target() returned the live database {connector.name!r}; "
            "refusing to drill"
        )
    if not scratch.restore_sandboxed():  # as dbrestore: a tool that could run commands gets checked bytes only
        check_whole(rclone, path, name, expected, compression)
    pre_db_drill.send(sender=sender, database=database, connector=connector, path=name)
    clock = time.monotonic()
    reached(DRILL)
    try:
        with interruptible():
            scratch.create_scratch()
            reached(RESTORE)
            stream_into(host, scratch, database, rclone, path, expected, compression)
            reached(DRILL)
            found = scratch.table_counts()
    finally:
        with shield():
            _drop(scratch, connector)
    problems = compare(recorded, found)
    result = DrillResult(
        database=database,
        name=name,
        passed=not problems,
        recorded=recorded,
        found=found,
        problems=problems,
        warnings=warnings,
        duration=time.monotonic() - clock,
        scratch=scratch.name,
    )
    if problems:
        raise DrillFailed(result.report(), result=result)
    send_after(post_db_drill, sender=sender, database=database, connector=connector, path=name, result=result)
    return result


def _drop(scratch: BaseConnector, connector: BaseConnector) -> None:
    try:
        scratch.drop_scratch()
    finally:
        scratch.cleanup()
        connector.cleanup()


def support_problem(database: str) -> str | None:
    """Why ``database`` cannot drill (its connector's name), ``None`` when it can."""
    connector = resolve(database, get_host()).connector
    if connector.supports_drill:
        return None
    return f"not supported by {type(connector).__name__}"
