"""The --config file's quoting and the --host rules, checked on their own."""

from __future__ import annotations

import json

import pytest

from django_rclone_mongodb import address, yaml_config

TRAPS = [
    "plain",
    "",
    'double " quote',
    "single ' quote",
    "colon: space",
    "#starts-with-hash",
    "trailing #comment",
    "back\\slash \\n not a newline",
    "  leading and trailing spaces  ",
    "- looks like a list",
    "? key",
    "{flow: map}",
    "[flow, list]",
    "&anchor *alias !tag %directive @at `tick` |pipe >fold",
    "yes",
    "null",
    "~",
    "0x1F",
    "1e3",
    "é ü ß 中文 ☃ 🎉",
    "line\nbreak\r\ncrlf\ttab",
    "nul\x00bell\x07esc\x1bdel\x7f",
    "c1\x85nel\u2028ls\u2029ps\ufeffbom",
]


@pytest.mark.parametrize("value", TRAPS)
def test_quoted_value_reads_back_exactly_as_json(value: str) -> None:
    quoted = yaml_config.quote(value)
    assert "\n" not in quoted
    assert "\r" not in quoted
    assert json.loads(quoted) == value


def test_quoted_values_read_back_exactly_as_yaml() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML, a second reader of the config file, is not installed")
    for value in filter(None, TRAPS):
        text = yaml_config.render({"password": value, "uri": "mongodb://h/db"})
        assert yaml.safe_load(text) == {"password": value, "uri": "mongodb://h/db"}, text


def test_render_leaves_out_empty_values_and_rejects_unknown_keys() -> None:
    assert yaml_config.render({"password": "", "uri": "mongodb://h"}) == 'uri: "mongodb://h"\n'
    assert yaml_config.render({"password": ""}) == ""
    with pytest.raises(ValueError, match="do not accept"):
        yaml_config.render({"username": "x"})


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        yaml_config.quote("bad \udc80")


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("db.internal", "27018", ["--host=db.internal:27018"]),
        ("db.internal", "", ["--host=db.internal"]),
        ("", "", ["--host=localhost"]),
        ("", "27017", ["--host=localhost:27017"]),
        ("db.internal:27020", "27018", ["--host=db.internal:27020"]),
        ("::1", "27017", ["--host=[::1]:27017"]),
        ("[::1]", "27017", ["--host=[::1]:27017"]),
        ("[::1]:27020", "27017", ["--host=[::1]:27020"]),
        ("rs0/db1,db2:27019", "27017", ["--host=rs0/db1,db2:27019", "--port=27017"]),
        ("db1,db2", "", ["--host=db1,db2"]),
    ],
)
def test_host_argument(host: str, port: str, expected: list[str]) -> None:
    assert address.host_argument(host, port) == expected


@pytest.mark.parametrize(
    ("uri", "database"),
    [
        ("mongodb://h:27017/shop?authSource=admin", "shop"),
        ("mongodb+srv://u:p%2Fq@cluster0.example.net/my%20db", "my db"),
        ("mongodb://h:27017/?authSource=admin", ""),
        ("mongodb://h:27017", ""),
    ],
)
def test_uri_database(uri: str, database: str) -> None:
    assert address.is_uri(uri)
    assert address.uri_database(uri) == database


def test_is_uri_is_false_for_host_names() -> None:
    assert not address.is_uri("mongodb.internal")
    assert address.is_uri(" MONGODB+SRV://cluster0.example.net")
