"""A whole file scored end to end (POST /api/v1/batches/), beside its limit, and what it does
to one-row jobs meanwhile.

A CSV of ROWS rows of breast_cancer's 30 features (the scenarios' random rows, each line
with an id of its own) is uploaded by one user (multipart, streamed from disk), scored by
the Procfile's batcher worker, and its results downloaded (streamed to disk), twice: alone,
then with one-row jobs running beside it. Figures:
upload, scoring (created -> completed, the job's own timestamps) and download times; rows a
second end to end (upload start to the last result line on disk); the peak RSS of each web
and batcher process; and the one-row `Prefer: wait` latency at one client, alone and while
the batch runs.

The limit (bench/batch_limit.py): one process reading the same file with pandas,
predicting with the same pipeline and writing the same results CSV.
"""

import time
import urllib.request
from datetime import datetime
from pathlib import Path

from . import scenarios
from .limits import in_process
from .procs import rss_mb
from .stack import http, upload

MODEL = "breast_cancer"
POLL_S = 0.25
CAP_S = 1800
ONE_ROW = {"model": MODEL, "kind": "wait", "rows": 1, "clients": 1}


def write_csv(path: Path, rows: list[dict], count: int) -> None:
    features = list(rows[0])
    lines = [",".join(str(row[name]) for name in features) for row in rows]
    with open(path, "w") as out:
        out.write(",".join(["id", *features]) + "\n")
        for n in range(count):
            out.write(f"c{n:08d},{lines[n % len(lines)]}\n")


def run(
    stack, clients, meter, token: str, rows: list[dict], timing: dict, count: int, predict_env, step
) -> dict:
    """The batch twice: alone (its throughput, beside the limit that also runs alone), then
    again with one-row jobs running beside it (their latency, and the batch's own figures
    under that load)."""
    path, results = stack.var / "batch-file.csv", stack.var / "batch-file-results.csv"
    write_csv(path, rows, count)
    figures = {"rows": count, "csv_mb": round(path.stat().st_size / 2**20, 1)}
    stack.worker("predict", env=predict_env)
    stack.worker("batcher", queue="batch", entry="batcher")
    one_row = {**timing, "duration_s": timing["duration_1_s"]}
    try:
        step("batch file: one-row jobs alone")
        figures["one_row_alone"] = _latency(scenarios.run(clients, meter, ONE_ROW, rows, one_row))
        step(f"batch file: {count:,} rows ({figures['csv_mb']} MB) alone")
        figures.update(_batch(stack, meter, token, path, results, count))
        step("batch file: again, with one-row jobs during it")
        # A window of one-row jobs that fits inside the batch's scoring, going by the first run.
        during = {**one_row, "duration_s": max(1.0, min(one_row["duration_s"], 0.3 * figures["score_s"]))}
        figures["with_one_row_jobs"] = _batch(
            stack,
            meter,
            token,
            path,
            results,
            count,
            beside=lambda: scenarios.run(clients, meter, ONE_ROW, rows, during),
        )
        figures["one_row_during"] = figures["with_one_row_jobs"].pop("beside")
        step("batch file: the limit, one process with pandas")
        figures["limit"] = _limit(stack, path, stack.var / "batch-limit-results.csv")
        figures["ratio_to_limit"] = round(figures["rows_per_s"] / figures["limit"]["rows_per_s"], 2)
    finally:
        stack.stop("batcher")
        stack.stop("predict")
        for each in (path, results, stack.var / "batch-limit-results.csv"):
            each.unlink(missing_ok=True)
    return figures


def _batch(stack, meter, token: str, path: Path, results: Path, count: int, beside=None) -> dict:
    """Upload, wait for the end, download: the times, and CPU and peak RSS over them. `beside`:
    run just after the upload is answered (one-row jobs), its figures as `beside`."""
    span = meter.start()
    began = time.monotonic()
    status, batch = upload(f"{stack.base}/api/v1/batches/", token, {"model": MODEL, "key_column": "id"}, path)
    assert status == 202, batch
    uploaded = time.monotonic()
    url = f"{stack.base}/api/v1/batches/{batch['id']}/"
    figures = {}
    if beside is not None:
        figures["beside"] = _latency(beside())
        # The one-row figures count as "during" only if the batch outlasted them.
        running = http("GET", url, token=token)[1]["status"] in ("queued", "running")
        figures["beside"]["batch_running_at_its_end"] = running
    while (batch := http("GET", url, token=token)[1])["status"] in ("queued", "running"):
        assert time.monotonic() - began < CAP_S, batch
        time.sleep(POLL_S)
    assert batch["status"] == "succeeded", batch
    scored = time.monotonic()
    _download(f"{url}results/", token, results)
    ended = time.monotonic()
    usage = span.stop()
    with open(results, "rb") as answer:
        lines = sum(1 for _ in answer) - 1
    assert lines == count, f"{lines} result lines for {count} rows"
    return {
        **figures,
        "upload_s": round(uploaded - began, 2),
        "score_s": round(_seconds(batch["created_at"], batch["completed_at"]), 2),
        "download_s": round(ended - scored, 2),
        "end_to_end_s": round(ended - began, 2),
        "rows_per_s": round(count / (ended - began)),
        "chunks": batch["chunks"]["total"],
        "result_lines": lines,
        "cpu": usage,
        "web_pids": [rss_mb(proc.pid) for proc in meter.processes("web")],
        "batcher_pids": [rss_mb(proc.pid) for proc in meter.processes("batcher")],
    }


def _latency(figures: dict) -> dict:
    return {key: figures[key] for key in ("p50_ms", "p99_ms", "jobs_per_s", "errors") if key in figures}


def _seconds(start: str, end: str) -> float:
    def at(text):
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (at(end) - at(start)).total_seconds()


def _download(url: str, token: str, path: Path) -> None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=600) as answer, open(path, "wb") as out:
        while piece := answer.read(1024 * 1024):
            out.write(piece)


def _limit(stack, path: Path, output: Path) -> dict:
    request = {"model": MODEL, "input": str(path), "output": str(output), "key": "id"}
    return in_process(stack, "bench.batch_limit", request)
