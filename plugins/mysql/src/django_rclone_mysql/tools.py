"""Which client tools to run, and whether they come from MySQL or MariaDB.

MariaDB ships its clients as ``mariadb-dump`` / ``mariadb`` (with ``mysqldump`` / ``mysql`` kept as
compatibility names that newer releases warn about); MySQL only ships ``mysqldump`` / ``mysql``. The
two families differ in a few flags (``--ssl-mode`` exists only in MySQL's clients), so the connector
asks the tool itself when a flag depends on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Literal

Flavor = Literal["mariadb", "mysql"]

#: Candidate names, preferred first: the MariaDB names avoid deprecation warnings where both exist.
DUMP_TOOLS = ("mariadb-dump", "mysqldump")
RESTORE_TOOLS = ("mariadb", "mysql")


def first_on_path(candidates: Sequence[str], path: str | None = None) -> str:
    """The first candidate found on ``path`` (default: ``$PATH``), else the last candidate.

    Falling back to the last (most widely known) name keeps "not found" errors readable.
    """
    for name in candidates:
        if shutil.which(name, path=path):
            return name
    return candidates[-1]


def flavor(exe: str, env: Mapping[str, str] | None = None) -> Flavor:
    """``"mariadb"`` when ``exe --version`` says MariaDB, else ``"mysql"``.

    When the tool cannot run, its name decides (the spawn that follows reports the real error).
    """
    try:
        done = subprocess.run(
            [exe, "--version"],
            capture_output=True,
            timeout=10,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
        )
        text = (done.stdout + done.stderr).decode(errors="replace")
    except (OSError, subprocess.SubprocessError):
        text = os.path.basename(exe)
    return "mariadb" if "mariadb" in text.lower() else "mysql"
