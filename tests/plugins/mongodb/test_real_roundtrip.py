"""The real MongoDB round trip: mongod, mongodump, mongorestore, pymongo and rclone, nothing stood in.

Runs only where ``mongod``, ``mongodump`` and ``mongorestore`` are on PATH and ``pymongo`` is
importable; otherwise every test here skips and says which of them is missing. (The machines this
project is developed and tested on have none of them: MongoDB is in no package registry they reach.)

A throwaway ``mongod`` starts with access control on 127.0.0.1, on a free port, in a temporary folder;
its first user is created through the localhost exception with a password full of YAML traps. Each
test writes documents of many BSON types (and indexes), backs the database up through the real
pipeline, damages the data (drops a collection, changes and adds documents), restores, and compares
every document and index with what was there at backup time.
"""

from __future__ import annotations

import contextlib
import datetime
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from django_rclone.api import backup
from tests.plugins.mongodb.conftest import ALIAS, restore_via_pipeline

TOOLS = ("mongod", "mongodump", "mongorestore")
_missing = [tool for tool in TOOLS if shutil.which(tool) is None]
try:
    import pymongo  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the machine
    pymongo = None
    _missing.append("the pymongo package")

pytestmark = [
    pytest.mark.mongodb,
    pytest.mark.skipif(bool(_missing), reason=f"real MongoDB round trip needs {', '.join(_missing)} (not found)"),
    pytest.mark.usefixtures("no_stray_processes"),
]

