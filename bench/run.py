"""The benchmark: django-rclone against the raw shell pipeline, in one run.

Run with ``nox -s bench`` (or ``python -m pytest -p tests.conftest bench/run.py -s``). It is a
pytest session only to reuse the throwaway PostgreSQL/MariaDB servers and the loopback S3 server
of the test suite; it asserts nothing about timings and writes its findings to ``bench/results/``.

For every database family, size and remote it generates data (80 % incompressible blobs, 20 %
typical rows), then runs alternately, ``BENCH_REPEAT`` times each:

- ours: ``backup()`` / ``restore()`` in a fresh child process (``bench.child``), which reports the
  wall time of the operation and the peak RSS of our Python process;
- raw: ``<dump argv> | rclone rcat <path>`` and ``rclone cat <path> | <restore argv>`` in bash,
  with the very argv and environment the connector would use without our compression stage
  (so pg_dump compresses with its own zlib, as every tool without the stage does);
- ours once per codec of ``BENCH_CODECS`` (default "zstd,none": the default setting, then the
  stage turned off), side by side, with the stored bytes of each.

Then, at ``BENCH_COMPRESSION_MIB`` of typical rows per family, the stage's levels and thread counts
(``BENCH_LEVELS``, default "1,3,6,9"; ``BENCH_THREADS``, default "1,2"): backup seconds and stored
bytes, against pg_dump's own zlib.

Environment: BENCH_SIZES (MiB, default "50,1024"), BENCH_REPEAT (default 3), BENCH_DATABASES
(default "sqlite,postgres,mysql"), BENCH_REMOTES (default "local,s3"), BENCH_QUICK=1 (sizes
"10,100", repeat 2), BENCH_RESULTS (output folder).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.rows import row as typical_row
from django_rclone.names import MANIFEST_SUFFIX

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20
QUICK = os.environ.get("BENCH_QUICK") == "1"
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "10,100" if QUICK else "50,1024").split(",")]
REPEAT = int(os.environ.get("BENCH_REPEAT", "2" if QUICK else "3"))
DATABASES = os.environ.get("BENCH_DATABASES", "sqlite,postgres,mysql").split(",")
REMOTES = os.environ.get("BENCH_REMOTES", "local,s3").split(",")
CODECS = os.environ.get("BENCH_CODECS", "zstd,none").split(",")
LEVELS = [int(x) for x in os.environ.get("BENCH_LEVELS", "1,3,6,9").split(",") if x]
THREADS = [int(x) for x in os.environ.get("BENCH_THREADS", "1,2").split(",") if x]
RESULTS = Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "results"))
ALIASES = {"sqlite": "default", "postgres": "postgres", "mysql": "mysql"}
#: pg_dump settings compared for time and size (COMPRESSION connector option).
#: Methods (lz4, zstd) need pg_dump 16+; with an older pg_dump their row records the error.
COMPRESSIONS = ["0", "1", "6", "9", "lz4", "zstd:3"]
#: Size of the typical-rows-only database the compression comparison dumps.
COMPRESSION_MIB = int(os.environ.get("BENCH_COMPRESSION_MIB", "20" if QUICK else "200"))
LISTING_OBJECTS = 10_000
#: Ours: backup; restore as dbrestore does by default (an undo backup of the database it replaces
#: first); restore without it (--no-undo-backup), the same job as the raw ``rclone cat | tool``.
OPERATIONS = ("backup", "restore", "restore-no-undo")
#: Share of incompressible random blobs in the pipeline databases (the rest: typical rows).
BLOB_SHARE = float(os.environ.get("BENCH_BLOB_SHARE", "0.8"))


# -- data ---------------------------------------------------------------------------------------


def _fill(alias: str, mib: int, blob_share: float = 0.8) -> None:
    """Replace the bench tables of ``alias`` with about ``mib`` MiB: random blobs and typical rows."""
    from django.db import connections

    blobs = int(mib * blob_share)
    rows = max(1000, int(mib * (1 - blob_share) * MIB / 330))
    connection = connections[alias]
    vendor = connection.vendor
    blob_type = {"postgresql": "bytea", "mysql": "LONGBLOB", "sqlite": "BLOB"}[vendor]
    serial = {"postgresql": "bigserial", "mysql": "BIGINT AUTO_INCREMENT", "sqlite": "INTEGER"}[vendor]
    with connection.cursor() as cursor:
        for table in ("bench_blob", "bench_rows"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TABLE bench_blob (id {serial} PRIMARY KEY, data {blob_type})")
        cursor.execute(
            f"CREATE TABLE bench_rows (id {serial} PRIMARY KEY, name VARCHAR(100), email VARCHAR(200), "
            "created VARCHAR(40), body TEXT)"
        )
        for _ in range(blobs):
            cursor.execute("INSERT INTO bench_blob (data) VALUES (%s)", [os.urandom(MIB)])
        batch = []
        for i in range(rows):
            batch.append(typical_row(i))
            if len(batch) == 5000:
                cursor.executemany("INSERT INTO bench_rows (name, email, created, body) VALUES (%s, %s, %s, %s)", batch)
                batch = []
        if batch:
            cursor.executemany("INSERT INTO bench_rows (name, email, created, body) VALUES (%s, %s, %s, %s)", batch)
    if vendor == "postgresql":
        connection.close()


# -- runs ---------------------------------------------------------------------------------------


@contextmanager
def _django_rclone(conf: dict[str, Any]) -> Iterator[None]:
    from django.test import override_settings

    with override_settings(DJANGO_RCLONE=conf):
        yield


def _ours(action: str, alias: str, conf: dict[str, Any], *extra: str) -> dict[str, Any]:
    env = {**os.environ, "DJANGO_RCLONE_TEST_SETTINGS_JSON": json.dumps(conf), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.child", action, alias, *extra],
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.child {action} {alias} failed:\n{done.stderr.decode()[-4000:]}")
    return dict(json.loads(done.stdout.decode().strip().splitlines()[-1]))


def _raw(script: str, env: dict[str, str]) -> float:
    """Wall time of a bash pipeline (``pipefail``: any failing stage fails the run)."""
    clock = time.perf_counter()
    done = subprocess.run(["bash", "-o", "pipefail", "-c", script], env=env, capture_output=True, check=False)
    wall = time.perf_counter() - clock
    if done.returncode != 0:
        raise RuntimeError(f"raw pipeline failed ({done.returncode}): {script}\n{done.stderr.decode()[-4000:]}")
    return wall


def _connector(alias: str) -> Any:
    from django_rclone.plugins import get_host
    from django_rclone.resolution import resolve

    return resolve(alias, get_host()).connector


def _compare(alias: str, conf: dict[str, Any], label: str) -> list[dict[str, Any]]:
    """Backup and restore, ours (once per codec) and raw alternately, REPEAT times; one row per
    codec and operation, each against the same raw runs."""
    from django_rclone.conf import get_settings
    from django_rclone.rclone import Rclone, join

    rows = []
    with _django_rclone(conf):
        rclone = Rclone.from_settings(get_settings())
        connector = _connector(alias)
        try:
            dump, restore = shlex.join(connector.dump_argv()), shlex.join(connector.restore_argv())
            dump_env = {**connector.environment("DUMP"), **dict(rclone.env)}
            restore_env = {**connector.environment("RESTORE"), **dict(rclone.env)}
            raw_path = join(conf["REMOTE"], "raw", f"{alias}.bin")
            ours: dict[str, dict[str, list[dict[str, Any]]]] = {c: {op: [] for op in OPERATIONS} for c in CODECS}
            raw: dict[str, list[float]] = {"backup": [], "restore": []}
            names: dict[str, str] = {}
            for i in range(REPEAT):
                for first in ("ours", "raw") if i % 2 == 0 else ("raw", "ours"):
                    if first == "ours":
                        for codec in CODECS:
                            run = _ours("backup", alias, {**conf, "COMPRESSION": codec})
                            ours[codec]["backup"].append(run)
                            names[codec] = run["name"]
                    else:
                        rcat = shlex.join(rclone.argv("rcat", raw_path))
                        raw["backup"].append(_raw(f"{dump} | {rcat}", dump_env))
            raw_stored = int((rclone.stat(raw_path) or {}).get("Size", 0))
            for i in range(REPEAT):
                for first in ("ours", "raw") if i % 2 == 0 else ("raw", "ours"):
                    if first == "ours":
                        for codec in CODECS:
                            for op in OPERATIONS[1:]:
                                run = _ours(op, alias, {**conf, "COMPRESSION": codec}, names[codec])
                                ours[codec][op].append(run)
                    else:
                        connector.prepare_restore()
                        cat = shlex.join(rclone.argv("cat", raw_path))
                        raw["restore"].append(_raw(f"{cat} | {restore}", restore_env))
        finally:
            connector.cleanup()
    for codec in CODECS:
        for op in OPERATIONS:
            runs = ours[codec][op]
            wall = statistics.median(r["wall"] for r in runs)
            base = statistics.median(raw["backup" if op == "backup" else "restore"])
            last = ours[codec]["backup"][-1]
            rows.append(
                {
                    "case": label,
                    "codec": codec,
                    "operation": op,
                    "size_mib": last.get("uncompressed_size", last["size"]) / MIB,
                    "stored_mib": last["size"] / MIB,
                    "raw_stored_mib": raw_stored / MIB,
                    "stored_ratio": last["size"] / raw_stored if raw_stored else None,
                    "ours_s": wall,
                    "raw_s": base,
                    "ratio": wall / base,
                    "rss_mib": max(r["rss_kib"] for r in runs) / 1024,
                    "rss_start_mib": max(r["rss_before_kib"] for r in runs) / 1024,
                    "runs": REPEAT,
                }
            )
    return rows


def _levels(alias: str, conf: dict[str, Any]) -> list[dict[str, Any]]:
    """The stage's zstd levels x threads (and gzip, and no stage): backup seconds and stored bytes."""
    settings = [(f"zstd:{level}", threads) for level in LEVELS for threads in THREADS]
    settings += [("gzip:6", 1), ("none", 1)]
    rows = []
    for codec, threads in settings:
        runs = [
            _ours("backup", alias, {**conf, "COMPRESSION": codec, "COMPRESSION_THREADS": threads})
            for _ in range(REPEAT)
        ]
        last = runs[-1]
        rows.append(
            {
                "alias": alias,
                "codec": codec,
                "threads": threads,
                "seconds": statistics.median(r["wall"] for r in runs),
                "stored_mib": last["size"] / MIB,
                "dump_mib": last["uncompressed_size"] / MIB,
            }
        )
    return rows


