"""Stand-in rclone for the daemon: ``rcd`` runs the real ``rclone rcd`` behind a proxy on the socket
django-rclone asked for, which can log, fail, hang or end at chosen calls; every other action is the
real rclone.

Environment:

- ``STANDIN_RCLONE_REAL``: the real rclone.
- ``STANDIN_RCD_RULES``: ``;``-separated ``METHOD[~TEXT]=ACTION``: a call to ``METHOD`` (e.g.
  ``operations/uploadfile``, or ``serve`` for a small read) whose query string or body contains ``TEXT`` (when given) is
  ``fail`` (answered 500 with "standin-rcd: no space left"), ``truncate`` (half the real answer,
  then the connection closes), ``hang`` (never answered; the file
  ``STANDIN_RCD_HANG_MARK`` is created) or ``die`` (the daemon and its proxy exit at once).
- ``STANDIN_RCD_LOG``: a file that gets ``start|end METHOD TIME`` lines per call.
"""

from __future__ import annotations

import http.client
import os
import socket
import socketserver
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler


class _Real(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def _rules() -> list[tuple[str, str, str]]:
    rules = []
    for item in filter(None, os.environ.get("STANDIN_RCD_RULES", "").split(";")):
        target, _, action = item.partition("=")
        method, _, text = target.partition("~")
        rules.append((method, text, action))
    return rules


def _log(edge: str, method: str) -> None:
    path = os.environ.get("STANDIN_RCD_LOG")
    if path:
        with open(path, "a") as handle:
            handle.write(f"{edge} {method} {time.time()}\n")


def serve(listen: str, real_socket: str, real: subprocess.Popen[bytes]) -> None:
    rules = _rules()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # a small read (--rc-serve): logged and matched as "serve"
            self.do_POST(verb="GET")

        def do_POST(self, verb: str = "POST") -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            method, _, query = self.path.lstrip("/").partition("?")
            if verb == "GET":
                method, query = "serve", self.path
            text = query + body.decode(errors="replace")
            _log("start", method)
            for rule_method, needle, action in rules:
                if rule_method == method and needle in text:
                    if action == "die":
                        real.kill()
                        os._exit(1)
                    if action == "hang":
                        mark = os.environ.get("STANDIN_RCD_HANG_MARK")
                        if mark:
                            open(mark, "w").close()
                        time.sleep(3600)
                    if action == "truncate":  # half the real answer, then the connection closes
                        connection = _Real(real_socket)
                        headers = {k: v for k, v in self.headers.items() if k.lower() == "authorization"}
                        connection.request(verb, self.path, None, headers)
                        answer = connection.getresponse().read()
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(answer)))
                        self.end_headers()
                        self.wfile.write(answer[: len(answer) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if action == "fail":
                        answer = b'{"error": "standin-rcd: no space left", "status": 500}'
                        self.send_response(500)
                        self.send_header("Content-Length", str(len(answer)))
                        self.end_headers()
                        self.wfile.write(answer)
                        _log("end", method)
                        return
            connection = _Real(real_socket)
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
            connection.request(verb, self.path, body if verb == "POST" else None, headers)
            response = connection.getresponse()
            answer = response.read()
            self.send_response(response.status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            connection.close()
            _log("end", method)

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    if os.path.exists(listen):
        os.unlink(listen)
    with Server(listen, Handler) as server:
        server.serve_forever()


def main() -> int:
    real = os.environ["STANDIN_RCLONE_REAL"]
    argv = sys.argv[1:]
    if "rcd" not in argv:
        os.execv(real, [real, *argv])  # noqa: S606 - becoming the real rclone is the point
    index = argv.index("--rc-addr")
    listen = argv[index + 1].removeprefix("unix://")
    real_socket = listen + ".real"
    real_argv = [*argv[: index + 1], "unix://" + real_socket, *argv[index + 2 :]]
    proc = subprocess.Popen([real, *real_argv])
    deadline = time.monotonic() + 10
    while not os.path.exists(real_socket):
        if proc.poll() is not None or time.monotonic() > deadline:
            return 1
        time.sleep(0.005)
    serve(listen, real_socket, proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
