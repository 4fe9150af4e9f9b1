"""`make up` itself: private services, a working platform, a clean Ctrl-C, a fast second run."""

import contextlib
import http.client
import http.cookiejar
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from pathlib import Path

import psutil
import pytest

from api.views.flower import UnixHTTPConnection
from myproject.servers import free_port, port_open, wait_until
from predictor.shipped import SHIPPED
from tests.processes import ROOT

pytestmark = pytest.mark.pipeline


def _http(method, url, body=None, headers=None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _serving(base: str) -> bool:
    """Whether the web answers its liveness check. Its port opens before its workers have
    loaded the app, and under load a connection made meanwhile may be refused or reset:
    that is "not yet", not a failure of the platform."""
    try:
        return _http("GET", f"{base}/healthz")[0] == 200
    except (OSError, http.client.HTTPException):  # URLError and ConnectionResetError are OSErrors
        return False


def _job(base: str, job_id: str, auth: dict) -> dict:
    status, body = _http("GET", f"{base}/api/v1/predictions/{job_id}/", headers=auth)
    assert status == 200, body
    return json.loads(body)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _browser():
    """A client keeping cookies, as a browser does, and showing redirects instead of following them."""
    return urllib.request.build_opener(
        _NoRedirects, urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )


def _fetch(opener, url, form=None):
    data = urllib.parse.urlencode(form).encode() if form else None
    try:
        with opener.open(url, data=data, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _fetched(opener, url) -> int | None:
    """The status of `url` fetched with `opener`, or None when the connection failed (a
    process still starting)."""
    try:
        return _fetch(opener, url)[0]
    except (OSError, http.client.HTTPException):
        return None


def _log_in(opener, base, username, password):
    _, _, page = _fetch(opener, f"{base}/accounts/login/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    status, _, _ = _fetch(
        opener,
        f"{base}/accounts/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token},
    )
    assert status == 302, "the admin login failed"


def _flower_process(var_dir: str) -> psutil.Process:
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if {"celery", "flower"} <= set(cmdline) and any(var_dir in part for part in cmdline):
            return process
    raise AssertionError("no Flower process")


def _start(env, log):
    return subprocess.Popen(
        [sys.executable, "-m", "myproject.stack", "up"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _refused(env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "myproject.stack", "up"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def _interrupt(proc) -> None:
    """Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group."""
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)


def _leftovers(var_dir: str, ports: list[int]) -> list[str]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if var_dir in cmdline or any(f":{port}" in cmdline or f"={port}" in cmdline for port in ports):
            found.append(f"{process.info['pid']}: {cmdline}")
    return found + [f"port {port} still open" for port in ports if port_open(port)]


def _assert_nothing_left(var_dir: str, ports: list[int]) -> None:
    """honcho has exited; the last children it killed may take a moment to be reaped."""
    with contextlib.suppress(RuntimeError):
        wait_until(lambda: not _leftovers(var_dir, ports), timeout=15, what="the processes to go")
    assert _leftovers(var_dir, ports) == []


def _model_versions(var: Path) -> int:
    """How many model versions the site's registry (SQLite in `var`) holds: a training adds one."""
    with contextlib.closing(sqlite3.connect(var / "db.sqlite3")) as db:
        return db.execute("SELECT COUNT(*) FROM predictor_modelversion").fetchone()[0]


def _make_up_would_run(venv: Path) -> str:
    """The commands `make up` would run (make -n) with `venv` as its virtual environment."""
    env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(
        ["make", "-n", "up", f"VENV={venv}"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout


def test_make_up_runs_the_platform_stops_cleanly_and_restarts_fast(tmp_path, valid_input):
    web_port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MONGODB_URI", "DATABASE_URL", "FLOWER_URL", "FLOWER_BASIC_AUTH")
    }
    env.update(
        VAR_DIR=str(tmp_path / "var"),
        # Nothing listens there, so make up must start its own Redis (and its own SecantusDB).
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        WEB_BIND=f"127.0.0.1:{web_port}",
        DJANGO_SETTINGS_MODULE="myproject.settings",
        # Flower's process must not inherit it (nor anything else of the web's).
        DJANGO_SECRET_KEY="stack-test-secret-key",
    )
    base = f"http://127.0.0.1:{web_port}"
    flower_socket = tmp_path / "var" / "flower" / "flower.sock"
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        proc = _start(env, log)
    try:
        wait_until(lambda: flower_socket.exists() and _serving(base), timeout=180, what="make up")
        printed = log_path.read_text()
        assert "private SecantusDB" in printed
        assert "/0 (private, data in" in printed
        assert "breast_cancer: trained v1 (champion)" in printed
        assert f"Flower       {base}/flower/   (staff login: admin)" in printed
        credentials = (tmp_path / "var" / "flower-credentials").read_text().strip()
        assert credentials not in printed

        user = {"username": "ada", "password": "tumour-Lab-2048"}
        status, _ = _http(
            "POST",
            f"{base}/register/",
            {**user, "email": "ada@example.com", "password_confirm": user["password"]},
        )
        assert status == 201
        status, body = _http("POST", f"{base}/login/", user)
        auth = {"Authorization": f"Bearer {json.loads(body)['access']}"}
        status, body = _http(
            "POST", f"{base}/api/v1/predictions/", {"model": "breast_cancer", "input": valid_input}, auth
        )
        assert status == 202, body
        job_id = json.loads(body)["id"]
        # The workers start beside six other processes.
        wait_until(
            lambda: _job(base, job_id, auth)["status"] in ("succeeded", "failed"), timeout=120, what="the job"
        )
        job = _job(base, job_id, auth)
        assert job["status"] == "succeeded", job
        assert job["output"]["label"] == "malignant"

        # Flower: through the web's staff login only.
        browser = _browser()
        status, headers, body = _fetch(browser, f"{base}/flower/")
        assert status == 302
        assert headers["Location"] == "/accounts/login/?next=/flower/"
        status, _, body = _fetch(browser, f"{base}/flower/metrics")
        assert status == 302
        assert b"# HELP" not in body
        _log_in(browser, base, "admin", (tmp_path / "var" / "admin-password").read_text().strip())
        wait_until(
            lambda: _fetched(browser, f"{base}/flower/") == 200, timeout=30, what="Flower via /flower/"
        )
        assert b"Flower</title>" in _fetch(browser, f"{base}/flower/")[2]
        assert b"# HELP flower_" in _fetch(browser, f"{base}/flower/metrics")[2]

        # Nothing of Flower on TCP: a socket in a directory only this user may enter.
        flower = _flower_process(str(tmp_path))
        listening = [c for c in flower.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert listening == []
        assert {conn.laddr for conn in flower.net_connections(kind="unix")} >= {str(flower_socket)}
        assert flower_socket.parent.stat().st_mode & 0o777 == 0o700
        # Flower keeps its own password as a second lock.
        connection = UnixHTTPConnection(str(flower_socket), timeout=10)
        connection.request("GET", "/flower/api/workers")
        assert connection.getresponse().status == 401
        connection.close()
        basic = "Basic " + b64encode(credentials.encode()).decode()
        connection = UnixHTTPConnection(str(flower_socket), timeout=10)
        connection.request("GET", "/flower/api/workers", headers={"Authorization": basic})
        assert connection.getresponse().status == 200
        connection.close()
        # ... and none of the web's secrets.
        assert {"DJANGO_SECRET_KEY", "MONGODB_URI", "DATABASE_URL"}.isdisjoint(flower.environ())
        assert "stack-test-secret-key" not in "".join(flower.environ().values())
    finally:
        _interrupt(proc)
    ports = [web_port]
    _assert_nothing_left(str(tmp_path), ports)
    versions = _model_versions(tmp_path / "var")
    assert versions == len(SHIPPED)  # each model trained once

    # Second run: same data, no retraining, up quickly.
    started = time.monotonic()
    with open(tmp_path / "up2.log", "wb") as log:
        proc = _start(env, log)
    try:
        wait_until(lambda: _serving(base), timeout=120, what="second make up")
        second_run_s = time.monotonic() - started
        printed = (tmp_path / "up2.log").read_text()
        assert "every model has a champion; not retraining" in printed
        assert ": trained v" not in printed
        assert _model_versions(tmp_path / "var") == versions
        status, body = _http("GET", f"{base}/api/v1/predictions/{job_id}/", headers=auth)
        assert status == 200
        assert json.loads(body)["status"] == "succeeded"

        # A second `make up` beside the first refuses at once and says why; the first serves on.
        same_data = _refused(env)
        assert same_data.returncode == 1
        assert f"another `make up` is running on {tmp_path / 'var'}" in same_data.stderr
        same_port = _refused({**env, "VAR_DIR": str(tmp_path / "other-var")})
        assert same_port.returncode == 1
        assert f"127.0.0.1:{web_port} is already in use" in same_port.stderr
        assert _http("GET", f"{base}/api/v1/predictions/{job_id}/", headers=auth)[0] == 200
    finally:
        _interrupt(proc)
    _assert_nothing_left(str(tmp_path), ports)
    print(f"second make up: web answering after {second_run_s:.1f} s")

    # Nor does a second `make up` reinstall: its stamp newer than the requirements, it runs
    # the stack alone; older (a requirements file changed since), it installs first.
    stamp = tmp_path / "venv" / "bin" / ".runtime-installed"
    stamp.parent.mkdir(parents=True)
    stamp.touch()
    again = _make_up_would_run(tmp_path / "venv")
    assert "-m myproject.stack up" in again
    assert "pip install" not in again
    os.utime(stamp, (0, 0))
    assert "pip install" in _make_up_would_run(tmp_path / "venv")
