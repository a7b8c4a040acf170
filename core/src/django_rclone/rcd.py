"""One rclone for the small calls of a backup: ``rclone rcd`` on a private unix socket.

Every rclone start costs about 50 ms, and a backup makes seven small calls one after the other (the
name claim's marker and listing, the landing check, the manifest and its read-back, the marker's
removal): on a small database these starts are most of the time the command takes. Inside
``session(rclone)``, the small calls of ``Rclone`` (``stat``, ``lsjson``, ``rcat_bytes``,
``deletefile``, and ``cat_bytes`` through ``--rc-serve``, bounded like the process's read) go to
one ``rclone rcd`` instead, each in about a millisecond plus the remote's own latency. Streams
(``rcat``/``cat`` of a backup) and the background reads of ``start_cat_bytes`` stay processes.

The daemon runs the same binary with the same config file, flags and environment as every other
call, listens on a socket in a fresh 0700 folder, and requires a random user and password (given
in its environment, never in argv). It lives as long as its session, in the context that opened
it, and never longer than this process: a shell between us and rclone waits on a pipe from this
process and stops rclone's process group when the pipe closes, which a crash or ``SIGKILL`` does too.

Anything the daemon cannot do runs as a separate rclone process, so behaviour never depends on
it: ``RCLONE_DAEMON`` off, ``--rc*`` flags in ``RCLONE_FLAGS`` (they belong to the user's own
remote control), an rclone that cannot start it, a path only rclone's own parser should read, or a
daemon gone since the last call. A daemon that stops during a call fails that call, as a dying
rclone process would, and is killed; later calls start processes.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from django_rclone.exceptions import RcloneError
from django_rclone.secrecy import scrub

if TYPE_CHECKING:
    from django_rclone.rclone import Rclone

logger = logging.getLogger("django_rclone")

#: How long the first call waits for the daemon to listen before it gives up on it (then every
#: call of the session starts its own rclone, as without the daemon).
START_TIMEOUT = 10.0
#: The shell between this process and rclone. It starts rclone, and a reader of its standard input
#: that, when that pipe closes (this process exited or was killed), sends SIGTERM to the whole
#: process group (rclone, and whatever a wrapper named as RCLONE_BINARY started), and SIGKILL five
#: seconds later: rclone lets calls in progress finish on SIGTERM, and one can hang on a dead
#: remote. The shell ignores SIGTERM and waits for rclone; when rclone has exited, for whatever
#: reason, it kills the rest of the group (the reader) with itself, so nothing outlives rclone.
_WATCHDOG = (
    'exec 3<&0 0</dev/null; "$@" 3<&- & child=$!; '
    "{ trap '' TERM; read -r _ignored <&3; kill -TERM 0; sleep 5; kill -KILL 0; } & exec 3<&-; "
    "trap '' TERM; wait \"$child\"; kill -KILL 0"
)
#: Longest unix socket path the kernel takes (108 bytes with the terminating NUL).
_SOCKET_PATH_MAX = 107
_USER = "django-rclone"
_T = TypeVar("_T")
HTTP_OK = 200


class DaemonStopped(RcloneError):
    """The daemon stopped answering during a call (it was killed, or crashed)."""


class _Connection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(None)  # a call takes as long as rclone does, whatever the default timeout
        try:
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class Daemon:
    """A running ``rclone rcd`` of one ``Rclone`` (binary, config, flags, environment)."""

    def __init__(self, rclone: Rclone) -> None:
        self.rclone = rclone
        self.owner = os.getpid()
        rclone.argv()  # a missing config file or a no-write variable: the error every call would raise
        self._ready = False
        self._killed = False
        self._parents: subprocess.Popen[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.folder = self.socket = ""
        try:
            self.folder = tempfile.mkdtemp(prefix="django-rclone-rc-")  # mode 0700
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        except OSError:  # no usable temporary folder: every call starts its own rclone
            self.usable = False
            self.stop()
            return
        self.socket = os.path.join(self.folder, "rc.sock")
        password = secrets.token_urlsafe(32)
        self._auth = "Basic " + base64.b64encode(f"{_USER}:{password}".encode()).decode()
        # The user's own remote-control settings (an htpasswd file, another address) are not ours.
        env = {
            k: v
            for k, v in (rclone.environment() or os.environ).items()
            if k != "RCLONE_RC" and not k.startswith("RCLONE_RC_")
        }
        env.update(RCLONE_RC_USER=_USER, RCLONE_RC_PASS=password)
        self.usable = len(self.socket.encode()) <= _SOCKET_PATH_MAX
        if not self.usable:  # a very long TMPDIR: every call starts its own rclone
            self.stop()
            return
        try:
            argv = rclone.argv("rcd", "--rc-serve", "--rc-addr", "unix://" + self.socket)
            self._proc = subprocess.Popen(
                ["/bin/sh", "-c", _WATCHDOG, "django-rclone-rcd", *argv],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                env=env,
                start_new_session=True,  # a Ctrl-C at the terminal is this process's to handle
            )
        except OSError:  # no /bin/sh, no binary: every call starts its own rclone (and reports that)
            self._proc = None
            self.stop()

    def _wait_ready(self) -> bool:
        if self._ready:
            return True
        deadline = time.monotonic() + START_TIMEOUT
        while self.usable and self._proc is not None and self._proc.poll() is None:
            if os.path.exists(self.socket) and self._listening():
                try:  # it takes our credentials (a wrapper could have started something else)
                    answer = self.call("rc/noop", {}, "rcd")
                except RcloneError:
                    answer = None
                self._ready = answer is not None and answer[0] == HTTP_OK
                if self._ready:
                    return True
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
        self.kill()  # this rclone cannot serve the session: calls start processes
        detail = self.log_tail()
        logger.warning(
            "rclone rcd did not start (%s); each rclone call of this run is a process of its own",
            detail or "no answer",
        )
        return False

    def _listening(self) -> bool:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(None)
        try:
            probe.connect(self.socket)
        except OSError:
            return False
        finally:
            probe.close()
        return True

    def available(self) -> bool:
        """Whether calls may go to the daemon (it is listening, and this process owns it)."""
        return self.usable and os.getpid() == self.owner and self._wait_ready()

    def call(self, method: str, params: dict[str, Any], what: str) -> tuple[int, dict[str, Any]] | None:
        """(HTTP status, JSON answer) of one remote-control call, or ``None`` when the daemon could
        not be reached (the call never reached it: the caller runs it as a process instead);
        ``what`` names the call in errors."""
        return self._send("/" + method, json.dumps(params).encode(), "application/json", what)

    def upload(self, folder: str, name: str, data: bytes, what: str) -> tuple[int, dict[str, Any]] | None:
        """``operations/uploadfile`` of ``data`` as ``name`` into ``folder`` (rclone's rcat inside);
        ``name`` must pass ``uploadable()``."""
        boundary = secrets.token_hex(16)
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file0"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        body = head + data + f"\r\n--{boundary}--\r\n".encode()
        return self._send(
            f"/operations/uploadfile?fs={_quote(folder)}&remote=",
            body,
            f"multipart/form-data; boundary={boundary}",
            what,
        )

    def read(self, folder: str, name: str, limit: int, what: str) -> tuple[int, bytes] | None:
        """(HTTP status, bytes) of the file ``name`` in ``folder`` (``--rc-serve``), at most
        ``limit + 1`` bytes of it (the connection is closed there), or ``None`` when the daemon
        could not be reached. A folder under that name is an error, never read."""
        if "[" in folder or "]" in folder:
            return None

        def talk(connection: _Connection) -> tuple[int, bytes]:
            connection.request("GET", f"/[{_quote(folder)}]/{_quote(name)}", headers={"Authorization": self._auth})
            response = connection.getresponse()
            data = response.read(limit + 1)
            # A short read returns what arrived when the connection closed: only a body that
            # ended where its length said (or that was cut here, past the limit) is the file.
            if len(data) <= limit and not response.chunked and response.length != 0:
                raise http.client.IncompleteRead(data, response.length)
            return response.status, data

        return self._exchange(talk, what)

    def _send(self, target: str, body: bytes, content_type: str, what: str) -> tuple[int, dict[str, Any]] | None:
        def talk(connection: _Connection) -> tuple[int, dict[str, Any]]:
            connection.request("POST", target, body, {"Content-Type": content_type, "Authorization": self._auth})
            return self._answer(connection, what)

        return self._exchange(talk, what)

    def _exchange(self, talk: Callable[[_Connection], _T], what: str) -> _T | None:
        """``talk`` over a new connection; ``None`` when the daemon cannot be reached (the call
        never reached it), ``DaemonStopped`` when it went away with the call in hand (done or not,
        nobody knows, as with an rclone process that died). Either way later calls start processes."""
        connection = _Connection(self.socket)
        try:
            try:
                connection.connect()
            except OSError:
                self.usable = False
                return None
            try:
                return talk(connection)
            except (OSError, http.client.HTTPException) as exc:
                self.kill()
                detail = self.log_tail()
                raise DaemonStopped(
                    scrub(what, self.rclone.secrets),
                    None,
                    f"the rclone daemon stopped answering ({exc})" + (f": {detail}" if detail else ""),
                ) from exc
            except BaseException:
                # Interrupted, or stopped half-way: the call is abandoned. Stop the daemon, as a
                # stopped rclone process would be stopped, so the call cannot land after the
                # clean-up that follows (which then runs through processes).
                self.kill()
                raise
        finally:
            connection.close()

    def _answer(self, connection: _Connection, what: str) -> tuple[int, dict[str, Any]]:
        response = connection.getresponse()
        raw = response.read()
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            text = raw.decode(errors="replace").strip()[:200]
            raise RcloneError(
                scrub(what, self.rclone.secrets),
                None,
                scrub(f"rclone rcd answered {response.status}: {text}", self.rclone.secrets),
            )
        return response.status, answer

    def kill(self) -> None:
        """Stop rclone now: SIGKILL to its whole process group (once: the group's id is the
        shell's pid, which is free for reuse once the shell is reaped), then reap the shell. The
        group's other members are init's to reap; none runs another instruction. Later calls
        start processes. Nothing is lost: a call either returned (its work is done) or was
        abandoned (and must not go on, as a stopped rclone process would not)."""
        self.usable = False
        proc = self._proc
        if proc is None or self._killed:
            return
        self._killed = True
        if proc.poll() is None:  # once reaped, its pid may belong to another group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        """Stop rclone (see ``kill``) and remove its folder and log; in a child made by
        ``os.fork()``, only let go of the parent's daemon."""
        if os.getpid() != self.owner:
            self.forget()
            return
        self.kill()
        proc, self._proc = self._proc, None
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if self._log is not None:
            self._log.close()
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def forget(self) -> None:
        """In a child made by ``os.fork()``: drop this process's copy of the watchdog's pipe (the
        daemon is the parent's, and must stop with the parent), without touching the daemon."""
        self.usable = False
        proc, self._proc = self._proc, None
        if proc is not None:
            self._parents = proc  # not this process's child: never waited for here
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()

    def log_tail(self) -> str:
        """The last lines rclone wrote (its own reason for stopping), secrets masked."""
        if self._log is None:
            return ""
        try:
            self._log.seek(0, os.SEEK_END)
            size = self._log.tell()
            self._log.seek(max(0, size - 2000))
            text = self._log.read().decode(errors="replace")
        except (OSError, ValueError):
            return ""
        lines = [line for line in text.splitlines() if line.strip() and "Terminated" not in line]
        return scrub(" | ".join(lines[-3:]), self.rclone.secrets)


def _quote(value: str) -> str:
    return quote(value, safe="")


def _remote_prefix(path: str) -> int | None:
    """The length of ``path``'s remote part (``name:``, ``:backend,opts:``; 0 for a local path), or
    ``None`` when that is not certain (quotes or slashes in a connection string's options): rclone's
    own parser then reads it, in a process."""
    colon = path.find(":", 1 if path.startswith(":") else 0)
    slash = path.find("/")
    if not path.startswith(":") and (colon < 0 or 0 <= slash < colon):
        comma = path.find(",")
        # "/srv/x" or "rel/a:b" is a local path; "name,key_file=/k:path" is not certain.
        return None if 0 <= comma < slash and colon >= 0 else 0
    if colon < 0:
        return None
    options = path[1:colon] if path.startswith(":") else path[:colon]
    return None if any(char in options for char in "'\"/") else colon + 1


def split(path: str) -> tuple[str, str] | None:
    """``path`` as (folder, name) for the remote-control calls that take ``fs`` and ``remote``, or
    ``None`` when it cannot be split with certainty (the call then starts its own rclone)."""
    prefix = _remote_prefix(path)
    if prefix is None:
        return None
    remote, rest = path[:prefix], path[prefix:]
    head, slash, name = rest.rpartition("/")
    if not name or name in (".", ".."):
        return None
    return (as_folder(remote + (head or slash) or "."), name)


def as_folder(path: str) -> str:
    """``path`` as the daemon must be given a folder: with a trailing slash (``r:`` and ``/`` stay).

    Without it, a bucket-based backend first asks whether the path is a file, and rclone's remote
    control turns a failure of that question (the endpoint is down) into "is a file not a
    directory", hiding the real error."""
    return path if path.endswith((":", "/")) else path + "/"


def uploadable(name: str) -> bool:
    """Whether ``name`` travels intact as a multipart file name (rclone takes the name from there)."""
    return name.isprintable() and not any(char in name for char in '"\\/')


#: The daemons of the sessions this context is in (a backup's; its undo backup reuses it). Other
#: threads (a web request reading the catalog while a backup runs) are in no session: their calls
#: are processes, and never depend on a daemon another run stops.
_sessions: ContextVar[tuple[tuple[Rclone, Daemon], ...]] = ContextVar("django_rclone_rcd_sessions", default=())
#: Every daemon still running in this process (stopped at the end of its session; forgotten in a
#: child made by ``os.fork()``).
_live: set[Daemon] = set()


def _after_fork_in_child() -> None:
    """A child made by ``os.fork()`` during a session: the daemons are the parent's."""
    for daemon in list(_live):
        daemon.forget()
    _live.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def wanted(rclone: Rclone) -> bool:
    """Whether ``rclone`` may use a daemon: ``RCLONE_DAEMON`` on, and no ``--rc`` flags of the user's."""
    return rclone.daemon and not any(flag == "--rc" or flag.startswith("--rc-") for flag in rclone.flags)


def _find(rclone: Rclone) -> Daemon | None:
    for held, daemon in _sessions.get():
        if held == rclone and daemon.owner == os.getpid():
            return daemon
    return None


@contextlib.contextmanager
def session(rclone: Rclone) -> Iterator[None]:
    """Inside the block, small calls of ``rclone`` (this ``Rclone``) from this context go to one
    daemon. A session inside another of the same ``Rclone`` (a restore's undo backup) uses its
    daemon. Threads the block starts reach it when they run in a copy of its context
    (``contextvars.copy_context().run``)."""
    if not wanted(rclone) or _find(rclone) is not None:
        yield
        return
    daemon = Daemon(rclone)
    _live.add(daemon)
    token = _sessions.set((*_sessions.get(), (rclone, daemon)))
    try:
        yield
    finally:
        try:
            _sessions.reset(token)
        finally:
            _live.discard(daemon)
            daemon.stop()


def current(rclone: Rclone) -> Daemon | None:
    """The daemon serving ``rclone`` in this context now, or ``None`` (no session, or it cannot be used)."""
    daemon = _find(rclone)
    return daemon if daemon is not None and daemon.available() else None
