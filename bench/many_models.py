"""Many models in rotation: 50 user-defined models, more of them than a predict worker's
model cache holds, served one row at a time through the web API (`Prefer: wait`).

Five datasets (three binary, one three-class, one regression; ROWS rows of eight numbers,
one with missing values, a six-valued category and a boolean) are uploaded through the API
by a model builder; on each, eight linear models (logistic regression or ridge, one per
C or alpha) and two random forests (100 and 200 trees) are defined and trained, in two
processes of their own at once (bench/many_inprocess.py). The forests are most of the
bytes: about twice CACHE_MB in all.

A predict worker (the Procfile's, micro-batching on) is started with MODEL_CACHE_MB =
CACHE_MB and METRICS_PORT, and CLIENTS clients predict one row at a time, the model of each
request drawn uniformly from the 50, then by a Zipf law (weight 1/rank, ranks shuffled);
each window sends its drawn sequence once (timing's many_requests), the clients each
walking their own part of it.
Hits, misses and evictions are the cache's own counters, read from the worker's Prometheus
exporter before and after each window (one get per Celery task: a micro-batch of jobs of one
model is one get). RSS is each pool process's, against its RSS once warm with the linear
models only (the baseline: Django, scikit-learn, pandas and 40 small models loaded). A
model's cold load is timed in process (bench/many_inprocess.py): pipeline_get on a miss
less a hit.
"""

import json
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from myproject.defaults import ROOT
from myproject.servers import free_port

from .procs import rss_mb
from .stack import upload
from .stats import latency

ROWS = 2500
DATASETS = [
    ("bench-mm-binary-1", "binary", 11),
    ("bench-mm-binary-2", "binary", 12),
    ("bench-mm-binary-3", "binary", 13),
    ("bench-mm-multiclass", "multiclass", 14),
    ("bench-mm-regression", "regression", 15),
]
LINEAR = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]  # C (logistic) or alpha (ridge)
FOREST_TREES = [100, 200]
CACHE_MB = 64
CLIENTS = 4
ZIPF_S = 1.0
WINDOW_CAP_S = 180.0  # a window ends after its requests, or this long
WAIT_S = 30


def dataset_frame(kind: str, seed: int, rows: int) -> pd.DataFrame:
    """Eight numbers (x1 with 2% missing), a category, a boolean, and a target with signal
    (linear, an interaction, the category and the boolean) and noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 8))
    region = rng.choice(list("abcdef"), size=rows)
    flag = rng.random(rows) < 0.4
    z = X[:, 0] - 0.8 * X[:, 1] + 0.5 * X[:, 2] * X[:, 3] + 0.7 * (region == "a") + 0.4 * flag
    frame = pd.DataFrame(X.round(4), columns=[f"x{i}" for i in range(8)])
    frame.loc[rng.random(rows) < 0.02, "x1"] = np.nan
    frame["region"] = region
    frame["flag"] = flag
    noisy = z + rng.normal(size=rows)
    if kind == "binary":
        frame["target"] = np.where(noisy > 0, "pos", "neg")
    elif kind == "multiclass":
        frame["target"] = np.array(["low", "mid", "high"])[np.digitize(noisy, [-0.7, 0.7])]
    else:
        # To one decimal: a regression target of more than DATASET_MAX_CATEGORIES distinct
        # values is refused as "one value only" (predictor/definitions.py counts them as None).
        frame["target"] = np.round(3 * z + rng.normal(size=rows), 1)
    return frame


def model_specs() -> list[dict]:
    specs = []
    for dataset, kind, _ in DATASETS:
        short = dataset.removeprefix("bench-mm-")
        task = "regression" if kind == "regression" else "classification"
        linear = "ridge" if kind == "regression" else "logistic_regression"
        knob = "alpha" if kind == "regression" else "C"
        for index, value in enumerate(LINEAR):
            specs.append(
                {
                    "name": f"bench-mm-{short}-{linear.split('_')[0]}-{index}",
                    "dataset": dataset,
                    "target": "target",
                    "task": task,
                    "estimator": linear,
                    "params": {knob: value},
                }
            )
        for trees in FOREST_TREES:
            specs.append(
                {
                    "name": f"bench-mm-{short}-forest-{trees}",
                    "dataset": dataset,
                    "target": "target",
                    "task": task,
                    "estimator": "random_forest",
                    "params": {"n_estimators": trees},
                }
            )
    return specs


def inputs(frame: pd.DataFrame, count: int = 16) -> list[dict]:
    """Rows as a client sends them: the features, JSON-typed, none missing."""
    rows = frame.drop(columns="target").dropna().head(count)
    return [
        {
            key: (bool(value) if key == "flag" else str(value) if key == "region" else float(value))
            for key, value in row.items()
        }
        for row in rows.to_dict("records")
    ]


def in_process(stack, requests: list[dict]) -> list[dict]:
    """Each request in a process of its own (bench/many_inprocess.py), all at once; their
    logs in the bench's logs folder."""
    procs = []
    for index, request in enumerate(requests):
        log = stack.log(f"many-inprocess-{request['step']}-{index}")
        with open(log, "ab") as errors:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.many_inprocess"],
                cwd=ROOT,
                env=stack.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
        proc.stdin.write(json.dumps(request).encode())
        proc.stdin.close()
        procs.append((proc, log))
    answers = []
    for proc, log in procs:
        out = proc.stdout.read()
        if proc.wait():
            raise RuntimeError(f"bench.many_inprocess failed:\n{log.read_text()[-3000:]}")
        answers.append(json.loads(out))
    return answers


