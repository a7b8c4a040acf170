"""Watch every process on the machine while a backup or restore runs.

Used by the plugin tests that prove no password reaches a command line: a thread reads
``/proc/*/cmdline`` in a tight loop (and, for the tools named in ``tools``, ``/proc/*/environ``),
so even a process that lives a few milliseconds is seen.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


class ProcessWatch:
    """Records command lines of all processes, and the environment of the named tools."""

    def __init__(self, tools: set[str] | frozenset[str] = frozenset()) -> None:
        self.tool_names = set(tools)
        self.cmdlines: dict[int, list[str]] = {}
        self.environs: dict[int, bytes] = {}
        self.raw: dict[int, bytes] = {}
        self.parents: dict[int, int] = {}
        self.scans = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def scan_once(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    raw = handle.read()
            except OSError:
                continue
            words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
            if not words:
                continue
            pid = int(entry.name)
            self.cmdlines[pid] = words
            self.raw[pid] = raw
            if pid not in self.parents:
                try:
                    with open(f"/proc/{entry.name}/stat", "rb") as handle:
                        stat = handle.read()
                    self.parents[pid] = int(stat[stat.rindex(b")") + 2 :].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
            if Path(words[0]).name in self.tool_names:
                try:
                    with open(f"/proc/{entry.name}/environ", "rb") as handle:
                        self.environs[pid] = handle.read()
                except OSError:
                    pass
        self.scans += 1

    def run(self) -> None:
        while not self._stop.wait(0.001):  # a short pause lets the pipeline's thread have the GIL
            self.scan_once()

    def __enter__(self) -> ProcessWatch:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- questions ----------------------------------------------------------------------------
    def tools(self) -> set[str]:
        """Base names of every program seen."""
        return {Path(words[0]).name for words in self.cmdlines.values()}

    def runs_of(self, *names: str, mine: bool = False) -> list[list[str]]:
        """Command lines of the programs called ``names``; with ``mine``, only those this process
        started (directly or not), so tests running in parallel do not see each other's tools."""
        return [
            words
            for pid, words in self.cmdlines.items()
            if Path(words[0]).name in names and (not mine or self.descends_from_me(pid))
        ]

    def descends_from_me(self, pid: int) -> bool:
        me, seen = os.getpid(), set()
        while pid in self.parents and pid not in seen:
            seen.add(pid)
            pid = self.parents[pid]
            if pid == me:
                return True
        return False

    def leaks(self, secret: str) -> list[list[str]]:
        """Command lines that contain ``secret``."""
        needle = secret.encode()
        return [self.cmdlines[pid] for pid, raw in self.raw.items() if needle in raw]

    def env_leaks(self, secret: str) -> list[list[str]]:
        """Watched tools whose environment contains ``secret``."""
        needle = secret.encode()
        return [self.cmdlines[pid] for pid, env in self.environs.items() if needle in env]

    def env_values(self, tool: str, variable: str) -> set[str]:
        """Values of ``variable`` in the environment of every run of ``tool`` this process started."""
        prefix = variable.encode() + b"="
        values = set()
        for pid, env in self.environs.items():
            if Path(self.cmdlines[pid][0]).name == tool and self.descends_from_me(pid):
                values |= {item[len(prefix) :].decode() for item in env.split(b"\0") if item.startswith(prefix)}
        return values
