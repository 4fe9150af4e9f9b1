"""The limits every scenario is compared against, measured in the same run on the same
servers: a bare Celery no-op, the web floor (bench/web_urls.py), the model in process, the
predict worker's memory; raw MongoDB writes are in history.py."""

import json
import subprocess
import sys

from myproject.defaults import ROOT

from .procs import rss_mb
from .stack import NOOP_QUEUE
from .stats import latency, summarize


def noop_limits(stack, clients, meter, *, roundtrips: int, tasks: int) -> dict:
    """The no-op task's round trip (one client, one task at a time) and its throughput, on a
    worker with the predict worker's pool and concurrency, alone on the machine."""
    stack.worker("noop", app="bench.noop", queue=NOOP_QUEUE)
    try:
        clients.call({"kind": "noop_roundtrip", "n": 20})  # connections, first-call imports
        span = meter.start()
        seconds = clients.call({"kind": "noop_roundtrip", "n": roundtrips})["seconds"]
        roundtrip = {**latency(seconds), "cpu": span.stop()}
        span = meter.start()
        flow = clients.call({"kind": "noop_throughput", "n": tasks})
        flow["cpu"] = span.stop()
    finally:
        stack.stop("noop")
    return {"roundtrip": roundtrip, "throughput": flow}


def web_floor(clients, meter, body: str, timing: dict) -> dict:
    """The web floor (bench/web_urls.py) with the one-row submit's body: latency at one client,
    requests/s at 16, and the web's CPU per request."""
    floor = {}
    for count, seconds in ((1, timing["duration_1_s"]), (16, timing["duration_s"])):
        spec = {"kind": "floor", "bodies": [body], "warmup_s": timing["warmup_s"], "duration_s": seconds}
        span = meter.start()
        records = clients.run(spec, count)
        usage = span.stop()
        summary = summarize(records, 1)
        done = summary["jobs_per_s"] * summary["window_s"]
        web_s = usage["groups"].get("web", {}).get("cpu_s", 0.0)
        floor[f"c{count}"] = {
            **{key: summary[key] for key in ("p50_ms", "p99_ms", "n", "errors", "window_s")},
            "requests_per_s": summary["jobs_per_s"],
            "web_cpu_ms_per_request": round(1000 * web_s / done, 3) if done else None,
            "cpu": usage,
        }
    return floor


def model_limits(stack, rows: dict[str, list[dict]], sizes: list[int]) -> dict:
    """predict / predict_proba of the scenarios' rows in one process (bench/inprocess.py)."""
    return in_process(stack, "bench.inprocess", {"rows": rows, "sizes": sizes})


def in_process(stack, module: str, request: dict) -> dict:
    """Run `module` in a process of its own with the stack's environment (the platform's
    settings, its MongoDB and artifacts), `request` as JSON on its stdin; its JSON answer."""
    answer = subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env=stack.env,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode:
        raise RuntimeError(f"{module} failed:\n{answer.stderr[-3000:]}")
    return json.loads(answer.stdout)


def worker_memory(stack, clients, rows: dict[str, list[dict]], *, worker: str = "predict") -> dict:
    """RSS of the predict worker's processes once each has served every shipped model: two
    jobs at once per model, so that both pool processes (concurrency 2) take one."""
    before = {pid: rss_mb(pid) for pid in stack.pool_pids(worker)}
    for model, model_rows in rows.items():
        body = json.dumps({"model": model, "input": model_rows[0]})
        spec = {
            "kind": "wait",
            "bodies": [body],
            "wait_s": 30,
            "warmup_s": 0.0,
            "duration_s": 30.0,
            "max_requests": 2,
        }
        records = clients.run(spec, 2)
        assert not records["errors"], records["error_samples"]
    main = stack.procs[worker].pid
    return {
        "main": rss_mb(main),
        "pool_before": list(before.values()),
        "pool_after": [rss_mb(pid) for pid in stack.pool_pids(worker)],
    }
