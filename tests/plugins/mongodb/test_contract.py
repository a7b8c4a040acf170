"""MongoDumpConnector's contract, through the real plugin, core pipeline and rclone.

mongodump/mongorestore are stand-ins (see ``standin_tool.py``): these tests check what the tools are
given (argv, environment, the --config file and its permissions) and that the archive bytes make the
round trip unchanged. Whether real tools accept these arguments is checked by
``test_real_roundtrip.py`` on a machine that has MongoDB.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from django_rclone.api import backup, restore
from django_rclone.exceptions import PipelineError
from django_rclone.plugins import get_host
from django_rclone.resolution import resolve
from django_rclone_mongodb import MongoDumpConnector
from tests.plugins.mongodb.conftest import ALIAS, PASSWORD, ProcessWatcher, StandinTools, restore_via_pipeline

pytestmark = pytest.mark.usefixtures("no_stray_processes")

Configure = Callable[..., dict[str, Any]]
Watch = Callable[[], ProcessWatcher]

SERVER = {"HOST": "db.internal", "PORT": 27018, "USER": "backup", "PASSWORD": PASSWORD, "AUTH_SOURCE": "admin"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_removed(config: dict[str, Any]) -> None:
    path = Path(config["path"])
    assert not path.exists(), f"{path} outlived the run"
    assert not path.parent.exists(), f"private folder {path.parent} outlived the run"


def assert_private_config(config: dict[str, Any] | None) -> dict[str, Any]:
    assert config is not None, "the tool was not given --config"
    assert config["mode"] == 0o600
    assert config["dir_mode"] == 0o700
    assert config["owner"] == os.getuid()
    return config


def assert_secret_hidden(watcher: ProcessWatcher, *secrets: str) -> None:
    words = watcher.all_words()
    assert words, "the watcher saw no process"
    for secret in secrets:
        leaks = [w for w in words if secret in w]
        assert not leaks, f"secret visible in a command line: {leaks}"


# -- engine mapping --------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["djongo", "django_mongodb_engine", "django_mongodb_backend"])
def test_each_mongodb_engine_resolves_to_the_plugin(mongo_alias: Configure, engine: str) -> None:
    mongo_alias(ENGINE=engine)
    resolution = resolve(ALIAS)
    assert resolution.rule == "plugin"
    assert resolution.detail == "plugin 'mongodb'"
    assert type(resolution.connector) is MongoDumpConnector
    assert get_host().extension(resolution.connector, ALIAS) == "archive"


@pytest.mark.parametrize("engine", ["djongo", "django_mongodb_engine"])
def test_backup_by_engine_names_the_archive_and_records_the_connector(
    mongo_alias: Configure, standin_tools: StandinTools, engine: str
) -> None:
    mongo_alias(ENGINE=engine, **SERVER)
    result = backup(ALIAS)
    assert result.name.endswith(".archive")
    assert result.manifest.engine == engine
    assert result.manifest.connector == "django_rclone_mongodb.connectors.MongoDumpConnector"
    assert result.manifest.tool_versions["mongodump"] == "mongodump version: 100.99.0-standin"


# -- backup ----------------------------------------------------------------------------------


def test_backup_argv_config_file_and_bytes(
    mongo_alias: Configure, standin_tools: StandinTools, remote: Path, watch: Watch
) -> None:
    mongo_alias(**SERVER)
    standin_tools.configure(hold=0.3)
    with watch() as watcher:
        result = backup(ALIAS)

    record = standin_tools.record("dump")
    config = assert_private_config(record["config"])
    assert record["argv"] == [
        "--db=shop",
        "--host=db.internal:27018",
        "--username=backup",
        "--authenticationDatabase=admin",
        f"--config={config['path']}",
        "--archive",
    ]
    assert config["values"] == {"password": PASSWORD}
    assert_removed(config)

    assert watcher.command_lines("mongodump"), "the watcher never saw mongodump running"
    assert watcher.command_lines("rclone"), "the watcher never saw rclone running"
    assert_secret_hidden(watcher, PASSWORD, "Pw ")
    assert PASSWORD not in " ".join(record["cmdline"])
    assert not [k for k, v in record["env"].items() if PASSWORD in v], "password leaked into the environment"

    stored = (remote / "db" / result.name).read_bytes()
    assert stored == standin_tools.payload()
    assert result.size == len(stored)
    assert result.sha256 == sha(stored)


def test_connection_string_host_goes_to_config_file_not_argv(
    mongo_alias: Configure, standin_tools: StandinTools, watch: Watch
) -> None:
    uri = "mongodb+srv://app:s3cr%3At@cluster0.example.net/shop?retryWrites=true&w=majority"
    mongo_alias(HOST=uri, NAME="shop", OPTIONS={"authSource": "admin"})
    standin_tools.configure(hold=0.3)
    with watch() as watcher:
        backup(ALIAS)
    record = standin_tools.record("dump")
    config = assert_private_config(record["config"])
    assert record["argv"] == ["--db=shop", "--authenticationDatabase=admin", f"--config={config['path']}", "--archive"]
    assert config["values"] == {"uri": uri}
    assert_secret_hidden(watcher, "s3cr", "cluster0.example.net", "mongodb+srv")
    assert_removed(config)


def test_plain_uri_with_separate_password_and_database_from_the_uri(
    mongo_alias: Configure, standin_tools: StandinTools
) -> None:
    uri = "mongodb://db1.internal:27017,db2.internal:27017/inventory?replicaSet=rs0"
    mongo_alias(HOST=uri, NAME="", PORT=27017, USER="ops", PASSWORD=PASSWORD)
    backup(ALIAS)
    record = standin_tools.record("dump")
    config = assert_private_config(record["config"])
    assert record["argv"] == ["--db=inventory", "--username=ops", f"--config={config['path']}", "--archive"]
    assert config["values"] == {"password": PASSWORD, "uri": uri}


def test_djongo_client_settings_and_no_password_means_no_config_file(
    mongo_alias: Configure, standin_tools: StandinTools
) -> None:
    client = {"host": "10.0.0.5", "port": 27019, "username": "reader", "authSource": "users"}
    mongo_alias(ENGINE="djongo", CLIENT=client)
    backup(ALIAS)
    record = standin_tools.record("dump")
    assert record["config"] is None
    assert record["argv"] == [
        "--db=shop",
        "--host=10.0.0.5:27019",
        "--username=reader",
        "--authenticationDatabase=users",
        "--archive",
    ]


def test_per_alias_options_override_databases(mongo_alias: Configure, standin_tools: StandinTools) -> None:
    mongo_alias(
        options={"HOST": "replica.internal", "USER": "dumper", "PASSWORD": "other pw", "AUTH_SOURCE": "ops"},
        **SERVER,
    )
    backup(ALIAS)
    record = standin_tools.record("dump")
    config = assert_private_config(record["config"])
    assert record["argv"][:4] == [
        "--db=shop",
        "--host=replica.internal:27018",
        "--username=dumper",
        "--authenticationDatabase=ops",
    ]
    assert config["values"] == {"password": "other pw"}


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_config_file_removed_when_the_dump_fails_or_is_killed(
    mongo_alias: Configure, standin_tools: StandinTools, remote: Path, mode: str
) -> None:
    mongo_alias(**SERVER)
    standin_tools.configure(mode=mode)
    seen_while_running: dict[str, Any] = {}
    killer = None
    if mode == "hang":
        killer = threading.Thread(target=_kill_when_hanging, args=(standin_tools, "dump", seen_while_running))
        killer.start()
    with pytest.raises(PipelineError) as failure:
        backup(ALIAS)
    if killer is not None:
        killer.join()
        assert seen_while_running["mode"] == 0o600, "config file was not private while the dump ran"
        assert "was killed by SIGKILL" in str(failure.value)
    else:
        assert "simulated error halfway" in str(failure.value)
    assert "mongodump" in str(failure.value)
    assert_removed(assert_private_config(standin_tools.record("dump")["config"]))
    assert not [p for p in remote.rglob("*") if p.is_file()], "a failed backup left an object on the remote"


def _kill_when_hanging(tools: StandinTools, role: str, seen: dict[str, Any]) -> None:
    """Wait for the stand-in to hang halfway, check its config file from outside, then SIGKILL it."""
    marker = tools.record_dir / f"{role}.hang"
    deadline = time.monotonic() + 30
    while not marker.exists():
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)
    config = tools.record(role)["config"]
    seen["mode"] = os.stat(config["path"]).st_mode & 0o777
    os.kill(int(marker.read_text()), signal.SIGKILL)


# -- restore ---------------------------------------------------------------------------------


def test_round_trip_restores_the_dumped_bytes(
    mongo_alias: Configure, standin_tools: StandinTools, remote: Path, watch: Watch
) -> None:
    mongo_alias(**SERVER)
    dumped = backup(ALIAS)
    standin_tools.configure(hold=0.3)
    with watch() as watcher:
        stats = restore_via_pipeline(ALIAS)

    restored = standin_tools.out.read_bytes()
    assert sha(restored) == sha(standin_tools.payload()) == dumped.sha256 == stats.sha256
    assert len(restored) == dumped.size

    record = standin_tools.record("restore")
    config = assert_private_config(record["config"])
    assert record["argv"] == [
        "--host=db.internal:27018",
        "--username=backup",
        "--authenticationDatabase=admin",
        f"--config={config['path']}",
        "--nsInclude=shop.*",
        "--drop",
        "--objcheck",
        "--archive",
    ]
    assert config["values"] == {"password": PASSWORD}
    assert_removed(config)
    assert watcher.command_lines("mongorestore")
    assert watcher.command_lines("rclone")
    assert_secret_hidden(watcher, PASSWORD, "Pw ")


RESTORE_OPTION_CASES = {
    "no-drop-no-objcheck": ({"DROP": False, "OBJECT_CHECK": False}, ["--nsInclude=shop.*", "--archive"]),
    "string-flags": ({"DROP": "false", "OBJECT_CHECK": "on"}, ["--nsInclude=shop.*", "--objcheck", "--archive"]),
    "rename-from-source": (
        {"SOURCE_NAME": "prod"},
        ["--nsInclude=prod.*", "--nsFrom=prod.*", "--nsTo=shop.*", "--drop", "--objcheck", "--archive"],
    ),
    "suffix": (
        {"RESTORE_SUFFIX": "--numInsertionWorkersPerCollection=4"},
        ["--nsInclude=shop.*", "--drop", "--objcheck", "--archive", "--numInsertionWorkersPerCollection=4"],
    ),
}


@pytest.mark.parametrize(
    ("options", "expected_tail"), list(RESTORE_OPTION_CASES.values()), ids=list(RESTORE_OPTION_CASES)
)
def test_restore_options(
    mongo_alias: Configure, standin_tools: StandinTools, options: dict[str, Any], expected_tail: list[str]
) -> None:
    mongo_alias(options=options, HOST="localhost", PORT=27017)
    backup(ALIAS)
    restore_via_pipeline(ALIAS)
    record = standin_tools.record("restore")
    assert record["config"] is None
    assert record["argv"] == ["--host=localhost:27017", *expected_tail]
    assert standin_tools.out.read_bytes() == standin_tools.payload()


def test_restore_with_connection_string_host(mongo_alias: Configure, standin_tools: StandinTools) -> None:
    uri = "mongodb://app:pa%2Fss@127.0.0.1:27017/?authSource=admin"
    mongo_alias(HOST=uri, NAME="shop")
    backup(ALIAS)
    restore_via_pipeline(ALIAS)
    record = standin_tools.record("restore")
    config = assert_private_config(record["config"])
    assert record["argv"] == [f"--config={config['path']}", "--nsInclude=shop.*", "--drop", "--objcheck", "--archive"]
    assert config["values"] == {"uri": uri}
    assert_removed(config)


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_config_file_removed_when_the_restore_fails_or_is_killed(
    mongo_alias: Configure, standin_tools: StandinTools, mode: str
) -> None:
    mongo_alias(**SERVER)
    backup(ALIAS)
    standin_tools.configure(mode=mode)
    seen_while_running: dict[str, Any] = {}
    killer = None
    if mode == "hang":
        killer = threading.Thread(target=_kill_when_hanging, args=(standin_tools, "restore", seen_while_running))
        killer.start()
    with pytest.raises(PipelineError) as failure:
        restore_via_pipeline(ALIAS)
    if killer is not None:
        killer.join()
        assert seen_while_running["mode"] == 0o600
    assert "mongorestore" in str(failure.value)
    assert_removed(assert_private_config(standin_tools.record("restore")["config"]))


# -- the core's own restore() ----------------------------------------------------------------


def test_core_restore_needs_no_django_backend(mongo_alias: Configure, standin_tools: StandinTools) -> None:
    mongo_alias(**SERVER)
    dumped = backup(ALIAS)
    result = restore(ALIAS)
    assert result.verified
    assert result.sha256 == dumped.sha256
    assert standin_tools.out.read_bytes() == standin_tools.payload()


# -- EXCLUDE -----------------------------------------------------------------------------------


def test_exclude_leaves_collections_out_of_the_dump_and_untouched_on_restore(
    mongo_alias: Configure, standin_tools: StandinTools
) -> None:
    """``EXCLUDE`` reaches mongodump as ``--excludeCollection`` (one per name), and mongorestore gets
    ``--nsExclude`` for each, so a restore never drops or overwrites an excluded collection, even
    from an archive made before the exclusion was set."""
    mongo_alias(options={"EXCLUDE": ["sessions", "audit.log"]}, HOST="localhost", PORT=27017)
    backup(ALIAS)
    dump_argv = standin_tools.record("dump")["argv"]
    assert dump_argv == [
        "--db=shop",
        "--host=localhost:27017",
        "--excludeCollection=sessions",
        "--excludeCollection=audit.log",
        "--archive",
    ]
    restore_via_pipeline(ALIAS)
    restore_argv = standin_tools.record("restore")["argv"]
    assert restore_argv == [
        "--host=localhost:27017",
        "--nsInclude=shop.*",
        "--nsExclude=shop.sessions",
        "--nsExclude=shop.audit.log",
        "--drop",
        "--objcheck",
        "--archive",
    ]
    assert standin_tools.out.read_bytes() == standin_tools.payload()


def test_exclude_tables_flag_is_honoured_for_one_run(mongo_alias: Configure, standin_tools: StandinTools) -> None:
    """``dbbackup --exclude-tables`` works for MongoDB as for PostgreSQL and MySQL."""
    from django.core.management import call_command

    mongo_alias(HOST="localhost", PORT=27017)
    call_command("dbbackup", "--database", ALIAS, "--exclude-tables", "sessions", verbosity=0)
    assert "--excludeCollection=sessions" in standin_tools.record("dump")["argv"]


@pytest.mark.parametrize("bad", ["sessions", [1], [""]])
def test_exclude_must_be_a_list_of_collection_names(mongo_alias: Configure, bad: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    mongo_alias(options={"EXCLUDE": bad}, HOST="localhost")
    with pytest.raises(ImproperlyConfigured, match="EXCLUDE"):
        backup(ALIAS)


def test_damaged_archive_is_refused_before_mongorestore_starts(
    mongo_alias: Configure, standin_tools: StandinTools, remote: Path
) -> None:
    """mongorestore commits collection by collection: the whole archive is checked before it runs."""
    from django_rclone.exceptions import IntegrityError

    mongo_alias(**SERVER)
    dumped = backup(ALIAS)
    obj = remote / "db" / dumped.name
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0x01
    obj.write_bytes(bytes(data))
    standin_tools.configure()
    with pytest.raises(IntegrityError, match="checked before restoring"):
        restore(ALIAS, input_path=dumped.name, undo_backup=False)
    assert not (standin_tools.record_dir / "restore.json").exists(), "mongorestore ran"
    assert not standin_tools.out.exists()


@pytest.mark.parametrize(
    ("compression", "suffix"), [("zstd", ".archive.zst"), ("zstd:19", ".archive.zst"), ("gzip", ".archive.gz")]
)
def test_round_trip_through_each_codec(
    mongo_alias: Configure, standin_tools: StandinTools, remote: Path, compression: str, suffix: str
) -> None:
    mongo_alias(compression=compression, **SERVER)
    dumped = backup(ALIAS)
    assert dumped.name.endswith(suffix)
    assert dumped.manifest.compression == compression.split(":")[0]
    assert dumped.uncompressed_size == len(standin_tools.payload())
    assert sha((remote / "db" / dumped.name).read_bytes()) == dumped.sha256
    result = restore(ALIAS)
    assert result.verified
    assert standin_tools.out.read_bytes() == standin_tools.payload()
