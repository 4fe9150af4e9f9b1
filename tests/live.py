"""A real web server process for tests that need one (outages, concurrency, webhooks), and
a real webhook receiver.

The web server serves its own migrated SQLite site (the `site_env` fixture) against the
suite's Redis, MongoDB and artifacts; `web_server(env, **overrides)` starts it with changed
settings. `webhook_receiver()` listens on 127.0.0.1 and records what it is sent.
"""

import json
import ssl
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from myproject.servers import free_port, port_open, stop, wait_until
from tests.clients import PASSWORD
from tests.processes import log_tail, spawn


def http(
    method: str, url: str, body: dict | None = None, token: str | None = None, headers: dict | None = None
):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


@contextmanager
def web_server(env: dict, **overrides):
    port = free_port()
    proc = spawn(
        "live-web",
        # gunicorn as in production; runserver's listen backlog of 5 resets concurrent clients.
        [
            sys.executable,
            "-m",
            "gunicorn",
            "myproject.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "32",
            "--no-control-socket",
            "--graceful-timeout",
            "2",
        ],
        {**env, **overrides},
    )
    try:
        wait_until(lambda: port_open(port) or proc.poll() is not None, timeout=30, what="web server")
        assert proc.poll() is None, log_tail("live-web")
        base = f"http://127.0.0.1:{port}"
        status, _, tokens = http("POST", f"{base}/login/", {"username": "ops", "password": PASSWORD})
        assert status == 200, tokens
        yield base, tokens["access"]
    finally:
        stop(proc)


class _Recording(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        server.calls.append((dict(self.headers), body))
        self.send_response(server.statuses.pop(0) if server.statuses else server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class _Receiver(ThreadingHTTPServer):
    def process_request(self, request, client_address):
        self.connections += 1
        super().process_request(request, client_address)


@contextmanager
def webhook_receiver(tls: ssl.SSLContext | None = None):
    """A receiver on 127.0.0.1 for the block (HTTPS with `tls`): each POST is recorded in
    `calls` as (headers, body) and answered with the next of `statuses`, once they are
    spent with `status` (200); `connections` counts the connections it accepted."""
    server = _Receiver(("127.0.0.1", free_port()), _Recording)
    server.calls, server.statuses, server.status, server.connections = [], [], 200, 0
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
