"""A real web server process for tests that need one (outages, concurrency, webhooks).

It serves its own migrated SQLite site (the `site_env` fixture) against the suite's Redis,
MongoDB and artifacts; `web_server(env, **overrides)` starts it with changed settings.
"""

import json
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager

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
