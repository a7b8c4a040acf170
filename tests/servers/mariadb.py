"""A throwaway MariaDB server for the test session.

``mariadb_server`` initialises a data directory in a temporary folder, starts ``mariadbd`` on
127.0.0.1 (port from ``DJANGO_RCLONE_TEST_MYSQL_PORT``) and on the private socket
``tests.settings.MYSQL_SOCKET``, creates the ``rclone_test`` database (utf8mb4) and the
password-protected ``rclone_app`` account the ``mysql`` alias uses, migrates that alias, and shuts
the server down when the session ends. The server also gets a throwaway TLS certificate so the
TLS options can be tested against it. Without the server binaries the fixture skips, naming them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DATABASE = "rclone_test"
APP_USER = "rclone_app"
TLS_USER = "rclone_tls"  # an account that may only connect over TLS
LIVE_ONLY_USER = "rclone_live_only"  # ALL on the live database, nothing on the shadow databases
SHADOWS = "`rclone\\_test\\_\\_rclone\\_%`.*"  # GRANT pattern of rclone_test__rclone_*
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class MariaDB:
    """A running test server and how to reach it as root (no password, over its socket)."""

    port: int
    socket: str
    datadir: Path
    tls_dir: Path | None
    proc: subprocess.Popen[bytes]

    def root_argv(self, *args: str) -> list[str]:
        return [_client(), "--no-defaults", f"--socket={self.socket}", "--user=root", *args]

    def databases(self) -> list[str]:
        """Every database on the server."""
        return sorted(self.sql("SHOW DATABASES").split())

    def sql(self, statements: str, database: str = "") -> str:
        """Run SQL as root; return the tab-separated output."""
        argv = self.root_argv("--batch", "--skip-column-names", *([database] if database else []))
        done = subprocess.run(argv, input=statements.encode(), capture_output=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"mariadb failed: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode()


def _which(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
        if found:
            return found
    return ""


def _client() -> str:
    return _which("mariadb", "mysql")


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _make_tls(folder: Path) -> Path | None:
    """A CA and a server certificate for 127.0.0.1/localhost, or None without openssl."""
    openssl = shutil.which("openssl")
    if not openssl:
        return None
    folder.mkdir(parents=True)

    def run(words: str, *extra: str) -> None:
        """``openssl`` with space-separated ``words`` (none contains a space) plus ``extra``; no shell."""
        argv = [openssl, *words.split(), *extra]
        subprocess.run(argv, cwd=folder, check=True, capture_output=True, timeout=60)

    run("req -x509 -newkey rsa:2048 -nodes -days 2 -keyout ca-key.pem -out ca.pem", "-subj", "/CN=test CA")
    run("req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server-key.pem -out server.csr")
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile san.ext -out server.pem"
    )
    return folder


def _wait_ready(server: MariaDB, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited with {server.proc.returncode}:\n{log.read_text(errors='replace')}")
        done = subprocess.run(server.root_argv("-e", "SELECT 1"), capture_output=True, timeout=30)
        if done.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"mariadbd did not accept connections in {START_TIMEOUT}s:\n{log.read_text(errors='replace')}")


def _stop(server: MariaDB) -> None:
    with contextlib.suppress(Exception):
        subprocess.run(server.root_argv("-e", "SHUTDOWN"), capture_output=True, timeout=30)
    try:
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    """Start MariaDB for the session with the database and account of the ``mysql`` alias."""
    from django.core.management import call_command
    from django.db import connections

    from tests import settings

    install_db, mariadbd, client = _which("mariadb-install-db", "mysql_install_db"), _which("mariadbd"), _client()
    missing = [
        n for n, path in (("mariadb-install-db", install_db), ("mariadbd", mariadbd), ("mariadb", client)) if not path
    ]
    if missing:
        pytest.skip(
            f"MariaDB server binaries not found: {', '.join(missing)} (apt-get install mariadb-server mariadb-client)"
        )
    if not (shutil.which("mariadb-dump") or shutil.which("mysqldump")):
        pytest.skip("mariadb-dump/mysqldump not found (apt-get install mariadb-client)")

    base = tmp_path_factory.mktemp("mariadb")
    datadir = base / "data"
    log = base / "mariadbd.log"
    socket = Path(settings.MYSQL_SOCKET)
    socket.parent.mkdir(parents=True, exist_ok=True)
    socket.unlink(missing_ok=True)
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    install = subprocess.run(
        [
            install_db,
            "--no-defaults",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *as_root,
        ],
        capture_output=True,
        timeout=300,
    )
    if install.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed:\n{install.stdout.decode()}\n{install.stderr.decode()}")

    tls = _make_tls(base / "tls")
    tls_args = (
        [f"--ssl-ca={tls / 'ca.pem'}", f"--ssl-cert={tls / 'server.pem'}", f"--ssl-key={tls / 'server-key.pem'}"]
        if tls
        else []
    )
    port = int(os.environ["DJANGO_RCLONE_TEST_MYSQL_PORT"])
    proc = subprocess.Popen(
        [
            mariadbd,
            "--no-defaults",
            f"--datadir={datadir}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--socket={socket}",
            f"--pid-file={base / 'mariadbd.pid'}",
            f"--log-error={log}",
            "--skip-networking=0",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=64M",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            *tls_args,
            *as_root,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = MariaDB(port=port, socket=str(socket), datadir=datadir, tls_dir=tls, proc=proc)
    try:
        _wait_ready(server, log)
        password = _sql_string(settings.DB_PASSWORD)
        statements = [f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"]
        for host in ("%", "localhost"):
            statements += [
                f"CREATE USER '{APP_USER}'@'{host}' IDENTIFIED BY {password};",
                f"GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{APP_USER}'@'{host}';",
                # The atomic restore's shadow databases (docs/plugins/mysql.md): rclone_test__rclone_*.
                f"GRANT ALL PRIVILEGES ON {SHADOWS} TO '{APP_USER}'@'{host}';",
                f"CREATE USER '{TLS_USER}'@'{host}' IDENTIFIED BY {password} REQUIRE SSL;",
                f"GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{TLS_USER}'@'{host}';",
                f"GRANT ALL PRIVILEGES ON {SHADOWS} TO '{TLS_USER}'@'{host}';",
                # An account with rights on the live database only: atomic restores must refuse it.
                f"CREATE USER '{LIVE_ONLY_USER}'@'{host}' IDENTIFIED BY {password};",
                f"GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{LIVE_ONLY_USER}'@'{host}';",
            ]
        server.sql("\n".join(statements))
        call_command("migrate", database="mysql", verbosity=0)
        connections["mysql"].close()
        yield server
    finally:
        connections["mysql"].close()
        _stop(server)


@pytest.fixture
def mysql_db(mariadb_server: MariaDB) -> Iterator[str]:
    """The ``mysql`` alias with empty test tables (the schema is the migrated one)."""
    from django.db import connections

    from tests.testapp.models import Author, Book, Note

    for model in (Book, Author, Note):
        model.objects.using("mysql").all().delete()
    yield "mysql"
    connections["mysql"].close()
