"""The scenario matrix, and each scenario's figures next to the limits it is judged against."""

import json
import random
import statistics
import time

from . import stack as platform
from .stack import http
from .stats import latency, ratio, summarize

MODELS = ["breast_cancer", "diabetes"]  # a classifier and the regressor
BATCH_ROWS = [10, 100, 1000]
# Batches of 1,000 rows at 64 clients would be 64 MB of JSON in flight: 1 and 16 show the
# latency and the throughput of big jobs.
CLIENTS = {"wait": [1, 16, 64], "poll": [1, 16, 64], "batch": [1, 16]}
WAIT_S = 30
# The jobs counted on the platform's /metrics, every label summed.
JOB_COUNTS = {"platform_jobs_submitted_total": "submitted", "platform_jobs_finished_total": "finished"}


def rows_for(base: str, token: str, model: str, count: int, seed: int = 7) -> list[dict]:
    """Random rows inside the model's input schema (every feature between its min and max)."""
    status, detail = http("GET", f"{base}/api/v1/models/{model}/", token=token)
    assert status == 200, detail
    rng = random.Random(f"{seed}:{model}")
    schema = detail["input_schema"]
    return [
        {feature["name"]: round(rng.uniform(feature["min"], feature["max"]), 4) for feature in schema}
        for _ in range(count)
    ]


def matrix(models=MODELS) -> list[dict]:
    """Models alternate at each step: every stored job makes some queries slower (those not by
    _id, on a MongoDB without indexes), so each model meets about the same history."""
    shapes = [("wait", 1, clients) for clients in CLIENTS["wait"]]
    shapes += [("poll", 1, clients) for clients in CLIENTS["poll"]]
    shapes += [("wait", rows, clients) for rows in BATCH_ROWS for clients in CLIENTS["batch"]]
    return [
        {"model": model, "kind": kind, "rows": rows, "clients": clients}
        for kind, rows, clients in shapes
        for model in models
    ]


def name(spec: dict) -> str:
    shape = f"{spec['kind']}-1" if spec["rows"] == 1 else f"batch-{spec['rows']}"
    return f"{spec['model']}/{shape}/c{spec['clients']}"


def bodies(spec: dict, rows: list[dict]) -> list[str]:
    if spec["rows"] == 1:  # sixteen different rows, taken in turn
        return [json.dumps({"model": spec["model"], "input": row}) for row in rows[:16]]
    return [json.dumps({"model": spec["model"], "inputs": rows[: spec["rows"]]})]


def duration(spec: dict, timing: dict) -> float:
    """Long enough for p99 at one client, and for several round trips of the slowest jobs."""
    if spec["clients"] == 1:
        return timing["duration_1_s"]
    if spec["rows"] == 1000 or spec["clients"] >= 64:
        return timing["duration_long_s"]
    return timing["duration_s"]


def run(clients, meter, spec: dict, rows: list[dict], timing: dict) -> dict:
    load = {
        "kind": spec["kind"],
        "bodies": bodies(spec, rows),
        "wait_s": WAIT_S,
        "warmup_s": timing["warmup_s"],
        "duration_s": duration(spec, timing),
    }
    if spec["rows"] > 1 and spec["clients"] == 1:
        # The per-row cost is a difference of two latencies: measure them side by side.
        load["paired_body"] = bodies({**spec, "rows": 1}, rows)[0]
    counted = mongo_counts()
    span = meter.start()
    records = clients.run(load, spec["clients"])
    usage = span.stop()
    figures = {**spec, **summarize(records, spec["rows"]), "cpu": usage, **mongo_per_job(counted)}
    if records.get("paired_s"):
        figures["paired_one_row"] = latency(records["paired_s"])
        figures["paired_difference"] = paired_difference(records["latency_s"], records["paired_s"])
    return figures


