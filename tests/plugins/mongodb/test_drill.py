"""Restore drills of the MongoDB connector, through the real plugin, core pipeline and rclone.

mongodump/mongorestore are stand-ins that log per-collection document counts like the real tools
and "restore" into a fake server (``standin_tool.py``); pymongo, which the connector uses to list,
count and drop the scratch database, is a stand-in on that same fake server (``fake_pymongo.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from django_rclone.api import backup, drill
from django_rclone.db.base import ToolNotFound
from django_rclone.exceptions import DjangoRcloneError, DrillFailed, PipelineError
from django_rclone.pipeline import STDERR_TAIL
from django_rclone.resolution import resolve
from django_rclone_mongodb import MongoDumpConnector
from tests.plugins.mongodb.conftest import ALIAS, PASSWORD, ProcessWatcher, StandinTools
from tests.plugins.mongodb.test_contract import SERVER, assert_secret_hidden

pytestmark = pytest.mark.usefixtures("no_stray_processes")

Configure = Callable[..., dict[str, Any]]
COLLECTIONS = {"orders": 3, "users": 1, "audit.log": 250}


def drops(tools: StandinTools) -> list[str]:
    return [call["database"] for call in tools.calls() if call["call"] == "drop"]


def scratch_of(tools: StandinTools) -> str:
    argv = tools.record("restore")["argv"]
    targets = [arg.split("=", 1)[1] for arg in argv if arg.startswith("--nsTo=")]
    assert len(targets) == 1, argv
    return targets[0].removesuffix(".*")


def test_backup_records_the_document_counts_mongodump_logged(
    mongo_alias: Configure, standin_tools: StandinTools
) -> None:
    mongo_alias(**SERVER)
    standin_tools.configure(collections=COLLECTIONS, noise=2 * STDERR_TAIL)  # the counts leave the stderr tail
    result = backup(ALIAS)
    assert result.manifest.metadata == {"table_counts": COLLECTIONS}


def test_backup_without_count_lines_records_no_counts(mongo_alias: Configure, standin_tools: StandinTools) -> None:
    mongo_alias()
    standin_tools.configure(collections={})
    assert backup(ALIAS).manifest.metadata == {}
    mongo_alias(options={"COUNT_ROWS": False})
    standin_tools.configure(collections=COLLECTIONS)
    assert backup(ALIAS).manifest.metadata == {}


def test_repeated_count_lines_record_no_counts(mongo_alias: Configure) -> None:
    mongo_alias()
    connector = resolve(ALIAS).connector
    assert isinstance(connector, MongoDumpConnector)
    line = "2024-06-05T10:00:00.000+0000\tdone dumping shop.orders (3 documents)"
    assert connector.read_counts([line, "x\tdone dumping other.orders (9 documents)"]) == {"orders": 3}
    assert connector.read_counts([line, line]) is None
    assert connector.read_counts(None) is None
    assert connector.read_counts([]) is None


def test_drill_of_a_backup_without_counts_warns(
    mongo_alias: Configure, standin_tools: StandinTools, fake_pymongo: StandinTools
) -> None:
    mongo_alias(options={"DUMP_SUFFIX": "--quiet"})
    standin_tools.configure(collections={})  # what --quiet does to the count lines
    backup(ALIAS)
    standin_tools.configure(collections=COLLECTIONS)
    result = drill(ALIAS)
    assert result.passed
    assert result.recorded is None
    assert any("recorded no table counts" in w for w in result.warnings)
    assert standin_tools.databases() == {}


def test_drill_passes_restores_into_a_scratch_database_and_drops_it(
    mongo_alias: Configure, standin_tools: StandinTools, fake_pymongo: StandinTools, watch: Callable[[], ProcessWatcher]
) -> None:
    mongo_alias(**SERVER)
    standin_tools.configure(collections=COLLECTIONS)
    backup(ALIAS)
    with watch() as watcher:
        result = drill(ALIAS)
    assert result.passed, result.report()
    assert result.recorded == result.found == COLLECTIONS
    scratch = scratch_of(standin_tools)
    assert scratch.startswith("shop_drill_")
    assert len(scratch) == len("shop_drill_") + 8
    assert result.scratch == scratch
    argv = standin_tools.record("restore")["argv"]
    assert "--nsFrom=shop.*" in argv
    assert "--nsInclude=shop.*" in argv
    assert drops(standin_tools) == [scratch]
    assert standin_tools.databases() == {}, "the scratch database outlived the drill"
    clients = [call["kwargs"] for call in standin_tools.calls() if call["call"] == "client"]
    assert clients
    assert all(c["password"] == PASSWORD and c["authSource"] == "admin" for c in clients)
    assert all(c["host"] == ["db.internal"] and c["port"] == 27018 for c in clients)
    assert_secret_hidden(watcher, PASSWORD)


def test_drill_with_a_count_mismatch_fails_with_a_report_and_drops_the_scratch(
    mongo_alias: Configure, standin_tools: StandinTools, fake_pymongo: StandinTools
) -> None:
    mongo_alias()
    standin_tools.configure(collections=COLLECTIONS)
    backup(ALIAS)
    standin_tools.configure(collections=COLLECTIONS, restore_collections={"orders": 2, "users": 1})
    with pytest.raises(DrillFailed) as caught:
        drill(ALIAS)
    report = str(caught.value)
    assert "drill FAILED" in report
    assert "table orders has 2 rows after the restore, the backup recorded 3" in report
    assert "table audit.log is missing from the restored database" in report
    assert drops(standin_tools) == [scratch_of(standin_tools)]
    assert standin_tools.databases() == {}


def test_failing_restore_still_drops_the_scratch_database(
    mongo_alias: Configure, standin_tools: StandinTools, fake_pymongo: StandinTools
) -> None:
    mongo_alias()
    standin_tools.configure(collections=COLLECTIONS)
    backup(ALIAS)
    standin_tools.configure(mode="fail", collections=COLLECTIONS)
    with pytest.raises(PipelineError, match="simulated error"):
        drill(ALIAS)
    scratch = scratch_of(standin_tools)
    assert drops(standin_tools) == [scratch]
    assert standin_tools.databases() == {}


def test_the_live_database_is_never_restored_into_nor_dropped(
    mongo_alias: Configure, standin_tools: StandinTools, fake_pymongo: StandinTools
) -> None:
    mongo_alias()
    standin_tools.configure(collections=COLLECTIONS)
    backup(ALIAS)
    standin_tools.server.write_text('{"shop": {"orders": 3, "users": 1, "audit.log": 250}}', encoding="utf-8")
    for mode in ("ok", "fail"):
        standin_tools.configure(mode=mode, collections=COLLECTIONS)
        with pytest.raises(PipelineError) if mode == "fail" else _nothing():
            drill(ALIAS)
        assert scratch_of(standin_tools) != "shop"
        assert standin_tools.databases() == {"shop": COLLECTIONS}, "the live database was touched"
    assert "shop" not in drops(standin_tools)
    # And the connector refuses a scratch name that is the live one, whatever asks it to.
    connector = resolve(ALIAS).connector
    assert isinstance(connector, MongoDumpConnector)
    scratch = connector.drill_target()
    assert isinstance(scratch, MongoDumpConnector)
    for name in ("shop", "shop_other"):
        forged = scratch.scratch_copy(NAME=name)
        assert isinstance(forged, MongoDumpConnector)
        forged._claimed = True
        with pytest.raises(DjangoRcloneError, match="refusing"):
            forged.drop_scratch()
    assert "shop" not in drops(standin_tools)


def test_an_existing_scratch_name_is_neither_used_nor_dropped(
    mongo_alias: Configure, fake_pymongo: StandinTools
) -> None:
    mongo_alias()
    scratch = resolve(ALIAS).connector.drill_target()
    fake_pymongo.server.write_text(f'{{"{scratch.name}": {{"mine": 1}}}}', encoding="utf-8")
    with pytest.raises(DjangoRcloneError, match="already exists"):
        scratch.create_scratch()
    scratch.drop_scratch()
    assert drops(fake_pymongo) == []
    assert fake_pymongo.databases() == {scratch.name: {"mine": 1}}


def test_drill_without_pymongo_fails_before_restoring_anything(
    mongo_alias: Configure, standin_tools: StandinTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    mongo_alias()
    standin_tools.configure(collections=COLLECTIONS)
    backup(ALIAS)
    standin_tools.configure(collections=COLLECTIONS)
    monkeypatch.setitem(sys.modules, "pymongo", None)  # import pymongo raises ImportError
    with pytest.raises(ToolNotFound, match="need pymongo"):
        drill(ALIAS)
    assert not (standin_tools.record_dir / "restore.json").exists(), "mongorestore ran"
    assert standin_tools.databases() == {}


def test_uri_host_goes_to_pymongo_in_process(mongo_alias: Configure, fake_pymongo: StandinTools) -> None:
    uri = f"mongodb+srv://backup:{PASSWORD}@cluster.example.net/shop?retryWrites=true"
    mongo_alias(HOST=uri, NAME="", OPTIONS={"tls": True, "AUTH_SOURCE": "admin"})
    connector = resolve(ALIAS).connector
    assert isinstance(connector, MongoDumpConnector)
    kwargs = connector.client_arguments()
    assert kwargs["host"] == uri
    assert "port" not in kwargs
    assert kwargs["tls"] is True
    assert kwargs["authSource"] == "admin"
    assert "AUTH_SOURCE" not in kwargs
    mongo_alias(HOST="rs0/db1:27017,db2:27017")
    connector = resolve(ALIAS).connector
    assert isinstance(connector, MongoDumpConnector)
    kwargs = connector.client_arguments()
    assert kwargs["host"] == ["db1:27017", "db2:27017"]
    assert kwargs["replicaSet"] == "rs0"


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
