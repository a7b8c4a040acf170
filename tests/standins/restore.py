"""Stand-in restore tool: reads stdin and "commits" it to --out only at a clean end of input.

Like a transactional database tool: killed or failed before end of input, nothing is committed.

    python restore.py --out FILE [--fail-after K] [--hang-after K] [--pidfile F] [--ignore-sigterm]

``--ignore-sigterm`` makes it a tool that cannot be stopped politely: only end of input (it then
commits) or SIGKILL ends it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--fail-after", type=int)
    parser.add_argument("--hang-after", type=int)
    parser.add_argument("--pidfile")
    parser.add_argument("--ignore-sigterm", action="store_true")
    args = parser.parse_args()
    if args.ignore_sigterm:
        import signal

        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.pidfile:
        with open(args.pidfile, "a") as handle:
            handle.write(f"{os.getpid()}\n")
    received = bytearray()
    while True:
        chunk = sys.stdin.buffer.read1(65536)
        if not chunk:
            break
        received += chunk
        if args.fail_after is not None and len(received) >= args.fail_after:
            sys.stderr.write(f"standin-restore: simulated failure after {len(received)} bytes\n")
            return 1
        if args.hang_after is not None and len(received) >= args.hang_after:
            while True:
                time.sleep(1)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as handle:
        handle.write(received)
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
