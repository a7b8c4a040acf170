"""Stand-in rclone: runs the real rclone, except for the action named in STANDIN_RCLONE_FAIL.

``STANDIN_RCLONE_FAIL=rcat:K`` makes ``rcat`` read K bytes then exit 1 (the remote went away
mid-upload); ``cat:K`` makes ``cat`` write K bytes of the real object then exit 1, and
``cat-hang:K`` write K bytes then hang until it is killed (to interrupt a restore mid-stream; it
creates the file named by ``STANDIN_RCLONE_HANG_MARK``, if set, once it hangs). An object shorter
than K bytes (a manifest) is read normally. A run's marker (``*.pending``) is always written for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def main() -> int:
    real = os.environ["STANDIN_RCLONE_REAL"]
    argv = sys.argv[1:]
    mode, _, limit = os.environ.get("STANDIN_RCLONE_FAIL", "").partition(":")
    action = "cat" if mode == "cat-hang" else mode
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
            data = proc.stdout.read(k)
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            if len(data) < k:  # the whole object was shorter: no fault to inject
                return proc.wait()
            proc.kill()
            proc.wait()
            if mode == "cat-hang":
                mark = os.environ.get("STANDIN_RCLONE_HANG_MARK")
                if mark:
                    open(mark, "w").close()
                while True:
                    time.sleep(1)
            sys.stderr.write(f"standin-rclone: read error after {k} bytes\n")
            return 1
    os.execv(real, [real, *argv])  # noqa: S606 - becoming the real rclone is the point
    return 0  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
