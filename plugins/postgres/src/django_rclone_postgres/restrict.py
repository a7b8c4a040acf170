"""psql's restricted mode for plain-SQL restores: a backup must not run psql meta-commands.

psql runs backslash meta-commands found anywhere in its input outside quotes and COPY data:
``\\!`` runs a shell, ``\\o |cmd`` pipes output to one, ``\\copy``, ``\\i``, ``\\o FILE``,
``\\connect`` reach files and other databases. psql 13.22, 14.19, 15.14, 16.10, 17.6, 18 and later
have ``\\restrict KEY``: after it, every meta-command but ``\\unrestrict KEY`` is refused.

``PsqlRestrictGuard`` writes ``\\restrict <random key of this run>`` before the backup, so nothing
in the backup can leave restricted mode (it cannot know the key). pg_dump from the same releases
writes its own ``\\restrict K`` near the top of a dump and ``\\unrestrict K`` as its last command;
psql would refuse both while restricted, so the guard drops those two lines, and only where they
cannot be anything else: the ``\\restrict`` line among the dump's leading comments, and the
``\\unrestrict`` line when nothing but blank lines and comments follows it to the end of the stream.
Anything else reaches psql unchanged, where restricted mode refuses it and the restore fails.
"""

from __future__ import annotations

import re
import secrets

from django_rclone.db.base import RestoreGuard

#: The first release of each maintained major version whose psql has ``\restrict``.
RESTRICT_SINCE = {13: 22, 14: 19, 15: 14, 16: 10, 17: 6}
FIRST_MAJOR_WITH_RESTRICT = 18

_VERSION = re.compile(rb"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
_RESTRICT_LINE = re.compile(rb"\\restrict\s+\S+")
_UNRESTRICT = b"\\unrestrict"
#: A header line longer than this ends the header (pg_dump's are short).
_HEADER_LINE_LIMIT = 512


def has_restrict(version: str) -> bool:
    """Whether a ``psql --version`` line names a psql with ``\\restrict``."""
    found = _VERSION.search(version.encode())
    if found is None:
        return False
    major, minor = int(found.group(1)), int(found.group(2) or 0)
    if major >= FIRST_MAJOR_WITH_RESTRICT:
        return True
    return major in RESTRICT_SINCE and minor >= RESTRICT_SINCE[major]


def _harmless(line: bytes) -> bool:
    """A complete line psql does nothing with: blank or a ``--`` comment."""
    stripped = line.strip()
    return not stripped or stripped.startswith(b"--")


def _may_become_harmless(partial: bytes) -> bool:
    """An incomplete line that could still turn out blank or a comment."""
    stripped = partial.strip()
    return not stripped or stripped == b"-" or stripped.startswith(b"--")


class PsqlRestrictGuard(RestoreGuard):
    """Puts psql into restricted mode with a per-run key before the backup (see the module)."""

    def __init__(self, key: str | None = None) -> None:
        self.key = key or secrets.token_hex(32)
        self._in_header = True
        self._held = b""  # header: undecided lines; body: a held "\unrestrict" line and what follows
        self._line_start = True

    def start(self) -> bytes:
        return b"\\restrict " + self.key.encode() + b"\n"

    def feed(self, chunk: memoryview) -> bytes:
        data, self._held = self._held + bytes(chunk), b""
        out = b""
        if self._in_header:
            out, data = self._header(data)
            if self._in_header:
                return out
        return out + self._body(data)

    def finish(self) -> bytes:
        held, self._held = self._held, b""
        if self._in_header or not held:
            return held
        # A held tail is "\unrestrict K" followed by blank lines and comments only: drop that line.
        _, newline, rest = held.partition(b"\n")
        return rest if newline else b""

    # -- the dump's leading comments and its own \restrict line ------------------------------------
    def _header(self, data: bytes) -> tuple[bytes, bytes]:
        """Pass leading blank and comment lines, drop the dump's ``\\restrict`` line; return what to
        write and the data after the header (once the header ended)."""
        out: list[bytes] = []
        pos = 0
        while True:
            newline = data.find(b"\n", pos)
            if newline < 0:
                partial = data[pos:]
                if len(partial) <= _HEADER_LINE_LIMIT and (
                    _may_become_harmless(partial) or partial.lstrip().startswith(b"\\")
                ):
                    self._held = partial
                    return b"".join(out), b""
                self._in_header = False
                return b"".join(out), partial
            line = data[pos : newline + 1]
            if _harmless(line):
                out.append(line)
            elif _RESTRICT_LINE.fullmatch(line.strip()):
                pass  # pg_dump's own \restrict: ours is already in force
            else:
                self._in_header = False
                return b"".join(out), data[pos:]
            pos = newline + 1

    # -- the dump's final \unrestrict line ------------------------------------------------------
    def _body(self, data: bytes) -> bytes:
        out: list[bytes] = []
        pos = 0
        while True:
            at = self._next_unrestrict(data, pos)
            if at < 0:
                out.append(data[pos:])
                break
            out.append(data[pos:at])
            end = self._release_point(data, at)
            if end < 0:  # undecided: hold it until more data or the end of the stream
                self._held = data[at:]
                self._line_start = True
                return b"".join(out)
            out.append(data[at:end])
            pos = end
        if data:
            self._line_start = data.endswith(b"\n")
        return b"".join(out)

    def _next_unrestrict(self, data: bytes, pos: int) -> int:
        """Index of the next line start at or after ``pos`` whose line begins with ``\\unrestrict``
        (or could, being cut off at the end of ``data``); -1 when there is none."""
        if pos == 0 and self._line_start and data:
            head = data[: len(_UNRESTRICT)]
            if head == _UNRESTRICT or (len(head) == len(data) and _UNRESTRICT.startswith(head)):
                return 0
        found = data.find(b"\n" + _UNRESTRICT, max(pos - 1, 0))
        if found >= 0:
            return found + 1
        last = data.rfind(b"\n", max(pos - 1, 0))
        tail = data[last + 1 :] if last >= 0 else b""
        return last + 1 if tail and _UNRESTRICT.startswith(tail) else -1

    def _release_point(self, data: bytes, at: int) -> int:
        """Where the ``\\unrestrict`` line at ``at`` ends when something other than blank lines and
        comments follows it (it then goes to psql, which refuses it); -1 while undecided."""
        newline = data.find(b"\n", at)
        if newline < 0:
            return -1
        pos = newline + 1
        while True:
            nxt = data.find(b"\n", pos)
            if nxt < 0:
                return -1 if _may_become_harmless(data[pos:]) else newline + 1
            if not _harmless(data[pos : nxt + 1]):
                return newline + 1
            pos = nxt + 1
