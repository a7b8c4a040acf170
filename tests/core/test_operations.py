"""Operations: failure signals with the stage, several databases in one run, safer restores and the
dbbackup flags, end to end with real rclone, SQLite and stand-in tools for the faults."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

import django_rclone
from django_rclone import signals
from django_rclone.exceptions import IncompatibleBackup, IntegrityError, PipelineError
from tests.core.conftest import CONNECTOR, MANAGE, ROOT, remote_files
from tests.testapp.models import Author

pytestmark = pytest.mark.usefixtures("no_stray_processes")

Settings = Callable[..., None]
FAILED = ("db_backup_failed", "db_restore_failed", "media_backup_failed", "media_restore_failed")


@pytest.fixture
def failures() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every ``*_failed`` signal sent during the test, with its keyword arguments."""
    got: list[tuple[str, dict[str, Any]]] = []
    handlers = []
    for signame in FAILED:

        def handler(sender: Any, _name: str = signame, **kwargs: Any) -> None:
            kwargs.pop("signal", None)
            got.append((_name, {"sender": sender, **kwargs}))

        getattr(signals, signame).connect(handler, weak=False)
        handlers.append((signame, handler))
    yield got
    for signame, handler in handlers:
        getattr(signals, signame).disconnect(handler)


@pytest.fixture
def broken_receivers() -> Iterator[None]:
    """A receiver on every failure signal that itself raises (an alerting service that is down)."""

    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("alerting is down")

    for signame in FAILED:
        getattr(signals, signame).connect(broken, weak=False)
    yield
    for signame in FAILED:
        getattr(signals, signame).disconnect(broken)


def data_objects(remote: Path) -> list[str]:
    return [f for f in remote_files(remote) if f.startswith("db/") and not f.endswith(".manifest.json")]


def standin(
    rclone_settings: Settings, tmp_path: Path, dump: tuple[str, ...] = (), restore: tuple[str, ...] = ()
) -> Path:
    out = tmp_path / "restored.bin"
    rclone_settings(
        CONNECTORS={
            "default": {"CONNECTOR": CONNECTOR, "DUMP_ARGS": list(dump), "RESTORE_ARGS": ["--out", str(out), *restore]}
        }
    )
    return out


# -- failure signals -------------------------------------------------------------------------------


