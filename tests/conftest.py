"""Real services for the suite: a MongoDB-wire server, Redis and a live Celery worker,
each a separate process on its own port, started once per session."""

import os
import subprocess
import sys
import uuid

import pytest
import sklearn
from rest_framework.test import APIClient

from myproject.servers import mongo_command, port_open, redis_command, stop, wait_until
from tests.clients import PASSWORD, client_for
from tests.live import webhook_receiver
from tests.processes import ROOT, shared_database_url, site_environ, spawn, start_worker


@pytest.fixture(scope="session", autouse=True)
def mongo_server():
    port = os.environ.get("TEST_MONGO_PORT")
    if not port:  # TEST_MONGODB_URI: a real MongoDB the caller runs
        yield
        return
    proc = spawn("mongo", mongo_command(int(port), ":memory:"))
    wait_until(lambda: port_open(int(port)), timeout=30, what="SecantusDB")
    yield
    stop(proc)


@pytest.fixture(scope="session", autouse=True)
def redis_server(tmp_path_factory):
    port = os.environ.get("TEST_REDIS_PORT")
    if not port:  # TEST_REDIS_URL: a Redis the caller runs
        yield
        return
    proc = spawn("redis", redis_command(int(port), tmp_path_factory.mktemp("redis"), persist=False))
    wait_until(lambda: port_open(int(port)), timeout=30, what="redis-server")
    yield
    stop(proc)


@pytest.fixture(scope="session", autouse=True)
def _waiters_stop_listening_before_redis_stops(redis_server):
    # The web's listener (api/waiting.py) would otherwise report the session's Redis going away.
    yield
    from api.waiting import _finishes

    _finishes.stop()


@pytest.fixture
def history(mongo_server):
    """The MongoDB history, empty at the start of each test."""
    from predictor import history

    def empty():
        for document in (
            history.PredictionJob,
            history.TrainingRun,
            history.LabelledSample,
            history.IdempotencyKey,
            history.WebhookDelivery,
            history.BatchJob,
            history.BatchChunk,
        ):
            document.objects.delete()
        # Batch files and their results (predictor/batch_files.py).
        from mongoengine.connection import get_db

        for bucket in ("batch_files", "batch_results"):
            for part in ("files", "chunks"):
                get_db()[f"{bucket}.{part}"].delete_many({})
        get_db()["batch_uploads"].delete_many({})

    history.ensure_indexes()
    empty()
    yield history
    empty()


@pytest.fixture(scope="session")
def purged_queues(redis_server):
    from myproject import celery_app

    celery_app.control.purge()


@pytest.fixture(scope="session")
def live_worker(mongo_server, purged_queues):
    """A real `celery worker` process on the predict queue, with the suite's environment;
    its log lines are JSON (tests/test_logs.py follows a request id into them)."""
    proc = start_worker("predict", {"LOG_FORMAT": "json"})
    yield proc
    stop(proc)


@pytest.fixture(scope="session")
def train_worker(mongo_server, purged_queues, django_db_setup):
    """A real `celery worker` on the train queue, sharing the suite's test database."""
    proc = start_worker("train", {"DATABASE_URL": shared_database_url()})
    yield proc
    stop(proc)


@pytest.fixture(scope="session")
def webhook_worker(mongo_server, purged_queues, django_db_setup):
    """A real thread-pool `celery worker` on the webhooks queue (it reads signing secrets)."""
    proc = start_worker("webhooks", {"DATABASE_URL": shared_database_url()}, pool="threads")
    yield proc
    stop(proc)


@pytest.fixture(scope="session")
def breast_cancer_table():
    """The shipped breast_cancer table (as its dataset is read) and its profile."""
    from predictor.shipped import shipped_table

    return shipped_table("breast_cancer")


@pytest.fixture(scope="session")
def trained_breast_cancer(mongo_server, breast_cancer_table):
    """The shipped model, trained once for the session and stored as an artifact."""
    from predictor.artifacts import artifact_save
    from predictor.fitting import train
    from predictor.shipped import shipped_definition

    table, _ = breast_cancer_table
    result = train(shipped_definition("breast_cancer"), table)
    return result, artifact_save(result.pipeline)


@pytest.fixture
def breast_cancer_model(db, mongo_server):
    """The registry's breast_cancer model as setup defines it (its dataset uploaded, shared,
    the platform's), with no version yet."""
    from predictor.models import MLModel
    from predictor.shipped import shipped_ensure

    shipped_ensure(None, ["breast_cancer"])
    return MLModel.objects.get(name="breast_cancer")