DATABASE = "rclone_test"
USER = "rclone_backup"
#: YAML traps that SCRAM's SASLprep still accepts (quotes, ': ', '#', backslash, spaces, Latin-1).
PASSWORD = "pw \"q\": 'x' #c \\ s p é"
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Mongod:
    port: int
    folder: Path
    proc: subprocess.Popen[bytes]

    def client(self, authenticated: bool = True) -> Any:
        assert pymongo is not None
        credentials: dict[str, Any] = (
            {"username": USER, "password": PASSWORD, "authSource": "admin"} if authenticated else {}
        )
        return pymongo.MongoClient(
            "127.0.0.1", self.port, directConnection=True, serverSelectionTimeoutMS=2000, **credentials
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(folder: Path) -> str:
    log = folder / "mongod.log"
    return log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"


@pytest.fixture(scope="module")
def mongod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mongod]:
    """A mongod with --auth on 127.0.0.1 and one root user, stopped after this module."""
    folder = tmp_path_factory.mktemp("mongod")
    (folder / "data").mkdir()
    port = _free_port()
    argv = [
        "mongod",
        "--dbpath", str(folder / "data"),
        "--port", str(port),
        "--bind_ip", "127.0.0.1",
        "--auth",
        "--unixSocketPrefix", str(folder),
        "--logpath", str(folder / "mongod.log"),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    server = Mongod(port=port, folder=folder, proc=proc)
    try:
        _wait_ready(server)
        with contextlib.closing(server.client(authenticated=False)) as anonymous:
            # The localhost exception lets the first user be created on a server with --auth.
            anonymous.admin.command("createUser", USER, pwd=PASSWORD, roles=["root"])
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def _wait_ready(server: Mongod) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            stderr = server.proc.stderr.read().decode(errors="replace") if server.proc.stderr else ""
            pytest.fail(f"mongod exited with {server.proc.returncode}: {stderr}\n{_log_tail(server.folder)}")
        try:
            with contextlib.closing(server.client(authenticated=False)) as client:
                client.admin.command("ping")
            return
        except Exception as exc:  # pymongo raises several kinds while the server starts
            last = exc
            time.sleep(0.2)
    pytest.fail(f"mongod did not answer within {START_TIMEOUT}s ({last}):\n{_log_tail(server.folder)}")


def populate(db: Any) -> None:
    from bson import Binary, Decimal128, ObjectId

    db.authors.insert_many(
        [
            {"_id": 1, "name": "Ada", "bio": "línea ☃ 🎉\nsecond line; 'quoted'", "tags": ["x", "y"]},
            {"_id": 2, "name": "Bob", "bio": None, "nested": {"a": {"b": [1, 2.5, True]}}},
        ]
    )
    db.books.insert_many(
        [
            {
                "_id": ObjectId(),
                "author": 1,
                "title": "Notes",
                "price": Decimal128("12.50"),
                "published": datetime.datetime(2024, 6, 5, 12, 30, 15, 123000),
                "cover": Binary(b"\x00\xff\x10"),
                "uid": uuid.UUID("12345678-1234-5678-1234-567812345678").bytes,
            },
            {"_id": ObjectId(), "author": 2, "title": "Second", "price": Decimal128("0.99"), "big": 2**62},
        ]
        + [{"_id": ObjectId(), "author": 1, "title": f"filler {i}", "text": "x" * 1000} for i in range(2000)]
    )
    db.books.create_index([("author", 1), ("title", -1)], name="author_title")
    db.authors.create_index("name", unique=True)


def snapshot(db: Any) -> dict[str, Any]:
    collections = sorted(db.list_collection_names())
    return {
        name: {
            "documents": list(db[name].find({}, sort=[("_id", 1)])),
            "indexes": sorted(
                (index["name"], tuple(index["key"].items()), bool(index.get("unique")))
                for index in db[name].list_indexes()
            ),
        }
        for name in collections
    }


def damage(db: Any) -> None:
    db.drop_collection("books")
    db.authors.update_one({"_id": 1}, {"$set": {"name": "Changed"}})
    db.authors.insert_one({"_id": 3, "name": "Carol"})
    db.create_collection("stray")


def _round_trip(server: Mongod, configure: Callable[..., dict[str, Any]], **database: Any) -> None:
    configure(**database)
    with contextlib.closing(server.client()) as client:
        client.drop_database(DATABASE)  # each test starts from an empty database
        db = client[DATABASE]
        populate(db)
        before = snapshot(db)
        assert set(before) == {"authors", "books"}
        result = backup(ALIAS)
        assert result.size > 0
        assert result.manifest.tool_versions.get("mongodump", "").startswith("mongodump version")
        damage(db)
        assert snapshot(db) != before
        restore_via_pipeline(ALIAS)
        after = snapshot(db)
        # --drop replaces every collection in the archive; a collection made after the backup stays.
        assert after.pop("stray") == {"documents": [], "indexes": [("_id_", (("_id", 1),), False)]}
        assert after == before


@pytest.fixture
def real_alias(rclone_settings: Callable[..., None]) -> Iterator[Callable[..., dict[str, Any]]]:
    """The ``mongo`` alias on the real tools (found on PATH)."""
    import warnings

    from django.conf import settings
    from django.test import override_settings

    stack = contextlib.ExitStack()

    def configure(**database: Any) -> dict[str, Any]:
        entry = {"ENGINE": "django_mongodb_backend", "NAME": DATABASE, **database}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stack.enter_context(override_settings(DATABASES={**settings.DATABASES, ALIAS: entry}))
        rclone_settings()
        return entry

    with stack:
        yield configure


def test_round_trip_with_host_port_user_and_password(mongod: Mongod, real_alias: Callable[..., dict[str, Any]]) -> None:
    _round_trip(
        mongod,
        real_alias,
        HOST="127.0.0.1",
        PORT=mongod.port,
        USER=USER,
        PASSWORD=PASSWORD,
        AUTH_SOURCE="admin",
    )


def test_round_trip_with_connection_string_host(mongod: Mongod, real_alias: Callable[..., dict[str, Any]]) -> None:
    uri = f"mongodb://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@127.0.0.1:{mongod.port}/?authSource=admin"
    _round_trip(mongod, real_alias, HOST=uri)


def test_round_trip_with_uri_and_separate_password(mongod: Mongod, real_alias: Callable[..., dict[str, Any]]) -> None:
    uri = f"mongodb://127.0.0.1:{mongod.port}/?directConnection=true"
    _round_trip(mongod, real_alias, HOST=uri, USER=USER, PASSWORD=PASSWORD, OPTIONS={"authSource": "admin"})
