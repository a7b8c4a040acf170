"""verifybackups --sample: a daily rotation that re-reads every backup within a known period."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from django_rclone.operations.backup import backup
from django_rclone.operations.verify import sample_period, verify_sample

pytestmark = pytest.mark.usefixtures("no_stray_processes")


@pytest.fixture
def eight_backups(rclone_settings: Callable[..., None], sqlite_db: str) -> list[str]:
    """Eight committed real SQLite backups, oldest first (microseconds in the names: no waiting)."""
    rclone_settings(DB_DATE_FORMAT="%Y-%m-%d-%H%M%S-%f")
    return [backup("default").name for _ in range(8)]


@pytest.mark.parametrize(("percent", "period"), [(100, 1), (50, 2), (30, 3), (25, 4), (10, 10), (0.5, 200)])
def test_period_is_whole_days_with_at_least_the_share_asked(percent: float, period: int) -> None:
    assert sample_period(percent) == period
    assert 100 / period >= percent


@pytest.mark.parametrize("percent", [25, 40])
def test_every_backup_is_reread_once_per_period(eight_backups: list[str], percent: float) -> None:
    period = sample_period(percent)
    newest = eight_backups[-1]
    start = date(2026, 12, 2)
    sampled: Counter[str] = Counter()
    for offset in range(period):
        results = verify_sample(percent, day=start + timedelta(days=offset))
        assert all(r.ok for r in results), results
        assert results[0].name == newest  # the newest is checked every day, as without --sample
        sampled.update(r.name for r in results[1:])
    assert set(sampled) | {newest} == set(eight_backups)
    assert all(count == 1 for count in sampled.values()), sampled
    # the rotation repeats: day `period` re-reads what day 0 did
    again = [r.name for r in verify_sample(percent, day=start + timedelta(days=period))]
    assert again == [r.name for r in verify_sample(percent, day=start)]


def test_sample_catches_an_old_corrupt_backup_that_the_default_check_misses(
    eight_backups: list[str], remote: Path
) -> None:
    oldest = remote / "db" / eight_backups[0]
    data = bytearray(oldest.read_bytes())
    data[len(data) // 2] ^= 1
    oldest.write_bytes(bytes(data))
    call_command("verifybackups", stdout=io.StringIO())  # only the newest: passes
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of 8 backup"):
        call_command("verifybackups", "--sample", "100", stdout=io.StringIO(), stderr=err)
    assert f"FAILED  {eight_backups[0]}: sha256" in err.getvalue()


@pytest.mark.parametrize("value", ["0", "150", "-5", "lots"])
def test_bad_percent_is_refused(remote: Path, value: str) -> None:
    with pytest.raises(CommandError, match="percentage above 0 and at most 100"):
        call_command("verifybackups", "--sample", value)


def test_sample_and_input_path_do_not_mix(remote: Path) -> None:
    with pytest.raises(CommandError, match="--sample picks backups itself"):
        call_command("verifybackups", "--sample", "10", "--input-path", "default-2026-01-01-000000.sqlite3")
