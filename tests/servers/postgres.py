"""A throwaway PostgreSQL 15 cluster for the test run (pytest plugin, loaded by tests/conftest.py).

``postgres_server`` runs ``initdb`` into a temporary folder, starts the server with ``pg_ctl`` on
127.0.0.1 at the port ``tests.settings.PG_PORT`` (env ``DJANGO_RCLONE_TEST_PG_PORT``), creates the
login role ``rclone_app`` (SCRAM password ``tests.settings.DB_PASSWORD``) owning the databases
``rclone_test`` and ``rclone_gis``, migrates the Django aliases ``postgres`` and ``postgis``, and
stops the cluster at the end of the session. ``initdb`` refuses to run as root, so under root the
server runs as the unprivileged ``postgres`` system user.

``pg_db`` / ``postgis_db`` give a test an alias whose tables are empty.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ADMIN_USER = "rclone_admin"
ADMIN_PASSWORD = "adm-Pw9! with space"
APP_USER = "rclone_app"
SERVER_USER = "postgres"  # runs the server when the tests run as root


@dataclass(frozen=True)
class PostgresServer:
    """A running test cluster and how to reach it as its superuser."""

    bindir: Path
    root: Path
    host: str
    port: int
    socket_dir: Path
    admin_user: str
    admin_password: str
    postgis: bool

    def admin_sql(self, sql: str, dbname: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement as the superuser (over TCP, with its password) and return its rows."""
        import psycopg

        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.admin_user,
            password=self.admin_password,
            dbname=dbname,
            autocommit=True,
        ) as conn:
            cur = conn.execute(sql)  # type: ignore[call-overload]
            return list(cur.fetchall()) if cur.description else []


def find_bindir() -> Path | None:
    """The PostgreSQL server binaries: ``pg_config --bindir``, else the newest Debian install."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            candidates.append(done.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for folder in candidates:
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _postgis_available(bindir: Path) -> bool:
    done = subprocess.run([str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=False)
    sharedir = done.stdout.strip() if done.returncode == 0 else ""
    if not sharedir:
        sharedir = str(bindir.parent.parent.parent.parent / "share" / "postgresql" / bindir.parent.name)
    return (Path(sharedir) / "extension" / "postgis.control").is_file()


def _run_as_server_user(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    kwargs: dict[str, Any] = {}
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVER_USER)
        kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def _chown_tree(path: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(SERVER_USER)
    for folder, dirs, files in os.walk(path):
        for name in [folder, *(os.path.join(folder, d) for d in dirs), *(os.path.join(folder, f) for f in files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start the cluster once per session, set up roles and databases, migrate, and stop it at the end."""
    from django.conf import settings

    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            pytest.skip(f"running as root and there is no {SERVER_USER!r} system user to run the server as")

    root = Path(tempfile.mkdtemp(prefix="django-rclone-pg-"))
    data, sockets, log = root / "data", root / "sock", root / "server.log"
    sockets.mkdir()
    pwfile = root / "pwfile"
    pwfile.write_text(ADMIN_PASSWORD + "\n")
    _chown_tree(root)
    port = int(settings.PG_PORT)
    server = PostgresServer(
        bindir=bindir,
        root=root,
        host="127.0.0.1",
        port=port,
        socket_dir=sockets,
        admin_user=ADMIN_USER,
        admin_password=ADMIN_PASSWORD,
        postgis=_postgis_available(bindir),
    )
    _run_as_server_user(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            f"--username={ADMIN_USER}",
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        ],
        cwd=root,
    )
    pwfile.unlink()
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# django-rclone test cluster\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {port}\n"
            f"unix_socket_directories = '{sockets}'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )
    _run_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start"], cwd=root)
    try:
        _create_roles_and_databases(server)
        _migrate(server)
        yield server
    finally:
        from django.db import connections

        for alias in ("postgres", "postgis"):
            if alias in connections.databases:
                connections[alias].close()
        _run_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], cwd=root)
        shutil.rmtree(root, ignore_errors=True)


def _create_roles_and_databases(server: PostgresServer) -> None:
    from django.conf import settings

    password = str(settings.DB_PASSWORD).replace("'", "''")
    server.admin_sql("SET password_encryption = 'scram-sha-256'")
    server.admin_sql(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{password}'")
    server.admin_sql(f"CREATE DATABASE rclone_test OWNER {APP_USER}")
    server.admin_sql(f"CREATE DATABASE rclone_gis OWNER {APP_USER}")
    if server.postgis:
        server.admin_sql("CREATE EXTENSION postgis", dbname="rclone_gis")


def _migrate(server: PostgresServer) -> None:
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", database="postgres", verbosity=0)
    if server.postgis and "postgis" in connections.databases:
        call_command("migrate", database="postgis", verbosity=0)


def _flush(alias: str) -> None:
    from django.core.management import call_command
    from django.db import connections

    call_command("flush", database=alias, interactive=False, verbosity=0)
    connections[alias].close()


@pytest.fixture
def pg_db(postgres_server: PostgresServer) -> Iterator[str]:
    """The ``postgres`` alias with every Django table emptied before and after the test."""
    _flush("postgres")
    yield "postgres"
    _flush("postgres")


@pytest.fixture
def postgis_db(postgres_server: PostgresServer) -> Iterator[str]:
    """The ``postgis`` alias (PostGIS enabled) with every Django table emptied before and after the test."""
    from django.db import connections

    if "postgis" not in connections.databases:
        pytest.skip("GeoDjango libraries (GDAL, GEOS) are not installed, so the 'postgis' alias is not configured")
    if not postgres_server.postgis:
        pytest.skip("PostGIS is not installed for this PostgreSQL: apt-get install postgresql-15-postgis-3")
    _flush("postgis")
    yield "postgis"
    _flush("postgis")
