"""MysqlDumpConnector without a server: exact argv, environment, option file, plugin discovery.

These build commands only (nothing connects), except where a stand-in tool prints a version string
to play MySQL's client, which this machine does not have.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from django_rclone.plugins import build_host
from django_rclone.resolution import resolve
from django_rclone_mysql import MysqlDumpConnector, option_file
from django_rclone_mysql.tools import first_on_path, flavor
from tests import settings as test_settings

PW = test_settings.DB_PASSWORD
PORT = str(test_settings.MYSQL_PORT)
CONN = ["--host=127.0.0.1", f"--port={PORT}", "--user=rclone_app", "--default-character-set=utf8mb4"]
DUMP_DEFAULTS = ["--quick", "--no-tablespaces", "--single-transaction"]
#: Restore flags against untrusted input; the installed MariaDB 10.11 client lists --sandbox.
UNTRUSTED = ["--local-infile=0", "--sandbox"]


@pytest.fixture
def connectors() -> Iterator[Any]:
    """Build connectors for the ``mysql`` alias and clean up their option files afterwards."""
    made: list[MysqlDumpConnector] = []

    def make(**options: Any) -> MysqlDumpConnector:
        connector = MysqlDumpConnector("mysql", options)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.cleanup()


def split_secret(argv: list[str]) -> tuple[list[str], Path]:
    """(argv without the option-file argument, the option file); the file must come right after the tool."""
    first = argv[1]
    assert first.startswith("--defaults-extra-file="), argv
    return [argv[0], *argv[2:]], Path(first.split("=", 1)[1])


def fake_tool(folder: Path, name: str, version_line: str) -> str:
    """A stand-in client that only answers ``--version`` (MySQL's clients are not installed here)."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\nprint({version_line!r})\n")
    path.chmod(0o755)
    return str(path)


# -- argv ------------------------------------------------------------------------------------------


def test_default_dump_and_restore_argv(connectors: Any) -> None:
    connector = connectors()
    dump, secret = split_secret(connector.dump_argv())
    assert dump == [connector.dump_cmd, *CONN, *DUMP_DEFAULTS, "rclone_test"]
    assert secret.exists()
    restore, _ = split_secret(connector.restore_argv())
    assert restore == [connector.restore_cmd, *UNTRUSTED, *CONN, "--one-database", "rclone_test"]
    assert connector.extension == "sql"


@pytest.mark.parametrize(("help_line", "sandboxed"), [("  --sandbox   Disallow commands", True), ("Usage", False)])
def test_sandbox_only_when_the_client_lists_it(
    connectors: Any, tmp_path: Path, help_line: str, sandboxed: bool
) -> None:
    """An older or MySQL client without --sandbox is not given the flag (it would refuse to start);
    the connector then reports it unsandboxed, and the core verifies the backup before restoring."""
    client = fake_tool(tmp_path, "mysql", help_line)
    connector = connectors(RESTORE_CMD=client, PASSWORD="")
    assert connector.restore_sandboxed() is sandboxed
    assert ("--sandbox" in connector.restore_argv()) is sandboxed
    assert "--local-infile=0" in connector.restore_argv()


def test_password_only_in_option_file(connectors: Any) -> None:
    connector = connectors()
    argv = connector.dump_argv()
    assert not any(PW in word for word in argv)
    env = connector.environment("DUMP")
    assert "MYSQL_PWD" not in env or env["MYSQL_PWD"] == os.environ.get("MYSQL_PWD")
    assert not any(PW in value for value in connector.secret_env().values())
    _, secret = split_secret(argv)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700
    assert secret.read_text() == '[client]\npassword="pw-Zq8!x rclone"\n'
    connector.cleanup()
    assert not secret.exists()
    assert not secret.parent.exists()


def test_tools_found_on_path_prefer_mariadb_names(tmp_path: Path) -> None:
    for name in ("mysqldump", "mariadb-dump"):
        fake_tool(tmp_path, name, "x")
    assert first_on_path(("mariadb-dump", "mysqldump"), path=str(tmp_path)) == "mariadb-dump"
    (tmp_path / "mariadb-dump").unlink()
    assert first_on_path(("mariadb-dump", "mysqldump"), path=str(tmp_path)) == "mysqldump"
    (tmp_path / "mysqldump").unlink()
    assert first_on_path(("mariadb-dump", "mysqldump"), path=str(tmp_path)) == "mysqldump"


def test_dump_cmd_restore_cmd_prefix_suffix(connectors: Any) -> None:
    connector = connectors(
        DUMP_CMD="/opt/mysql/bin/mysqldump",
        RESTORE_CMD="mysql",
        DUMP_PREFIX="nice -n 19",
        DUMP_SUFFIX=["--column-statistics=0"],
        RESTORE_SUFFIX="--max-allowed-packet=64M",
    )
    dump, _ = split_secret(connector.dump_argv()[3:])
    assert connector.dump_argv()[:3] == ["nice", "-n", "19"]
    assert dump == ["/opt/mysql/bin/mysqldump", *CONN, *DUMP_DEFAULTS, "rclone_test", "--column-statistics=0"]
    restore, _ = split_secret(connector.restore_argv())
    assert restore == ["mysql", *UNTRUSTED, *CONN, "--one-database", "rclone_test", "--max-allowed-packet=64M"]


def test_dump_options(connectors: Any) -> None:
    connector = connectors(
        SINGLE_TRANSACTION=False, ROUTINES=True, EVENTS=True, TRIGGERS=False, EXCLUDE=["django_session", "t2"]
    )
    dump, _ = split_secret(connector.dump_argv())
    assert dump[len(CONN) + 1 :] == [
        "--quick",
        "--no-tablespaces",
        "--routines",
        "--skip-triggers",
        "--events",
        "--ignore-table=rclone_test.django_session",
        "--ignore-table=rclone_test.t2",
        "rclone_test",
    ]


def test_options_from_databases_entry(connectors: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    entry: dict[str, Any] = django_settings.DATABASES["mysql"]  # type: ignore[assignment]
    monkeypatch.setitem(entry, "ROUTINES", True)
    dump, _ = split_secret(connectors().dump_argv())
    assert "--routines" in dump
    dump, _ = split_secret(connectors(ROUTINES=False).dump_argv())  # per-alias options win
    assert "--routines" not in dump


@pytest.mark.parametrize("exclude", ["django_session", [1, 2]])
def test_exclude_must_be_a_list_of_names(connectors: Any, exclude: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="EXCLUDE"):
        connectors(EXCLUDE=exclude).dump_argv()


def test_unix_socket_from_host(connectors: Any) -> None:
    connector = connectors(HOST="/run/mysqld/mysqld.sock", PORT=3307)
    dump, _ = split_secret(connector.dump_argv())
    restore, _ = split_secret(connector.restore_argv())
    expected = ["--socket=/run/mysqld/mysqld.sock", "--user=rclone_app", "--default-character-set=utf8mb4"]
    assert dump[1:4] == expected
    assert restore[1:] == [*UNTRUSTED, *expected, "--one-database", "rclone_test"]


def test_unix_socket_from_options_only_without_tcp_host(connectors: Any) -> None:
    options = {"unix_socket": "/tmp/m.sock"}
    dump, _ = split_secret(connectors(HOST="localhost", OPTIONS=options).dump_argv())
    assert dump[1] == "--socket=/tmp/m.sock"
    dump, _ = split_secret(connectors(HOST="", OPTIONS=options).dump_argv())
    assert dump[1] == "--socket=/tmp/m.sock"
    dump, _ = split_secret(connectors(HOST="db.internal", OPTIONS=options).dump_argv())
    assert dump[1:3] == ["--host=db.internal", f"--port={PORT}"]


def test_no_host_port_user_password(connectors: Any) -> None:
    connector = connectors(HOST="", PORT="", USER="", PASSWORD="", CHARSET="latin1")
    assert connector.dump_argv() == [
        connector.dump_cmd,
        "--default-character-set=latin1",
        *DUMP_DEFAULTS,
        "rclone_test",
    ]
    assert connector.restore_argv() == [
        connector.restore_cmd,
        *UNTRUSTED,
        "--default-character-set=latin1",
        "--one-database",
        "rclone_test",
    ]


def test_read_default_file_is_included(connectors: Any, tmp_path: Path) -> None:
    own = tmp_path / "my.cnf"
    own.write_text("[client]\nuser=from_file\n")
    connector = connectors(OPTIONS={"read_default_file": str(own)})
    _, secret = split_secret(connector.dump_argv())
    assert secret.read_text() == f'!include {own}\n[client]\npassword="{PW}"\n'
    no_password = connectors(PASSWORD="", OPTIONS={"read_default_file": str(own)})
    assert no_password.dump_argv()[1] == f"--defaults-extra-file={own}"


def test_empty_name_is_an_actionable_error(connectors: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="NAME"):
        connectors(NAME="").dump_argv()


# -- option file quoting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "quoted"),
    [
        ("plain", '"plain"'),
        (' a"b\\c ', '" a\\"b\\\\c "'),
        ("#;'x", '"#;\'x"'),
        ("tab\there\nnl", '"tab\\there\\nnl"'),
    ],
)
def test_option_file_quoting(password: str, quoted: str) -> None:
    assert option_file.quote_value(password) == quoted


def test_option_file_rejects_nul() -> None:
    with pytest.raises(ImproperlyConfigured):
        option_file.quote_value("a\x00b")


# -- TLS -------------------------------------------------------------------------------------------

SSL_FILES = {"ca": "/etc/ssl/ca.pem", "cert": "/etc/ssl/client.pem", "key": "/etc/ssl/client-key.pem"}
SSL_FILE_FLAGS = ["--ssl-ca=/etc/ssl/ca.pem", "--ssl-cert=/etc/ssl/client.pem", "--ssl-key=/etc/ssl/client-key.pem"]


def tls_args(connector: MysqlDumpConnector, phase: str) -> list[str]:
    argv, _ = split_secret(connector.dump_argv() if phase == "DUMP" else connector.restore_argv())
    return [word for word in argv if word.startswith("--ssl") or word.startswith("--skip-ssl")]


def test_ssl_files_pass_through_for_both_tools(connectors: Any) -> None:
    connector = connectors(OPTIONS={"ssl": SSL_FILES})
    assert tls_args(connector, "DUMP") == SSL_FILE_FLAGS
    assert tls_args(connector, "RESTORE") == SSL_FILE_FLAGS


@pytest.mark.parametrize(
    ("mode", "mariadb_flags"),
    [
        ("DISABLED", ["--skip-ssl"]),
        ("preferred", []),
        ("REQUIRED", ["--ssl"]),
        ("VERIFY_CA", ["--ssl", "--ssl-verify-server-cert"]),
        ("VERIFY_IDENTITY", ["--ssl", "--ssl-verify-server-cert"]),
    ],
)
def test_ssl_mode_for_mariadb_and_mysql_clients(
    connectors: Any, tmp_path: Path, mode: str, mariadb_flags: list[str]
) -> None:
    mariadb = connectors(OPTIONS={"ssl": SSL_FILES, "ssl_mode": mode})
    assert flavor(mariadb.exe("DUMP")) == "mariadb"  # the real client on this machine
    assert tls_args(mariadb, "DUMP") == [*SSL_FILE_FLAGS, *mariadb_flags]
    assert tls_args(mariadb, "RESTORE") == [*SSL_FILE_FLAGS, *mariadb_flags]
    dump = fake_tool(tmp_path, "mysqldump", "mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)")
    client = fake_tool(tmp_path, "mysql", "mysql  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)")
    mysql = connectors(DUMP_CMD=dump, RESTORE_CMD=client, OPTIONS={"ssl": SSL_FILES, "ssl_mode": mode})
    assert tls_args(mysql, "DUMP") == [*SSL_FILE_FLAGS, f"--ssl-mode={mode.upper()}"]
    assert tls_args(mysql, "RESTORE") == [*SSL_FILE_FLAGS, f"--ssl-mode={mode.upper()}"]


def test_ssl_mode_is_checked(connectors: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="ssl_mode"):
        connectors(OPTIONS={"ssl_mode": "SOMETIMES"}).dump_argv()
    with pytest.raises(ImproperlyConfigured, match="ssl"):
        connectors(OPTIONS={"ssl": "/etc/ssl/ca.pem"}).dump_argv()


def test_flavor_is_asked_only_when_a_mode_is_set(connectors: Any, tmp_path: Path) -> None:
    marker = tmp_path / "asked"
    tool = tmp_path / "mysqldump"
    tool.write_text(f"#!{sys.executable}\nopen({str(marker)!r}, 'w').close()\nprint('mysqldump Ver 8.4.0')\n")
    tool.chmod(0o755)
    connectors(DUMP_CMD=str(tool), OPTIONS={"ssl": SSL_FILES}).dump_argv()
    assert not marker.exists()
    connectors(DUMP_CMD=str(tool), OPTIONS={"ssl_mode": "REQUIRED"}).dump_argv()
    assert marker.exists()


# -- versions, discovery, resolution ---------------------------------------------------------------------


def test_tool_versions_name_the_real_tools(connectors: Any) -> None:
    connector = connectors()
    versions = connector.tool_versions()
    assert set(versions) == {connector.dump_cmd, connector.restore_cmd}
    assert all("MariaDB" in line or "Ver" in line for line in versions.values()), versions


def test_entry_point_declares_the_mysql_engines() -> None:
    engines = build_host().engines()
    for engine in (
        "django.db.backends.mysql",
        "django.contrib.gis.db.backends.mysql",
        "django_prometheus.db.backends.mysql",
    ):
        claim = engines[engine]
        assert claim.plugin == "mysql"
        assert claim.connector == "django_rclone_mysql.connectors.MysqlDumpConnector"


def test_resolve_picks_the_connector_with_no_settings(remote: Path) -> None:
    resolution = resolve("mysql", build_host())
    assert resolution.rule == "plugin"
    assert type(resolution.connector) is MysqlDumpConnector
    assert resolution.connector.database == "mysql"


# -- atomic restore options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "atomic"), [(None, True), (True, True), (False, False), ("false", False), ("off", False), ("1", True)]
)
def test_atomic_restore_option_and_verify_before(connectors: Any, value: Any, atomic: bool) -> None:
    connector = connectors(**({} if value is None else {"ATOMIC_RESTORE": value}))
    assert connector.atomic_restore is atomic
    assert connector.verify_before_restore is (not atomic)  # a direct restore is checked in full first


@pytest.mark.parametrize("value", [0, 301, "60", 1.5, True])
def test_swap_lock_timeout_is_checked(connectors: Any, value: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="SWAP_LOCK_TIMEOUT"):
        connectors(SWAP_LOCK_TIMEOUT=value).swap_lock_timeout()


def test_grant_pattern_escapes_wildcards_in_the_name() -> None:
    from django_rclone_mysql.shadow import grant_pattern

    assert grant_pattern("shop") == "`shop\\_\\_rclone\\_%`.*"
    assert grant_pattern("my_db%") == "`my\\_db\\%\\_\\_rclone\\_%`.*"
