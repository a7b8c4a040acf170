"""Byte copying between file descriptors, for the plugin's helper processes (``swap``, ``rawfile``).

The helpers sit in the middle of the core's pipeline, so they copy with one reused 1 MiB buffer and
raw ``readv``/``write`` calls: no per-chunk allocation and no Python-level buffering.
"""

from __future__ import annotations

import os
from collections.abc import Callable

CHUNK = 1 << 20


def copy_fd(src: int, dst: int, on_chunk: Callable[[memoryview], None] | None = None) -> None:
    """Copy every byte from ``src`` to ``dst`` until end of input.

    ``on_chunk`` sees each chunk before it is written; the view is only valid during the call.
    """
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        n = os.readv(src, [buf])
        if n == 0:
            return
        chunk = view[:n]
        if on_chunk is not None:
            on_chunk(chunk)
        while chunk:
            chunk = chunk[os.write(dst, chunk) :]
