"""Fixtures for the MongoDB connector's contract tests.

No MongoDB server or database tools can be installed here, so ``mongodump`` and ``mongorestore``
are stand-ins (``standin_tool.py``) that record what they were given and stream bytes. Everything
else is real: the plugin found through its entry point, connector resolution by ENGINE, the core's
pipeline, real ``rclone rcat``/``cat`` on a local-folder remote, manifests and checksums.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

HERE = Path(__file__).parent
ALIAS = "mongo"
#: Quotes of both kinds, a colon-space, '#', backslash, spaces and non-ASCII: YAML quoting traps.
PASSWORD = "Pw \"q\": 'x' #not-a-comment \\ s p a c e ☃ ü 🎉"
DUMP_SIZE = 3 * 1024 * 1024 + 12345  # a few MB, not a multiple of any buffer size
SEED = 20240605


@dataclass
class StandinTools:
    """The stand-in executables of one test, and what they recorded."""

    root: Path
    size: int = DUMP_SIZE
    seed: int = SEED

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def record_dir(self) -> Path:
        return self.root / "records"

    @property
    def control(self) -> Path:
        return self.root / "control.json"

    @property
    def out(self) -> Path:
        """Where the stand-in mongorestore saves the bytes it received."""
        return self.root / "restored.bin"

    @property
    def dump_cmd(self) -> str:
        return str(self.bin / "mongodump")

    @property
    def restore_cmd(self) -> str:
        return str(self.bin / "mongorestore")

    def install(self) -> None:
        self.bin.mkdir(parents=True)
        self.record_dir.mkdir()
        for role, name in (("dump", "mongodump"), ("restore", "mongorestore")):
            exe = self.bin / name
            exe.write_text(
                f"#!{sys.executable}\n"
                "import sys\n"
                f"sys.path.insert(0, {str(HERE)!r})\n"
                "import standin_tool\n"
                f"standin_tool.main({str(self.control)!r}, {role!r})\n",
                encoding="utf-8",
            )
            exe.chmod(0o755)
        self.configure()

    @property
    def server(self) -> Path:
        """The fake server's databases (JSON: database -> collection -> documents), shared by the
        stand-in mongorestore and the stand-in pymongo."""
        return self.root / "server.json"

    def configure(
        self,
        mode: str = "ok",
        hold: float = 0.0,
        collections: dict[str, int] | None = None,
        restore_collections: dict[str, int] | None = None,
        noise: int = 0,
    ) -> None:
        """Set how the stand-ins behave: ``ok``, ``fail`` (exit 1 halfway) or ``hang`` (halfway, then
        sleep); which ``collections`` mongodump reports (and mongorestore inserts, or
        ``restore_collections`` when given), and ``noise`` bytes of progress lines after them."""
        for stale in self.record_dir.iterdir():
            stale.unlink()
        control = {
            "record_dir": str(self.record_dir),
            "out": str(self.out),
            "mode": mode,
            "size": self.size,
            "seed": self.seed,
            "hold": hold,
            "server": str(self.server),
            "collections": collections or {},
            "restore_collections": restore_collections,
            "noise": noise,
        }
        self.control.write_text(json.dumps(control), encoding="utf-8")

    def databases(self) -> dict[str, dict[str, int]]:
        """What the fake server holds now."""
        return json.loads(self.server.read_text(encoding="utf-8")) if self.server.exists() else {}

    def calls(self) -> list[dict[str, Any]]:
        """What the stand-in pymongo was asked (``client`` with its arguments, ``drop``, ``list``...)."""
        path = self.root / "pymongo-calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def record(self, role: str) -> dict[str, Any]:
        return json.loads((self.record_dir / f"{role}.json").read_text(encoding="utf-8"))

    def payload(self) -> bytes:
        sys.path.insert(0, str(HERE))
        try:
            import standin_tool
        finally:
            sys.path.remove(str(HERE))
        return standin_tool.payload(self.seed, self.size)


@pytest.fixture
def standin_tools(tmp_path: Path) -> StandinTools:
    tools = StandinTools(tmp_path / "standins")
    tools.install()
    return tools


@pytest.fixture
def fake_pymongo(standin_tools: StandinTools, monkeypatch: pytest.MonkeyPatch) -> StandinTools:
    """Make ``import pymongo`` find the stand-in (``fake_pymongo.py``) on the fake server."""
    sys.path.insert(0, str(HERE))
    try:
        import fake_pymongo
    finally:
        sys.path.remove(str(HERE))
    fake_pymongo.SERVER = standin_tools.server
    fake_pymongo.CALLS = standin_tools.root / "pymongo-calls.jsonl"
    monkeypatch.setitem(sys.modules, "pymongo", fake_pymongo)
    return standin_tools


@pytest.fixture
def mongo_alias(
    rclone_settings: Callable[..., None], standin_tools: StandinTools
) -> Iterator[Callable[..., dict[str, Any]]]:
    """Add the ``mongo`` alias to DATABASES and point its tools at the stand-ins.

    ``configure(ENGINE=..., NAME=..., ..., options={...})`` returns the alias's DATABASES entry;
    ``options`` are the per-alias DJANGO_RCLONE["CONNECTORS"] options (no ``CONNECTOR`` key, so the
    connector is still chosen by ENGINE through the installed plugin).
    """
    from django.test import override_settings

    stack = contextlib.ExitStack()

    def configure(options: dict[str, Any] | None = None, compression: str = "none", **database: Any) -> dict[str, Any]:
        entry = {"ENGINE": "django_mongodb_backend", "NAME": "shop", **database}
        override = override_settings(DATABASES={**settings.DATABASES, ALIAS: entry})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Overriding setting DATABASES can lead to unexpected behavior"
            stack.enter_context(override)
        per_alias = {"DUMP_CMD": standin_tools.dump_cmd, "RESTORE_CMD": standin_tools.restore_cmd, **(options or {})}
        # No codec unless asked: the contract tests compare the stored bytes with the stand-in's archive.
        rclone_settings(CONNECTORS={ALIAS: per_alias}, COMPRESSION=compression)
        return entry

    with stack:
        yield configure


# -- watching every process of a run ----------------------------------------------------------


def _descendants(root: int) -> dict[int, list[str]]:
    """Live descendants of ``root`` with their command lines."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found: dict[int, list[str]] = {}
    for pid in parents:
        ancestor = parents.get(pid)
        seen = 0
        while ancestor and ancestor != root and seen < 64:
            ancestor = parents.get(ancestor)
            seen += 1
        if ancestor == root:
            try:
                raw = (Path("/proc") / str(pid) / "cmdline").read_bytes()
            except OSError:
                continue
            if raw:
                found[pid] = [p.decode("utf-8", "surrogateescape") for p in raw.split(b"\0") if p]
    return found


@dataclass
class ProcessWatcher:
    """Samples the command line of every descendant process while a backup or restore runs."""

    interval: float = 0.005
    seen: dict[int, list[str]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            self.seen.update(_descendants(me))
            self._stop.wait(self.interval)

    def __enter__(self) -> ProcessWatcher:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def command_lines(self, program: str) -> list[list[str]]:
        """Command lines in which some word ends with ``program`` (e.g. "mongodump", "rclone")."""
        return [cmd for cmd in self.seen.values() if any(Path(word).name == program for word in cmd[:3])]

    def all_words(self) -> list[str]:
        return [word for cmd in self.seen.values() for word in cmd]


@pytest.fixture
def watch() -> Callable[[], ProcessWatcher]:
    return ProcessWatcher


# -- restoring through the core's pipeline ----------------------------------------------------


def restore_via_pipeline(database: str = ALIAS) -> Any:
    """Restore the newest backup of ``database`` through the core's own ``restore()``.

    Without the undo backup: a fault mode set for the stand-ins applies to mongodump too, and these
    tests are about what mongorestore gets.
    """
    from django_rclone.api import restore

    return restore(database, undo_backup=False)
