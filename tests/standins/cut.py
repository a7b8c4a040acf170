"""Stand-in wrapper for any dump tool: runs the real tool, but leaves out the last bytes of its output.

    python cut.py [--drop-last N] [--stderr TEXT] [--gzip] -- TOOL [ARGS...]

Forwards everything the tool writes to stdout except its last N bytes, writes TEXT (if given) to
stderr, and exits with the tool's own status: a dump that "succeeded" with incomplete output, as a
tool that loses its connection or a disk that fills up without a failing exit status would give.
``--gzip`` compresses what it forwards (as a tool's own ``--gzip`` would). Used as a connector's
``DUMP_PREFIX``, so the real tool and the real pipeline run.
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drop-last", type=int, default=0)
    parser.add_argument("--stderr", default="")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("tool", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    argv = args.tool[1:] if args.tool[:1] == ["--"] else args.tool
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    held = b""
    out: Any = gzip.GzipFile(fileobj=sys.stdout.buffer, mode="wb") if args.gzip else sys.stdout.buffer
    while True:
        chunk = proc.stdout.read1(65536)
        if not chunk:
            break
        held += chunk
        if len(held) > args.drop_last:
            cut = len(held) - args.drop_last
            out.write(held[:cut])
            held = held[cut:]
    out.close() if args.gzip else out.flush()
    if args.stderr:
        sys.stderr.write(args.stderr + "\n")
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
