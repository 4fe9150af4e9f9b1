"""A dead Redis or MongoDB: the API answers 503 fast and leaves nothing half-written.

Each case runs a real web server process whose REDIS_URL or MONGODB_URI points at a port
where nothing listens, and checks the live services for leftovers.
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest
import redis

from myproject.stack import free_port, mongo_uri, port_open, wait_until
from tests.conftest import PASSWORD, ROOT, log_tail, spawn, stop

# "Fast": well under a client's usual 10 s timeout, with the 2 s budgets in settings.
FAST_S = 5


def _http(method: str, url: str, body: dict | None = None, token: str | None = None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


@pytest.fixture(scope="session")
def site_env(tmp_path_factory, trained_breast_cancer, mongo_server, redis_server):
    """A migrated SQLite site with a user and the model, for web processes of these tests."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "myproject.settings",
        "VAR_DIR": str(tmp_path_factory.mktemp("outage-site")),
    }
    env.pop("DATABASE_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([sys.executable, "-m", "predictor.train_model"], env=env, check=True, cwd=ROOT)
    create = (
        f"from django.contrib.auth.models import User; User.objects.create_user('ops', password='{PASSWORD}')"
    )
    subprocess.run([*manage, "shell", "-c", create], env=env, check=True, cwd=ROOT)
    return env


@contextmanager
def web_server(env: dict, **overrides):
    port = free_port()
    proc = spawn(
        "outage-web",
        [sys.executable, str(ROOT / "manage.py"), "runserver", f"127.0.0.1:{port}", "--noreload"],
        {**env, **overrides},
    )
    try:
        wait_until(lambda: port_open(port) or proc.poll() is not None, timeout=30, what="web server")
        assert proc.poll() is None, log_tail("outage-web")
        base = f"http://127.0.0.1:{port}"
        status, _, tokens = _http("POST", f"{base}/login/", {"username": "ops", "password": PASSWORD})
        assert status == 200, tokens
        yield base, tokens["access"]
    finally:
        stop(proc)


def test_it_answers_503_fast_and_keeps_no_job_when_redis_is_down(site_env, history, valid_input):
    with web_server(site_env, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0") as (base, token):
        started = time.monotonic()
        status, headers, body = _http(
            "POST", f"{base}/api/v1/predictions/", {"model": "breast_cancer", "input": valid_input}, token
        )
        elapsed = time.monotonic() - started

        print(f"submit with Redis down: {status} in {elapsed:.2f} s")
        assert status == 503, body
        assert body["code"] == "service_unavailable"
        assert "Redis" in body["message"]
        assert headers["Retry-After"] == "5"
        assert elapsed < FAST_S
        assert history.PredictionJob.objects.count() == 0

        # Reading the history needs only MongoDB, which is up.
        status, _, body = _http("GET", f"{base}/api/v1/predictions/", token=token)
        assert status == 200
        assert body["results"] == []


def test_it_answers_503_fast_and_queues_nothing_when_mongodb_is_down(site_env, history, valid_input):
    queue_url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/1"
    broker = redis.Redis.from_url(queue_url)
    broker.flushdb()
    dead_mongo = mongo_uri(free_port(), "predictions_test")
    with web_server(site_env, MONGODB_URI=dead_mongo, REDIS_URL=queue_url) as (base, token):
        started = time.monotonic()
        status, headers, body = _http(
            "POST", f"{base}/api/v1/predictions/", {"model": "breast_cancer", "input": valid_input}, token
        )
        elapsed = time.monotonic() - started

        print(f"submit with MongoDB down: {status} in {elapsed:.2f} s")
        assert status == 503, body
        assert "MongoDB" in body["message"]
        assert headers["Retry-After"] == "5"
        assert elapsed < FAST_S
        assert broker.llen("predict") == 0

        for path in ("/api/v1/predictions/", "/api/v1/predictions/0b6c5d1e-0000-4000-8000-000000000000/"):
            status, _, body = _http("GET", base + path, token=token)
            assert status == 503, (path, body)

        # Bad input is still a 400: it is judged before MongoDB is needed.
        status, _, body = _http(
            "POST", f"{base}/api/v1/predictions/", {"model": "breast_cancer", "input": {}}, token
        )
        assert status == 400
    broker.flushdb()
