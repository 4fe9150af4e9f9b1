"""A dead Redis or MongoDB: the API answers 503 fast and leaves nothing half-written.

Each case runs a real web server process whose REDIS_URL or MONGODB_URI points at a port
where nothing listens, and checks the live services for leftovers.
"""

import os
import time

import redis

from myproject.stack import free_port, mongo_uri
from tests.live import http as _http
from tests.live import web_server

# "Fast": well under a client's usual 10 s timeout, with the 2 s budgets in settings.
FAST_S = 5


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


def test_readiness_names_the_dependency_that_is_down(site_env, history):
    dead_mongo = mongo_uri(free_port(), "predictions_test")
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    for env, down in (({"MONGODB_URI": dead_mongo}, "mongodb"), ({"REDIS_URL": dead_redis}, "redis")):
        with web_server(site_env, **env) as (base, _):
            started = time.monotonic()
            status, headers, body = _http("GET", f"{base}/readyz")
            elapsed = time.monotonic() - started
            print(f"readyz with {down} down: {status} in {elapsed:.2f} s")
            assert status == 503, body
            assert body["status"] == "unavailable"
            assert {name for name, check in body["checks"].items() if not check["ok"]} == {down}
            assert headers["Retry-After"] == "5"
            assert elapsed < FAST_S
            # Liveness does not depend on them: a restart would not help.
            assert _http("GET", f"{base}/healthz")[0] == 200
