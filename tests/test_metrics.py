"""Prometheus metrics against real services: the web's /metrics (in process, single-process
mode) and a live prefork worker's exporter (multiprocess mode, its pool child counting)."""

import contextlib
import os
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sklearn
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from myproject import celery_app, metrics
from myproject.servers import free_port, port_open, stop, wait_until
from tests.clients import submit, wait_for_job
from tests.processes import ROOT, start_worker

pytestmark = pytest.mark.pipeline

TOKEN = "metrics-test-token"
MODEL = "breast_cancer"


class Samples(dict):
    """A scrape: {(sample name, labels): value}; a sample never exported reads as 0."""

    @classmethod
    def parse(cls, text: str) -> "Samples":
        return cls(
            ((sample.name, frozenset(sample.labels.items())), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        )

    def get_(self, name: str, **labels) -> float:
        return self.get((name, frozenset(labels.items())), 0.0)

    def names(self) -> set[str]:
        return {name for name, _ in self}

    def labelled(self, name: str) -> list[dict]:
        return [dict(labels) for sample, labels in self if sample == name]


def moved(before: Samples, after: Samples, name: str, **labels) -> float:
    return after.get_(name, **labels) - before.get_(name, **labels)


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def web_scrape() -> Samples:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    return Samples.parse(response.content.decode())


@dataclass
class MetricsWorker:
    name: str
    url: str
    directory: Path

    def scrape(self) -> Samples:
        with urllib.request.urlopen(self.url, timeout=10) as response:
            return Samples.parse(response.read().decode())


def _predict_consumers() -> list[str]:
    active = celery_app.control.inspect(timeout=2).active_queues() or {}
    return [node for node, queues in active.items() if any(q["name"] == "predict" for q in queues)]


@contextlib.contextmanager
def predict_paused(*nodes: str):
    """These workers take nothing from the predict queue inside the block (real remote control)."""
    if nodes:
        celery_app.control.cancel_consumer("predict", destination=list(nodes), reply=True, timeout=5)
    try:
        yield
    finally:
        if nodes:
            celery_app.control.add_consumer("predict", destination=list(nodes), reply=True, timeout=5)


@pytest.fixture(scope="module")
def metrics_worker(mongo_server, purged_queues, tmp_path_factory):
    """A real prefork `celery worker` on the predict queue, serving its metrics on METRICS_PORT
    from a PROMETHEUS_MULTIPROC_DIR of its own. Other predict workers of the session (the
    live_worker) are paused meanwhile, so every job here runs on this one."""
    port, directory = free_port(), tmp_path_factory.mktemp("prometheus")
    proc = start_worker(
        "predict",
        {"LOG_FORMAT": "json", "METRICS_PORT": str(port), "PROMETHEUS_MULTIPROC_DIR": str(directory)},
    )
    name = proc.args[proc.args.index("--hostname") + 1]
    try:
        wait_until(lambda: port_open(port), timeout=30, what="the worker's metrics exporter")
        others = [node for node in _predict_consumers() if node != name]
        with predict_paused(*others):
            yield MetricsWorker(name, f"http://127.0.0.1:{port}/metrics", directory)
    finally:
        stop(proc)


def test_jobs_are_counted_once_where_submitted_and_where_finished(
    history, metrics_worker, api, model_version, valid_input, metrics_token
):
    web_before, worker_before = web_scrape(), metrics_worker.scrape()
    single = {"model": MODEL, "input": valid_input}
    batch = {"model": MODEL, "inputs": [valid_input] * 3}
    key = {"HTTP_IDEMPOTENCY_KEY": f"key-{uuid.uuid4()}"}
    responses = [
        submit(api, single),
        submit(api, batch),
        submit(api, single, **key),
        submit(api, single, **key),  # a replay: the same job, not a new one
    ]
    assert responses[3].headers["Idempotent-Replayed"] == "true"
    job_ids = {response.json()["id"] for response in responses}
    assert len(job_ids) == 3
    for job_id in job_ids:
        assert wait_for_job(api, job_id)["status"] == "succeeded"

    web_after = web_scrape()
    version = str(model_version.number)
    assert moved(web_before, web_after, "platform_jobs_submitted_total", model=MODEL, version=version) == 3
    route = {"route": "/api/v1/predictions/", "method": "POST"}
    for status in {response.status_code for response in responses}:
        expected = sum(response.status_code == status for response in responses)
        assert moved(web_before, web_after, "platform_http_requests_total", **route, status=str(status)) == (
            expected
        )
    assert moved(web_before, web_after, "platform_http_request_duration_seconds_count", **route) == 4

    # The pool child ran them; the main process's exporter merges its files.
    finished = {"model": MODEL, "version": version, "status": "succeeded"}
    worker_after = wait_for_scrape(
        metrics_worker, lambda s: moved(worker_before, s, "platform_jobs_finished_total", **finished) >= 3
    )
    assert moved(worker_before, worker_after, "platform_jobs_finished_total", **finished) == 3
    for histogram in (
        "platform_job_queue_seconds",
        "platform_job_predict_seconds",
        "platform_job_total_seconds",
    ):
        assert moved(worker_before, worker_after, f"{histogram}_count", model=MODEL) == 3
        assert moved(worker_before, worker_after, f"{histogram}_bucket", model=MODEL, le="+Inf") == 3
        assert moved(worker_before, worker_after, f"{histogram}_bucket", model=MODEL, le="120.0") == 3
    assert any(Path(metrics_worker.directory).glob("counter_*.db")), "not in multiprocess mode"


def wait_for_scrape(worker: MetricsWorker, done, *, timeout: float = 15) -> Samples:
    # A job's finish is written (and seen by wait_for_job) a moment before job_event counts it.
    wait_until(lambda: done(worker.scrape()), timeout=timeout, what="the worker's count")
    return worker.scrape()


def test_requests_are_counted_by_route_and_status_never_by_path(
    history, api, model_version, valid_input, metrics_token
):
    before = web_scrape()
    bad = submit(api, {"model": MODEL, "input": {**valid_input, "mean_radius": "not a number"}})
    assert bad.status_code == 400
    unknown_id = f"no-such-job-{uuid.uuid4()}"
    assert api.get(f"/api/v1/predictions/{unknown_id}/").status_code == 404
    assert Client().get(f"/no/such/page/{unknown_id}").status_code == 404
    after = web_scrape()

    post = {"route": "/api/v1/predictions/", "method": "POST"}
    assert moved(before, after, "platform_http_requests_total", **post, status="400") == 1
    assert moved(before, after, "platform_http_requests_total", **post, status="202") == 0
    assert moved(before, after, "platform_jobs_submitted_total", model=MODEL, version="1") == 0
    detail = {"route": "/api/v1/predictions/<str:job_id>/", "method": "GET", "status": "404"}
    assert moved(before, after, "platform_http_requests_total", **detail) == 1
    unmatched = {"route": "<unmatched>", "method": "GET", "status": "404"}
    assert moved(before, after, "platform_http_requests_total", **unmatched) == 1
    assert unknown_id not in str(after.labelled("platform_http_requests_total"))


def test_metrics_need_the_token_and_exist_only_with_one(db, settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404

    settings.METRICS_TOKEN = TOKEN
    for authorization in (None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"):
        headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
        response = Client().get("/metrics", **headers)
        assert response.status_code == 401, authorization
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"platform_" not in response.content

    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "no-store" in response["Cache-Control"]
    assert b"# TYPE platform_http_requests_total counter" in response.content
    assert Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_scrapes_over_plain_http_are_not_sent_to_https(tmp_path):
    """Behind TLS (DJANGO_HTTPS) every plain-HTTP request is redirected, except the ones from
    inside: health checks and Prometheus, which scrapes the web on the containers' network."""
    code = (
        "import django; django.setup(); from django.test import Client; "
        "client = Client(HTTP_HOST='localhost'); "
        "print(client.get('/metrics').status_code, client.get('/accounts/login/').status_code)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "myproject.settings",
        "DJANGO_HTTPS": "true",
        "METRICS_TOKEN": TOKEN,
        "VAR_DIR": str(tmp_path),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.split() == ["401", "301"], result.stderr


def test_metrics_are_not_an_api_operation(api, metrics_token):
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert not [path for path in schema["paths"] if "metrics" in path]


def test_queue_depth_is_read_from_redis_every_priority_included(
    history, metrics_worker, api, model_version, valid_input, metrics_token, settings
):
    from workers.tasks import predict_task

    with predict_paused(metrics_worker.name):
        before = web_scrape()
        assert before.get_("platform_redis_up") == 1
        assert {labels["queue"] for labels in before.labelled("platform_queue_depth")} == {
            "predict",
            "batch",
            "train",
            "webhooks",
        }
        jobs = [submit(api, {"model": MODEL, "input": valid_input}).json()["id"] for _ in range(2)]
        # A task sent with a priority lands in a list of its own (kombu's "predict\x06\x169").
        predict_task.apply_async(args=[f"no-such-job-{uuid.uuid4()}"], priority=9)
        queued = web_scrape()
        assert moved(before, queued, "platform_queue_depth", queue="predict") == 3

        # Redis gone: the scrape still answers, saying so, without depths.
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
        down = web_scrape()
        assert down.get_("platform_redis_up") == 0
        assert down.labelled("platform_queue_depth") == []
        assert "platform_http_requests_total" in down.names()
        settings.CELERY_BROKER_URL = settings.REDIS_URL

    for job_id in jobs:
        assert wait_for_job(api, job_id)["status"] == "succeeded"
    wait_until(
        lambda: (
            web_scrape().get_("platform_queue_depth", queue="predict")
            == before.get_("platform_queue_depth", queue="predict")
        ),
        timeout=15,
        what="the predict queue to drain",
    )


def test_a_cancel_counts_as_canceled_once_and_its_task_counts_nothing(
    history, metrics_worker, api, model_version, valid_input, metrics_token
):
    version = str(model_version.number)
    canceled = {"model": MODEL, "version": version, "status": "canceled"}
    succeeded = {**canceled, "status": "succeeded"}
    worker_before = metrics_worker.scrape()
    with predict_paused(metrics_worker.name):
        before = web_scrape()
        job_id = submit(api, {"model": MODEL, "input": valid_input}).json()["id"]
        assert api.post(f"/api/v1/predictions/{job_id}/cancel/").json()["status"] == "canceled"
        assert api.post(f"/api/v1/predictions/{job_id}/cancel/").json()["status"] == "canceled"
        after = web_scrape()
    assert moved(before, after, "platform_jobs_finished_total", **canceled) == 1
    # Its task still reaches the worker, which finds the job finished: once a job sent after
    # it has run (one process, in order), that task was handled.
    later = submit(api, {"model": MODEL, "input": valid_input}).json()["id"]
    assert wait_for_job(api, later)["status"] == "succeeded"
    worker_after = wait_for_scrape(
        metrics_worker, lambda s: moved(worker_before, s, "platform_jobs_finished_total", **succeeded) >= 1
    )
    assert moved(worker_before, worker_after, "platform_jobs_finished_total", **canceled) == 0
    assert moved(worker_before, worker_after, "platform_jobs_finished_total", **succeeded) == 1


def test_the_sweeper_counts_the_jobs_it_cancels(stored_job, model_version, metrics_token):
    from predictor import history
    from workers.tasks import requeue_stale_jobs_task

    job = stored_job(cancel_after=history.now() - timedelta(seconds=1))
    before = web_scrape()
    requeue_stale_jobs_task()
    requeue_stale_jobs_task()
    after = web_scrape()
    assert history.job_get(job.id).status == "canceled"
    labels = {"model": MODEL, "version": str(model_version.number), "status": "canceled"}
    assert moved(before, after, "platform_jobs_finished_total", **labels) == 1


def test_the_serving_version_is_the_registrys(db, model_version, trained_breast_cancer, metrics_token):
    from predictor import registry

    samples = web_scrape()
    assert samples.get_("platform_registry_up") == 1
    champion = registry.champion_get(MODEL)
    assert samples.get_("platform_model_serving_version", model=MODEL) == champion.number == 1

    result, sha256 = trained_breast_cancer
    second = registry.version_register(
        model_version.model, result, artifact_sha256=sha256, sklearn_version=sklearn.__version__
    )
    assert web_scrape().get_("platform_model_serving_version", model=MODEL) == 1  # a candidate serves nothing
    registry.version_promote(second, reason="test")
    assert web_scrape().get_("platform_model_serving_version", model=MODEL) == 2


def test_waiters_are_counted_while_they_wait(db, redis_server, metrics_token):
    from api.waiting import Waiting

    before = web_scrape().get_("platform_waiters")
    waiting = Waiting(5)
    waiting.watch(f"job-{uuid.uuid4()}")
    try:
        assert web_scrape().get_("platform_waiters") == before + 1
    finally:
        waiting.close()
    assert web_scrape().get_("platform_waiters") == before
    Waiting(0).watch("not-waiting")  # no wait asked for: no slot, nothing counted
    assert web_scrape().get_("platform_waiters") == before


def test_webhook_attempts_are_counted_by_outcome(stored_job, receiver, metrics_token):
    from predictor import webhooks

    receiver.status = 204
    url = f"http://127.0.0.1:{receiver.server_port}/hook"
    job = stored_job(webhook=url, webhook_events_filter=["completed"])
    dead = stored_job(webhook=f"http://127.0.0.1:{free_port()}/hook")

    def deliver(job_id, *, allow_private=True):
        with contextlib.suppress(webhooks.DeliveryFailed):
            webhooks.deliver(job_id, "completed", attempt=1, allow_private=allow_private, timeout_s=5)

    before = web_scrape()
    deliver(job.id)
    receiver.status = 500
    deliver(job.id)
    deliver(job.id)
    deliver(job.id, allow_private=False)  # 127.0.0.1 is not a public address
    deliver(dead.id)  # nothing listens there
    webhooks.deliver(job.id, "start", attempt=1, allow_private=True, timeout_s=5)  # filtered: not sent
    after = web_scrape()

    outcomes = {"delivered": 1, "http_error": 2, "refused": 1, "network_error": 1, "timeout": 0}
    for outcome, count in outcomes.items():
        assert moved(
            before, after, "platform_webhook_deliveries_total", event="completed", outcome=outcome
        ) == (count), outcome
    for outcome in outcomes:
        assert moved(before, after, "platform_webhook_deliveries_total", event="start", outcome=outcome) == 0


def mongodb_commands(samples: Samples, process: str) -> dict[str, float]:
    """{command: count} of the MongoDB commands the processes labelled `process` sent."""
    return {
        labels["command"]: samples.get_("platform_mongodb_commands_total", **labels)
        for labels in samples.labelled("platform_mongodb_commands_total")
        if labels["process"] == process
    }


def commands_moved(before: Samples, after: Samples, process: str) -> dict[str, float]:
    was = mongodb_commands(before, process)
    return {
        command: count - was.get(command, 0)
        for command, count in mongodb_commands(after, process).items()
        if count != was.get(command, 0)
    }


def test_mongodb_commands_are_counted_one_per_round_trip(history, metrics_token):
    # This process (the suite's) is neither the web nor a worker: "other".
    before = web_scrape()
    job = history.job_create(
        owner_id=1, model=MODEL, version=1, artifact_sha256="0" * 64, sklearn_version="1", input={"x": 1}
    )
    created = web_scrape()
    assert history.job_get(job.id).id == job.id
    read = web_scrape()

    assert commands_moved(before, created, "other") == {"insert": 1}
    assert commands_moved(created, read, "other") == {"find": 1}


def test_a_workers_mongodb_commands_are_labelled_worker(
    history, metrics_worker, api, model_version, valid_input, metrics_token
):
    before = metrics_worker.scrape()
    job_id = submit(api, {"model": MODEL, "input": valid_input}).json()["id"]
    assert wait_for_job(api, job_id)["status"] == "succeeded"
    finished = {"model": MODEL, "version": str(model_version.number), "status": "succeeded"}
    after = wait_for_scrape(
        metrics_worker, lambda s: moved(before, s, "platform_jobs_finished_total", **finished) >= 1
    )
    # The web inserts the job; the worker writes its finish (whatever else it reads or writes
    # depends on micro-batching and timing: a look for peers, its claim once it runs long).
    worker = commands_moved(before, after, "worker")
    assert worker.get("update", 0) >= 1
    assert "insert" not in worker
    assert mongodb_commands(after, "other") == mongodb_commands(after, "web") == {}


def test_files_of_gone_processes_go_and_live_gauges_go_with_their_process(tmp_path, monkeypatch):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid, live_pid = int(gone.stdout), 1
    for name in (
        f"counter_{dead_pid}.db",
        f"gauge_livesum_{dead_pid}.db",
        f"counter_{live_pid}.db",
        f"gauge_livesum_{live_pid}.db",
        "histogram_notapid.db",
    ):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    metrics.multiprocess_dir_clean()  # a process group starting
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"counter_{live_pid}.db",
        f"gauge_livesum_{live_pid}.db",
        "histogram_notapid.db",
    ]
    metrics.process_dead(live_pid)  # a gunicorn worker or pool child exits: its counts stay
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"counter_{live_pid}.db",
        "histogram_notapid.db",
    ]


def test_gunicorn_takes_its_settings_and_the_metrics_hooks_from_its_config_module(monkeypatch):
    from gunicorn.app.wsgiapp import WSGIApplication

    from myproject import gunicorn_conf

    # As the Procfile and the image start it.
    monkeypatch.setattr(
        "sys.argv", ["gunicorn", "-c", "python:myproject.gunicorn_conf", "--bind", "127.0.0.1:0"]
    )
    config = WSGIApplication().cfg
    assert (config.workers, config.threads, config.control_socket_disable) == (2, 48, True)
    assert config.on_starting is gunicorn_conf.on_starting
    assert config.child_exit is gunicorn_conf.child_exit


def test_batches_are_counted_submitted_rows_by_outcome_and_finished(
    history, api, model_version, breast_cancer_table, metrics_token, settings, monkeypatch
):
    # The chunks run here, in this process (a worker's run, without the worker), so that
    # this process's registry counts them; the web's submit is counted here too. Their tasks
    # are not published: a batch worker of other tests would take them.
    from api import services
    from predictor.batches import batch_chunk_run

    monkeypatch.setattr(services, "batch_enqueue", lambda batch: None)
    from tests.api.test_batches import table_csv, upload
    from workers.tasks import batch_ended

    settings.BATCH_CHUNK_ROWS = 20
    table, _ = breast_cancer_table
    feature = next(name for name in table.columns if name not in ("id", "target"))
    data = table_csv(table, rows=50, bad={3: (feature, "abc"), 30: (feature, "")})
    before = web_scrape()
    submitted = upload(api, data, model=MODEL, key_column="id")
    assert submitted.status_code == 202, submitted.json()
    batch_id = submitted.json()["id"]
    for chunk in history.batch_chunks(batch_id):
        batch_chunk_run(chunk.id, worker=None, stale_before=history.now(), on_end=batch_ended)
    after = web_scrape()

    version = str(model_version.number)
    assert moved(before, after, "platform_batches_submitted_total", model=MODEL, version=version) == 1
    assert moved(before, after, "platform_batch_rows_total", model=MODEL, outcome="predicted") == 48
    assert moved(before, after, "platform_batch_rows_total", model=MODEL, outcome="error") == 2
    finished = {"model": MODEL, "version": version, "status": "succeeded"}
    assert moved(before, after, "platform_batches_finished_total", **finished) == 1
    assert moved(before, after, "platform_batch_seconds_count", model=MODEL) == 1
