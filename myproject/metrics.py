"""The platform's Prometheus metrics: every definition and collector, and how they are served.

Counted where things happen: requests in api/middleware.py, submits in api/services.py,
finishes in workers/events.py (job_event, which every finish passes through: a worker's run,
a cancel through the API, the sweeper's deadlines), waiters in api/waiting.py, webhook
attempts in predictor/webhooks.py, MongoDB commands by a listener on the history's client
(predictor/history/base.py). Served by the web at /metrics (api/views/metrics.py,
behind METRICS_TOKEN) and, when METRICS_PORT is set, by a Celery worker's main process
(myproject/celery.py), for workers that share no disk with the web.

Gunicorn's workers and a prefork pool's children count side by side. With
PROMETHEUS_MULTIPROC_DIR in their environment (a writable directory, made if missing, set
before they start) each process writes its values to files there and an exposition merges
them all (prometheus_client's multiprocess mode). Without it every process keeps its own
values, which is right for one process (the suite's in-process client, a thread-pool worker).

Gunicorn's server hooks (myproject/gunicorn_conf.py) and the Celery worker's signals
(myproject/celery.py) call multiprocess_dir_clean and process_dead.
"""

import glob
import logging
import os

import redis
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily

from myproject.processes import process_alive

logger = logging.getLogger(__name__)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Before the first count writes its file there, whichever process starts first.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# 5 ms (a micro-batched job's queue wait, a cached GET) to 120 s (a Prefer: wait of 60 s, a
# batch behind a backlog); anything slower lands in +Inf.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# Any other method a client invents is counted as "other": a label value per invented name
# would let clients grow the series without bound.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "platform_http_requests",
    "HTTP answers, by URL route (the pattern, never the path), method and status code.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "platform_http_request_duration_seconds",
    "Time to answer a request, up to its headers (a streamed body is not included), by URL route and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
