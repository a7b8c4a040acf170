"""Stand-in for ``mongodump`` / ``mongorestore`` (no MongoDB tools exist on the test machines).

The ``standin_tools`` fixture writes tiny executables named ``mongodump`` and ``mongorestore`` that
call ``main()`` with the path of a JSON control file. Before moving any data the stand-in records,
as JSON, what a real tool would have been given: its argv, its environment, its own
``/proc/self/cmdline``, and the ``--config`` file (content, parsed values, file and folder modes).

Then it behaves like the tool on the byte level:

- dump: writes a deterministic payload (``payload(seed, size)``) to stdout, shaped like a
  ``mongodump --archive`` stream at its two ends: the archive's magic number first, pseudo-random
  bytes, and the archive's end terminator last (what the connector's completeness check reads);
- restore: reads stdin to EOF and saves it to the control file's ``out`` path.

It also logs like the tools, for the document counts: the dump prints ``done dumping <db>.<coll>
(N documents)`` for each of the control's ``collections`` (then ``noise`` bytes of progress lines);
the restore "inserts" them into a fake server (the JSON file ``server``: database -> collection
-> count) under the namespace its ``--nsInclude``/``--nsFrom``/``--nsTo`` give, with the counts
of ``restore_collections`` when set, and prints ``finished restoring`` lines. The stand-in
``pymongo`` (``fake_pymongo.py``) reads and drops databases in that same file.

Fault modes (control ``mode``): ``fail`` stops halfway and exits 1 with a message on stderr;
``hang`` stops halfway, announces itself in ``<record>.hang`` and sleeps until killed.
"""

from __future__ import annotations

import json
import os
import random
import stat
import sys
import time
from pathlib import Path
from typing import Any

CHUNK = 256 * 1024
#: mongodump's archive starts with this magic number (little-endian 0x8199e26d) and ends with a
#: terminator (int32 -1) after the last namespace block.
MAGIC = (0x8199E26D).to_bytes(4, "little")
TERMINATOR = b"\xff\xff\xff\xff"


def payload(seed: int, size: int) -> bytes:
    """The bytes a stand-in dump writes: deterministic, incompressible, archive-shaped at both ends."""
    return MAGIC + random.Random(seed).randbytes(size - len(MAGIC) - len(TERMINATOR)) + TERMINATOR


def parse_config(text: str) -> dict[str, str]:
    """Read ``key: "value"`` lines; the values are JSON-compatible YAML double-quoted scalars."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, raw = line.partition(": ")
        if not sep:
            raise ValueError(f"not a 'key: value' line: {line!r}")
        values[key] = json.loads(raw)
    return values


def _config_record(argv: list[str]) -> dict[str, Any] | None:
    paths = [arg.split("=", 1)[1] for arg in argv if arg.startswith("--config=")]
    if not paths:
        return None
    path = Path(paths[-1])
    text = path.read_text(encoding="utf-8")
    return {
        "path": str(path),
        "content": text,
        "values": parse_config(text),
        "mode": stat.S_IMODE(path.stat().st_mode),
        "dir_mode": stat.S_IMODE(path.parent.stat().st_mode),
        "owner": path.stat().st_uid,
    }


def _record(control: dict[str, Any], role: str, argv: list[str]) -> None:
    cmdline = Path("/proc/self/cmdline").read_bytes().split(b"\0")
    record = {
        "role": role,
        "pid": os.getpid(),
        "argv": argv,
        "cmdline": [part.decode("utf-8", "surrogateescape") for part in cmdline if part],
        "env": dict(os.environ),
        "config": _config_record(argv),
    }
    path = Path(control["record_dir"]) / f"{role}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    tmp.replace(path)


def _hang(control: dict[str, Any], role: str) -> None:
    """Sleep until killed; give up after a minute or when orphaned, so no test run leaves one behind."""
    parent = os.getppid()
    # Written whole or not at all: a test polls for this file and reads the pid as soon as it appears.
    marker = Path(control["record_dir"]) / f"{role}.hang"
    tmp = marker.with_suffix(".hang-tmp")
    tmp.write_text(str(os.getpid()))
    tmp.replace(marker)
    deadline = time.monotonic() + 60
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.1)
    sys.exit(3)


def _log(line: str) -> None:
    sys.stderr.write(f"2024-06-05T10:00:00.000+0000\t{line}\n")


def _option(argv: list[str], name: str) -> str:
    values = [arg.split("=", 1)[1] for arg in argv if arg.startswith(f"--{name}=")]
    return values[-1] if values else ""


def _dump(control: dict[str, Any], argv: list[str]) -> int:
    database = _option(argv, "db")
    for name in control.get("collections", {}):
        _log(f"writing {database}.{name} to archive on stdout")
    data = payload(int(control["seed"]), int(control["size"]))
    stop = len(data) // 2 if control["mode"] in ("fail", "hang") else len(data)
    out = sys.stdout.buffer
    for start in range(0, stop, CHUNK):
        out.write(data[start : min(start + CHUNK, stop)])
    out.flush()
    if control["mode"] == "fail":
        sys.stderr.write("standin mongodump: Failed: simulated error halfway\n")
        return 1
    if control["mode"] == "hang":
        _hang(control, "dump")
    for name, count in control.get("collections", {}).items():
        _log(f"done dumping {database}.{name} ({count} document{'' if count == 1 else 's'})")
    noise = int(control.get("noise", 0))
    while noise > 0:  # progress lines after the counts: more than the core keeps of a stderr's tail
        _log(f"[########################]  {database}.progress  100/100  (100.0%)")
        noise -= 80
    return 0


def _insert(control: dict[str, Any], argv: list[str]) -> None:
    """Put the collections into the fake server under the namespace mongorestore would use."""
    source = _option(argv, "nsInclude").removesuffix(".*")
    target = _option(argv, "nsTo").removesuffix(".*") or source
    if _option(argv, "nsFrom") and _option(argv, "nsFrom").removesuffix(".*") != source:
        raise SystemExit("standin mongorestore: --nsFrom differs from --nsInclude")
    counts = control.get("restore_collections") or control.get("collections", {})
    server = Path(control["server"])
    state = json.loads(server.read_text(encoding="utf-8")) if server.exists() else {}
    state.setdefault(target, {}).update(counts)
    server.write_text(json.dumps(state), encoding="utf-8")
    for name, count in counts.items():
        _log(f"finished restoring {target}.{name} ({count} documents, 0 failures)")


def _restore(control: dict[str, Any], argv: list[str]) -> int:
    limit = int(control["size"]) // 2 if control["mode"] in ("fail", "hang") else None
    received = bytearray()
    source = sys.stdin.buffer
    while limit is None or len(received) < limit:
        chunk = source.read1(CHUNK)
        if not chunk:
            break
        received += chunk
    Path(control["out"]).write_bytes(bytes(received))
    if "server" in control:
        _insert(control, argv)
    if control["mode"] == "fail":
        sys.stderr.write("standin mongorestore: Failed: simulated error halfway\n")
        return 1
    if control["mode"] == "hang":
        _hang(control, "restore")
    return 0


def main(control_path: str, role: str) -> None:
    argv = sys.argv[1:]
    if argv == ["--version"]:
        print(f"mongo{role} version: 100.99.0-standin")
        sys.exit(0)
    control = json.loads(Path(control_path).read_text(encoding="utf-8"))
    _record(control, role, argv)
    hold = float(control.get("hold", 0))
    if hold:
        time.sleep(hold)  # lets the test's process watcher see this process and its neighbours
    sys.exit(_dump(control, argv) if role == "dump" else _restore(control, argv))
