"""The tutorial app (bench/peer/) as a measured peer of the platform's one-row `Prefer: wait`.

The peer runs on the bench's own SecantusDB (results in a database of its own, through
Celery's MongoDB result backend) and redis-server (the broker in a Redis database of its
own): gunicorn `bench.peer.wsgi` with 2 workers of 4 threads (gthread), and a Celery worker
of 2 prefork processes. The platform's stack is up but idle meanwhile: no load, no predict
worker. The peer is measured at 1, 16 and 64 clients with the platform's load generator
(bench/load.py), its windows (bench/scenarios.py `duration`) and the same 16 rows, in two
modes: `as_written` (the view's `AsyncResult.get()` with Celery's default 0.5 s interval)
and `tuned` (`get(interval=0.01)`); gunicorn restarts between them, the worker stays.

Throughput is the scenarios' own (bench/stats.py `summarize`), for the peer as for the
platform beside it: requests sent inside the window and answered inside it, a second. It
leaves out about latency / window of them (the requests sent late in the window, answered
after it): little at tens of milliseconds, a lot as written, whose answers take half a
second, seconds at 64 clients. `answered_per_s` is the other count: the requests sent in
the window, every one answered (the load generator waits for the last), over the window;
it leaves out instead, for each client, the time its warm-up request ran into the window.
"""

import json
import secrets
import subprocess
import sys

from myproject.defaults import ROOT
from myproject.servers import free_port, mongo_uri, port_open, wait_until

from . import history, scenarios
from .load import Clients
from .scenarios import duration
from .stack import PASSWORD, http
from .stats import summarize

CLIENTS = [1, 16, 64]
MODEL = "breast_cancer"
TOKEN, PREDICT = "/api/token/", "/api/predict/"  # bench/peer/urls.py
REDIS_DB, MONGO_DB = 3, "peer_results"  # the platform uses Redis database 0 and MongoDB "bench"
WEB_WORKERS, WEB_THREADS, WORKER_PROCESSES = 2, 4, 2
# PEER_GET_INTERVAL of each mode (bench/peer/views.py); None: not passed to get() at all.
MODES = {"as_written": None, "tuned": "0.01"}
USER = {"username": "bench-peer", "password": PASSWORD}


def platform_names() -> list[str]:
    """The platform's scenarios the peer is compared with (bench/scenarios.py `name`)."""
    return [f"{MODEL}/wait-1/c{count}" for count in CLIENTS]


def section(stack, clients, meter, token: str, timing: dict, on: dict, predict_env: dict, step) -> dict:
    """The peer's figures beside the platform's of the same run: its `wait-1` scenarios of
    micro-batching on (`on`) when the matrix ran them, else run here first (`--only peer`)."""
    rows = scenarios.rows_for(stack.base, token, MODEL, 1000)  # the matrix's rows: the same seed
    platform = {name: on[name] for name in platform_names() if name in on}
    if len(platform) < len(CLIENTS):
        history.collection(stack).delete_many({})
        stack.worker("predict", env=predict_env)
        try:
            for spec in scenarios.matrix([MODEL]):
                if (name := scenarios.name(spec)) in platform_names():
                    platform[name] = figures = scenarios.run(clients, meter, spec, rows, timing)
                    step(
                        f"{name}: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
                        f"{figures['jobs_per_s']} jobs/s, {figures['errors']} errors"
                    )
        finally:
            stack.stop("predict")
    found = run(stack, meter, rows, timing, len(clients.procs), step)
    found["platform"] = {f"c{f['clients']}": {**f, "answered_per_s": answered(f)} for f in platform.values()}
    return found


def answered(figures: dict) -> float:
    """Answers to the requests sent in the window, a second (the module's docstring)."""
    return round(figures["n"] / figures["window_s"], 1)