def cache_counters(port: int) -> dict:
    """The model cache's counters and bytes, as the worker's exporter serves them (summed
    over the processes whose metrics files it reads: deltas are what counts)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found = {"hit": 0.0, "miss": 0.0, "eviction": 0.0, "bytes": 0.0}
    for family in text_string_to_metric_families(text):
        if family.name == "platform_model_cache_events":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    found[sample.labels["event"]] += sample.value
        elif family.name == "platform_model_cache_bytes":
            found["bytes"] += sum(sample.value for sample in family.samples)
    return found


def sequence(names: list[str], pattern: str, seed: int, count: int) -> list[str]:
    rng = random.Random(f"{seed}:{pattern}")
    if pattern == "uniform":
        return [rng.choice(names) for _ in range(count)]
    ranked = names[:]
    rng.shuffle(ranked)
    weights = [1 / (rank + 1) ** ZIPF_S for rank in range(len(ranked))]
    return rng.choices(ranked, weights=weights, k=count)


def bodies(picks: list[str], rows: dict[str, list[dict]], seed: int) -> list[str]:
    rng = random.Random(seed)
    return [json.dumps({"model": name, "input": rng.choice(rows[name])}) for name in picks]


def pool_rss(stack) -> list[dict]:
    return [{"pid": pid, **rss_mb(pid)} for pid in stack.pool_pids("predict")]


def window(stack, clients, meter, port: int, picks: list[str], rows, seed: int) -> dict:
    """Every request of `picks` once, CLIENTS at a time (each client walks its own quarter)."""
    load = {
        "kind": "wait",
        "bodies": bodies(picks, rows, seed),
        "wait_s": WAIT_S,
        "warmup_s": 0.0,
        "duration_s": WINDOW_CAP_S,
        "stagger": True,
        # Per client process: each walks its clients' share of the sequence.
        "max_requests": len(picks) // len(clients.pipes),
    }
    before = cache_counters(port)
    span = meter.start()  # each process's peak RSS from here
    records = clients.run(load, CLIENTS)
    usage = span.stop()
    after = cache_counters(port)
    hits, misses = after["hit"] - before["hit"], after["miss"] - before["miss"]
    wall = max(records.get("end_t", []), default=records["t0"]) - records["t0"]
    done = len(records.get("latency_s", []))
    return {
        **latency(records.get("latency_s", [])),
        "wall_s": round(wall, 2),
        "jobs_per_s": round(done / wall, 1) if wall > 0 else None,
        "errors": sum(records["errors"].values()),
        "error_samples": records["error_samples"],
        "held_202": records.get("held_202", 0),
        "hits": int(hits),
        "misses": int(misses),
        "evictions": int(after["eviction"] - before["eviction"]),
        "hit_rate": round(hits / (hits + misses), 3) if hits + misses else None,
        "cache_mb_after": round(after["bytes"] / 2**20, 1),
        "pool": pool_rss(stack),
        "main": rss_mb(stack.procs["predict"].pid),
        "cpu": usage,
    }


def run(stack, clients, meter, builder: dict, timing: dict, worker_env: dict, step) -> dict:
    token = builder["token"]
    folder = stack.var / "many-models"
    folder.mkdir(exist_ok=True)
    frames = {}
    for name, kind, seed in DATASETS:
        frames[name] = dataset_frame(kind, seed, ROWS)
        path = Path(folder / f"{name}.csv")
        frames[name].to_csv(path, index=False)
        status, answer = upload(f"{stack.base}/api/v1/datasets/", token, {"name": name}, path)
        assert status == 201, answer
    specs = model_specs()
    rows = {spec["name"]: inputs(frames[spec["dataset"]]) for spec in specs}
    step(f"many models: defining and training {len(specs)} models in process")
    setup_started = time.monotonic()
    # In two processes at once (the machine's two cores), each with a share of the forests.
    ordered = sorted(specs, key=lambda spec: spec["estimator"] != "random_forest")
    shares = [ordered[index::2] for index in range(2)]
    made = {}
    for answer in in_process(
        stack, [{"step": "setup", "owner": builder["username"], "models": share} for share in shares]
    ):
        made.update(answer["models"])
    setup_s = round(time.monotonic() - setup_started, 1)
    step("many models: cold and warm loads in process")
    (cold,) = in_process(stack, [{"step": "cold", "rows": {name: rows[name][0] for name in rows}}])
    sizes = cold["models"]
    total_mb = sum(entry["nbytes"] for entry in sizes.values()) / 2**20

    port = free_port()
    step(f"many models: predict worker with MODEL_CACHE_MB={CACHE_MB}, {total_mb:.0f} MB of models")
    stack.worker("predict", env={**worker_env, "MODEL_CACHE_MB": str(CACHE_MB), "METRICS_PORT": str(port)})
    try:
        started = pool_rss(stack)
        # Warm: every pool process serves the linear models (a few KB each), none of the forests.
        linear = [spec["name"] for spec in specs if spec["estimator"] != "random_forest"]
        picks = sequence(linear, "uniform", 1, timing["many_warm_requests"])
        warm = window(stack, clients, meter, port, picks, rows, 1)
        figures = {"warm": warm}
        names = [spec["name"] for spec in specs]
        for seed, pattern in enumerate(("uniform", "zipf"), start=2):
            picks = sequence(names, pattern, seed, timing["many_requests"])
            figures[pattern] = window(stack, clients, meter, port, picks, rows, seed)
            forests = {spec["name"] for spec in specs if spec["estimator"] == "random_forest"}
            figures[pattern]["forest_share"] = round(sum(p in forests for p in picks) / len(picks), 3)
            step(
                f"many models, {pattern}: p50 {figures[pattern]['p50_ms']} ms, p99 "
                f"{figures[pattern]['p99_ms']} ms, {figures[pattern]['jobs_per_s']} jobs/s, hit rate "
                f"{figures[pattern]['hit_rate']}, {figures[pattern]['errors']} errors"
            )
    finally:
        stack.stop("predict")
    return {
        "cache_mb": CACHE_MB,
        "clients": CLIENTS,
        "zipf_s": ZIPF_S,
        "rows_per_dataset": ROWS,
        "models": len(specs),
        "setup_s": setup_s,
        "setup_s_total": round(sum(entry["seconds"] for entry in made.values()), 1),
        "trained": made,
        "sizes": sizes,
        "models_mb_total": round(total_mb, 1),
        "largest_model_mb": round(max(entry["nbytes"] for entry in sizes.values()) / 2**20, 1),
        "largest_artifact_mb": round(max(entry["artifact_bytes"] for entry in sizes.values()) / 2**20, 1),
        "pool_started": started,
        **figures,
    }
