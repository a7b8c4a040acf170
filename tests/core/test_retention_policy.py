"""Retention policies (DB_RETENTION): GFS counts, age, per-alias policies, validation, and the
guarantees cleanup always kept (the new backup, other aliases, orphans still being written)."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from django_rclone.conf import load_settings
from tests.core.conftest import marker, remote_files

pytestmark = pytest.mark.usefixtures("no_stray_processes")

Settings = Callable[..., None]
STAMP = "%Y-%m-%d-%H%M%S"


def committed(remote: Path, name: str) -> None:
    """A committed backup as retention sees it: the data object and its manifest."""
    (remote / "db").mkdir(exist_ok=True)
    (remote / "db" / name).write_bytes(b"data")
    (remote / "db" / f"{name}.manifest.json").write_text("{}")


def twice_daily(remote: Path, alias: str, first: datetime, last: datetime) -> list[str]:
    """Backups at 00:00 and 12:00 UTC of every day from ``first`` to ``last``; their names."""
    made = []
    day = first
    while day <= last:
        for hour in (0, 12):
            name = f"{alias}-{day.replace(hour=hour).strftime(STAMP)}.sqlite3"
            committed(remote, name)
            made.append(name)
        day += timedelta(days=1)
    return made


def left(remote: Path, alias: str) -> set[str]:
    return {
        f.removeprefix("db/")
        for f in remote_files(remote)
        if f.startswith(f"db/{alias}-") and not f.endswith((".manifest.json", ".pending"))
    }


def run(*args: str, verbosity: int = 1) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, verbosity=verbosity)
    return out.getvalue()


def name(alias: str, moment: str) -> str:
    return f"{alias}-{moment}.sqlite3"


def test_gfs_keeps_newest_per_day_week_and_month(rclone_settings: Settings, remote: Path) -> None:
    rclone_settings(DB_RETENTION={"DAILY": 3, "WEEKLY": 2, "MONTHLY": 2})
    made = twice_daily(
        remote, "default", datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 3, 31, tzinfo=timezone.utc)
    )
    # 2024-03-31 is a Sunday (ISO week 13); the newest of week 12 is Sunday 2024-03-24 at noon.
    kept = {
        name("default", "2024-03-31-120000"),  # daily, weekly W13, monthly 2024-03
        name("default", "2024-03-30-120000"),  # daily
        name("default", "2024-03-29-120000"),  # daily
        name("default", "2024-03-24-120000"),  # weekly 2024-W12
        name("default", "2024-02-29-120000"),  # monthly 2024-02
    }
    before = remote_files(remote)
    out = run("cleanbackups", "--dry-run")
    assert remote_files(remote) == before
    assert "Policy for 'default': daily 3, weekly 2, monthly 2" in out
    assert f"Keep {name('default', '2024-03-31-120000')}: daily 2024-03-31, weekly 2024-W13, monthly 2024-03" in out
    assert f"Keep {name('default', '2024-03-24-120000')}: weekly 2024-W12" in out
    assert f"Keep {name('default', '2024-02-29-120000')}: monthly 2024-02" in out
    doomed = [line for line in out.splitlines() if line.startswith("Would delete default-")]
    assert len(doomed) == len(made) - len(kept)
    assert (
        f"Would delete {name('default', '2024-03-31-000000')}: not kept by the retention policy of 'default' "
        "(daily 3, weekly 2, monthly 2)"
    ) in out
    assert out.splitlines()[-1] == f"Would delete {len(made) - len(kept)} backup(s)."

    run("cleanbackups")
    assert left(remote, "default") == kept
    for kept_name in kept:
        assert (remote / "db" / f"{kept_name}.manifest.json").exists()


def test_last_and_yearly_combine(rclone_settings: Settings, remote: Path) -> None:
    rclone_settings(DB_RETENTION={"LAST": 2, "YEARLY": 3})
    for moment in ("2021-06-01", "2021-12-31", "2022-07-01", "2023-01-01", "2023-05-05", "2023-05-06"):
        committed(remote, name("default", f"{moment}-000000"))
    run("cleanbackups")
    assert left(remote, "default") == {
        name("default", "2023-05-06-000000"),  # last 2, yearly 2023
        name("default", "2023-05-05-000000"),  # last 2
        name("default", "2022-07-01-000000"),  # yearly 2022
        name("default", "2021-12-31-000000"),  # yearly 2021
    }


def test_max_age_keeps_recent_ones_and_always_the_newest(rclone_settings: Settings, remote: Path) -> None:
    rclone_settings(DB_RETENTION={"MAX_AGE_DAYS": 10})
    now = datetime.now(timezone.utc)
    recent = [name("default", (now - timedelta(days=d)).strftime(STAMP)) for d in (1, 9)]
    old = [name("default", (now - timedelta(days=d)).strftime(STAMP)) for d in (11, 40)]
    for item in recent + old:
        committed(remote, item)
    out = run("cleanbackups", "--dry-run")
    assert f"Keep {recent[0]}: younger than 10 days" in out
    assert f"Would delete {old[0]}: not kept by the retention policy of 'default' (within 10 days)" in out
    run("cleanbackups")
    assert left(remote, "default") == set(recent)
    # Only old backups: the newest survives any policy, so an alias is never left with none.
    committed(remote, name("other", "2001-01-01-000000"))
    committed(remote, name("other", "2000-01-01-000000"))
    out = run("cleanbackups", "--database", "other", "--dry-run")
    assert f"Keep {name('other', '2001-01-01-000000')}: the newest backup (always kept)" in out
    run("cleanbackups", "--database", "other")
    assert left(remote, "other") == {name("other", "2001-01-01-000000")}


def test_per_alias_policy_replaces_the_default(rclone_settings: Settings, remote: Path) -> None:
    rclone_settings(DB_RETENTION={"DAILY": 2, "DATABASES": {"other": {"LAST": 1}}})
    for alias in ("default", "other"):
        for moment in ("2024-01-01-000000", "2024-01-01-120000", "2024-01-02-000000", "2024-01-03-000000"):
            committed(remote, name(alias, moment))
    out = run("cleanbackups", "--dry-run")
    assert f"Would delete {name('other', '2024-01-02-000000')}: beyond the newest 1 backups of 'other'" in out
    run("cleanbackups")
    assert left(remote, "default") == {name("default", "2024-01-03-000000"), name("default", "2024-01-02-000000")}
    assert left(remote, "other") == {name("other", "2024-01-03-000000")}


def test_keep_flag_replaces_the_policy_for_one_run(rclone_settings: Settings, remote: Path) -> None:
    rclone_settings(DB_RETENTION={"MONTHLY": 12})
    for day in (1, 2, 3):
        committed(remote, name("default", f"2024-01-0{day}-000000"))
    run("cleanbackups", "--keep", "2")
    assert left(remote, "default") == {name("default", "2024-01-03-000000"), name("default", "2024-01-02-000000")}


def test_dbbackup_clean_applies_the_policy_and_spares_the_new_backup(
    sqlite_db: str, rclone_settings: Settings, remote: Path
) -> None:
    # DAILY 1 keeps the newest of the newest day: a "future" backup from a skewed clock wins that
    # slot, so only the protection of the backup just made keeps the new one.
    rclone_settings(DB_RETENTION={"DAILY": 1})
    for day in ("01", "02"):
        committed(remote, name("default", f"2024-01-{day}-000000"))
        committed(remote, name("other", f"2024-01-{day}-000000"))
    committed(remote, name("default", "2099-01-01-000000"))
    stale = (datetime.now(timezone.utc) - timedelta(hours=30)).strftime(STAMP)
    fresh = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime(STAMP)
    (remote / "db" / name("default", stale)).write_bytes(b"orphan of a run that died")
    marker(remote, name("default", stale), hours_old=30)
    (remote / "db" / name("default", fresh)).write_bytes(b"another run is still writing this")
    marker(remote, name("default", fresh), hours_old=0)
    out = run("dbbackup", "--clean", verbosity=2)
    new = {
        n for n in left(remote, "default") if n not in {name("default", "2099-01-01-000000"), name("default", fresh)}
    }
    assert len(new) == 1
    assert left(remote, "default") == new | {name("default", "2099-01-01-000000"), name("default", fresh)}
    assert left(remote, "other") == {name("other", "2024-01-01-000000"), name("other", "2024-01-02-000000")}
    assert (remote / "db" / f"{new.pop()}.manifest.json").exists()
    assert "Retention: deleted 3 old backup(s)" in out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("daily", r"DJANGO_RCLONE\['DB_RETENTION'\] is 'daily'; use a dict"),
        ({"DAYLY": 7}, r"DJANGO_RCLONE\['DB_RETENTION'\] has unknown keys \['DAYLY'\]"),
        ({"DAILY": -1}, r"DJANGO_RCLONE\['DB_RETENTION'\]\['DAILY'\] is -1"),
        ({"WEEKLY": True}, r"DJANGO_RCLONE\['DB_RETENTION'\]\['WEEKLY'\] is True"),
        ({"MAX_AGE_DAYS": 0}, r"DJANGO_RCLONE\['DB_RETENTION'\]\['MAX_AGE_DAYS'\] is 0"),
        ({"DAILY": 0}, r"DJANGO_RCLONE\['DB_RETENTION'\] keeps nothing"),
        ({"DATABASES": ["other"]}, r"\['DATABASES'\] is \['other'\]"),
    ],
)
def test_bad_policies_name_the_key(value: Any, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings({"REMOTE": "/tmp/x", "DB_RETENTION": value})


@pytest.mark.parametrize(
    ("value", "alias", "message"),
    [
        (
            {"DATABASES": {"nope": {"LAST": 1}}},
            "nope",
            r"\['DATABASES'\]\['nope'\] names an alias that is not in DATABASES",
        ),
        ({"DATABASES": {"other": {"LAST": "3"}}}, "other", r"\['DATABASES'\]\['other'\]\['LAST'\] is '3'"),
    ],
)
def test_bad_per_alias_policies_fail_for_that_alias_only(value: Any, alias: str, message: str) -> None:
    conf = load_settings({"REMOTE": "/tmp/x", "DB_RETENTION": value})
    assert conf.db_retention.for_database("default", 10).describe() == "last 10"
    with pytest.raises(ImproperlyConfigured, match=message):
        conf.db_retention.for_database(alias, 10)


def test_policy_settings_are_typed() -> None:
    conf = load_settings(
        {"REMOTE": "/tmp/x", "DB_RETENTION": {"DAILY": 7, "MAX_AGE_DAYS": 1.5, "DATABASES": {"other": {"LAST": 2}}}}
    )
    assert conf.db_retention.for_database("default", 10).describe() == "daily 7, within 1.5 days"
    assert conf.db_retention.for_database("other", 10).describe() == "last 2"
    assert load_settings({"REMOTE": "/tmp/x"}).db_retention.for_database("default", 4).describe() == "last 4"
