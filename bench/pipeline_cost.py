"""What the Python pump itself costs: the same bytes through four pipelines.

    python -m bench.pipeline_cost [MiB]     (default 1024)

Producer ``cat FILE`` (a file of random bytes, read once beforehand so it is in the page cache),
consumer ``cat > /dev/null``; no database and no network, so the pump is all that differs:

- raw: ``cat FILE | cat > /dev/null`` in bash (the kernel moves the bytes);
- pump: ``stream_backup`` without hashing (byte count only);
- pump + sha256: ``stream_backup`` as shipped;
- pump + sha256 + progress: with a progress reporter installed.

Prints the median of 5 alternating runs each, in seconds and GiB/s.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django_rclone import pipeline, progress


class _NoHash:
    def update(self, data: Any) -> None:
        pass

    def hexdigest(self) -> str:
        return ""


class _Counter:
    def update(self, done: int) -> None:
        self.done = done


def _pump(path: Path, hashing: bool, reporting: bool) -> float:
    producer = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    consumer = subprocess.Popen(
        ["sh", "-c", "cat > /dev/null"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    original = pipeline.hashlib
    clock = time.perf_counter()
    try:
        if not hashing:
            pipeline.hashlib = type("H", (), {"sha256": staticmethod(_NoHash)})  # type: ignore[assignment]
        with progress.reporting(_Counter() if reporting else None):
            pipeline.stream_backup(pipeline.Stage("cat", producer), pipeline.Stage("sink", consumer))
    finally:
        pipeline.hashlib = original
    return time.perf_counter() - clock


def _raw(path: Path) -> float:
    clock = time.perf_counter()
    subprocess.run(["bash", "-c", 'cat "$1" | cat > /dev/null', "bash", str(path)], check=True)
    return time.perf_counter() - clock


def main(mib: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data"
        with path.open("wb") as out:
            for _ in range(mib):
                out.write(os.urandom(1 << 20))
        _raw(path)  # warm the page cache
        cases: dict[str, Callable[[], float]] = {
            "raw shell pipe": lambda: _raw(path),
            "pump, count only": lambda: _pump(path, hashing=False, reporting=False),
            "pump + sha256 (shipped)": lambda: _pump(path, hashing=True, reporting=False),
            "pump + sha256 + progress": lambda: _pump(path, hashing=True, reporting=True),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(5):
            for name, run in cases.items():
                times[name].append(run())
    clock = time.perf_counter()
    hasher = hashlib.sha256()
    block = os.urandom(1 << 20)
    for _ in range(mib):
        hasher.update(block)
    hash_only = time.perf_counter() - clock
    gib = mib / 1024
    print(f"{mib} MiB, load {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:28s} {median:7.3f} s  {gib / median:6.2f} GiB/s")
    print(f"{'sha256 alone (1 MiB blocks)':28s} {hash_only:7.3f} s  {gib / hash_only:6.2f} GiB/s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1024)
