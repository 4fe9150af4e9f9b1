"""`make bench`: measure the platform as `make up` runs it, and append the figures to
bench/RESULTS.md with the machine and the date.

It starts its own SecantusDB, redis-server, gunicorn (the Procfile's settings) and Celery
workers on free ports, with a temporary var/, so a running `make up` is never touched.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from myproject.stack import (  # noqa: E402
    free_port,
    mongo_command,
    mongo_uri,
    port_open,
    redis_command,
    stop,
    wait_until,
)

PASSWORD = "bench-Pass-2026"


def http(method, url, body=None, token=None, headers=None, timeout=90):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class Stack:
    def __init__(self, var: Path):
        self.var, self.procs = var, {}
        self.web_port, mongo_port, redis_port = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "myproject.settings",
            "VAR_DIR": str(var),
            "MONGODB_URI": mongo_uri(mongo_port, "bench"),
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "THROTTLE_SUBMIT": "1000000/minute",
            "THROTTLE_AUTH": "1000/minute",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        self.env.pop("DATABASE_URL", None)
        self.start("mongo", mongo_command(mongo_port, str(var / "mongo")), mongo_port)
        self.start("redis", redis_command(redis_port, var / "redis", persist=False), redis_port)
        subprocess.run(
            [sys.executable, "manage.py", "setup_platform", "--admin-password", PASSWORD],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.start(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "myproject.wsgi",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                "2",
                "--threads",
                "48",
                "--no-control-socket",
                "--graceful-timeout",
                "2",
            ],
            self.web_port,
        )

    def start(self, name, command, port=None):
        log = open(self.var / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        if port:
            wait_until(lambda: port_open(port), timeout=60, what=name)

    def worker(self, queue: str, concurrency: int = 2):
        name = f"{queue}-bench@localhost"
        self.start(
            queue,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "myproject",
                "worker",
                "--queues",
                queue,
                "--concurrency",
                str(concurrency),
                "--hostname",
                name,
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "WARNING",
            ],
        )
        time.sleep(4)  # celery logs "ready" only at INFO; its start takes ~3 s here

    def stop(self, name):
        stop(self.procs.pop(name), timeout=30)

    def close(self):
        for name in list(self.procs)[::-1]:
            self.stop(name)


def one_row(stack, token):
    _, models = http("GET", f"{stack.base}/api/v1/models/breast_cancer/", token=token)
    return {feature["name"]: (feature["min"] + feature["max"]) / 2 for feature in models["input_schema"]}


def predict_waiting(stack, token, body: dict, wait_s: int = 30) -> dict:
    """Submit with `Prefer: wait` and return the finished job (it must have succeeded)."""
    status, job = http(
        "POST",
        f"{stack.base}/api/v1/predictions/",
        {"model": "breast_cancer", **body},
        token,
        headers={"Prefer": f"wait={wait_s}"},
    )
    assert (status, job["status"]) == (200, "succeeded"), job
    return job


def bench_wait_latency(stack, token, row, n=50):
    seconds = []
    for _ in range(n):
        started = time.perf_counter()
        predict_waiting(stack, token, {"input": row})
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {"n": n, "median_s": statistics.median(seconds), "p95_s": seconds[int(n * 0.95) - 1]}


def bench_throughput(stack, token, row, n=300, clients=8):
    def submit(_):
        return http(
            "POST", f"{stack.base}/api/v1/predictions/", {"model": "breast_cancer", "input": row}, token
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(submit, range(n)))
    submitted = time.perf_counter() - started
    assert all(status == 202 for status, _ in answers)
    last = answers[-1][1]["id"]
    while http("GET", f"{stack.base}/api/v1/predictions/{last}/", token=token)[1]["status"] not in (
        "succeeded",
    ):
        time.sleep(0.05)
    drained = time.perf_counter() - started
    return {"jobs": n, "clients": clients, "submits_per_s": n / submitted, "all_done_per_s": n / drained}


def bench_batch(stack, token, row, rows=1000):
    started = time.perf_counter()
    job = predict_waiting(stack, token, {"inputs": [row] * rows}, wait_s=60)
    return {
        "rows": rows,
        "submit_to_result_s": time.perf_counter() - started,
        "predict_s": job["metrics"]["predict_s"],
    }


def bench_waiters(stack, token, row, counts=(20, 60, 80, 120), hold_s=5):
    """With no predict worker, every job stays queued: how many waits does the server hold?"""
    results = []
    for count in counts:

        def wait(_):
            started = time.perf_counter()
            status, _ = http(
                "POST",
                f"{stack.base}/api/v1/predictions/",
                {"model": "breast_cancer", "input": row},
                token,
                headers={"Prefer": f"wait={hold_s}"},
            )
            return status, time.perf_counter() - started

        with ThreadPoolExecutor(count + 1) as pool:
            futures = [pool.submit(wait, i) for i in range(count)]
            time.sleep(1)
            probe_started = time.perf_counter()
            probe_status, _ = http("GET", f"{stack.base}/api/v1/models/", token=token)
            probe_s = time.perf_counter() - probe_started
            answers = [future.result() for future in futures]
        held = sum(1 for status, seconds in answers if status == 202 and seconds >= hold_s - 0.5)
        results.append(
            {
                "clients": count,
                "held": held,
                "answered_at_once": count - held,
                "other_request_s": round(probe_s, 3),
                "other_status": probe_status,
            }
        )
    return results


def bench_trainings():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    django.setup()
    from predictor.specs import SPECS
    from predictor.train_model import train

    timings = {}
    for name, spec in SPECS.items():
        train(spec)  # warm the dataset loaders
        started = time.perf_counter()
        result = train(spec)
        timings[name] = {"seconds": round(time.perf_counter() - started, 3), "metrics": result.metrics}
    return timings


def bench_promotion(stack, admin_token, token, row):
    status, run = http("POST", f"{stack.base}/api/v1/trainings/", {"model": "breast_cancer"}, admin_token)
    assert status == 202, run
    while (run := http("GET", f"{stack.base}/api/v1/trainings/{run['id']}/", token=admin_token)[1])[
        "status"
    ] not in ("succeeded", "failed"):
        time.sleep(0.1)
    assert run["decision"] == "promoted", run
    started = time.perf_counter()
    job = predict_waiting(stack, token, {"input": row})
    return {
        "training_run_s": run["duration_s"],
        "new_version": run["version"],
        "served_by": job["version"],
        "promotion_to_served_s": time.perf_counter() - started,
    }


def main():
    var = Path(tempfile.mkdtemp(prefix="platform-bench-"))
    stack = Stack(var)
    figures = {}
    try:
        user = {"username": "bench", "password": PASSWORD}
        http(
            "POST",
            f"{stack.base}/register/",
            {**user, "email": "b@example.com", "password_confirm": PASSWORD},
        )
        token = http("POST", f"{stack.base}/login/", user)[1]["access"]
        admin = http("POST", f"{stack.base}/login/", {"username": "admin", "password": PASSWORD})[1]["access"]
        row = one_row(stack, token)
        stack.worker("predict")
        stack.worker("train", concurrency=1)
        figures["one row, submit -> succeeded with Prefer: wait"] = bench_wait_latency(stack, token, row)
        figures["throughput, one-row jobs"] = bench_throughput(stack, token, row)
        figures["batch of 1000 rows with Prefer: wait"] = bench_batch(stack, token, row)
        figures["promotion reaches the workers"] = bench_promotion(stack, admin, token, row)
        # Last: with the predict worker stopped, every waiter's job stays queued.
        stack.stop("predict")
        figures["waiters (no worker; Prefer: wait=5)"] = bench_waiters(stack, token, row)
    finally:
        stack.close()
    figures["training, in process"] = bench_trainings()
    report(figures)


def report(figures):
    def fmt(value):
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {platform.node()}, {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, {platform.platform()}.",
        "Web: gunicorn 2 workers x 48 threads (as the Procfile); predict worker: 2 processes; SecantusDB.",
        "",
    ]
    for title, value in figures.items():
        lines.append(f"### {title}")
        if isinstance(value, list):  # one line per run
            entries = [("", entry) for entry in value]
        elif all(isinstance(entry, dict) for entry in value.values()):  # one line per model
            entries = [(f"{name}: ", entry) for name, entry in value.items()]
        else:
            entries = [("", value)]
        for label, entry in entries:
            lines.append(f"- {label}" + ", ".join(f"{key} {fmt(item)}" for key, item in entry.items()))
        lines.append("")
    text = "\n".join(lines)
    print(text)
    results = ROOT / "bench" / "RESULTS.md"
    header = "# Benchmark results\n\nAppended by `make bench` (bench/run.py); newest last.\n\n"
    previous = results.read_text() if results.exists() else header
    results.write_text(previous + text + "\n")


if __name__ == "__main__":
    main()