def mongo_counts() -> dict | None:
    """The running platform's MongoDB commands {(process, command): count} and its jobs
    submitted and finished, from the web's /metrics (the web's and the workers' counts)."""
    if platform.running is None:
        return None
    commands, jobs = {}, {"submitted": 0.0, "finished": 0.0}
    for sample in platform.running.metrics():
        if sample.name == "platform_mongodb_commands_total":
            key = (sample.labels["process"], sample.labels["command"])
            commands[key] = commands.get(key, 0.0) + sample.value
        elif sample.name in JOB_COUNTS:
            jobs[JOB_COUNTS[sample.name]] += sample.value
    return {"commands": commands, **jobs}


def mongo_per_job(before: dict | None, settle_s: float = 5.0) -> dict:
    """MongoDB commands per job over the scenario, warm-up included: the commands' delta over
    the jobs finished between the same two scrapes, once every job submitted has finished
    (a worker counts a finish a moment after the client has its answer)."""
    if before is None:
        return {}
    deadline = time.monotonic() + settle_s
    while True:
        after = mongo_counts()
        submitted, finished = (after[key] - before[key] for key in ("submitted", "finished"))
        if finished >= submitted or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if finished <= 0:
        return {}
    moved = {
        key: count - before["commands"].get(key, 0.0)
        for key, count in after["commands"].items()
        if count != before["commands"].get(key, 0.0)
    }
    by_process = {}
    for (process, command), count in sorted(moved.items()):
        by_process.setdefault(process, {})[command] = round(count / finished, 2)
    return {
        "mongo_commands_per_job": round(sum(moved.values()) / finished, 2),
        "mongo_commands_by_command": by_process,
        "mongo_jobs": {"submitted": int(submitted), "finished": int(finished)},
    }


def paired_difference(batch_s: list[float], one_row_s: list[float], resamples: int = 2000) -> dict:
    """Median of (batch - the one-row job right after it), in ms, with a bootstrap 95%
    interval: how well the run could tell a batch's extra time from the jitter of both."""
    pairs = [1000 * (b - o) for b, o in zip(batch_s, one_row_s, strict=False)]
    if len(pairs) < 5:
        return {"n": len(pairs), "median_ms": None, "ci95_ms": None}
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(pairs, k=len(pairs))) for _ in range(resamples))
    low, high = medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]
    return {
        "n": len(pairs),
        "median_ms": round(statistics.median(pairs), 3),
        "ci95_ms": [round(low, 3), round(high, 3)],
    }


def compare(results: dict, limits: dict) -> None:
    """Add each scenario's ratios to the limits (in place)."""
    if not results:
        return
    noop = limits["noop"]
    for scenarios in results.values():
        for figures in scenarios.values():
            model_s = limits["model"]["models"][figures["model"]]
            figures["vs_noop"] = {
                "p50": ratio(figures["p50_ms"], noop["roundtrip"]["p50_ms"]),
                "p99": ratio(figures["p99_ms"], noop["roundtrip"]["p99_ms"]),
                "jobs_per_s": ratio(figures["jobs_per_s"], noop["throughput"]["tasks_per_s"]),
            }
            if figures["rows"] == 1 or figures["clients"] != 1:
                continue
            in_process = model_s[str(figures["rows"])]["model_s"] * 1000
            paired = figures.get("paired_difference") or {}
            if paired.get("median_ms") is not None:
                # Per row: (batch - one-row job, paired) - the model's own time, over the rows.
                def per_row(ms, rows=figures["rows"], model=in_process):
                    return round(1000 * (ms - model) / rows, 1)

                figures["model_ms"] = round(in_process, 3)
                figures["beyond_model_us_per_row"] = per_row(paired["median_ms"])
                low, high = (per_row(ms) for ms in paired["ci95_ms"])
                figures["beyond_model_us_per_row_ci95"] = [low, high]
                # Told apart from zero: the interval lies above it. Else it is below resolution.
                figures["beyond_model_resolved"] = low > 0
                figures["vs_model"] = ratio(figures["p50_ms"], in_process)
