"""A loopback S3 server: ``rclone serve s3`` over a local folder on 127.0.0.1.

Used by the multipart tests and by ``bench/``. The server runs at debug level so that its log
records every uploaded part (``put multipart upload <bucket> <key>``), which lets a test count the
parts a streamed upload really used. The client side is a remote named ``loop`` configured entirely
through ``RCLONE_CONFIG_LOOP_*`` environment variables, so no rclone.conf is written and the keys
never reach an argv.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ACCESS_KEY = "loopbackaccess"
SECRET_KEY = "loopbacksecret"
BUCKET = "backups"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopbackS3:
    """One ``rclone serve s3`` process serving ``root``; ``BUCKET`` exists from the start."""

    def __init__(self, root: Path, rclone: str = "rclone") -> None:
        self.root = root
        (root / BUCKET).mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.log = root.parent / f"serve-s3-{self.port}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    rclone,
                    "serve",
                    "s3",
                    "-vv",
                    "--addr",
                    f"127.0.0.1:{self.port}",
                    "--auth-key",
                    f"{ACCESS_KEY},{SECRET_KEY}",
                    str(root),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"rclone serve s3 did not start: {self.log.read_text()[-2000:]}") from None
                time.sleep(0.05)

    @property
    def env(self) -> dict[str, str]:
        """RCLONE_ENV for a remote named ``loop`` pointing at this server."""
        return {
            "RCLONE_CONFIG_LOOP_TYPE": "s3",
            "RCLONE_CONFIG_LOOP_PROVIDER": "Rclone",
            "RCLONE_CONFIG_LOOP_ENDPOINT": f"http://127.0.0.1:{self.port}",
            "RCLONE_CONFIG_LOOP_ACCESS_KEY_ID": ACCESS_KEY,
            "RCLONE_CONFIG_LOOP_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def remote(self, path: str = "") -> str:
        return f"loop:{BUCKET}/{path}".rstrip("/")

    def parts(self, key: str) -> int:
        """How many multipart parts the server received for objects named ``key`` so far."""
        marker = f"put multipart upload {BUCKET} {key} "
        return sum(1 for line in self.log.read_text(errors="replace").splitlines() if marker in line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def loopback_s3(tmp_path: Path) -> Iterator[LoopbackS3]:
    """A fresh loopback S3 server for one test (starts in well under a second)."""
    rclone = str(Path(sys.executable).parent / "rclone")
    server = LoopbackS3(tmp_path / "s3root", rclone if Path(rclone).exists() else "rclone")
    yield server
    server.stop()
