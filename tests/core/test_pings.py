"""Monitoring pings against a real loopback HTTP server, around real SQLite backups and restores."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.dispatch import Signal

from django_rclone import pings
from django_rclone.conf import load_settings
from django_rclone.operations.backup import backup
from django_rclone.operations.restore import restore

SECRET = "0f5c2a7e-secret-uuid"


@dataclass
class Server:
    """What the loopback server received, and how it answers."""

    url: str
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.requests]


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            state.requests.append((self.command, self.path, body))
            if state.delay:
                time.sleep(state.delay)
            try:
                self.send_response(state.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")
            except BrokenPipeError:  # the client gave up (the timeout test)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/{SECRET}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_backup_and_restore_send_start_then_success(
    rclone_settings: Callable[..., None], sqlite_db: str, server: Server
) -> None:
    rclone_settings(PING_URLS={"backup": server.url, "restore": server.url + "-restore"})
    result = backup("default")
    assert server.paths() == [f"/{SECRET}/start", f"/{SECRET}"]
    method, _, body = server.requests[1]
    assert method == "POST"
    assert result.name in body
    assert f"{result.size} bytes" in body
    server.requests.clear()
    restored = restore("default", input_path=result.name)
    # The undo backup taken first is a real backup, but it must not tell the backup check that the
    # schedule still runs: only the restore pings go out.
    assert restored.undo
    assert server.paths() == [f"/{SECRET}-restore/start", f"/{SECRET}-restore"]


def test_failure_ping_carries_the_stage_and_error(
    rclone_settings: Callable[..., None], sqlite_db: str, server: Server, tmp_path: Path
) -> None:
    failing = tmp_path / "sqlite3-broken"
    failing.write_text("#!/bin/sh\necho 'disk I/O error while dumping' >&2\nexit 3\n")
    failing.chmod(0o755)
    rclone_settings(PING_URLS={"backup": server.url}, CONNECTORS={"default": {"DUMP_CMD": str(failing)}})
    with pytest.raises(CommandError, match="disk I/O error"):
        call_command("dbbackup", stdout=None, stderr=None, verbosity=0)
    assert server.paths() == [f"/{SECRET}/start", f"/{SECRET}/fail"]
    body = server.requests[1][2]
    assert "backup of database 'default' failed at stage dump" in body
    assert "disk I/O error while dumping" in body


def test_failure_before_the_start_sends_only_the_failure(
    rclone_settings: Callable[..., None], sqlite_db: str, server: Server
) -> None:
    rclone_settings(PING_URLS={"backup": server.url})
    with pytest.raises(ImproperlyConfigured, match="nope"):
        backup("nope")
    assert server.paths() == [f"/{SECRET}/fail"]
    assert "backup of database 'nope' failed at stage prepare" in server.requests[0][2]


def test_per_alias_url_and_explicit_events(
    rclone_settings: Callable[..., None], sqlite_db: str, server: Server
) -> None:
    rclone_settings(
        PING_URLS={
            "backup": server.url + "-all",
            "backup:default": {"success": server.url + "/ok", "failure": server.url + "/bad"},
        }
    )
    backup("default")
    assert server.paths() == [f"/{SECRET}/ok"]  # no start URL given for this alias: no start ping


def test_down_server_is_logged_and_the_backup_succeeds(
    rclone_settings: Callable[..., None], sqlite_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/{SECRET}"
    rclone_settings(PING_URLS={"backup": url}, PING_TIMEOUT=2)
    with caplog.at_level(logging.WARNING, logger="django_rclone"):
        result = backup("default")
    assert result.size > 0
    lines = [r.getMessage() for r in caplog.records if "ping" in r.getMessage()]
    assert len(lines) == 2, lines  # start and success, each logged
    assert all("127.0.0.1" in line and "ConnectionRefusedError" in line for line in lines), lines
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_slow_server_times_out_and_the_backup_succeeds(
    rclone_settings: Callable[..., None], sqlite_db: str, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.delay = 3.0
    rclone_settings(PING_URLS={"backup": server.url}, PING_TIMEOUT=0.5)
    clock = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="django_rclone"):
        result = backup("default")
    # outside the backup's own duration: two pings, each given up after 0.5 s (the server takes 3 s)
    assert time.monotonic() - clock - result.duration < 2.5
    lines = [r.getMessage() for r in caplog.records if "ping" in r.getMessage()]
    assert len(lines) == 2, lines
    assert all("timed out" in line for line in lines), lines
    assert not any(SECRET in r.getMessage() for r in caplog.records)


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """A server that answers every request one byte every 0.2 s: each socket read succeeds in
    time, so only a deadline for the whole exchange stops it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()
    answer = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"x" * 200 + b"\r\nContent-Length: 0\r\n\r\n"

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                for byte in answer:
                    if stop.is_set():
                        break
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break
                    time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/{SECRET}"
    stop.set()
    listener.close()
    thread.join(timeout=5)


