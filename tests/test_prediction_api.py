"""The prediction API against live workers: batches, Prefer: wait, cancel, deadlines,
idempotency under concurrency, and signed webhooks."""

import base64
import hashlib
import hmac
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from myproject.servers import stop, wait_until
from predictor.frames import model_input
from tests.clients import wait_for_job
from tests.live import http, web_server
from tests.processes import log_tail, start_worker
from tests.shipped import features

pytestmark = pytest.mark.pipeline


def _rows(trained, count: int) -> tuple[list[dict], list[str]]:
    result, _ = trained
    X = features(result.definition.name)
    chosen = X.iloc[[i % len(X) for i in range(count)]]
    rows = [{name: float(value) for name, value in row.items()} for row in chosen.to_dict(orient="records")]
    expected = list(result.pipeline.predict(model_input(result.pipeline, chosen)))
    return rows, expected


def test_a_batch_of_the_maximum_size_runs_as_one_job_in_order(
    history, live_worker, api, model_version, trained_breast_cancer, settings
):
    rows, expected = _rows(trained_breast_cancer, settings.PREDICTION_MAX_BATCH_ROWS)
    response = api.post("/api/v1/predictions/", {"model": "breast_cancer", "inputs": rows}, format="json")
    assert response.status_code == 202, response.json()
    job = wait_for_job(api, response.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["input"] is None
    assert len(job["inputs"]) == len(job["output"]) == settings.PREDICTION_MAX_BATCH_ROWS
    assert [row["label"] for row in job["output"]] == expected
    assert history.PredictionJob.objects.count() == 1


def test_a_batch_is_stored_as_json_text_and_documents_of_the_older_shape_read_the_same(
    history, live_worker, api, model_version, trained_breast_cancer
):
    rows, expected = _rows(trained_breast_cancer, 3)
    response = api.post("/api/v1/predictions/", {"model": "breast_cancer", "inputs": rows}, format="json")
    job = wait_for_job(api, response.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    collection = history.PredictionJob._get_collection()
    stored = collection.find_one({"_id": job["id"]})
    # One string each in MongoDB (predictor/history/jobs.py, batch_encode), the same values.
    assert json.loads(stored["inputs"]) == rows == job["inputs"]
    assert json.loads(stored["output"]) == job["output"]
    assert [row["label"] for row in job["output"]] == expected

    # A job stored before: its rows and output as BSON arrays of documents.
    older = {**stored, "_id": "older-shape", "inputs": rows, "output": job["output"]}
    collection.insert_one(older)
    again = api.get("/api/v1/predictions/older-shape/").json()
    assert (again["inputs"], again["output"]) == (job["inputs"], job["output"])


def test_a_batch_over_the_limit_or_with_a_bad_row_is_refused(
    history, api, model_version, valid_input, settings
):
    limit = settings.PREDICTION_MAX_BATCH_ROWS
    response = api.post(
        "/api/v1/predictions/",
        {"model": "breast_cancer", "inputs": [valid_input] * (limit + 1)},
        format="json",
    )
    assert response.status_code == 400
    assert f"At most {limit} rows" in response.json()["fields"]["inputs"][0]

    rows = [dict(valid_input) for _ in range(10)]
    rows[7]["mean_radius"] = "wide"
    response = api.post("/api/v1/predictions/", {"model": "breast_cancer", "inputs": rows}, format="json")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["inputs[7].mean_radius"]
    assert history.PredictionJob.objects.count() == 0


def test_prefer_wait_answers_200_with_the_finished_job(history, live_worker, api, model_version, valid_input):
    seconds = []
    for _ in range(10):
        started = time.monotonic()
        response = api.post(
            "/api/v1/predictions/",
            {"model": "breast_cancer", "input": valid_input},
            format="json",
            HTTP_PREFER="wait=60",
        )
        seconds.append(time.monotonic() - started)
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == "succeeded"
        assert response.json()["output"]["label"] == "malignant"
        # The answer (from the finish message) is what a read of the job gives.
        assert response.json() == api.get(f"/api/v1/predictions/{response.json()['id']}/").json()
    print(f"submit -> succeeded with Prefer: wait, median {statistics.median(seconds):.3f} s")


@pytest.fixture
def idle_queue(site_env):
    """A web server whose broker database no worker reads: its jobs stay queued until we say."""
    url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/3"
    broker = redis.Redis.from_url(url)
    broker.flushdb()
    with web_server(site_env, REDIS_URL=url) as (base, token):
        yield base, token, url, broker
    broker.flushdb()


def test_prefer_wait_gives_202_when_the_job_is_not_done_in_time(history, idle_queue, valid_input):
    base, token, _, _ = idle_queue
    started = time.monotonic()
    status, _, body = http(
        "POST",
        f"{base}/api/v1/predictions/",
        {"model": "breast_cancer", "input": valid_input},
        token,
        headers={"Prefer": "wait=1"},
    )
    assert status == 202
    assert body["status"] == "queued"
    assert 1 <= time.monotonic() - started < 10  # held about 1 s, then let go; never hung


def test_a_canceled_queued_job_never_runs(history, idle_queue, valid_input):
    base, token, url, broker = idle_queue
    _, _, job = http(
        "POST", f"{base}/api/v1/predictions/", {"model": "breast_cancer", "input": valid_input}, token
    )
    status, _, canceled = http("POST", f"{base}/api/v1/predictions/{job['id']}/cancel/", token=token)
    assert status == 200
    assert canceled["status"] == "canceled"
    assert broker.llen("predict") == 1  # its task waits in the queue

    worker = start_worker("predict", {"REDIS_URL": url})
    try:
        # The worker takes the task and drops it: it says so, and the message is acknowledged.
        dropped = f"job {job['id']} is finished, gone or running elsewhere; nothing to run"
        wait_until(
            lambda: dropped in log_tail("predict-worker", 400), timeout=30, what="the worker dropping it"
        )
        wait_until(
            lambda: broker.llen("predict") == 0 and not broker.hlen("unacked"),
            timeout=10,
            what="the task's message acknowledged",
        )
    finally:
        stop(worker)
    stored = history.job_get(job["id"])
    assert stored.status == "canceled"
    assert stored.started_at is None
    assert stored.attempts == 0
    assert stored.output is None


def test_a_job_past_its_cancel_after_deadline_is_canceled_not_run(history, idle_queue, valid_input):
    base, token, url, _ = idle_queue
    status, _, job = http(
        "POST",
        f"{base}/api/v1/predictions/",
        {"model": "breast_cancer", "input": valid_input},
        token,
        headers={"Cancel-After": "1s"},
    )
    assert status == 202
    assert job["cancel_after"] is not None
    # Its deadline passes while no worker reads its queue; then one takes its task.
    cancel_after = history.job_get(job["id"]).cancel_after
    wait_until(lambda: history.now() > cancel_after, timeout=10, what="the job's Cancel-After deadline")
    worker = start_worker("predict", {"REDIS_URL": url})
    try:
        wait_until(
            lambda: history.job_get(job["id"]).status in history.FINISHED, timeout=15, what="the job's end"
        )
    finally:
        stop(worker)
    stored = history.job_get(job["id"])
    assert stored.status == "canceled"
    assert "Cancel-After" in stored.error
    assert stored.output is None


def test_canceling_a_finished_job_leaves_it_as_it_is(history, live_worker, api, model_version, valid_input):
    response = api.post(
        "/api/v1/predictions/",
        {"model": "breast_cancer", "input": valid_input},
        format="json",
        HTTP_PREFER="wait=60",
    )
    assert response.json()["status"] == "succeeded"
    canceled = api.post(f"/api/v1/predictions/{response.json()['id']}/cancel/")
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "succeeded"
    assert canceled.json()["output"] == response.json()["output"]


def test_fifty_concurrent_requests_with_one_idempotency_key_make_one_job_and_one_task(
    history, idle_queue, valid_input
):
    base, token, _, broker = idle_queue
    body = {"model": "breast_cancer", "input": valid_input}

    def submit(_):
        return http(
            "POST", f"{base}/api/v1/predictions/", body, token, headers={"Idempotency-Key": "order-42"}
        )

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(submit, range(50)))

    assert {status for status, _, _ in answers} == {202}, [(s, b) for s, _, b in answers if s != 202][:3]
    assert len({body["id"] for _, _, body in answers}) == 1
    assert sum(1 for _, headers, _ in answers if headers.get("Idempotent-Replayed") == "true") == 49
    assert history.PredictionJob.objects.count() == 1
    assert broker.llen("predict") == 1

    other = {"model": "breast_cancer", "input": {**valid_input, "mean_radius": 10.0}}
    status, _, error = http(
        "POST", f"{base}/api/v1/predictions/", other, token, headers={"Idempotency-Key": "order-42"}
    )
    assert status == 422
    assert error["code"] == "idempotency_key_reused"
    assert history.PredictionJob.objects.count() == 1


def _verify(secret: str, headers: dict, body: bytes) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(headers["webhook-signature"], f"v1,{expected}")


@pytest.mark.django_db(transaction=True)
def test_webhooks_are_signed_filtered_and_retried(
    history, live_worker, webhook_worker, api, model_version, valid_input, receiver
):
    secret = api.get("/api/v1/webhooks/default/secret/").json()["key"]
    receiver.statuses = [500]  # the first delivery fails and must be retried
    url = f"http://127.0.0.1:{receiver.server_port}/hook"
    response = api.post(
        "/api/v1/predictions/",
        {
            "model": "breast_cancer",
            "input": valid_input,
            "webhook": url,
            "webhook_events_filter": ["completed"],
        },
        format="json",
    )
    assert response.status_code == 202, response.json()
    job_id = response.json()["id"]

    deadline = time.monotonic() + 40
    while len(receiver.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(receiver.calls) == 2, receiver.calls
    for headers, body in receiver.calls:
        headers = {name.lower(): value for name, value in headers.items()}
        assert _verify(secret, headers, body)
        assert headers["webhook-id"] == f"msg_{job_id}_completed"
        assert json.loads(body)["status"] == "succeeded"
        assert json.loads(body)["urls"]["get"] == f"/api/v1/predictions/{job_id}/"
    # A wrong key: its first character changed (6 bits of the key; a change next to the
    # base64 padding may touch only padding bits, or add a zero byte HMAC ignores).
    key = secret.removeprefix("whsec_")
    assert not _verify(f"whsec_{'B' if key[0] != 'B' else 'C'}{key[1:]}", headers, body)
    # The worker logs a delivery after the receiver has answered it: wait for the log.
    deliveries, deadline = [], time.monotonic() + 15
    while time.monotonic() < deadline:
        deliveries = api.get(f"/api/v1/predictions/{job_id}/webhooks/").json()["results"]
        if len(deliveries) >= 2:
            break
        time.sleep(0.2)
    assert [(d["attempt"], d["status_code"], d["event"]) for d in deliveries] == [
        (1, 500, "completed"),
        (2, 200, "completed"),
    ]


def test_a_webhook_to_a_private_address_is_refused_unless_allowed(
    history, api, model_version, valid_input, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:9/hook", "http://10.0.0.1/hook", "ftp://example.com/hook"):
        response = api.post(
            "/api/v1/predictions/",
            {"model": "breast_cancer", "input": valid_input, "webhook": url},
            format="json",
        )
        assert response.status_code == 400, url
        assert "webhook" in response.json()["fields"]
    assert history.PredictionJob.objects.count() == 0
