"""The compression stage of the pipeline: zstd (default), gzip or none.

A backup's dump bytes go through an ``Encoder`` before they are hashed and handed to ``rclone
rcat``; a restore's stored bytes are hashed, then go through a ``Decoder`` before the restore tool
reads them. zstd comes from ``compression.zstd`` (Python 3.14+) or its backport, a wheel, so ``pip
install`` is enough; it compresses on its own worker threads (``COMPRESSION_THREADS``, all cores by
default) outside the GIL. gzip (stdlib zlib) reads and writes django-dbbackup's ``.gz`` files.

Memory stays constant: the encoder returns what zstd has ready for each chunk, and the decoder
yields its output in pieces of at most ``OUTPUT_LIMIT`` bytes, however well the data compressed.
"""

from __future__ import annotations

import os
import re
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from django_rclone.exceptions import IntegrityError

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

ZSTD, GZIP, NONE = "zstd", "gzip", "none"
#: File extension (without the dot) each codec adds after the connector's own.
EXTENSIONS = {ZSTD: "zst", GZIP: "gz", NONE: ""}
#: Level used when the setting names a codec without one. zstd 1 was as fast as storing the raw
#: dump and 2-3x smaller on this project's benchmark (docs/performance.md); gzip 6 is gzip's own.
DEFAULT_LEVELS = {ZSTD: 1, GZIP: 6}
LEVEL_RANGES = {ZSTD: (1, 19), GZIP: (1, 9)}
#: Largest piece of decoded output handed to the restore tool at once.
OUTPUT_LIMIT = 1 << 20

_SPEC = re.compile(r"^(?P<codec>[a-z]+)(?::(?P<level>-?\d+))?$")


@dataclass(frozen=True)
class Compression:
    """A codec with its level and thread count, as settings and manifests name it."""

    codec: str = NONE
    level: int | None = None
    threads: int = 0

    @property
    def extension(self) -> str:
        """The suffix this codec adds to backup names (``"zst"``, ``"gz"``; ``""`` for none)."""
        return EXTENSIONS[self.codec]

    @property
    def enabled(self) -> bool:
        return self.codec != NONE

    def label(self) -> str:
        """``"zstd:1"``, ``"gzip:6"`` or ``"none"``."""
        return self.codec if self.level is None else f"{self.codec}:{self.level}"

    def encoder(self) -> Encoder:
        if self.codec == ZSTD:
            return ZstdEncoder(self.level or DEFAULT_LEVELS[ZSTD], self.threads)
        if self.codec == GZIP:
            return GzipEncoder(self.level or DEFAULT_LEVELS[GZIP])
        return Encoder()

    def decoder(self) -> Decoder:
        if self.codec == ZSTD:
            return ZstdDecoder()
        if self.codec == GZIP:
            return GzipDecoder()
        return Decoder()


NO_COMPRESSION = Compression()


def parse(value: Any, threads: int = 0) -> Compression:
    """A ``COMPRESSION`` value (``"zstd"``, ``"zstd:LEVEL"``, ``"gzip[:LEVEL]"``, ``"none"``); ValueError if bad."""
    if value is None or value is False:
        return NO_COMPRESSION
    match = _SPEC.match(value.strip().lower()) if isinstance(value, str) else None
    if not match or match["codec"] not in EXTENSIONS:
        raise ValueError(f"is {value!r}: use 'zstd', 'zstd:LEVEL' (1-19), 'gzip', 'gzip:LEVEL' (1-9) or 'none'")
    codec = match["codec"]
    if codec == NONE:
        if match["level"] is not None:
            raise ValueError(f"is {value!r}: 'none' takes no level")
        return NO_COMPRESSION
    level = DEFAULT_LEVELS[codec] if match["level"] is None else int(match["level"])
    low, high = LEVEL_RANGES[codec]
    if not low <= level <= high:
        raise ValueError(f"is {value!r}: the {codec} level must be {low}-{high}")
    return Compression(codec, level, threads if codec == ZSTD else 0)


def all_cores() -> int:
    """The CPUs this process may run on (the default ``COMPRESSION_THREADS``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def split_extension(ext: str) -> tuple[str, str]:
    """``"dump.zst"`` -> ``("dump", "zstd")``; ``"dump"`` -> ``("dump", "none")``."""
    base, dot, last = ext.rpartition(".")
    for codec, suffix in EXTENSIONS.items():
        if suffix and dot and last == suffix:
            return base, codec
    return ext, NONE


# -- encoders ---------------------------------------------------------------------------------


class Encoder:
    """Turns dump bytes into stored bytes. This base class stores them as they are (codec none)."""

    def feed(self, chunk: memoryview) -> memoryview | bytes:
        """Compress ``chunk``; return the stored bytes ready so far (maybe empty)."""
        return chunk

    def flush(self) -> bytes:
        """The stored bytes still held back; called once, after the dump exited 0."""
        return b""

    def close(self) -> None:
        """Release the codec's worker threads and buffers; called on every path, success or not."""