def _manifest(name: str) -> bytes:
    """A well-formed manifest: listbackups reads them all (one ``rclone cat``) to show codec and ratio."""
    from django_rclone.manifest import Manifest

    stamp = "2020-01-01T00:00:00+00:00"
    return Manifest(
        name=name,
        database="default",
        engine="django.db.backends.sqlite3",
        connector="django_rclone_sqlite.connectors.SqliteConnector",
        extension="sqlite3",
        size=1,
        sha256="0" * 64,
        started_at=stamp,
        finished_at=stamp,
        django_rclone_version="bench",
    ).to_bytes()


def _listing(remote: Path) -> list[dict[str, Any]]:
    """listbackups and retention over LISTING_OBJECTS objects (half data, half manifests)."""
    from django.core.management import call_command

    folder = remote / "db"
    folder.mkdir(parents=True)
    for i in range(LISTING_OBJECTS // 2):
        stamp = f"2020-01-01-{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}"
        name = f"default-{stamp}.sqlite3"
        (folder / name).write_bytes(b"x")
        (folder / (name + MANIFEST_SUFFIX)).write_bytes(_manifest(name))
    conf = {"REMOTE": str(remote)}
    timings = []
    with _django_rclone(conf):
        import io

        for label, args in (
            ("listbackups (10,000 objects)", ["listbackups"]),
            ("cleanbackups --dry-run (10,000 objects)", ["cleanbackups", "--dry-run", "-d", "default", "--keep", "10"]),
            (
                "cleanbackups, deletes 5 backups",
                ["cleanbackups", "-d", "default", "--keep", str(LISTING_OBJECTS // 2 - 5)],
            ),
        ):
            clock = time.perf_counter()
            call_command(*args, stdout=io.StringIO())
            timings.append({"what": label, "seconds": time.perf_counter() - clock})
    return timings


def _compression(conf: dict[str, Any]) -> list[dict[str, Any]]:
    """pg_dump --format=custom time and size per COMPRESSION setting (dump to /dev/null: the tool alone)."""
    rows = []
    for setting in COMPRESSIONS:
        connectors = {"postgres": {"COMPRESSION": setting}}  # pg_dump's own compression, no stage
        with _django_rclone({**conf, "CONNECTORS": connectors}):
            connector = _connector("postgres")
            try:
                argv, env = connector.dump_argv(), connector.environment("DUMP")
                clock = time.perf_counter()
                done = subprocess.run(argv, env=env, capture_output=True, check=False)
                wall = time.perf_counter() - clock
            finally:
                connector.cleanup()
        if done.returncode != 0:
            rows.append({"setting": setting, "error": done.stderr.decode(errors="replace").strip()[-200:]})
            continue
        rows.append({"setting": setting, "seconds": wall, "size_mib": len(done.stdout) / MIB})
    return rows


def test_benchmark(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, load {os.getloadavg()[0]:.1f}",
        "python": platform.python_version(),
        "repeat": REPEAT,
        "pipeline": [],
    }
    s3 = request.getfixturevalue("loopback_s3") if "s3" in REMOTES else None
    remotes: dict[str, Callable[[str], dict[str, Any]]] = {}
    if "local" in REMOTES:
        remotes["local"] = lambda key: {"REMOTE": str(tmp_path / "remote" / key)}
    if s3 is not None:
        remotes["s3"] = lambda key: {"REMOTE": s3.remote(key), "RCLONE_ENV": s3.env}
    for family in DATABASES:
        alias = ALIASES[family]
        request.getfixturevalue({"sqlite": "sqlite_db", "postgres": "pg_db", "mysql": "mysql_db"}[family])
        for mib in SIZES:
            _fill(alias, mib, blob_share=BLOB_SHARE)
            for remote_kind, make in remotes.items():
                label = f"{family} {mib} MiB {remote_kind}"
                rows = _compare(alias, make(f"{family}-{mib}"), label)
                results["pipeline"] += rows
                for row in rows:
                    print(
                        f"{label} {row['codec']} {row['operation']}: ours {row['ours_s']:.2f}s raw {row['raw_s']:.2f}s "
                        f"ratio {row['ratio']:.3f} stored {row['stored_mib']:.1f}/{row['raw_stored_mib']:.1f} MiB "
                        f"rss {row['rss_mib']:.0f} MiB",
                        flush=True,
                    )
        if LEVELS or family == "postgres":
            _fill(alias, COMPRESSION_MIB, blob_share=0.0)
            results["compression_mib"] = COMPRESSION_MIB
        if LEVELS:
            results.setdefault("levels", []).extend(_levels(alias, {"REMOTE": str(tmp_path / "levels" / family)}))
        if family == "postgres":
            results["compression"] = _compression({"REMOTE": str(tmp_path / "unused")})
    results["listing"] = _listing(tmp_path / "listing")
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report.write(results, RESULTS)
