"""The streaming pipeline: producer process -> counted, hashed bytes -> consumer process.

Backups run ``dump | rclone rcat``; restores run ``rclone cat | restore``. Python sits between the
two processes only to count bytes and compute SHA-256 (large buffers, one ``update`` per chunk, GIL
released by hashlib) and, when a reporter is installed (``progress.reporting``), to report the byte
count once per chunk. Every stderr, and every stdout the pipeline does not carry itself, is drained
by a thread so no process can block on a full pipe (an unused stdin is closed); every exit status
is read; on any failure or interruption every process is stopped and reaped, and
the error names the root cause (the process that failed first for its own reason) with its stderr.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from django_rclone import interrupts, progress
from django_rclone.codecs import Decoder, Encoder
from django_rclone.exceptions import IncompleteDump, IntegrityError, PipelineError
from django_rclone.sample import StreamSample

if TYPE_CHECKING:
    from django_rclone.db.base import RestoreGuard

CHUNK_SIZE = 1 << 20
STDERR_TAIL = 64 * 1024
#: At most this many bytes of stderr lines matching a stage's ``keep`` pattern are kept; past it the
#: drain stops keeping them and says so (``_Drain.kept_all``).
KEPT_LINES_LIMIT = 16 * 1024 * 1024
STOP_TIMEOUT = 5.0
_F_SETPIPE_SZ = 1031  # Linux fcntl; larger pipes mean fewer wake-ups per GiB


@dataclass(frozen=True)
class StreamStats:
    """What went through the pipe: the stored bytes, and how many bytes they encode."""

    size: int
    sha256: str
    #: Bytes before compression (dump output / restore tool input); equals ``size`` without a codec.
    uncompressed_size: int = -1


@dataclass(frozen=True)
class Expected:
    """Size and checksum a stream must match (from a manifest)."""

    size: int
    sha256: str


class _Drain(threading.Thread):
    """Reads one of a process's output pipes to EOF, keeping its last ``STDERR_TAIL`` bytes, and
    every whole line matching ``keep`` (up to ``KEPT_LINES_LIMIT`` bytes of them)."""

    def __init__(self, stream: IO[bytes] | None, keep: re.Pattern[str] | None = None) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.tail = bytearray()
        self.keep = keep
        self.kept: list[str] = []
        #: ``False`` once a matching line could not be kept (over the limit): ``kept`` is partial.
        self.kept_all = True
        self._line = bytearray()
        self._kept_size = 0

    def run(self) -> None:
        stream = self.stream
        if stream is None:
            return
        with contextlib.suppress(OSError, ValueError):
            while True:
                data = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
                if not data:
                    break
                self.tail += data
                if len(self.tail) > STDERR_TAIL:
                    del self.tail[: len(self.tail) - STDERR_TAIL]
                if self.keep is not None:
                    self._scan(data)
        if self.keep is not None and self._line:
            self._scan(b"\n")

    def _scan(self, data: bytes) -> None:
        """Keep the whole lines of ``data`` (with the line it continues) that match ``keep``."""
        assert self.keep is not None
        self._line += data
        *lines, rest = self._line.split(b"\n")
        if len(rest) > KEPT_LINES_LIMIT:  # a line this long cannot be read whole: say so
            rest, self.kept_all = bytearray(), False
        self._line = bytearray(rest)
        for raw in lines:
            line = raw.decode(errors="replace").rstrip("\r")
            if not self.keep.search(line):
                continue
            self._kept_size += len(raw)
            if self._kept_size > KEPT_LINES_LIMIT:
                self.kept_all = False
                continue
            self.kept.append(line)

    def text(self) -> str:
        self.join(timeout=STOP_TIMEOUT)
        return self.tail.decode(errors="replace")


@dataclass
class Stage:
    """One process of a pipeline, with a label for messages."""

    label: str
    proc: subprocess.Popen[bytes]
    clean: Callable[[str], str] = field(default=lambda text: text)
    stopped_by_us: bool = False
    drain: _Drain | None = None
    stdout_drain: _Drain | None = None
    #: Processes feeding this one's stdin (``rclone cat`` before ``gpg --decrypt``): supervised,
    #: stopped and checked with it. Their stdout belongs to this stage, never to the pipeline.
    upstream: tuple[Stage, ...] = ()
    #: Lines of stderr to keep in full, whatever its length (``BaseConnector.dump_report``).
    keep: re.Pattern[str] | None = None

    def start_drain(self, wired: str) -> None:
        """Drain stderr, and tend the pipe the pipeline does not use (``wired`` is the one it does).

        A connector may start its tool with ``stdout=PIPE`` on a restore, or ``stdin=PIPE`` on a
        dump (the 0.1.0 custom-connector example did): an unread stdout fills up and blocks the
        tool forever, an open stdin makes a tool that reads it wait forever. Such a stdout is read
        and discarded (its tail kept for messages), such a stdin is closed at once.
        """
        self.drain = _Drain(self.proc.stderr, self.keep)
        self.drain.start()
        if wired != "stdin" and self.proc.stdin is not None:
            _close(self.proc.stdin)
        if wired != "stdout" and self.proc.stdout is not None:
            self.stdout_drain = _Drain(self.proc.stdout)
            self.stdout_drain.start()

    def stderr_text(self) -> str:
        text = self.drain.text() if self.drain else ""
        if not text.strip() and self.stdout_drain is not None:
            text = self.stdout_drain.text()  # a tool that reports its errors on stdout
        return self.clean(text)

    def report_lines(self) -> list[str] | None:
        """Every stderr line matching ``keep``, in order; ``None`` when some could not be kept."""
        if self.drain is None:
            return []
        self.drain.join(timeout=STOP_TIMEOUT)
        return list(self.drain.kept) if self.drain.kept_all and not self.drain.is_alive() else None

    def join_drains(self) -> None:
        for drain in (self.drain, self.stdout_drain):
            if drain is not None and drain.ident is not None:  # one that failed to start has nothing to join
                drain.join(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """Terminate (then kill) the process and its session, and reap it; then its upstream."""
        self._stop_one()
        for stage in self.upstream:
            stage.stop()

    def _stop_one(self) -> None:
        if self.proc.poll() is not None:
            return
        self.stopped_by_us = True
        _signal(self.proc, signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal(self.proc, signal.SIGKILL)
            self.proc.wait()

    def finish_producer(self) -> PipelineError | None:
        """After end of stream: reap this producer and its upstream, and return the failure that
        explains the outcome (``None`` if all exited 0). An upstream failure comes first, since its
        truncated output is what makes the next process fail, unless it was only killed by SIGPIPE
        because the next process had already stopped reading."""
        self.proc.wait()
        _close(self.proc.stdout)
        failures = []
        for stage in (*self.upstream, self):
            code = stage.proc.wait()
            if code != 0 and not (stage is not self and code == -signal.SIGPIPE):
                failures.append(stage.failure())
        return failures[0] if failures else None

    def failure(self, reason: str = "") -> PipelineError:
        code = self.proc.returncode
        if not reason and code is not None and code < 0:
            reason = f"was killed by {signal.Signals(-code).name}"
        return PipelineError(self.label, code, self.stderr_text(), reason)


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(proc.pid) == proc.pid:  # its own session: reach its children too
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def _widen(fd: int) -> None:
    with contextlib.suppress(OSError, ImportError):
        import fcntl

        fcntl.fcntl(fd, _F_SETPIPE_SZ, CHUNK_SIZE)


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        written = os.write(fd, view)
        view = view[written:]


@contextlib.contextmanager
def _supervised(wiring: list[tuple[Stage, str]]) -> Iterator[None]:
    """Drain every pipe of every stage the pipeline does not wire itself (``wiring`` names the one
    end per stage it does: ``"stdout"`` or ``"stdin"``); on any exception stop and reap them all,
    then re-raise."""
    upstream = [(up, "stdout") for stage, _ in wiring for up in stage.upstream]
    wiring = [*wiring, *upstream]
    stages = [stage for stage, _ in wiring]
    try:
        for stage, wired in wiring:
            stage.start_drain(wired)
        # From here an exception stops every stage: a Ctrl-C that ``interrupts.deferred()`` held
        # back while the processes started is raised now.
        interrupts.resume()
        yield
    except BaseException:
        # Stop every process before closing its pipes: end of input is what makes a restore tool
        # commit (psql --single-transaction), so a consumer must never see it on a failure path.
        for stage in stages:
            stage.stop()
        for stage in stages:
            for stream in (stage.proc.stdin, stage.proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        raise
    finally:
        for stage in stages:
            stage.join_drains()


def abandon(*procs: subprocess.Popen[bytes]) -> None:
    """Stop processes started for a pipeline that never ran (something failed between starting them
    and handing them to ``stream_backup`` / ``stream_restore``): each is terminated, then killed
    if it lingers, and reaped, in the order given, before any of its pipes is closed. A consumer
    must never see end of input here: ``rclone rcat`` would upload what it had, a restore tool
    would commit it."""
    for proc in procs:
        Stage("abandoned", proc).stop()
    for proc in procs:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            _close(stream)


def _close(stream: object) -> None:
    if stream is not None:
        with contextlib.suppress(OSError):
            stream.close()  # type: ignore[attr-defined]


def _pipe(stage: Stage, end: str) -> int:
    """The file descriptor of the pipe the pipeline reads (``stdout``) or writes (``stdin``); a
    connector that started its tool without that pipe gets a clear error (the stages are stopped)."""
    stream = getattr(stage.proc, end)
    if stream is None:
        raise PipelineError(
            stage.label, None, "", reason=f"was started without a pipe on its {end} (pass {end}=subprocess.PIPE)"
        )
    fd: int = stream.fileno()
    _widen(fd)
    return fd


def stream_backup(
    producer: Stage,
    consumer: Stage,
    sample: StreamSample | None = None,
    check: Callable[[StreamSample], None] | None = None,
    encoder: Encoder | None = None,
) -> StreamStats:
    """Copy ``producer`` stdout into ``consumer`` stdin; raise ``PipelineError`` on any failure.

    Every raw chunk of the producer also goes to ``sample``. Once the producer exited 0, its stderr
    is added to the sample and ``check(sample)`` runs before the consumer receives end of input:
    an exception there (``IncompleteDump``) stops the consumer so the upload never completes.
    With an ``encoder`` the consumer receives (and the stats count and hash) its output, and its
    last bytes (the end of the frame) are written only after the check passed. On return both
    processes exited 0, the check passed and every byte reached the consumer.
    """
    hasher = hashlib.sha256()
    size = raw_size = 0
    encoder = encoder or Encoder()
    consumer_gone = False
    report = progress.active()
    with _supervised([(producer, "stdout"), (consumer, "stdin")]), contextlib.closing(encoder):
        src, dst = _pipe(producer, "stdout"), _pipe(consumer, "stdin")
        buf = bytearray(CHUNK_SIZE)
        view = memoryview(buf)
        while True:
            n = os.readv(src, [buf])
            if n == 0:
                break
            chunk = view[:n]
            if sample is not None:
                sample.feed(chunk)  # the raw dump bytes, for check_dump()
            raw_size += n
            stored = encoder.feed(chunk)
            hasher.update(stored)
            try:
                _write_all(dst, memoryview(stored))
            except BrokenPipeError:
                consumer_gone = True
                break
            size += len(stored)
            if report is not None:
                report.update(raw_size)
        if consumer_gone:
            _close(consumer.proc.stdin)
            _close(producer.proc.stdout)
            consumer.proc.wait()
            producer.stop()
            raise consumer.failure("" if consumer.proc.returncode else "stopped reading its input")
        producer.proc.wait()
        _close(producer.proc.stdout)
        if producer.proc.returncode != 0:
            consumer.stop()  # before end of input, so the upload is not completed
            raise producer.failure()
        if sample is not None and check is not None:
            sample.stderr = producer.stderr_text()
            sample.stderr_lines = producer.report_lines()
            try:
                check(sample)
            except IncompleteDump as exc:
                consumer.stop()  # before end of input, so the upload is not completed
                raise IncompleteDump(f"{producer.label} exited 0 but {exc}; nothing was published") from exc
        stored = encoder.flush()
        hasher.update(stored)
        size += len(stored)
        with contextlib.suppress(BrokenPipeError):  # the consumer's exit status below tells what happened
            _write_all(dst, memoryview(stored))
        _close(consumer.proc.stdin)
        consumer.proc.wait()
        if consumer.proc.returncode != 0:
            raise consumer.failure()
    return StreamStats(size=size, sha256=hasher.hexdigest(), uncompressed_size=raw_size)


def stream_restore(
    producer: Stage,
    consumer: Stage,
    expected: Expected | None = None,
    guard: RestoreGuard | None = None,
    decoder: Decoder | None = None,
) -> StreamStats:
    """Copy ``producer`` stdout into ``consumer`` stdin, holding back the last chunk.

    ``expected`` is checked against the bytes the producer yields (the stored bytes); with a
    ``decoder`` the consumer receives its output. The consumer receives its final bytes (and end
    of input) only after the producer exited 0, the stream matched ``expected`` and the decoder
    saw its stream end cleanly; otherwise the consumer is stopped before it could commit, and
    ``PipelineError`` / ``IntegrityError`` is raised. With a ``guard``, its ``start()`` bytes go
    first, every decoded piece is written as ``guard.feed()`` returns it (checksums are of the
    stored bytes), and ``guard.finish()`` goes last, after the checks.
    """
    hasher = hashlib.sha256()
    size = 0
    decoder = decoder or Decoder()
    report = progress.active()
    with _supervised([(producer, "stdout"), (consumer, "stdin")]):
        src, dst = _pipe(producer, "stdout"), _pipe(consumer, "stdin")
        bufs = (bytearray(CHUNK_SIZE), bytearray(CHUNK_SIZE))
        pending: bytes | memoryview | None = None
        turn = 0
        try:
            if guard is not None:
                _write_all(dst, memoryview(guard.start()))
            while True:
                buf = bufs[turn]
                n = os.readv(src, [buf])
                if n == 0:
                    break
                chunk = memoryview(buf)[:n]
                hasher.update(chunk)
                size += n
                if report is not None:
                    report.update(size)
                for piece in decoder.feed(chunk):  # without a codec: chunk itself (two buffers take turns)
                    if pending is not None:
                        _write_all(dst, memoryview(pending))
                    pending = piece if guard is None else guard.feed(memoryview(piece))
                turn ^= 1
        except IntegrityError:  # undecodable: stop the consumer before it could see end of input
            consumer.stop()
            producer.stop()
            raise
        except BrokenPipeError:
            _close(consumer.proc.stdin)
            consumer.proc.wait()
            _close(producer.proc.stdout)
            producer.stop()
            raise consumer.failure("" if consumer.proc.returncode else "stopped reading its input") from None
        error: Exception | None = producer.finish_producer()
        if error is None and expected is not None and (size != expected.size or hasher.hexdigest() != expected.sha256):
            error = IntegrityError(
                f"backup does not match its manifest: got {size} bytes with sha256 {hasher.hexdigest()}, "
                f"expected {expected.size} bytes with sha256 {expected.sha256}; the restore was stopped "
                "before the database tool received the end of the stream"
            )
        if error is None:
            try:
                decoder.finish()
            except IntegrityError as exc:
                error = exc
        if error is not None:
            consumer.stop()
            raise error
        try:
            if pending is not None:
                _write_all(dst, memoryview(pending))
            if guard is not None:
                _write_all(dst, memoryview(guard.finish()))
        except BrokenPipeError:
            pass  # the consumer's exit status below tells what happened
        _close(consumer.proc.stdin)
        consumer.proc.wait()
        if consumer.proc.returncode != 0:
            raise consumer.failure()
    return StreamStats(size=size, sha256=hasher.hexdigest(), uncompressed_size=decoder.size)


def stream_digest(producer: Stage, decoder: Decoder | None = None) -> StreamStats:
    """Read ``producer`` stdout to the end, counting and hashing; raise if it fails.

    With a ``decoder`` the stream is also decoded (output discarded) and its end checked, so
    ``uncompressed_size`` is the decoded size; an undecodable stream raises ``IntegrityError``.
    """
    hasher = hashlib.sha256()
    size = 0
    report = progress.active()
    with _supervised([(producer, "stdout")]):
        src = _pipe(producer, "stdout")
        buf = bytearray(CHUNK_SIZE)
        view = memoryview(buf)
        while True:
            n = os.readv(src, [buf])
            if n == 0:
                break
            hasher.update(view[:n])
            size += n
            if report is not None:
                report.update(size)
            if decoder is not None:
                for _ in decoder.feed(view[:n]):
                    pass
        failure = producer.finish_producer()
        if failure is not None:
            raise failure
        if decoder is not None:
            decoder.finish()
    return StreamStats(size=size, sha256=hasher.hexdigest(), uncompressed_size=decoder.size if decoder else size)
