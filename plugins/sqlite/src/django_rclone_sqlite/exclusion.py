"""``EXCLUDE`` for the ``.dump`` connector: leave tables out of a backup, and keep them on restore.

Dump (``python -m django_rclone_sqlite.exclusion --sqlite3 CMD [--load EXT] --exclude T ... -- NAME``):
the database is copied with SQLite's online backup API (one consistent snapshot) into a private
0600 file in a 0700 folder, the excluded tables are dropped from that copy (with their indexes,
triggers and ``sqlite_sequence`` rows), and ``sqlite3 .dump`` of the copy goes to stdout. The live
database is only read; the copy is removed on every path.

Restore: ``keep_script()`` writes the SQL that the restore helper (``swap``) runs on its scratch
database, after the backup has been replayed there and before it replaces the live file: each
excluded table is dropped from the scratch database and recreated from the live one (its schema,
rows, indexes, triggers and ``sqlite_sequence`` counter). The live database's excluded tables are
therefore exactly as they were, whatever the backup held.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType


def quote_name(name: str) -> str:
    """An SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def quote_text(text: str) -> str:
    """An SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _uri(path: Path) -> str:
    from urllib.parse import quote

    return f"file:{quote(str(path.resolve()))}?mode=ro"


def keep_script(live: Path, tables: Sequence[str]) -> str:
    """SQL that copies ``tables`` from the ``live`` database into the connection's main database.

    Reads ``live``'s schema (read-only) to write the statements; an excluded table that ``live``
    does not have is removed from the main database, so the result matches ``live`` either way.
    Returns "" when there is nothing to do.
    """
    if not tables:
        return ""
    have_live = live.is_file()
    # Attaching a missing file would create it; without a live database there is nothing to keep.
    lines = [f"ATTACH DATABASE {quote_text(str(live.resolve()))} AS live;"] if have_live else []
    lines.append("BEGIN;")
    schema: list[tuple[str, str, str, str]] = []
    sequences: set[str] = set()
    if have_live:
        conn = sqlite3.connect(_uri(live), uri=True, timeout=60)
        try:
            schema = conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
            ).fetchall()
            if (
                any(name == "sqlite_sequence" for _, name, _, _ in schema)
                or conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone()
            ):
                sequences = {row[0] for row in conn.execute("SELECT name FROM sqlite_sequence")}
        finally:
            conn.close()
    # Every name below goes through quote_name()/quote_text(); the CREATE statements are the live
    # database's own schema text.
    for table in tables:
        lines.append(f"DROP TABLE IF EXISTS main.{quote_name(table)};")
        created = [row for row in schema if row[0] == "table" and row[1] == table]
        if not created:
            continue
        lines.append(created[0][3] + ";")
        lines.append(f"INSERT INTO main.{quote_name(table)} SELECT * FROM live.{quote_name(table)};")  # noqa: S608
        lines += [sql + ";" for kind, name, tbl, sql in schema if kind in ("index", "trigger") and tbl == table]
        if table in sequences:
            name = quote_text(table)
            lines.append(f"DELETE FROM main.sqlite_sequence WHERE name = {name};")  # noqa: S608
            lines.append(f"INSERT INTO main.sqlite_sequence SELECT * FROM live.sqlite_sequence WHERE name = {name};")  # noqa: S608
    lines += ["COMMIT;", "DETACH DATABASE live;"] if have_live else ["COMMIT;"]
    return "\n".join(lines) + "\n"


class _Stop(Exception):
    pass


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def dump(sqlite3_cmd: str, loads: Sequence[str], exclude: Sequence[str], name: str, busy_timeout: float = 30.0) -> int:
    """Snapshot ``name`` (waiting up to ``busy_timeout`` seconds for another connection's lock),
    drop ``exclude`` from the snapshot, ``.dump`` it to stdout."""
    source_path = Path(name)
    if not source_path.is_file():
        print(f"{source_path} does not exist or is not a file", file=sys.stderr)
        return 1
    folder = tempfile.mkdtemp(prefix="django-rclone-sqlite-")
    child: subprocess.Popen[bytes] | None = None
    try:
        copy = Path(folder) / "snapshot.sqlite3"
        source = sqlite3.connect(_uri(source_path), uri=True, timeout=busy_timeout)
        try:
            target = sqlite3.connect(str(copy))
            try:
                deadline = time.monotonic() + busy_timeout

                def give_up_when_locked(status: int, remaining: int, total: int) -> None:
                    # Python's backup() retries a locked source forever; stop at the busy timeout.
                    if status in (5, 6) and time.monotonic() >= deadline:  # SQLITE_BUSY, SQLITE_LOCKED
                        raise sqlite3.OperationalError(
                            "database is locked: another connection held a lock for longer than BUSY_TIMEOUT "
                            f"({busy_timeout:g} s)"
                        )

                # One step under one read lock: a consistent snapshot.
                source.backup(target, progress=give_up_when_locked, sleep=0.05)
                target.execute("PRAGMA journal_mode=DELETE")
                for table in exclude:
                    target.execute(f"DROP TABLE IF EXISTS main.{quote_name(table)}")
                target.commit()
            finally:
                target.close()
        finally:
            source.close()
        cmd = [sqlite3_cmd, "-bail", "-batch", "-readonly"]
        for ext in loads:
            cmd += ["-cmd", f".load {ext}"]
        child = subprocess.Popen([*cmd, str(copy), ".dump"], stdin=subprocess.DEVNULL)
        return child.wait()
    except _Stop as stop:
        print(f"dump interrupted by {stop}", file=sys.stderr)
        return 128 + 15
    except sqlite3.Error as exc:
        print(f"dump failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m django_rclone_sqlite.exclusion")
    parser.add_argument("--sqlite3", default="sqlite3")
    parser.add_argument("--load", action="append", default=[])
    parser.add_argument("--exclude", action="append", default=[])
    parser.add_argument("--busy-timeout", type=float, default=30.0)
    parser.add_argument("name")
    args = parser.parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    with contextlib.suppress(BrokenPipeError):
        return dump(args.sqlite3, args.load, args.exclude, args.name, args.busy_timeout)
    return 1


if __name__ == "__main__":
    sys.exit(main())