JOBS_SUBMITTED = Counter(
    "platform_jobs_submitted",
    "Prediction jobs created and queued, by model and version (an idempotent replay is not a new job).",
    ["model", "version"],
)
JOBS_FINISHED = Counter(
    "platform_jobs_finished",
    "Prediction jobs finished, by model, version and status (succeeded, failed, canceled), "
    "counted once per job by the process that finished it.",
    ["model", "version", "status"],
)
JOB_QUEUE_SECONDS = Histogram(
    "platform_job_queue_seconds",
    "From a job's submit to a worker starting it, for jobs a worker ran (succeeded or failed).",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
JOB_PREDICT_SECONDS = Histogram(
    "platform_job_predict_seconds",
    "From a worker starting a job to its finish, for jobs a worker ran (succeeded or failed).",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
JOB_TOTAL_SECONDS = Histogram(
    "platform_job_total_seconds",
    "From a job's submit to its finish, for jobs a worker ran (succeeded or failed).",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
# A batch file's life: minutes to hours, not the jobs' seconds.
BATCH_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)
BATCHES_SUBMITTED = Counter(
    "platform_batches_submitted",
    "Batch files accepted and queued (POST /api/v1/batches/), by model and version.",
    ["model", "version"],
)
BATCHES_FINISHED = Counter(
    "platform_batches_finished",
    "Batch files ended, by model, version and status (succeeded, failed, canceled), counted once "
    "per batch by the process that ended it.",
    ["model", "version", "status"],
)
BATCH_SECONDS = Histogram(
    "platform_batch_seconds",
    "From a batch's submit to its end, for batches that ran to an end (succeeded or failed).",
    ["model"],
    buckets=BATCH_BUCKETS,
)
BATCH_ROWS = Counter(
    "platform_batch_rows",
    "Rows of batch files, by model and outcome: predicted; error (an error line in the results: a "
    "missing value, a cell that is no number...); not_scored (their chunk failed: its worker died on "
    "each try, or the model could not be loaded). Counted as each chunk ends.",
    ["model", "outcome"],
)
WAITERS = Gauge(
    "platform_waiters",
    "Requests held by `Prefer: wait` now, over every web process.",
    multiprocess_mode="livesum",
)
WEBHOOK_DELIVERIES = Counter(
    "platform_webhook_deliveries",
    "Webhook delivery attempts, by event and outcome: delivered (2xx), http_error (another "
    "status), timeout (WEBHOOK_TIMEOUT_S passed), network_error (connection, TLS or protocol), "
    "refused (the host does not resolve, or only to addresses not allowed). All but delivered are retried.",
    ["event", "outcome"],
)


def request_observed(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in HTTP_METHODS else "other"
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_DURATION.labels(route, method).observe(seconds)


def job_submitted(job) -> None:
    JOBS_SUBMITTED.labels(job.model, str(job.version)).inc()


def job_finished(job) -> None:
    """A job finished (however); its timings are observed when a worker ran it to an end.
    A cancel's timings would measure when someone gave up, not the platform."""
    state = job.finish_state
    JOBS_FINISHED.labels(job.model, str(job.version), state["status"]).inc()
    started, completed = state.get("started_at"), state.get("completed_at")
    if state["status"] not in ("succeeded", "failed") or started is None or completed is None:
        return
    # The web stamps created_at, the worker the rest: clocks a little apart must not go negative.
    JOB_QUEUE_SECONDS.labels(job.model).observe(max(0.0, (started - job.created_at).total_seconds()))
    JOB_PREDICT_SECONDS.labels(job.model).observe(max(0.0, (completed - started).total_seconds()))
    JOB_TOTAL_SECONDS.labels(job.model).observe(max(0.0, (completed - job.created_at).total_seconds()))


def batch_submitted(batch) -> None:
    BATCHES_SUBMITTED.labels(batch.model, str(batch.version)).inc()


def batch_finished(batch) -> None:
    BATCHES_FINISHED.labels(batch.model, str(batch.version), batch.status).inc()
    if batch.status in ("succeeded", "failed") and batch.completed_at is not None:
        BATCH_SECONDS.labels(batch.model).observe(
            max(0.0, (batch.completed_at - batch.created_at).total_seconds())
        )


def batch_rows(model: str, *, predicted: int = 0, errors: int = 0, not_scored: int = 0) -> None:
    for outcome, count in (("predicted", predicted), ("error", errors), ("not_scored", not_scored)):
        if count:
            BATCH_ROWS.labels(model, outcome).inc(count)


def webhook_attempted(event: str, outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(event, outcome).inc()


# --- Read at scrape time --------------------------------------------------------------

_broker_clients: dict[str, redis.Redis] = {}


def _broker_client(url: str) -> redis.Redis:
    # Short timeouts: a scrape must answer (without these samples) while Redis is away.
    if url not in _broker_clients:
        _broker_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    return _broker_clients[url]


def queue_keys(queue: str, options: dict) -> list[str]:
    """The Redis lists kombu's Redis transport keeps a queue in: the queue's name for priority
    0 (every task here), `<name>\\x06\\x16<step>` for each other priority step."""
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    prefix = options.get("global_keyprefix", "")
    steps = options.get("priority_steps", PRIORITY_STEPS)
    return [f"{prefix}{queue}{Channel.sep}{step}" if step else f"{prefix}{queue}" for step in steps]


def celery_queues() -> list[str]:
    from django.conf import settings

    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values() if "queue" in route}
    return sorted(routed | {settings.CELERY_TASK_DEFAULT_QUEUE})


class QueueDepthCollector:
    """Tasks waiting in each Celery queue, read with LLEN (one pipelined round trip) when
    scraped. Redis unreachable: `platform_redis_up 0` and no depth samples, never an error."""

    def collect(self):
        from django.conf import settings

        up = GaugeMetricFamily("platform_redis_up", "Whether the broker's Redis answered this scrape.")
        depth = GaugeMetricFamily(
            "platform_queue_depth", "Tasks waiting in each Celery queue (every priority).", labels=["queue"]
        )
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        queues = {queue: queue_keys(queue, options) for queue in celery_queues()}
        try:
            with _broker_client(settings.CELERY_BROKER_URL).pipeline(transaction=False) as pipe:
                for keys in queues.values():
                    for key in keys:
                        pipe.llen(key)
                lengths = iter(pipe.execute())
        except Exception as exc:  # a scrape answers whatever fails here (RedisError, mostly)
            logger.warning("metrics: queue depths not read, Redis unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for queue, keys in queues.items():
            depth.add_metric([queue], sum(next(lengths) for _ in keys))
        yield up
        yield depth


class ServingVersionCollector:
    """The version each model serves (its champion), from the SQL registry when scraped. A
    model without a champion has no sample; the database unreachable, `platform_registry_up 0`."""

    def collect(self):
        from django.apps import apps

        up = GaugeMetricFamily(
            "platform_registry_up", "Whether the model registry (SQL) answered this scrape."
        )
        serving = GaugeMetricFamily(
            "platform_model_serving_version",
            "The version each model serves (its champion).",
            labels=["model"],
        )
        # The rows through Django's app registry: importing predictor.registry here would close
        # an import circle (predictor's history imports this module to count its commands).
        versions = apps.get_model("predictor", "ModelVersion")
        try:
            champions = list(
                versions.objects.filter(status=versions.Status.CHAMPION).values_list("model__name", "number")
            )
        except Exception as exc:  # a scrape answers whatever fails here (DatabaseError, mostly)
            logger.warning("metrics: serving versions not read, registry unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for model, number in champions:
            serving.add_metric([model], number)
        yield up
        yield serving


# --- Exposition ---------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    # The very test prometheus_client makes when it is imported, to pick its value class.
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


class _ThisProcess:
    """The default registry (this process's metrics, with its process and GC collectors) as
    one collector of another registry."""

    def collect(self):
        yield from REGISTRY.collect()


def counted_collector(registry: CollectorRegistry) -> None:
    """What was counted: every process's files in multiprocess mode, else this process's."""
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())


_web_registry: CollectorRegistry | None = None


def web_registry() -> CollectorRegistry:
    """What the web's /metrics serves: the counted metrics and the scrape-time readings
    (queue depths, serving versions), which only the web reads (it has the registry's database)."""
    global _web_registry
    if _web_registry is None:
        registry = CollectorRegistry()
        counted_collector(registry)
        registry.register(QueueDepthCollector())
        registry.register(ServingVersionCollector())
        _web_registry = registry
    return _web_registry


def exporter_start(port: int, *, addr: str = "0.0.0.0") -> None:
    """Serve this machine's counted metrics on addr:port (a Celery worker's, for workers in
    containers of their own). Call it in the worker's main process, before the pool forks."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry()
    counted_collector(registry)
    if not multiprocess_dir():
        logger.warning(
            "METRICS_PORT without PROMETHEUS_MULTIPROC_DIR: only this process's metrics are served "
            "(a prefork pool's children count where this exporter cannot see)"
        )
    try:
        start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        # The worker's work matters more than its metrics: it runs on, without an exporter.
        logger.error("metrics exporter not started on %s:%s: %s", addr, port, exc)
        return
    logger.info("metrics exporter listening on %s:%s", addr, port)


def multiprocess_dir_clean() -> None:
    """A process group starts (gunicorn's master, a Celery worker): forget the files of every
    process that is gone, and any already named after this process's id (a restarted container
    numbers its processes as before). Files of live processes stay, so groups sharing the
    directory (`make up` runs them all on one) do not wipe each other; `make up` empties it
    before any starts."""
    path = multiprocess_dir()
    if not path:
        return
    os.makedirs(path, exist_ok=True)
    me = os.getpid()
    for name in glob.glob(os.path.join(path, "*.db")):
        try:
            pid = int(os.path.basename(name).rsplit("_", 1)[1].removesuffix(".db"))
        except (IndexError, ValueError):
            continue
        if pid == me or not process_alive(pid):
            try:
                os.remove(name)
            except FileNotFoundError:
                pass


def process_dead(pid: int) -> None:
    """A gunicorn worker or pool child exited: its share of the `live*` gauges goes with it
    (its counters stay: what it counted happened)."""
    if multiprocess_dir() and pid:
        multiprocess.mark_process_dead(pid)


# --- The model cache (predictor/model_cache.py) -------------------------------------------

MODEL_CACHE_EVENTS = Counter(
    "platform_model_cache_events",
    "A worker's per-process cache of loaded models, by event: hit, miss (a load), eviction.",
    ["event"],
)
MODEL_CACHE_BYTES = Gauge(
    "platform_model_cache_bytes",
    "Bytes of loaded models the worker processes keep (each at most MODEL_CACHE_MB), as measured "
    "by predictor/model_cache.py, over every live process.",
    multiprocess_mode="livesum",
)


def model_cache_observed(event: str, count: int, cache_bytes: int | None) -> None:
    if count:
        MODEL_CACHE_EVENTS.labels(event).inc(count)
    if cache_bytes is not None:
        MODEL_CACHE_BYTES.set(cache_bytes)


# --- MongoDB round trips (predictor/history/base.py's command listener) -------------------

MONGODB_COMMANDS = Counter(
    "platform_mongodb_commands",
    "Commands sent to MongoDB (round trips), by command (insert, find, update ...) and process "
    "(web, worker, other); connection handshakes and logins are not counted.",
    ["command", "process"],
)
# A connection's handshake and login, a client's goodbye: the driver's upkeep, not the work.
# (The driver's server monitoring sends its hellos unseen by a command listener.)
MONGODB_UPKEEP = frozenset({"hello", "isMaster", "ismaster", "saslStart", "saslContinue", "endSessions"})
_process = "other"
_mongodb_counts: dict = {}  # command name -> its labelled counter, for this process's role


def process_role_set(role: str) -> None:
    """What this process is, in the counts labelled by process: "web" (a gunicorn worker,
    myproject/gunicorn_conf.py) or "worker" (a Celery worker and its pool, myproject/celery.py);
    "other" unless set (manage.py, a test run)."""
    global _process
    _process = role
    _mongodb_counts.clear()


def mongodb_command(name: str) -> None:
    """A command sent: called for every one, so kept to a dict lookup and the count."""
    counter = _mongodb_counts.get(name)
    if counter is None:
        if name in MONGODB_UPKEEP:
            return
        counter = _mongodb_counts[name] = MONGODB_COMMANDS.labels(name, _process)
    counter.inc()
