"""Is a pg_dump output complete? The check behind ``PostgresCommandConnector.check_dump()``.

What pg_dump wrote decides the check, not the connector's nominal format (a ``--format`` in
``DUMP_SUFFIX`` wins over the connector's own):

- custom archive (starts with ``PGDMP``): read whole by ``pg_restore --file=/dev/null`` when it
  fits the sample's head; otherwise ``pg_restore --list`` reads the table of contents from the
  head (pg_dump writes it first when its output is a pipe) and the stream must end with the
  zero-length chunk that closes the last data block;
- tar archive: must end with tar's end-of-archive blocks, and is read whole by ``pg_restore`` when
  it fits the head;
- plain SQL: must end with pg_dump's ``-- PostgreSQL database dump complete`` comment.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping

from django_rclone.exceptions import IncompleteDump
from django_rclone.sample import StreamSample

#: The magic bytes every pg_dump custom archive starts with.
ARCHIVE_MAGIC = b"PGDMP"
#: The comment pg_dump writes at the end of a plain-SQL dump once everything was dumped.
PLAIN_TRAILER = b"-- PostgreSQL database dump complete"
#: How long one ``pg_restore`` check may take.
CHECK_TIMEOUT = 300
#: An error pg_dump reported ("pg_dump: error: ...", older "pg_dump: [archiver (db)] query failed").
STDERR_ERROR = re.compile(r"(?i)^\S+: (error|fatal):|query failed:")

#: Runs ``pg_restore ARGS`` on the given bytes; returns (exit status 0, stdout or first stderr line).
PgRestore = Callable[[list[str], bytes], tuple[bool, str]]


def run_pg_restore(exe: str, env: Mapping[str, str]) -> PgRestore:
    """A ``PgRestore`` running ``exe`` with ``env`` (``FileNotFoundError`` if it is missing)."""

    def run(args: list[str], data: bytes) -> tuple[bool, str]:
        done = subprocess.run(
            [exe, *args], input=data, capture_output=True, env=dict(env), timeout=CHECK_TIMEOUT, check=False
        )
        if done.returncode == 0:
            return True, done.stdout.decode(errors="replace")
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        return False, (lines[0] if lines else f"exit status {done.returncode}")

    return run


def check(sample: StreamSample, pg_restore: PgRestore) -> None:
    """Raise ``IncompleteDump`` unless ``sample`` is a complete pg_dump output."""
    errors = [line.strip() for line in sample.stderr.splitlines() if STDERR_ERROR.search(line.strip())]
    if errors:
        raise IncompleteDump(f"it reported an error: {errors[0]}")
    head = sample.head
    if head.startswith(ARCHIVE_MAGIC):
        _check_custom(sample, pg_restore)
    elif head[257:262] == b"ustar":
        _check_tar(sample, pg_restore)
    else:
        _check_plain(sample)


def _check_custom(sample: StreamSample, pg_restore: PgRestore) -> None:
    head = sample.head
    if len(head) < 11:
        raise IncompleteDump(f"its output is a truncated pg_dump archive ({sample.size} bytes)")
    if sample.whole:
        ok, detail = pg_restore(["--file=/dev/null"], head)
        if not ok:
            raise IncompleteDump(f"pg_restore cannot read the archive: {detail}")
        return
    ok, detail = pg_restore(["--list"], head)
    toc_beyond_head = not ok and "end of file" in detail.lower()
    if not ok and not toc_beyond_head:
        raise IncompleteDump(f"pg_restore cannot read the archive's table of contents: {detail}")
    has_data = toc_beyond_head or any(kind in detail for kind in ("TABLE DATA", "BLOBS", "LARGE OBJECT"))
    int_size = head[8]  # the archive header: PGDMP, 3 version bytes, int size, offset size, format
    if has_data and not sample.tail.endswith(bytes(1 + int_size)):
        raise IncompleteDump(f"the archive stops inside a data block ({sample.size} bytes)")


def _check_tar(sample: StreamSample, pg_restore: PgRestore) -> None:
    if not sample.tail.endswith(bytes(1024)):
        raise IncompleteDump(f"the tar archive has no end-of-archive blocks ({sample.size} bytes)")
    if sample.whole:
        ok, detail = pg_restore(["--file=/dev/null"], sample.head)
        if not ok:
            raise IncompleteDump(f"pg_restore cannot read the archive: {detail}")


def _check_plain(sample: StreamSample) -> None:
    ending = sample.tail.rstrip().splitlines()[-4:]  # newer pg_dump may add "\unrestrict KEY" after it
    if not any(line.strip() == PLAIN_TRAILER for line in ending):
        last = ending[-1].decode(errors="replace")[-80:] if ending else "nothing"
        raise IncompleteDump(
            f"its output does not end with pg_dump's '-- PostgreSQL database dump complete' line "
            f"(it ends with {last!r}, {sample.size} bytes)"
        )
