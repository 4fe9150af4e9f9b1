"""An `estimator: auto` training run on a large table, end to end through the platform.

A table of ROWS rows and 20 columns (numpy, seeded: 14 numbers of various scales, three of
them with missing values, one a whole-number count; four categories of 3, 12, 60 and 400
values, one with missing values; a boolean; a binary target with signal in numbers,
categories, an interaction and the boolean) is written as CSV and uploaded through the web
API (multipart, as a browser or curl -F sends it) by a model builder. A model is created on
it with `estimator: auto` (POST /api/v1/models/, 202 and a training run), and the
Procfile's training worker trains it.

Figures: the upload's time and the web's memory (each gunicorn worker's RSS after it, and
its peak during it); the run's wall time (created -> completed, the run's own timestamps),
each stage's time (its `progress`), the leaderboard of the version (each candidate's
cross-validated score and fit time), and the training worker's pool process RSS, sampled
while it runs (the peak of each stage) and its kernel high-water mark (VmHWM).
"""

import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .procs import rss_mb, vm_kb
from .stack import http, upload

NAME = "bench-auto-fit"
TARGET = "churned"
POLL_S = 0.25
RUN_CAP_S = 600  # the bench gives up on the run after this long
# myproject/settings.py's default: past it, the platform ends the run as failed.
SOFT_TIME_LIMIT_S = 600


def table(rows: int, seed: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"num_{i}": rng.normal(loc=i, scale=1 + i, size=rows).round(4) for i in range(10)})
    frame["ratio"] = rng.uniform(0, 1, size=rows).round(5)
    frame["amount"] = np.exp(rng.normal(3, 1.2, size=rows)).round(2)
    frame["visits"] = rng.poisson(4, size=rows)
    frame["score"] = rng.normal(size=rows).round(4)
    for column, share in (("num_3", 0.05), ("num_7", 0.05), ("amount", 0.20)):
        frame.loc[rng.random(rows) < share, column] = np.nan
    plan = rng.choice(["basic", "plus", "pro"], size=rows, p=[0.6, 0.3, 0.1])
    region = rng.choice([f"r{i:02d}" for i in range(12)], size=rows)
    product = rng.choice([f"p{i:02d}" for i in range(60)], size=rows)
    weights = 1 / np.arange(1, 401)
    city = rng.choice([f"city-{i:03d}" for i in range(400)], size=rows, p=weights / weights.sum())
    active = rng.random(rows) < 0.7
    frame["plan"], frame["region"], frame["product"], frame["city"] = plan, region, product, city
    frame.loc[rng.random(rows) < 0.03, "region"] = None
    frame["active"] = active
    region_effect = dict(zip([f"r{i:02d}" for i in range(12)], rng.normal(0, 0.6, size=12), strict=True))
    z = (
        0.8 * (frame["num_0"] - 0) / 1
        - 0.5 * (frame["num_1"] - 1) / 2
        + 0.6 * np.nan_to_num((frame["num_3"] - 3) / 4) * ((frame["ratio"] - 0.5) * 4)
        + np.sin(frame["score"] * 2)
        + pd.Series(plan).map({"basic": -0.4, "plus": 0.2, "pro": 0.8}).to_numpy()
        + pd.Series(region).map(region_effect).to_numpy()
        + 0.1 * (frame["visits"] - 4)
        - 0.5 * active
    )
    probability = 1 / (1 + np.exp(-(z - 0.5)))
    frame[TARGET] = np.where(rng.random(rows) < probability, "churn", "stay")
    return frame


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stages(run: dict) -> list[dict]:
    """Each stage's time, from the run's progress: queued (created -> first stage), then each
    stage until the next one began."""
    marks = [("queued", _at(run["created_at"]))] + [(p["stage"], _at(p["at"])) for p in run["progress"]]
    return [
        {"stage": stage, "s": round((marks[index + 1][1] - at).total_seconds(), 3)}
        for index, (stage, at) in enumerate(marks[:-1])
    ]


def web_rss(stack) -> list[dict]:
    """The gunicorn workers (the master serves no request)."""
    return [{"pid": proc.pid, **rss_mb(proc.pid)} for proc in stack.meter.processes("web")[1:]]


