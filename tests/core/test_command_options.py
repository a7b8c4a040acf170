"""The django-dbbackup command options, for real: a recording prefix wraps the real sqlite3.

``DUMP_PREFIX``/``RESTORE_PREFIX`` point at a tiny stand-in that writes its argv and environment
to a log and then executes the rest of its argv, so the test sees exactly what the core started
while the real tools still do the backup and the restore.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from tests.plugins.sqlite.test_roundtrip import populate, snapshot
from tests.testapp.models import Author

pytestmark = pytest.mark.usefixtures("no_stray_processes")

RECORDER = """\
import json, os, sys
with open({log!r}, "a") as log:
    log.write(json.dumps({{"phase": sys.argv[1], "argv": sys.argv[2:], "env": dict(os.environ)}}) + "\\n")
os.execv(sys.argv[2], sys.argv[2:])
"""


def recorder(folder: Path) -> tuple[Path, Path]:
    log = folder / "calls.jsonl"
    script = folder / "record"
    script.write_text(f"#!{sys.executable}\n" + RECORDER.format(log=str(log)))
    script.chmod(0o755)
    return script, log


@pytest.mark.parametrize("use_parent_env", [True, False])
def test_prefix_cmd_and_environment_options_reach_the_real_tools(
    sqlite_db: str,
    rclone_settings: Callable[..., Any],
    remote: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_parent_env: bool,
) -> None:
    sqlite3 = shutil.which("sqlite3")
    assert sqlite3, "the sqlite3 shell is required"
    script, log = recorder(tmp_path)
    monkeypatch.setenv("PARENT_ONLY_MARKER", "from-the-parent")
    rclone_settings(
        CONNECTORS={
            "default": {
                "DUMP_CMD": sqlite3,
                "RESTORE_CMD": sqlite3,
                "DUMP_PREFIX": [str(script), "dump"],
                "RESTORE_PREFIX": f"{script} restore",  # a string is split into words
                "ENV": {"BOTH_PHASES": "yes", "SHARED": "from ENV"},
                "DUMP_ENV": {"SHARED": "from DUMP_ENV"},
                "RESTORE_ENV": {"SHARED": "from RESTORE_ENV"},
                "USE_PARENT_ENV": use_parent_env,
            }
        }
    )
    populate()
    before = snapshot()
    call_command("dbbackup", verbosity=0)
    Author.objects.create(name="Added after the backup")
    call_command("dbrestore", "--noinput", verbosity=0)
    assert snapshot() == before

    calls = {call["phase"]: call for call in map(json.loads, log.read_text().splitlines())}
    assert set(calls) == {"dump", "restore"}
    dump, restore = calls["dump"], calls["restore"]
    assert dump["argv"][0] == sqlite3  # DUMP_CMD, right after the prefix
    assert ".dump" in dump["argv"]  # followed by the table counts in the same transaction
    assert restore["argv"][0] == sys.executable  # the swap helper, which runs RESTORE_CMD itself
    assert restore["argv"][restore["argv"].index("--sqlite3") + 1] == sqlite3
    assert dump["env"]["BOTH_PHASES"] == restore["env"]["BOTH_PHASES"] == "yes"
    assert dump["env"]["SHARED"] == "from DUMP_ENV"
    assert restore["env"]["SHARED"] == "from RESTORE_ENV"
    for call in (dump, restore):
        assert ("PARENT_ONLY_MARKER" in call["env"]) is use_parent_env
