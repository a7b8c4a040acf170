"""Stand-in rclone: runs the real rclone, except for the action named in STANDIN_RCLONE_FAIL.

``STANDIN_RCLONE_FAIL=rcat:K`` makes ``rcat`` read K bytes then exit 1 (the remote went away
mid-upload); ``cat:K`` makes ``cat`` write K bytes of the real object then exit 1. A run's
marker (``*.pending``) is always written for real.
"""

from __future__ import annotations

import os
import subprocess
import sys


def main() -> int:
    real = os.environ["STANDIN_RCLONE_REAL"]
    argv = sys.argv[1:]
    action, _, limit = os.environ.get("STANDIN_RCLONE_FAIL", "").partition(":")
    if action and action in argv and not argv[-1].endswith(".pending"):  # a run's marker is not the backup
        k = int(limit or 0)
        if action == "rcat":
            got = 0
            while got < k:
                chunk = sys.stdin.buffer.read1(min(65536, k - got))
                if not chunk:
                    break
                got += len(chunk)
            sys.stderr.write(f"standin-rclone: connection to remote lost after {got} bytes\n")
            return 1
        if action == "cat":
            proc = subprocess.Popen([real, *argv], stdout=subprocess.PIPE)
            assert proc.stdout is not None
            sys.stdout.buffer.write(proc.stdout.read(k))
            sys.stdout.buffer.flush()
            proc.kill()
            proc.wait()
            sys.stderr.write(f"standin-rclone: read error after {k} bytes\n")
            return 1
    os.execv(real, [real, *argv])  # noqa: S606 - becoming the real rclone is the point
    return 0  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
