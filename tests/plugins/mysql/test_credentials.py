"""Credentials against the real server: no password in any command line, odd passwords, TLS accounts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests import settings as test_settings
from tests.processes import ProcessWatch
from tests.servers.mariadb import DATABASE, SHADOWS, TLS_USER, MariaDB
from tests.testapp.models import Author, Note

pytestmark = [pytest.mark.mysql, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]

ALIAS = "mysql"
TOOLS = {"mariadb-dump", "mysqldump", "mariadb", "mysql"}


def test_password_never_in_a_command_line_or_tool_environment(mysql_db: str, remote: Path) -> None:
    # ~8 MB of rows so the dump and the restore each live long enough to be seen many times.
    chunk = "".join(chr(0x41 + i % 26) for i in range(100_000))
    for start in range(0, 80, 40):
        Note.objects.using(ALIAS).bulk_create([Note(text=f"{n} {chunk}") for n in range(start, start + 40)])
    Author.objects.using(ALIAS).create(name="Ada")
    secret = test_settings.DB_PASSWORD
    with ProcessWatch(TOOLS) as watch:
        call_command("dbbackup", "--database", ALIAS, verbosity=0)
        Note.objects.using(ALIAS).all().delete()
        call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert watch.leaks(secret) == []
    assert watch.env_leaks(secret) == []
    dumps = [w for w in watch.runs_of("mariadb-dump", "mysqldump", mine=True) if DATABASE in w]
    clients = [w for w in watch.runs_of("mariadb", "mysql", mine=True) if DATABASE in w]
    assert dumps, f"the dump was never observed in {watch.scans} scans"
    assert clients, f"the restore was never observed in {watch.scans} scans"
    option_files = {w[1].split("=", 1)[1] for w in [*dumps, *clients]}
    assert all(w[1].startswith("--defaults-extra-file=") for w in [*dumps, *clients])
    assert not any(Path(path).exists() for path in option_files), "option files must be removed after the run"
    assert Note.objects.using(ALIAS).count() == 80


def test_the_watch_sees_a_leaking_process() -> None:
    """The watch itself must catch a password in a command line, or the test above proves nothing."""
    secret = "not-the-real-password-" + os.urandom(4).hex()
    with ProcessWatch() as watch:
        leaky = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)", secret])
        leaky.wait()
    assert watch.leaks(secret) == [[sys.executable, "-c", "import time; time.sleep(0.5)", secret]]


ODD_PASSWORDS = [
    " a\"b\\c'd #e;f  ",
    "new\nline\ttab\\n",
    "ünïcødé €😀",
    "--password=looks-like-a-flag",
]


@pytest.fixture(params=range(len(ODD_PASSWORDS)), ids=["quotes-hash-spaces", "control", "unicode", "flag-like"])
def odd_account(request: pytest.FixtureRequest, mariadb_server: MariaDB) -> Iterator[tuple[str, str]]:
    password = ODD_PASSWORDS[request.param]
    user = f"rclone_odd{request.param}"
    quoted = "'" + password.replace("\\", "\\\\").replace("'", "''").replace("\n", "\\n").replace("\t", "\\t") + "'"
    mariadb_server.sql(
        f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY {quoted};\n"
        f"GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{user}'@'127.0.0.1';\n"
        f"GRANT ALL PRIVILEGES ON {SHADOWS} TO '{user}'@'127.0.0.1';"
    )
    yield user, password
    mariadb_server.sql(f"DROP USER '{user}'@'127.0.0.1';")


def test_odd_passwords_reach_the_server_intact(
    mysql_db: str, rclone_settings: Any, remote: Path, odd_account: tuple[str, str]
) -> None:
    user, password = odd_account
    rclone_settings(CONNECTORS={ALIAS: {"USER": user, "PASSWORD": password}})
    Author.objects.using(ALIAS).create(name="Ada")
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    Author.objects.using(ALIAS).all().delete()
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert list(Author.objects.using(ALIAS).values_list("name", flat=True)) == ["Ada"]


def test_wrong_password_fails_clearly(mysql_db: str, rclone_settings: Any, remote: Path) -> None:
    rclone_settings(CONNECTORS={ALIAS: {"PASSWORD": test_settings.DB_PASSWORD + "x"}})
    with pytest.raises(CommandError, match="Access denied"):
        call_command("dbbackup", "--database", ALIAS, verbosity=0)


@pytest.fixture
def tls(mariadb_server: MariaDB) -> Path:
    if mariadb_server.tls_dir is None:
        pytest.skip("openssl is not installed, so the test server has no TLS certificate")
    return mariadb_server.tls_dir


def tls_options(ca: Path, mode: str) -> dict[str, Any]:
    return {"USER": TLS_USER, "OPTIONS": {"charset": "utf8mb4", "ssl": {"ca": str(ca)}, "ssl_mode": mode}}


def test_tls_options_reach_the_tools(mysql_db: str, rclone_settings: Any, remote: Path, tls: Path) -> None:
    # rclone_tls may only connect over TLS (REQUIRE SSL); the certificate names 127.0.0.1, signed by ca.pem.
    rclone_settings(CONNECTORS={ALIAS: tls_options(tls / "ca.pem", "VERIFY_IDENTITY")})
    Author.objects.using(ALIAS).create(name="Ada")
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    Author.objects.using(ALIAS).all().delete()
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert list(Author.objects.using(ALIAS).values_list("name", flat=True)) == ["Ada"]


def test_tls_disabled_is_refused_by_a_tls_only_account(
    mysql_db: str, rclone_settings: Any, remote: Path, tls: Path
) -> None:
    rclone_settings(CONNECTORS={ALIAS: tls_options(tls / "ca.pem", "DISABLED")})
    with pytest.raises(CommandError, match="Access denied"):
        call_command("dbbackup", "--database", ALIAS, verbosity=0)


def test_tls_verification_rejects_an_unknown_ca(
    mysql_db: str, rclone_settings: Any, remote: Path, tls: Path, tmp_path: Path
) -> None:
    # A CA file that did not sign the server's certificate: verification must fail.
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text((tls / "server.pem").read_text())  # self-consistent PEM, but not the issuer
    rclone_settings(CONNECTORS={ALIAS: tls_options(other_ca, "VERIFY_CA")})
    with pytest.raises(CommandError, match=r"(?i)ssl|tls|certificate"):
        call_command("dbbackup", "--database", ALIAS, verbosity=0)
