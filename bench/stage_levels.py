"""The compression stage alone: 50 MiB of bench-style typical rows (SQL text), 1 MiB chunks.

    python bench/stage_levels.py        (in a venv with the core installed, e.g. .nox/tests-3-11)

Prints a Markdown table of zstd levels 1/3/6/9 with 1 and 2 worker threads, and gzip 6: median
seconds of three runs, stored MiB and ratio. No database, no rclone: the codec's own cost, which
is what sets the default level.
"""

from __future__ import annotations

import os
import statistics
import time

from django_rclone import codecs

try:
    from bench.rows import row
except ImportError:  # run as a script: bench/ is on sys.path
    from rows import row  # type: ignore[no-redef]

rows = []
i = 0
size = 0
while size < 50 << 20:
    values = "(" + ", ".join([str(i), *(f"'{value}'" for value in row(i))]) + ")"
    line = "INSERT INTO bench_rows VALUES " + values + ";\n"  # noqa: S608 (text to compress, never run)
    rows.append(line)
    size += len(line)
    i += 1
data = "".join(rows).encode()
view = memoryview(data)


def run(spec: str, threads: int) -> tuple[float, int]:
    enc = codecs.parse(spec, threads).encoder()
    t = time.perf_counter()
    out = 0
    for j in range(0, len(data), 1 << 20):
        out += len(enc.feed(view[j : j + (1 << 20)]))
    out += len(enc.flush())
    enc.close()
    return time.perf_counter() - t, out


print(f"input {len(data) / 2**20:.1f} MiB, load {os.getloadavg()[0]:.1f}")
print("| COMPRESSION | threads | seconds (median of 3) | stored MiB | ratio |")
print("|---|---:|---:|---:|---:|")
for spec, threads in [(f"zstd:{level}", t) for level in (1, 3, 6, 9) for t in (1, 2)] + [("gzip:6", 1)]:
    runs = [run(spec, threads) for _ in range(3)]
    sec = statistics.median(r[0] for r in runs)
    out = runs[0][1]
    print(f"| {spec} | {threads} | {sec:.2f} | {out / 2**20:.1f} | {len(data) / out:.2f} |", flush=True)