class ZstdEncoder(Encoder):
    """One zstd frame with a content checksum; ``threads`` worker threads (0: on the calling thread)."""

    def __init__(self, level: int, threads: int) -> None:
        options: dict[int, int] = {
            zstd.CompressionParameter.compression_level: level,
            zstd.CompressionParameter.checksum_flag: 1,
        }
        if threads > 0:
            _low, high = zstd.CompressionParameter.nb_workers.bounds()
            options[zstd.CompressionParameter.nb_workers] = min(threads, high) if high else 0
        self._compressor: Any = zstd.ZstdCompressor(options=options)

    def feed(self, chunk: memoryview) -> bytes:
        return cast(bytes, self._compressor.compress(chunk))

    def flush(self) -> bytes:
        return cast(bytes, self._compressor.flush(zstd.ZstdCompressor.FLUSH_FRAME))

    def close(self) -> None:
        # zstd stops its worker threads when the compressor is freed; do not wait for the GC (a
        # traceback of a failed backup keeps this frame, and so the encoder, alive).
        self._compressor = None


class GzipEncoder(Encoder):
    """A gzip member (zlib with the gzip header), as ``gzip`` and django-dbbackup write it."""

    def __init__(self, level: int) -> None:
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 31)

    def feed(self, chunk: memoryview) -> bytes:
        return self._compressor.compress(chunk)

    def flush(self) -> bytes:
        return self._compressor.flush(zlib.Z_FINISH)


# -- decoders ---------------------------------------------------------------------------------


class Decoder:
    """Turns stored bytes back into dump bytes. This base class passes them through (codec none).

    ``feed`` yields pieces of at most ``OUTPUT_LIMIT`` bytes; ``finish`` raises ``IntegrityError``
    when the stored stream did not end where a frame ends (a truncated object). ``size`` counts
    the decoded bytes.
    """

    codec = NONE

    def __init__(self) -> None:
        self.size = 0

    def feed(self, chunk: memoryview | bytes) -> Iterator[memoryview | bytes]:
        self.size += len(chunk)
        if chunk:
            yield chunk

    def finish(self) -> None:
        """Check the stream ended cleanly (after the last ``feed``)."""

    def _bad(self, problem: str) -> IntegrityError:
        return IntegrityError(
            f"the backup is not valid {self.codec} data ({problem}); the restore tool did not receive the end "
            "of the stream"
        )


class _FramedDecoder(Decoder):
    """Shared loop of the zstd and gzip decoders: bounded output, one frame after another."""

    _errors: tuple[type[Exception], ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self._frames = 0
        self._started = False
        self._current = self._new()

    def _new(self) -> Any:
        raise NotImplementedError

    def _decompress(self, data: bytes | memoryview) -> bytes:
        raise NotImplementedError

    def _more_output(self, produced: int) -> bool:
        """Whether the decompressor may hold more output for the input it was given."""
        raise NotImplementedError

    def feed(self, chunk: memoryview | bytes) -> Iterator[bytes]:
        data: bytes | memoryview = chunk
        try:
            while True:
                if self._current.eof:
                    self._frames += 1
                    rest = self._current.unused_data
                    data = rest + bytes(data) if rest else data
                    if not data:
                        return
                    self._current, self._started = self._new(), False
                if data:
                    self._started = True
                out = self._decompress(data)
                data = b""
                if out:
                    self.size += len(out)
                    yield out
                if not self._current.eof and not self._more_output(len(out)):
                    return
        except self._errors as exc:
            raise self._bad(str(exc) or type(exc).__name__) from exc

    def finish(self) -> None:
        if self._current.eof:
            return
        if self._started or self._frames == 0:
            raise self._bad("the stream ends inside a frame: the object is truncated")


class ZstdDecoder(_FramedDecoder):
    codec = ZSTD
    _errors = (zstd.ZstdError, EOFError)

    def _new(self) -> Any:
        return zstd.ZstdDecompressor()

    def _decompress(self, data: bytes | memoryview) -> bytes:
        return self._current.decompress(data, OUTPUT_LIMIT)  # type: ignore[no-any-return]

    def _more_output(self, produced: int) -> bool:
        return not self._current.needs_input  # type: ignore[no-any-return]


class GzipDecoder(_FramedDecoder):
    codec = GZIP
    _errors = (zlib.error,)

    def _new(self) -> Any:
        return zlib.decompressobj(31)

    def _decompress(self, data: bytes | memoryview) -> bytes:
        tail = self._current.unconsumed_tail
        return self._current.decompress(tail + bytes(data) if tail else data, OUTPUT_LIMIT)  # type: ignore[no-any-return]

    def _more_output(self, produced: int) -> bool:
        return bool(self._current.unconsumed_tail) or produced == OUTPUT_LIMIT
