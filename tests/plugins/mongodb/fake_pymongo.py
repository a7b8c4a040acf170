"""Stand-in for the few pymongo calls a MongoDB restore drill makes, on the stand-in's fake server.

The fake server is the JSON file the stand-in mongorestore writes (database -> collection ->
documents). Every call is appended to ``CALLS`` (one JSON object a line) so tests can check what
was listed, counted and dropped, and with which client arguments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SERVER = Path("/nonexistent/server.json")
CALLS = Path("/nonexistent/calls.jsonl")


def _note(**call: Any) -> None:
    with CALLS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(call) + "\n")


def _state() -> dict[str, dict[str, int]]:
    return json.loads(SERVER.read_text(encoding="utf-8")) if SERVER.exists() else {}


class Collection:
    def __init__(self, database: str, name: str) -> None:
        self.database, self.name = database, name

    def count_documents(self, query: dict[str, Any]) -> int:
        assert query == {}
        _note(call="count", database=self.database, collection=self.name)
        return _state()[self.database][self.name]


class Database:
    def __init__(self, name: str) -> None:
        self.name = name

    def list_collection_names(self, filter: dict[str, Any] | None = None) -> list[str]:
        _note(call="list_collections", database=self.name, filter=filter)
        return list(_state().get(self.name, {}))

    def __getitem__(self, name: str) -> Collection:
        return Collection(self.name, name)


class MongoClient:
    def __init__(self, **kwargs: Any) -> None:
        _note(call="client", kwargs=kwargs)

    def list_database_names(self) -> list[str]:
        _note(call="list_databases")
        return list(_state())

    def drop_database(self, name: str) -> None:
        _note(call="drop", database=name)
        state = _state()
        state.pop(name, None)
        SERVER.write_text(json.dumps(state), encoding="utf-8")

    def __getitem__(self, name: str) -> Database:
        return Database(name)

    def close(self) -> None:
        _note(call="close")
