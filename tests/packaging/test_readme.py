"""The README's first commands: the PEP 668 alternative really runs where pip is refused."""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"
SYSTEM_PYTHON = Path("/usr/bin/python3")


def demo_commands() -> list[str]:
    """The indented command lines of the README that run the demo (before any comment)."""
    lines = [line.strip().split("#", 1)[0].strip() for line in README.read_text().splitlines()]
    return [line for line in lines if line.endswith("nox -s demo")]


def alternative() -> list[str]:
    """The README's demo command that installs nothing with pip (uvx or pipx run)."""
    found = [cmd for cmd in demo_commands() if not cmd.startswith("pip ")]
    assert found, f"README.md has no demo command for PEP 668 Pythons: {demo_commands()}"
    return shlex.split(found[0])


def _online() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        return False
    return True


def test_readme_gives_the_pip_free_command_next_to_the_pip_one() -> None:
    commands = demo_commands()
    assert any(cmd.startswith("pip install nox") for cmd in commands)
    assert alternative()[0] in ("uvx", "pipx")


def test_the_alternative_runs_on_an_externally_managed_python(tmp_path: Path) -> None:
    markers = glob.glob(f"{SYSTEM_PYTHON.parent.parent}/lib/python3*/EXTERNALLY-MANAGED")
    if not SYSTEM_PYTHON.exists() or not markers:
        pytest.skip("no externally managed system Python (PEP 668) on this machine")
    refused = subprocess.run(
        [str(SYSTEM_PYTHON), "-m", "pip", "install", "--dry-run", "nox"], capture_output=True, text=True, timeout=120
    )
    if "No module named pip" in refused.stderr:
        pytest.skip("the system Python has no pip to refuse anything")
    assert refused.returncode != 0
    assert "externally-managed-environment" in refused.stdout + refused.stderr
    command = alternative()
    tool = shutil.which(command[0]) or shutil.which(command[0], path=str(Path(sys.executable).parent))
    if tool is None:
        pytest.skip(f"{command[0]} is not installed (pip install uv / apt install pipx)")
    if not _online():
        pytest.skip("PyPI is not reachable: the README's command downloads nox")
    # The README's command with --version instead of running the demo, on the system Python, with
    # empty caches so that nothing installed earlier helps it.
    argv = [tool, *command[1:-2], "--version"] if command[-2:] == ["-s", "demo"] else [tool, "--version"]
    env = {
        **os.environ,
        "UV_PYTHON": str(SYSTEM_PYTHON),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "PIPX_DEFAULT_PYTHON": str(SYSTEM_PYTHON),
        "PIPX_HOME": str(tmp_path / "pipx"),
    }
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    printed = (done.stdout + done.stderr).strip()
    assert printed.splitlines()[-1][:1].isdigit(), printed  # nox prints its version, e.g. 2026.10.20
