"""Stand-in dump tool: writes deterministic bytes to stdout, with injectable faults.

python dump.py [--size N] [--fail-after K] [--exit-code C] [--kill-after K] [--hang-after K]
               [--pidfile F] [--stderr TEXT]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time

CHUNK = 65536
PIECE = 16 << 20


def payload(size: int, seed: int = 7) -> bytes | bytearray:
    """``size`` deterministic random bytes; built in 16 MiB pieces, which give the same bytes as one
    ``randbytes(size)`` would (that one call cannot make more than 256 MiB)."""
    rng = random.Random(seed)
    if size <= PIECE:
        return rng.randbytes(size)
    data = bytearray()
    while len(data) < size:
        data += rng.randbytes(min(PIECE, size - len(data)))
    return data


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fail-after", type=int)
    parser.add_argument("--exit-code", type=int, default=1)
    parser.add_argument("--kill-after", type=int)
    parser.add_argument("--hang-after", type=int)
    parser.add_argument("--pidfile")
    parser.add_argument("--stderr", default="")
    args = parser.parse_args()
    if args.pidfile:
        with open(args.pidfile, "a") as handle:
            handle.write(f"{os.getpid()}\n")
    if args.stderr:
        sys.stderr.write(args.stderr + "\n")
        sys.stderr.flush()
    data = payload(args.size, args.seed)
    out = sys.stdout.buffer
    written = 0
    while True:
        for limit, action in ((args.fail_after, "fail"), (args.kill_after, "kill"), (args.hang_after, "hang")):
            if limit is not None and written >= limit:
                out.flush()
                if action == "fail":
                    sys.stderr.write(f"standin-dump: simulated failure after {written} bytes\n")
                    return args.exit_code
                if action == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                while True:
                    time.sleep(1)
        if written >= len(data):
            break
        end = min(len(data), written + CHUNK)
        for limit in (args.fail_after, args.kill_after, args.hang_after):
            if limit is not None and written < limit < end:
                end = limit
        out.write(data[written:end])
        written = end
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