def run(stack, meter, builder: dict, rows: int, step) -> dict:
    token = builder["token"]
    path = Path(stack.var / "auto-fit.csv")
    made = time.monotonic()
    data = table(rows)
    data.to_csv(path, index=False)
    figures = {
        "soft_time_limit_s": int(stack.env.get("TRAINING_SOFT_TIME_LIMIT", SOFT_TIME_LIMIT_S)),
        "rows": rows,
        "columns": data.shape[1],
        "csv_mb": round(path.stat().st_size / 2**20, 2),
        "generate_s": round(time.monotonic() - made, 2),
    }
    step(
        f"auto fit: training worker; uploading {rows:,} rows x {data.shape[1]} columns "
        f"({figures['csv_mb']} MB)"
    )
    del data
    stack.worker("train", queue="train", entry="trainer")
    try:
        web_before = web_rss(stack)
        span = meter.start()
        started = time.monotonic()
        status, answer = upload(f"{stack.base}/api/v1/datasets/", token, {"name": NAME}, path)
        upload_s = time.monotonic() - started
        usage = span.stop()
        assert status == 201, answer
        version = answer["versions"][0]
        figures["upload"] = {
            "seconds": round(upload_s, 2),
            "mb_per_s": round(figures["csv_mb"] / upload_s, 1),
            "rows": version["rows"],
            "types": {
                kind: sum(column["type"] == kind for column in version["columns"])
                for kind in ("number", "category", "boolean")
            },
            "web_before": web_before,
            "web_after": web_rss(stack),
            "cpu": usage,
        }
        step(f"auto fit: uploaded in {upload_s:.1f} s; creating the model (estimator auto)")

        span = meter.start()
        status, answer = http(
            "POST",
            f"{stack.base}/api/v1/models/",
            {"name": NAME, "dataset": NAME, "target": TARGET, "estimator": "auto"},
            token=token,
        )
        assert status == 202, answer
        figures["notes"] = answer["notes"]
        run_id = answer["training"]["id"]
        samples, training = [], answer["training"]
        deadline = time.monotonic() + RUN_CAP_S
        while training["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(POLL_S)
            training = http("GET", f"{stack.base}/api/v1/trainings/{run_id}/", token=token)[1]
            pool = stack.pool_pids("train")
            samples.append(
                {
                    "stage": training["stage"],
                    "pool_rss_mb": round(sum(vm_kb(pid, "VmRSS") for pid in pool) / 1024, 1),
                }
            )
        usage = span.stop()
        pool = stack.pool_pids("train")
        figures["pool_peak_mb"] = round(max((vm_kb(pid, "VmHWM") for pid in pool), default=0) / 1024, 1)
        figures["pool_after"] = [{"pid": pid, **rss_mb(pid)} for pid in pool]
        figures["main"] = rss_mb(stack.procs["train"].pid)
        figures["cpu"] = usage
    finally:
        stack.stop("train")
    figures["status"] = training["status"]
    figures["error"] = training.get("error")
    if training["status"] != "succeeded":
        raise RuntimeError(f"the auto training run did not succeed: {training}")
    figures["wall_s"] = round(
        (_at(training["completed_at"]) - _at(training["created_at"])).total_seconds(), 2
    )
    figures["duration_s"] = training["duration_s"]
    figures["training_rows"] = training["training_rows"]
    figures["metrics"] = training["metrics"]
    figures["stages"] = stages(training)
    peaks = {}
    for sample in samples:
        peaks[sample["stage"]] = max(peaks.get(sample["stage"], 0.0), sample["pool_rss_mb"])
    figures["rss_by_stage"] = peaks
    versions = http("GET", f"{stack.base}/api/v1/models/{NAME}/versions/", token=token)[1]["results"]
    chosen = versions[0]
    figures["estimator"] = chosen["estimator"]
    figures["leaderboard"] = chosen["leaderboard"]
    artifact = stack.var / "artifacts" / f"{chosen['artifact_sha256']}.joblib"
    figures["artifact_mb"] = round(artifact.stat().st_size / 2**20, 2) if artifact.exists() else None
    return figures
