"""Restore helper, run as ``python -m django_rclone_sqlite.swap --sqlite3 CMD [--load EXT] -- TARGET``.

Reads a ``.dump`` SQL stream on stdin, feeds it to ``sqlite3 -bail`` (``-safe`` with ``--safe``,
applied after the ``.load`` of extensions) building a scratch database
next to TARGET, checks the stream ended with the dump's final ``COMMIT;``, then copies the scratch
database over TARGET with the shell's ``.restore`` (SQLite's backup API: one step for every other
connection, WAL included) and removes the scratch file. Only the sqlite3 shell touches databases,
so Python's own sqlite3 module (often built without extension loading) does not matter. Any
error, or SIGTERM/SIGINT, removes the scratch file and leaves TARGET untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from django_rclone_sqlite.exclusion import keep_script
from django_rclone_sqlite.fdcopy import copy_fd

TAIL = 256


class _Stop(Exception):
    pass


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _feed(child: subprocess.Popen[bytes]) -> bytes:
    """Copy our stdin to the child's stdin; return the last bytes seen."""
    assert child.stdin is not None
    tail = b""

    def keep_tail(chunk: memoryview) -> None:
        nonlocal tail
        tail = (tail + bytes(chunk[-TAIL:]))[-TAIL:]

    copy_fd(sys.stdin.buffer.fileno(), child.stdin.fileno(), keep_tail)
    child.stdin.close()
    return tail


def keep_command(args: argparse.Namespace, script: str) -> list[str]:
    """sqlite3 for the EXCLUDE step: the script's ``ATTACH`` of the live database runs as a
    ``-cmd`` before ``-safe`` (which refuses ATTACH in its input), like the ``.load`` of extensions."""
    cmd = [args.sqlite3, "-bail", "-batch"]
    for ext in args.load:
        cmd += ["-cmd", f".load {ext}"]
    first = script.split("\n", 1)[0]
    if first.startswith("ATTACH "):
        cmd += ["-cmd", first]
    if args.safe:
        cmd.append("-safe")
    return cmd


def _body(script: str) -> str:
    """The script without its leading ``ATTACH`` line (given to ``keep_command`` instead)."""
    first, _, rest = script.partition("\n")
    return rest if first.startswith("ATTACH ") else script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m django_rclone_sqlite.swap")
    parser.add_argument("--sqlite3", default="sqlite3")
    parser.add_argument("--load", action="append", default=[])
    parser.add_argument("--keep", action="append", default=[], help="a table to keep as it is in TARGET (EXCLUDE)")
    parser.add_argument("--safe", action="store_true", help="run sqlite3 with -safe after loading extensions")
    parser.add_argument("target")
    args = parser.parse_args(argv)
    target = Path(args.target)
    scratch = target.with_name(f".django-rclone-restore-{os.getpid()}.sqlite3")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    child: subprocess.Popen[bytes] | None = None
    try:
        scratch.unlink(missing_ok=True)
        cmd = [args.sqlite3, "-bail", "-batch"]
        for ext in args.load:
            cmd += ["-cmd", f".load {ext}"]
        if args.safe:
            cmd.append("-safe")  # after the -cmd .load options: sqlite3 applies them in order
        # SpatiaLite's file functions (BlobToFile, ExportSHP...) exist only with SPATIALITE_SECURITY=relaxed.
        env = {k: v for k, v in os.environ.items() if k != "SPATIALITE_SECURITY"}
        child = subprocess.Popen([*cmd, str(scratch)], stdin=subprocess.PIPE, env=env)
        try:
            tail = _feed(child)
        except BrokenPipeError:
            tail = b""
        code = child.wait()
        if code != 0:
            print(f"sqlite3 failed (exit status {code}); {target} was not changed", file=sys.stderr)
            return code or 1
        if not tail.rstrip().endswith(b"COMMIT;"):
            print(
                f"the SQL stream is incomplete (it does not end with the dump's COMMIT); {target} was not changed",
                file=sys.stderr,
            )
            return 1
        script = keep_script(target, args.keep)
        if script:
            # Excluded tables: carried over from the live database into the scratch one, so the
            # swap below leaves them as they are.
            keep = subprocess.run(
                [*keep_command(args, script), str(scratch)],
                input=_body(script).encode(),
                stdout=subprocess.DEVNULL,
                env=env,
            )
            if keep.returncode != 0:
                print(f"keeping the excluded tables failed; {target} was not changed", file=sys.stderr)
                return keep.returncode
        # Copy the scratch database over the target with the shell's .restore (SQLite's backup API):
        # one step for every other connection, WAL or not. Run beside the target so the scratch
        # file's name needs no quoting.
        swap = subprocess.run(
            [args.sqlite3, "-bail", "-batch", "-cmd", ".timeout 60000", target.name, f".restore {scratch.name}"],
            cwd=str(target.parent),
            stdin=subprocess.DEVNULL,
        )
        if swap.returncode != 0:
            print(f"replacing {target} with the restored database failed; it was not changed", file=sys.stderr)
            return swap.returncode
        return 0
    except _Stop as stop:
        print(f"restore interrupted by {stop}; {target} was not changed", file=sys.stderr)
        return 128 + 15
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        for path in (scratch, Path(f"{scratch}-journal"), Path(f"{scratch}-wal"), Path(f"{scratch}-shm")):
            with contextlib.suppress(OSError):
                path.unlink()


if __name__ == "__main__":
    sys.exit(main())
