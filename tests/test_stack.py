"""`make up` itself: private services, a working platform, a clean Ctrl-C, a fast second run."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode

import psutil
import pytest

from myproject.stack import free_port, port_open, wait_until
from tests.conftest import ROOT

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
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


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


def test_make_up_runs_the_platform_stops_cleanly_and_restarts_fast(tmp_path, valid_input):
    web_port, flower_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("MONGODB_URI", "DATABASE_URL")}
    env.update(
        VAR_DIR=str(tmp_path / "var"),
        # Nothing listens there, so make up must start its own Redis (and its own SecantusDB).
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        WEB_BIND=f"127.0.0.1:{web_port}",
        FLOWER_PORT=str(flower_port),
        DJANGO_SETTINGS_MODULE="myproject.settings",
    )
    base = f"http://127.0.0.1:{web_port}"
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        proc = _start(env, log)
    try:
        wait_until(lambda: port_open(web_port) and port_open(flower_port), timeout=180, what="make up")
        printed = log_path.read_text()
        assert "private SecantusDB" in printed
        assert "/0 (private, data in" in printed
        assert "breast_cancer: trained v1 (champion)" in printed

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
        deadline = time.monotonic() + 120  # the workers start beside six other processes
        while (job := json.loads(_http("GET", f"{base}/api/v1/predictions/{job_id}/", headers=auth)[1]))[
            "status"
        ] not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert job["status"] == "succeeded", job
        assert job["output"]["label"] == "malignant"

        flower = f"http://127.0.0.1:{flower_port}/api/workers"
        assert _http("GET", flower)[0] == 401
        credentials = (tmp_path / "var" / "flower-credentials").read_text().strip()
        basic = {"Authorization": "Basic " + b64encode(credentials.encode()).decode()}
        assert _http("GET", flower, headers=basic)[0] == 200
    finally:
        _interrupt(proc)
    ports = [web_port, flower_port]
    _assert_nothing_left(str(tmp_path), ports)

    # Second run: same data, no retraining, up quickly.
    started = time.monotonic()
    with open(tmp_path / "up2.log", "wb") as log:
        proc = _start(env, log)
    try:
        wait_until(lambda: port_open(web_port), timeout=120, what="second make up")
        second_run_s = time.monotonic() - started
        printed = (tmp_path / "up2.log").read_text()
        assert "every model has a champion; not retraining" in printed
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
