import logging
import os
import time

from celery import Celery
from celery.signals import (
    before_task_publish,
    celeryd_init,
    heartbeat_sent,
    task_postrun,
    task_prerun,
    task_received,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from myproject import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")

# When this process started: a worker's heartbeats carry it (workers/liveness.py).
STARTED = time.time()

app = Celery("myproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _connect_history_after_fork(**_):
    # PyMongo clients are not fork-safe: each pool process opens its own.
    from predictor import history

    history.connect()
    # The history's indexes: without them every page of a user's history reads all of it.
    # Idempotent (a no-op once built); here because every deployment runs workers, with
    # MongoDB up, whatever else it runs.
    try:
        history.ensure_indexes()
    except history.HistoryUnavailable as exc:
        logging.getLogger(__name__).warning("history indexes not checked: %s", exc)


# The request id rides every task published while it is current (a message header) and is
# current again while the task runs, in the worker's log lines and in the tasks it publishes.
@before_task_publish.connect
def _request_id_rides_the_task(headers=None, **_):
    current = logs.request_id.get()
    if current and headers is not None:
        headers.setdefault("request_id", current)


@task_prerun.connect
def _request_id_while_the_task_runs(task=None, **_):
    task.request.log_token = logs.request_id.set(getattr(task.request, "request_id", None))


@task_postrun.connect
def _request_id_after_the_task(task=None, **_):
    token = getattr(task.request, "log_token", None)
    if token is not None:
        logs.request_id.reset(token)


# Worker liveness (workers/liveness.py): a worker killed outright has its jobs and training
# runs re-published within seconds, not after the time limits. These run in the worker's main
# process.
@heartbeat_sent.connect
def _worker_alive(sender=None, **_):
    from workers import liveness

    liveness.heartbeat(sender.eventer.hostname, STARTED)


@worker_ready.connect
def _worker_pool(sender=None, **_):
    from workers import liveness

    liveness.pool_known(sender.pool)


@task_received.connect
def _worker_took(sender=None, request=None, **_):
    from workers import liveness

    if request is not None and request.name in liveness.HELD_TASKS:
        liveness.took(sender.hostname, request.id)


@worker_shutdown.connect
def _worker_leaves(sender=None, **_):
    from workers import liveness

    liveness.farewell(sender.hostname)


# Metrics (myproject/metrics.py). A worker starting is a process group starting: files its
# predecessors left in PROMETHEUS_MULTIPROC_DIR go; a pool child leaving takes its live gauges.
# Its processes (the pool's children fork after this) label their MongoDB commands "worker".
@celeryd_init.connect
def _metrics_files_of_gone_processes(**_):
    from myproject import metrics

    metrics.multiprocess_dir_clean()
    metrics.process_role_set("worker")


@worker_init.connect
def _metrics_exporter(**_):
    # The main process, before the pool forks: it serves what every child counted.
    from django.conf import settings

    from myproject import metrics

    if settings.METRICS_PORT:
        metrics.exporter_start(settings.METRICS_PORT)


@worker_process_shutdown.connect
def _metrics_child_gone(pid=None, **_):
    from myproject import metrics

    metrics.process_dead(pid)
