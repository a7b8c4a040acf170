"""Progress display: drawn on a real terminal (a pty), silent in cron (no TTY), off at -v 0."""

from __future__ import annotations

import io
import os
import pty
import re
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import override_settings

from django_rclone import progress
from django_rclone.management import progress as display

SIZE = r"[\d.]+ (?:B|KiB|MiB|GiB)"
CLOCK = r"\d+:\d\d"
#: A backup's line: bytes, then the estimate from the database's size (SQLite: the file's size),
#: marked as one, or the note that the dump outgrew it; then rate, elapsed and the time left.
LINE = re.compile(
    rf"Backing up 'default': {SIZE}"
    rf"(?: of ~{SIZE} \(est\. \d+%\)  {SIZE}/s  {CLOCK}  ~(?:{CLOCK}|-:--) left"
    rf"| \(more than the ~{SIZE} estimate\)  {SIZE}/s  {CLOCK})"
)
#: A restore's or verify's line: the manifest's size is exact.
KNOWN = re.compile(
    rf"(?P<label>[^:]+): (?P<done>{SIZE}) of (?P<total>{SIZE}) \((?P<percent>\d+)%\)"
    rf"  {SIZE}/s  {CLOCK}  (?:{CLOCK}|-:--) left"
)


def _fill(mib: int) -> None:
    """Give the default SQLite database ``mib`` MiB of incompressible rows."""
    with connections["default"].cursor() as cursor:
        cursor.execute("CREATE TABLE bulk (data BLOB)")
        for _ in range(mib):
            cursor.execute("INSERT INTO bulk VALUES (?)", [os.urandom(1 << 20)])


def _bytes(line: str) -> float:
    number, unit = line.split(": ", 1)[1].split()[:2]
    return float(number) * {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20}[unit]


class _Terminal:
    """A pty whose slave end is a file the command writes to; a thread reads the master end."""

    def __init__(self) -> None:
        self.master, slave = pty.openpty()
        self.slave = os.fdopen(slave, "w", encoding="utf-8", buffering=1)
        self.output = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def close(self) -> str:
        self.slave.close()  # the master then reads EIO after the buffered bytes
        self.reader.join(timeout=10)
        os.close(self.master)
        return self.output.decode()