def test_dump_failure_signal_names_the_dump_stage_and_keeps_the_real_error(
    rclone_settings: Settings,
    tmp_path: Path,
    remote: Path,
    failures: list[tuple[str, dict[str, Any]]],
    broken_receivers: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    standin(rclone_settings, tmp_path, dump=("--fail-after", "70000"))
    with pytest.raises(CommandError, match="simulated failure after 70000 bytes"):
        call_command("dbbackup", verbosity=0)
    [(signame, kwargs)] = failures
    assert signame == "db_backup_failed"
    assert kwargs["database"] == "default"
    assert kwargs["stage"] == "dump"
    assert isinstance(kwargs["exception"], PipelineError)
    assert kwargs["path"].startswith("default-")
    assert kwargs["path"].endswith(".bin.zst")
    assert kwargs["sender"].__module__.endswith("commands.dbbackup")
    assert "alerting is down" in caplog.text  # logged, not raised in place of the dump's error
    assert data_objects(remote) == []


def test_upload_failure_signal(
    rclone_settings: Settings,
    tmp_path: Path,
    remote: Path,
    fake_rclone: Callable[[str], str],
    failures: list[tuple[str, dict[str, Any]]],
) -> None:
    out = tmp_path / "restored.bin"
    rclone_settings(
        RCLONE_BINARY=fake_rclone("rcat:1000"),
        CONNECTORS={"default": {"CONNECTOR": CONNECTOR, "RESTORE_ARGS": ["--out", str(out)]}},
    )
    with pytest.raises(PipelineError, match="connection to remote lost"):
        django_rclone.backup("default")
    [(signame, kwargs)] = failures
    assert (signame, kwargs["stage"], kwargs["sender"]) == ("db_backup_failed", "upload", None)


def test_prepare_failure_signal_has_no_path(remote: Path, failures: list[tuple[str, dict[str, Any]]]) -> None:
    with pytest.raises(CommandError, match="not in DATABASES"):
        call_command("dbrestore", "--database", "nope", "--noinput", "--input-path", "nope-x.bin", verbosity=0)
    with pytest.raises(Exception, match="not in DATABASES"):
        django_rclone.backup("nope")
    assert [(n, k["stage"], k["path"], k["database"]) for n, k in failures] == [
        ("db_restore_failed", "prepare", "nope-x.bin", "nope"),
        ("db_backup_failed", "prepare", None, "nope"),
    ]


def test_restore_failure_signals_name_verify_and_restore(
    rclone_settings: Settings, tmp_path: Path, remote: Path, failures: list[tuple[str, dict[str, Any]]]
) -> None:
    standin(rclone_settings, tmp_path)
    name = django_rclone.backup("default").name
    obj = remote / "db" / name
    data = bytearray(obj.read_bytes())
    data[100] ^= 1
    obj.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        django_rclone.restore("default", input_path=name)
    data[100] ^= 1
    obj.write_bytes(bytes(data))
    standin(rclone_settings, tmp_path, restore=("--fail-after", "1000"))
    with pytest.raises(PipelineError):
        django_rclone.restore("default", input_path=name)
    assert [(n, k["stage"], k["path"]) for n, k in failures] == [
        ("db_restore_failed", "verify", name),
        ("db_restore_failed", "restore", name),
    ]
    assert isinstance(failures[0][1]["exception"], IntegrityError)


def test_no_failure_signal_on_success(
    sqlite_db: str, remote: Path, failures: list[tuple[str, dict[str, Any]]], broken_receivers: None
) -> None:
    django_rclone.backup("default")
    django_rclone.restore("default")
    assert failures == []


def test_media_failure_signals(
    tmp_path: Path, remote: Path, failures: list[tuple[str, dict[str, Any]]], broken_receivers: None
) -> None:
    media = tmp_path / "media"
    with override_settings(MEDIA_ROOT=str(media)):
        with pytest.raises(CommandError, match="does not exist"):
            call_command("mediabackup", verbosity=0)
        with pytest.raises(CommandError, match="empty or missing"):
            call_command("mediarestore", "--noinput", verbosity=0)
        media.mkdir()
        (media / "a.txt").write_text("a")
        # A REMOTE rclone cannot reach: the sync itself fails.
        with (
            override_settings(DJANGO_RCLONE={"REMOTE": "nosuchremote:backups"}),
            pytest.raises(CommandError, match="rclone"),
        ):
            call_command("mediabackup", verbosity=0)
    assert [(n, k["stage"]) for n, k in failures] == [
        ("media_backup_failed", "prepare"),
        ("media_restore_failed", "prepare"),
        ("media_backup_failed", "sync"),
    ]
    assert all(set(k) == {"sender", "exception", "stage"} for _, k in failures)


# -- several databases in one run ------------------------------------------------------------------


@pytest.fixture
def other_db() -> Iterator[str]:
    from django.db import connections

    connections["other"].close()
    Path(settings.DATABASES["other"]["NAME"]).unlink(missing_ok=True)
    call_command("migrate", database="other", verbosity=0)
    yield "other"
    connections["other"].close()


def test_database_list_backs_up_each_with_its_own_manifest(
    sqlite_db: str, other_db: str, remote: Path, failures: list[tuple[str, dict[str, Any]]]
) -> None:
    out = io.StringIO()
    call_command("dbbackup", "--database", "default,other", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[-1] == "Summary: 2 of 2 database(s) backed up."
    objects = data_objects(remote)
    assert [o.split("/")[1].split("-")[0] for o in objects] == ["default", "other"]
    for obj in objects:
        manifest = json.loads((remote / f"{obj}.manifest.json").read_text())
        assert manifest["database"] == obj.split("/")[1].split("-")[0]
    assert failures == []


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_one_failing_alias_does_not_stop_the_others(
    sqlite_db: str,
    other_db: str,
    rclone_settings: Settings,
    remote: Path,
    failures: list[tuple[str, dict[str, Any]]],
) -> None:
    """``--all`` with a PostgreSQL alias whose server is not running (a port nobody listens on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    databases = {
        "default": settings.DATABASES["default"],
        "stopped": {**settings.DATABASES["postgres"], "PORT": closed_port},
        "other": settings.DATABASES["other"],
    }
    out, err = io.StringIO(), io.StringIO()
    with (
        override_settings(DATABASES=databases),
        pytest.raises(CommandError, match="1 of 3 database backups failed: stopped"),
    ):
        call_command("dbbackup", "--all", stdout=out, stderr=err)
    # the first PostgreSQL client to try the stopped server names it (psql takes the snapshot the
    # table counts and pg_dump share, then pg_dump)
    assert re.search(r"Backup of database 'stopped' failed: (psql|pg_dump)\b.*", err.getvalue())
    assert out.getvalue().splitlines()[-1] == "Summary: 2 of 3 database(s) backed up; failed: stopped"
    assert [o.split("/")[1].split("-")[0] for o in data_objects(remote)] == ["default", "other"]
    assert [(n, k["database"], k["stage"]) for n, k in failures] == [("db_backup_failed", "stopped", "dump")]


def test_unknown_alias_runs_nothing(sqlite_db: str, remote: Path) -> None:
    with pytest.raises(CommandError, match="Unknown database alias\\(es\\) typo; DATABASES has"):
        call_command("dbbackup", "-d", "default", "-d", "typo", verbosity=0)
    with pytest.raises(CommandError, match="either --all or --database"):
        call_command("dbbackup", "--all", "-d", "default", verbosity=0)
    assert data_objects(remote) == []


# -- safer restores --------------------------------------------------------------------------------


def test_restore_into_another_alias_deliberately(sqlite_db: str, other_db: str, remote: Path) -> None:
    Author.objects.using("default").create(name="Only in default")
    name = django_rclone.backup("default").name
    assert not Author.objects.using("other").exists()
    err = io.StringIO()
    call_command("dbrestore", "--database", "other", "--input-path", name, "--noinput", stderr=err, verbosity=1)
    assert f"{name} is a backup of database 'default', restored into 'other'" in err.getvalue()
    assert list(Author.objects.using("other").values_list("name", flat=True)) == ["Only in default"]
    # Without --input-path, "the newest backup of other" is meant, and there is none.
    with pytest.raises(CommandError, match="no backups of database 'other'"):
        call_command("dbrestore", "--database", "other", "--noinput", verbosity=0)


def test_refuses_a_backup_of_another_engine(sqlite_db: str, remote: Path) -> None:
    name = django_rclone.backup("default").name
    with pytest.raises(CommandError, match=r"ENGINE 'django\.db\.backends\.sqlite3', but 'postgres' uses"):
        call_command("dbrestore", "-d", "postgres", "-i", name, "--noinput", verbosity=0)
    with pytest.raises(IncompatibleBackup, match="Nothing was changed; pass --force"):
        django_rclone.restore("postgres", input_path=name)


def test_refuses_another_connector_unless_forced(
    sqlite_db: str, remote: Path, failures: list[tuple[str, dict[str, Any]]]
) -> None:
    Author.objects.create(name="Ada")
    name = django_rclone.backup("default").name
    manifest = remote / "db" / f"{name}.manifest.json"
    record = json.loads(manifest.read_text())
    record["connector"] = "someone.else.Connector"
    manifest.write_text(json.dumps(record))
    Author.objects.all().delete()
    with pytest.raises(CommandError, match=r"it was made by someone\.else\.Connector, but 'default' restores with"):
        call_command("dbrestore", "-i", name, "--noinput", verbosity=0)
    assert not Author.objects.exists()
    with pytest.raises(IncompatibleBackup):
        django_rclone.restore("default", input_path=name)
    assert [(n, k["stage"], k["path"]) for n, k in failures] == [("db_restore_failed", "prepare", name)] * 2
    assert isinstance(failures[0][1]["exception"], IncompatibleBackup)
    err = io.StringIO()
    call_command("dbrestore", "-i", name, "--noinput", "--force", stderr=err, verbosity=1)
    assert "restoring despite a mismatch (--force)" in err.getvalue()
    assert list(Author.objects.values_list("name", flat=True)) == ["Ada"]


def test_without_a_manifest_the_extension_must_fit(sqlite_db: str, remote: Path) -> None:
    (remote / "db").mkdir()
    (remote / "db" / "default-2024-01-01-000000.dump").write_bytes(b"PGDMP not sqlite")
    with pytest.raises(CommandError, match="extension 'dump' but the connector of 'default' writes 'sqlite3'"):
        call_command("dbrestore", "-i", "default-2024-01-01-000000.dump", "--noinput", verbosity=0)


def test_noinput_is_required_without_a_terminal(sqlite_db: str, remote: Path) -> None:
    """A real child process whose stdin is /dev/null, as under cron or CI: it must refuse, not guess."""
    Author.objects.create(name="Ada")
    django_rclone.backup("default")
    Author.objects.create(name="Bob")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "DJANGO_RCLONE_TEST_SETTINGS_JSON": json.dumps({"REMOTE": str(remote)}),
    }
    done = subprocess.run(
        [sys.executable, "-c", MANAGE, "dbrestore", "--skip-checks"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Refusing to continue without a terminal to ask on; pass --noinput." in done.stderr
    assert sorted(Author.objects.values_list("name", flat=True)) == ["Ada", "Bob"]
    done = subprocess.run(
        [sys.executable, "-c", MANAGE, "dbrestore", "--noinput", "--skip-checks"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert list(Author.objects.values_list("name", flat=True)) == ["Ada"]


# -- dbbackup flags --------------------------------------------------------------------------------


def test_output_filename_is_exact_and_never_overwrites(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None]
) -> None:
    rclone_settings(COMPRESSION="none")  # with a codec its extension is added (test_compression.py)
    call_command("dbbackup", "--output-filename", "before-upgrade.sqlite3", verbosity=0)
    first = (remote / "db" / "before-upgrade.sqlite3").read_bytes()
    manifest = json.loads((remote / "db" / "before-upgrade.sqlite3.manifest.json").read_text())
    assert manifest["name"] == "before-upgrade.sqlite3"
    Author.objects.create(name="changed")
    with pytest.raises(CommandError, match=r"'before-upgrade\.sqlite3' already exists"):
        call_command("dbbackup", "-o", "before-upgrade.sqlite3", verbosity=0)
    assert (remote / "db" / "before-upgrade.sqlite3").read_bytes() == first
    with pytest.raises(CommandError, match="not a plain backup name"):
        call_command("dbbackup", "-o", "../escape.sqlite3", verbosity=0)
    with pytest.raises(CommandError, match="names one backup"):
        call_command("dbbackup", "-d", "default,other", "-o", "x.sqlite3", verbosity=0)
    Author.objects.all().delete()
    call_command("dbrestore", "-i", "before-upgrade.sqlite3", "--noinput", verbosity=0)
    assert not Author.objects.exists()


def test_servername_fills_the_template(sqlite_db: str, rclone_settings: Settings, remote: Path) -> None:
    rclone_settings(DB_FILENAME_TEMPLATE="{database}-{servername}-{datetime}.{ext}")
    call_command("dbbackup", "--servername", "web-1", verbosity=0)
    [obj] = data_objects(remote)
    assert obj.startswith("db/default-web-1-")
    assert json.loads((remote / f"{obj}.manifest.json").read_text())["host"] == "web-1"
    [entry] = django_rclone.list_backups("default")
    assert entry.name == obj.removeprefix("db/")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--schema", "public"], "--schema is not supported by SqliteConnector \\(database 'default'\\)"),
    ],
)
def test_flags_a_connector_cannot_honour_are_refused(
    sqlite_db: str, remote: Path, flags: list[str], message: str, failures: list[tuple[str, dict[str, Any]]]
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("dbbackup", *flags, verbosity=0)
    assert data_objects(remote) == []
    name = django_rclone.backup("default").name
    with pytest.raises(CommandError, match="--no-drop is not supported by SqliteConnector"):
        call_command("dbrestore", "-i", name, "--noinput", "--no-drop", verbosity=0)
    assert [(n, k["stage"]) for n, k in failures] == [("db_backup_failed", "prepare"), ("db_restore_failed", "prepare")]


def test_connectors_that_read_each_others_backups_are_accepted(
    sqlite_db: str, rclone_settings: Settings, remote: Path
) -> None:
    """The raw-file SQLite connectors declare ``reads_backups_of`` each other; the SQL-text one does not."""
    rclone_settings(CONNECTORS={"default": "django_rclone_sqlite.SqliteCPConnector"})
    Author.objects.create(name="Ada")
    from django.db import connections

    connections["default"].close()
    raw = django_rclone.backup("default").name
    rclone_settings(CONNECTORS={"default": "django_rclone_sqlite.SqliteConnector"})
    text = django_rclone.backup("default").name
    rclone_settings(CONNECTORS={"default": "django_rclone_sqlite.SqliteBackupConnector"})
    with pytest.raises(IncompatibleBackup, match=r"made by django_rclone_sqlite\.connectors\.SqliteConnector"):
        django_rclone.restore("default", input_path=text)
    Author.objects.create(name="Bob")
    result = django_rclone.restore("default", input_path=raw)
    assert result.warnings == []
    assert list(Author.objects.values_list("name", flat=True)) == ["Ada"]


def test_unreadable_manifest_needs_skip_verify(sqlite_db: str, remote: Path) -> None:
    Author.objects.create(name="Ada")
    name = django_rclone.backup("default").name
    (remote / "db" / f"{name}.manifest.json").write_text("not json")
    Author.objects.create(name="Bob")
    with pytest.raises(CommandError, match=r"is unreadable .*; restore with --skip-verify"):
        call_command("dbrestore", "--noinput", "-i", name, verbosity=0)
    assert Author.objects.count() == 2
    err = io.StringIO()
    call_command("dbrestore", "--noinput", "-i", name, "--skip-verify", stderr=err, verbosity=1)
    assert f"{name} has no manifest" in err.getvalue()
    assert list(Author.objects.values_list("name", flat=True)) == ["Ada"]


def test_exclude_tables_is_refused_by_the_file_copy_connectors(sqlite_db: str, rclone_settings: Any) -> None:
    """The `.dump` connector honours --exclude-tables (it can leave tables out); a copy of the whole
    file cannot, so its connectors refuse the flag before anything is uploaded."""
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": "django_rclone_sqlite.SqliteBackupConnector"}})
    with pytest.raises(CommandError, match="--exclude-tables is not supported by SqliteBackupConnector"):
        call_command("dbbackup", "--exclude-tables", "a,b", verbosity=0)
