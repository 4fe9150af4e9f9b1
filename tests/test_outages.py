"""A dead Redis or MongoDB: the API answers 503 fast and leaves nothing half-written.

Each case runs a real web server process whose REDIS_URL or MONGODB_URI points at a port
where nothing listens, and checks the live services for leftovers.
"""

import os
import time
from contextlib import contextmanager

import pymongo
import pytest
import redis

from myproject.servers import free_port, mongo_command, mongo_uri, port_open, stop, wait_until
from tests.live import http as _http
from tests.live import web_server
from tests.processes import spawn

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


@pytest.fixture(scope="module")
def failpoint_mongo():
    """A SecantusDB of its own with mongod's test commands on: `configureFailPoint` makes
    it refuse commands as a full disk does."""
    port = free_port()
    proc = spawn("mongo-failpoints", [*mongo_command(port, ":memory:"), "--enable-test-commands"])
    wait_until(lambda: port_open(port), timeout=30, what="SecantusDB")
    yield port
    stop(proc)


@contextmanager
def refusing(port: int, code: int, commands: list[str]):
    """The server fails `commands` with `code` for the duration of the block."""
    with pymongo.MongoClient(mongo_uri(port, "admin"), serverSelectionTimeoutMS=5000) as admin:
        admin.admin.command(
            "configureFailPoint",
            "failCommand",
            mode="alwaysOn",
            data={"errorCode": code, "failCommands": commands},
        )
        try:
            yield
        finally:
            admin.admin.command("configureFailPoint", "failCommand", mode="off")


WRITES = ["insert", "update", "delete", "findAndModify"]
# SecantusDB once its disk filled: every command on data fails, reads too (`ping` does not).
DATA = [*WRITES, "find", "getMore", "aggregate", "count", "distinct"]


def test_a_mongodb_whose_disk_is_full_gets_a_fast_503_and_keeps_nothing(
    site_env, failpoint_mongo, valid_input
):
    queue_url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/1"
    broker = redis.Redis.from_url(queue_url)
    broker.flushdb()
    database = "predictions_disk_full"
    submit = {"model": "breast_cancer", "input": valid_input}
    with web_server(site_env, MONGODB_URI=mongo_uri(failpoint_mongo, database), REDIS_URL=queue_url) as (
        base,
        token,
    ):
        # mongod's refusal when its disk is too full (14031 OutOfDiskSpace): reads still work.
        with refusing(failpoint_mongo, 14031, WRITES):
            for headers in ({}, {"Idempotency-Key": "disk-full-1"}):
                started = time.monotonic()
                status, answer_headers, body = _http(
                    "POST", f"{base}/api/v1/predictions/", submit, token, headers=headers
                )
                elapsed = time.monotonic() - started
                print(f"submit with MongoDB refusing writes: {status} in {elapsed:.2f} s")
                assert status == 503, body
                assert "MongoDB" in body["message"]
                assert answer_headers["Retry-After"] == "5"
                assert elapsed < FAST_S
            assert _http("GET", f"{base}/api/v1/predictions/", token=token)[0] == 200
            assert _http("GET", f"{base}/readyz")[0] == 200

        # SecantusDB once its disk filled: code 1 for every read and write, `ping` still fine.
        with refusing(failpoint_mongo, 1, DATA):
            status, _, body = _http("POST", f"{base}/api/v1/predictions/", submit, token)
            assert status == 503, body
            for path in ("/api/v1/predictions/", "/api/v1/predictions/0b6c5d1e-0000-4000-8000-000000000000/"):
                status, _, body = _http("GET", base + path, token=token)
                assert status == 503, (path, body)
            # Readiness reads, so it sees what `ping` would not.
            status, _, body = _http("GET", f"{base}/readyz")
            assert status == 503, body
            assert {name for name, check in body["checks"].items() if not check["ok"]} == {"mongodb"}

        assert broker.llen("predict") == 0
    with pymongo.MongoClient(mongo_uri(failpoint_mongo, database), serverSelectionTimeoutMS=5000) as mongo:
        stored = mongo[database]
        assert stored["prediction_jobs"].count_documents({}) == 0
        assert stored["idempotency_keys"].count_documents({}) == 0
    broker.flushdb()