def test_trickling_server_is_cut_off_at_the_deadline(
    rclone_settings: Callable[..., None], sqlite_db: str, trickling_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    rclone_settings(PING_URLS={"backup": {"start": trickling_server}}, PING_TIMEOUT=1)
    clock = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="django_rclone"):
        result = backup("default")
    assert result.size > 0
    assert time.monotonic() - clock - result.duration < 3.5  # the answer alone would take 45 s
    lines = [r.getMessage() for r in caplog.records if "ping" in r.getMessage()]
    assert lines == [lines[0]]
    assert "no complete answer within 1 s" in lines[0]


def test_error_status_is_logged_without_the_secret(
    rclone_settings: Callable[..., None], sqlite_db: str, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.status = 500
    rclone_settings(PING_URLS={"backup": server.url})
    with caplog.at_level(logging.WARNING, logger="django_rclone"):
        backup("default")
    lines = [r.getMessage() for r in caplog.records if "ping" in r.getMessage()]
    assert len(lines) == 2, lines
    assert all("HTTP status 500" in line for line in lines), lines
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_watch_gives_a_new_operation_pings(rclone_settings: Callable[..., None], server: Server) -> None:
    pre_copy, post_copy, copy_failed = Signal(), Signal(), Signal()
    pings.watch("copy", started=pre_copy, succeeded=post_copy, failed=copy_failed)
    rclone_settings(PING_URLS={"copy": server.url})
    pre_copy.send(sender=None, database="default")
    copy_failed.send(sender=None, database="default", exception=RuntimeError("copy remote down"), stage="upload")
    assert server.paths() == [f"/{SECRET}/start", f"/{SECRET}/fail"]
    assert "RuntimeError: copy remote down" in server.requests[1][2]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"bakup": "https://hc-ping.com/x"}, "has the key 'bakup'"),
        ({"backup": "ftp://example.com/x"}, "is not an http(s) URL"),
        ({"backup": {"begin": "https://hc-ping.com/x"}}, "unknown events ['begin']"),
        ({"backup": 3}, "is 3"),
        ({"media_backup:default": "https://hc-ping.com/x"}, "has the key 'media_backup:default'"),
        ({"backup:": "https://hc-ping.com/x"}, "has the key 'backup:'"),
        ({"backup": "https://hc-ping.com:port/x"}, "has an invalid port"),
        ({"backup": "https:///x"}, "has no host"),
        ("https://hc-ping.com/x", "is str"),
    ],
)
def test_bad_ping_urls_are_refused(value: Any, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="PING_URLS") as caught:
        load_settings({"REMOTE": "/tmp/x", "PING_URLS": value})
    assert message in str(caught.value)


@pytest.mark.parametrize("value", [0, -1, "5", True, 600])
def test_bad_ping_timeout_is_refused(value: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="PING_TIMEOUT"):
        load_settings({"REMOTE": "/tmp/x", "PING_TIMEOUT": value})