def run(stack, meter, rows: list[dict], timing: dict, processes: int, step) -> dict:
    """Start the peer, check it, measure both modes, stop it; the figures per mode and clients."""
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.peer.settings",
        "PEER_VAR_DIR": str(stack.var / "peer"),
        "PEER_SECRET_KEY": secrets.token_urlsafe(50),
        "PEER_BROKER_URL": f"redis://127.0.0.1:{stack.redis_port}/{REDIS_DB}",
        "PEER_RESULT_BACKEND": mongo_uri(stack.mongo_port, MONGO_DB),
    }
    (stack.var / "peer").mkdir(exist_ok=True)
    # The users' table, and the one user the clients log in as.
    setup = (
        "import django; django.setup(); from django.core.management import call_command; "
        "call_command('migrate', verbosity=0); from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({USER['username']!r}, password={USER['password']!r})"
    )
    subprocess.run([sys.executable, "-c", setup], cwd=ROOT, env={**stack.env, **env}, check=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bodies = [json.dumps({"input": row}) for row in rows[:16]]  # the platform's 16 rows
    found = {
        "config": {
            "web": f"gunicorn bench.peer.wsgi, {WEB_WORKERS} workers x {WEB_THREADS} threads (gthread)",
            "worker": f"celery -A bench.peer.celery_app worker -c {WORKER_PROCESSES} -P prefork",
            "broker": env["PEER_BROKER_URL"],
            "result_backend": env["PEER_RESULT_BACKEND"],
            "get_interval_s": MODES,
        }
    }
    load = None
    try:
        start_worker(stack, env)
        for mode, interval in MODES.items():
            step(f"peer, {mode} (get interval {interval or 'Celery default, 0.5'} s)")
            start_web(stack, env, port, interval)
            found["config"][f"check_{mode}"] = check(base, bodies[0])
            if load is None:
                load = Clients(base, [USER], processes, stack.env, meter, login=TOKEN)
            found[mode] = {}
            for count in CLIENTS:
                figures = measure(load, meter, bodies, count, timing)
                found[mode][f"c{count}"] = figures
                step(
                    f"peer {mode}/c{count}: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
                    f"{figures['jobs_per_s']} jobs/s, {figures['errors']} errors"
                )
            stack.stop("peer-web")
    finally:
        if load:
            load.close()
        for name in ("peer-web", "peer-worker"):
            if name in stack.procs:
                stack.stop(name)
        drop_results(env["PEER_RESULT_BACKEND"])
    return found


def start_worker(stack, env: dict) -> None:
    """The peer's Celery worker; returns once it logs that it is ready."""
    command = ["celery", "-A", "bench.peer.celery_app", "worker", "-c", str(WORKER_PROCESSES)]
    command += ["-P", "prefork", "--hostname", "peer@%h", "--loglevel", "INFO"]
    proc = stack.start("peer-worker", command, env)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the peer's worker exited; see {stack.log('peer-worker')}")
        return b" ready." in stack.log("peer-worker").read_bytes()

    wait_until(ready, timeout=90, what="the peer's worker")


def start_web(stack, env: dict, port: int, interval: str | None) -> None:
    command = ["gunicorn", "bench.peer.wsgi", "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread"]
    command += ["--workers", str(WEB_WORKERS), "--threads", str(WEB_THREADS)]
    # No runtime control socket: one path in $HOME for every gunicorn, nothing here uses it.
    command += ["--no-control-socket"]
    # Unset (an empty value is unset for the view too): get() as written.
    proc = stack.start("peer-web", command, {**env, "PEER_GET_INTERVAL": interval or ""})

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the peer's gunicorn exited; see {stack.log('peer-web')}")
        return port_open(port)

    wait_until(up, timeout=60, what="the peer's gunicorn")


def check(base: str, body: str) -> dict:
    """Log in, one prediction, and the refusals the view should answer; what they answered."""
    status, answer = http("POST", f"{base}{TOKEN}", USER)
    if status != 200:
        raise RuntimeError(f"the peer's login answered {status}: {answer}")
    token = answer["access"]
    row = json.loads(body)["input"]
    status, prediction = http("POST", f"{base}{PREDICT}", {"input": row}, token=token)
    if status != 200 or "label" not in prediction:
        raise RuntimeError(f"the peer's prediction answered {status}: {prediction}")
    without = {name: value for name, value in row.items() if name != "mean_radius"}
    refusals = {
        "no token": ({"input": row}, None, 401),
        "a feature missing": ({"input": without}, token, 400),
        "an unknown feature": ({"input": {**row, "colour": 1}}, token, 400),
        "not a number": ({"input": {**row, "mean_area": "big"}}, token, 400),
    }
    found = {"prediction": prediction}
    for what, (sent, bearer, expected) in refusals.items():
        status, found[what] = http("POST", f"{base}{PREDICT}", sent, token=bearer)
        if status != expected:
            raise RuntimeError(f"the peer answered {what} with {status}, not {expected}: {found[what]}")
    return found


def measure(load, meter, bodies: list[str], count: int, timing: dict) -> dict:
    spec = {
        "kind": "post",
        "path": PREDICT,
        "bodies": bodies,
        "warmup_s": timing["warmup_s"],
        "duration_s": duration({"clients": count, "rows": 1}, timing),
    }
    span = meter.start()
    records = load.run(spec, count)
    usage = span.stop()
    figures = {**summarize(records, 1), "clients": count, "cpu": usage}
    figures["answered_per_s"] = answered(figures)
    return figures


def drop_results(uri: str) -> None:
    """The peer's results go with it: history at scale comes after on the same SecantusDB."""
    import pymongo

    try:
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            client.drop_database(MONGO_DB)
    except pymongo.errors.PyMongoError as error:  # not to hide why the run stopped, if it did
        print(f"bench: the peer's results stay in SecantusDB: {error}", flush=True)