@pytest.fixture
def every_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Redraw on every chunk, so a few-MiB backup shows several lines however fast the machine is."""
    monkeypatch.setattr(display, "REDRAW_INTERVAL", 0.0)


def test_tty_shows_bytes_rate_elapsed_then_clears(remote: Path, sqlite_db: str, every_chunk: None) -> None:
    _fill(6)
    terminal = _Terminal()
    out = io.StringIO()
    try:
        call_command("dbbackup", stdout=out, stderr=terminal.slave)
    finally:
        screen = terminal.close()
    draws = [part for part in screen.split("\r") if part.strip()]
    assert len(draws) >= 3, screen
    assert all(LINE.fullmatch(part.rstrip()) for part in draws), draws
    sizes = [_bytes(part) for part in draws]
    assert sizes == sorted(sizes)
    assert sizes[-1] > 1 << 20
    assert screen.endswith("\r"), "the line is erased so the summary starts clean"
    assert out.getvalue().startswith("Backed up database 'default'")
    assert out.getvalue().count("\n") == 1


def test_cron_prints_only_the_summary(remote: Path, sqlite_db: str, every_chunk: None) -> None:
    _fill(3)
    out, err = io.StringIO(), io.StringIO()
    call_command("dbbackup", stdout=out, stderr=err)
    assert err.getvalue() == ""
    assert out.getvalue().count("\n") == 1
    assert out.getvalue().startswith("Backed up database 'default'")
    out, err = io.StringIO(), io.StringIO()
    call_command("dbrestore", "--noinput", stdout=out, stderr=err)
    assert err.getvalue() == ""
    assert out.getvalue().count("\n") == 1
    assert out.getvalue().startswith("Restored database 'default'")


def test_verbosity_zero_is_silent_even_on_a_terminal(remote: Path, sqlite_db: str, every_chunk: None) -> None:
    _fill(3)
    terminal = _Terminal()
    out = io.StringIO()
    try:
        call_command("dbbackup", verbosity=0, stdout=out, stderr=terminal.slave)
        call_command("dbrestore", "--noinput", verbosity=0, stdout=out, stderr=terminal.slave)
    finally:
        screen = terminal.close()
    assert screen == ""
    assert out.getvalue() == ""


def _known_total_draws(screen: str, label: str, total: int) -> list[re.Match[str]]:
    """The redraws of ``screen``, each checked to show ``total`` (from the manifest) and a percent
    that matches the bytes drawn and never goes down."""
    draws = [KNOWN.fullmatch(part.rstrip()) for part in screen.split("\r") if part.strip()]
    assert len(draws) >= 3, screen
    assert all(draws), screen
    matches = [m for m in draws if m is not None]
    assert all(m["label"] == label and _bytes(f"x: {m['total']}") == pytest.approx(total, rel=0.05) for m in matches)
    percents = [int(m["percent"]) for m in matches]
    assert percents == sorted(percents)
    assert percents[-1] <= 100
    for m in matches:  # the percent is the bytes drawn over the total (sizes print rounded to 0.1)
        assert abs(_bytes(f"x: {m['done']}") * 100 / total - int(m["percent"])) <= 3
    return matches


def test_restore_progress_on_tty_shows_percent_and_time_left(remote: Path, sqlite_db: str, every_chunk: None) -> None:
    _fill(4)
    call_command("dbbackup", stdout=io.StringIO(), stderr=io.StringIO())
    [backup] = [p for p in (remote / "db").iterdir() if not p.name.endswith(".json")]
    terminal = _Terminal()
    try:
        call_command("dbrestore", "--noinput", stdout=io.StringIO(), stderr=terminal.slave)
    finally:
        screen = terminal.close()
    _known_total_draws(screen, "Restoring 'default'", backup.stat().st_size)


def test_verify_progress_on_tty_shows_percent(remote: Path, sqlite_db: str, every_chunk: None) -> None:
    _fill(4)
    call_command("dbbackup", stdout=io.StringIO(), stderr=io.StringIO())
    [backup] = [p for p in (remote / "db").iterdir() if not p.name.endswith(".json")]
    terminal = _Terminal()
    out = io.StringIO()
    try:
        call_command("verifybackups", stdout=out, stderr=terminal.slave)
    finally:
        screen = terminal.close()
    _known_total_draws(screen, "Verifying", backup.stat().st_size)
    assert out.getvalue().startswith("OK ")


def test_backup_estimate_comes_from_the_database_file(remote: Path, sqlite_db: str, every_chunk: None) -> None:
    _fill(4)
    connections["default"].close()
    file_size = Path(connections.databases["default"]["NAME"]).stat().st_size
    terminal = _Terminal()
    try:
        call_command("dbbackup", stdout=io.StringIO(), stderr=terminal.slave)
    finally:
        screen = terminal.close()
    draws = [part.rstrip() for part in screen.split("\r") if part.strip()]
    estimates = [re.search(rf"~({SIZE})", d) for d in draws]
    assert all(estimates), draws
    assert all(_bytes(f"x: {m[1]}") == pytest.approx(file_size, rel=0.05) for m in estimates if m), draws
    # random blobs dump as hex text, twice the file: the line says the estimate was outgrown
    assert "(est. " in draws[0], draws
    assert "more than the" in draws[-1], draws


def test_media_progress_reports_rclone_bytes(remote: Path, tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "big.bin").write_bytes(os.urandom(8 << 20))
    seen: list[int] = []

    class Recorder:
        def update(self, done: int) -> None:
            seen.append(done)

    from django_rclone.operations.media import media_backup

    with override_settings(MEDIA_ROOT=str(media)), progress.reporting(Recorder()):
        media_backup()
    assert seen
    assert seen[-1] == 8 << 20
    assert (remote / "media" / "big.bin").stat().st_size == 8 << 20


def test_media_failure_still_reports_rclone_error(tmp_path: Path) -> None:
    from django_rclone.exceptions import RcloneError
    from django_rclone.rclone import Rclone

    class Recorder:
        def update(self, done: int) -> None:
            pass

    missing = tmp_path / "nope"
    with progress.reporting(Recorder()), pytest.raises(RcloneError) as caught:
        Rclone().sync(str(missing), str(tmp_path / "dst"))
    assert "directory not found" in str(caught.value)
    assert '"level"' not in str(caught.value)  # messages, not raw JSON log records


def test_no_reporter_outside_the_block() -> None:
    assert progress.active() is None
    with progress.reporting(progress.Throughput()):
        assert progress.active() is not None
    assert progress.active() is None
