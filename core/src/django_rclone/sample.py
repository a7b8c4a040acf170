"""A bounded sample of a dump stream, for the connector's completeness check.

The pipeline feeds every raw dump chunk (before any compression) to a ``StreamSample``, which keeps
the first ``HEAD_SIZE`` and the last ``TAIL_SIZE`` bytes and counts the rest. Once the dump process
exited 0, the core adds the tool's stderr and hands the sample to ``BaseConnector.check_dump()``:
a connector checks what its format allows (a trailer at the end, a table of contents at the start,
an error marker in the tool's stderr) and raises ``IncompleteDump`` otherwise.

Memory is bounded (head + tail) whatever the size of the dump; the cost per chunk is one copy of
at most ``TAIL_SIZE`` bytes (and of the head while it fills).
"""

from __future__ import annotations

#: Bytes kept from the start of the stream (a pg_dump archive's table of contents lives there).
HEAD_SIZE = 4 << 20
#: Bytes kept from the end of the stream (trailers, terminators).
TAIL_SIZE = 64 << 10


class StreamSample:
    """The head and tail of a stream, fed chunk by chunk, plus the producing tool's stderr."""

    def __init__(self, head_size: int = HEAD_SIZE, tail_size: int = TAIL_SIZE) -> None:
        self.head_size = head_size
        self.tail_size = tail_size
        self._head = bytearray()
        self._tail = bytearray()
        #: Bytes seen so far.
        self.size = 0
        #: The last bytes the dump tool wrote on stderr (decoded); set by the core once it exited.
        self.stderr = ""
        #: Every line of the dump tool's stderr matching the connector's ``dump_report`` pattern
        #: (all of them, whatever the length of the stderr), ``None`` when some could not be kept.
        self.stderr_lines: list[str] | None = []

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """Account for the next ``chunk`` of the stream."""
        n = len(chunk)
        if not n:
            return
        room = self.head_size - len(self._head)
        if room > 0:
            self._head += chunk[:room]
        if n >= self.tail_size:
            self._tail[:] = chunk[n - self.tail_size :]
        else:
            self._tail += chunk
            excess = len(self._tail) - self.tail_size
            if excess > 0:
                del self._tail[:excess]
        self.size += n

    @property
    def head(self) -> bytes:
        """The first ``min(size, head_size)`` bytes."""
        return bytes(self._head)

    @property
    def tail(self) -> bytes:
        """The last ``min(size, tail_size)`` bytes."""
        return bytes(self._tail)

    @property
    def whole(self) -> bool:
        """``True`` when ``head`` is the entire stream."""
        return self.size <= self.head_size

    def __repr__(self) -> str:
        return f"<StreamSample size={self.size} head={len(self._head)} tail={len(self._tail)}>"