@pytest.fixture
def model_version(breast_cancer_model, trained_breast_cancer):
    """breast_cancer v1, registered as champion."""
    from predictor.registry import version_register

    result, sha256 = trained_breast_cancer
    return version_register(
        breast_cancer_model, result, artifact_sha256=sha256, sklearn_version=sklearn.__version__
    )


@pytest.fixture
def two_versions(model_version, trained_breast_cancer):
    """(v1 champion, v2 candidate) of breast_cancer: the session's training registered twice."""
    from predictor.registry import version_register

    result, sha256 = trained_breast_cancer
    return model_version, version_register(
        model_version.model, result, artifact_sha256=sha256, sklearn_version=sklearn.__version__
    )


@pytest.fixture
def valid_input(breast_cancer_table) -> dict:
    """A real row of the dataset (a malignant case), as the API takes it."""
    table, _ = breast_cancer_table
    row = table.iloc[0].to_dict()
    del row["diagnosis"]
    return {name: float(value) for name, value in row.items()}


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    from api.services import profile_ensure

    def make(username: str | None = None, **fields):
        username = username or f"user{uuid.uuid4().hex[:8]}"
        user = get_user_model().objects.create_user(
            username=username, email=f"{username}@example.com", password=PASSWORD, **fields
        )
        profile_ensure(user=user)
        return user

    return make


@pytest.fixture
def user(make_user):
    return make_user("alice")


@pytest.fixture
def api(user) -> APIClient:
    """An API client holding a real JWT of `user`."""
    return client_for(user)


@pytest.fixture
def staff_api(make_user) -> APIClient:
    """An API client holding a real JWT of `sam`, a staff member."""
    return client_for(make_user("sam", is_staff=True))


@pytest.fixture(autouse=True)
def _fresh_rate_limits(redis_server):
    """Rate-limit counters live in Redis; each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def receiver():
    """A webhook receiver on 127.0.0.1 (tests/live.py, webhook_receiver)."""
    with webhook_receiver() as server:
        yield server


@pytest.fixture(scope="session")
def site_env(tmp_path_factory, trained_breast_cancer, mongo_server, redis_server):
    """A migrated SQLite site with user `ops` and the model, for web server processes."""
    env = site_environ(tmp_path_factory.mktemp("live-site"))
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([sys.executable, "-m", "predictor.train_model"], env=env, check=True, cwd=ROOT)
    create = (
        f"from django.contrib.auth.models import User; User.objects.create_user('ops', password='{PASSWORD}')"
    )
    subprocess.run([*manage, "shell", "-c", create], env=env, check=True, cwd=ROOT)
    return env


@pytest.fixture
def stored_job(history, user, model_version, valid_input):
    """Write a breast_cancer job straight to MongoDB, never published (no task queued).

    `stored_job(owner=..., age_s=..., create=..., **fields)`: `create` changes what the job
    is created with (input, inputs, webhook ...; one row of the dataset by default);
    `age_s` backdates it; other fields (status, attempts, started_at, cancel_after ...)
    are set on the stored document.
    """
    from datetime import timedelta

    def make(*, owner=None, age_s: float = 0, create: dict | None = None, **fields):
        job = history.job_create(
            owner_id=(owner or user).pk,
            model="breast_cancer",
            version=model_version.number,
            artifact_sha256=model_version.artifact_sha256,
            sklearn_version=model_version.sklearn_version,
            artifact_signature=model_version.artifact_signature,
            **{"input": valid_input, **(create or {})},
        )
        updates = {f"set__{name}": value for name, value in fields.items()}
        if age_s:
            updates["set__created_at"] = history.now() - timedelta(seconds=age_s)
        if updates:
            history.PredictionJob.objects(id=job.id).update_one(**updates)
        return history.job_get(job.id)

    return make


@pytest.fixture
def logged_deliveries(history):
    """`logged_deliveries(job, [(status_code, error, duration_s), ...])`: the job's "completed"
    webhook delivery attempts (1, 2, ...) written to its delivery log, as the notifier writes them."""

    def write(job, attempts):
        for attempt, (code, error, took) in enumerate(attempts, start=1):
            history.delivery_log(
                job_id=job.id,
                owner_id=job.owner_id,
                event="completed",
                url=job.webhook,
                message_id=f"msg_{job.id}_completed",
                attempt=attempt,
                status_code=code,
                error=error,
                duration_s=took,
            )

    return write
