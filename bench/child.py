"""Run one of our operations in a fresh process and print its wall time and peak RSS as JSON.

A child process per run keeps the measurement honest: its peak RSS belongs to this one backup or
restore (plus Django's own baseline), not to the benchmark driver that generated the test data.
Peak RSS is ``VmHWM`` from /proc/self/status, the high-water mark of this process's own address
space. (``getrusage().ru_maxrss`` would not do: Linux carries the parent's peak into a child
started with vfork+exec, as subprocess does, so it reported the benchmark driver's memory.)
Wall time covers the operation only, not interpreter start-up.

    python -m bench.child backup|restore|restore-no-undo ALIAS [NAME]

DJANGO_RCLONE comes from DJANGO_RCLONE_TEST_SETTINGS_JSON (see tests/settings.py).
"""

from __future__ import annotations

import json
import os
import sys
import time


def _peak_rss_kib() -> int:
    """This process's peak resident set size (VmHWM), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django_rclone.operations.backup import backup
    from django_rclone.operations.restore import restore

    action, alias = argv[0], argv[1]
    before = _peak_rss_kib()
    clock = time.perf_counter()
    if action == "backup":
        result = backup(alias)
        name, size, uncompressed = result.name, result.size, result.uncompressed_size
    else:
        # "restore" is dbrestore's default, which first takes an undo backup of the database it
        # replaces; "restore-no-undo" is --no-undo-backup, the stream alone (the raw pipeline's job).
        restored = restore(alias, input_path=argv[2], undo_backup=action != "restore-no-undo")
        name, size = restored.name, restored.size
        uncompressed = restored.manifest.uncompressed_size if restored.manifest else None
    wall = time.perf_counter() - clock
    peak = _peak_rss_kib()
    record = {"wall": wall, "rss_kib": peak, "rss_before_kib": before, "name": name, "size": size}
    print(json.dumps({**record, "uncompressed_size": uncompressed if uncompressed is not None else size}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
