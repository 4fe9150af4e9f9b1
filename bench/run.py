"""`make bench`: measure the platform as `make up` runs it, next to the limits it is judged
against, and append the figures to bench/RESULTS.md (bench/results.json: the latest run).

    python -m bench.run [--quick] [--profile] [--no-write] [--only TEXT] [--modes on,off]

It starts its own SecantusDB, redis-server, gunicorn and Celery workers (bench/stack.py),
its HTTP clients in processes of their own (bench/load.py), and stops them all at the end.
Besides the limits, the scenario matrix in both micro-batching modes and history at scale,
two scenarios of user-defined models: many-models (50 models in rotation through a small
model cache, bench/many_models.py) and auto-fit (an `estimator: auto` training on an
uploaded 100,000-row table, bench/auto_fit.py); `--only many-models` or `--only auto-fit`
runs one alone. A batch file (bench/batch_file.py: 1,000,000 rows through POST
/api/v1/batches/ beside one process doing the same with pandas, and one-row latency during
it; `--only batch-file`). Then the tutorial app as a peer (bench/peer/, bench/peer_run.py)
beside the platform's breast_cancer/wait-1; `--only peer` runs it with those three scenarios.
"""

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench import auto_fit, batch_file, history, limits, many_models, peer_run, profile, report, scenarios
from bench.load import Clients
from bench.procs import Meter, rss_mb
from bench.stack import Stack, http, token_user_id
from myproject.defaults import ROOT

# The predict worker's micro-batching settings (myproject/settings.py): "on" is the default,
# "off" runs one job per task.
MODES = {
    "on": {"PREDICTION_BATCH_MAX_JOBS": "64", "PREDICTION_BATCH_MAX_WAIT_MS": "5"},
    "off": {"PREDICTION_BATCH_MAX_JOBS": "1", "PREDICTION_BATCH_MAX_WAIT_MS": "5"},
}
FULL = {
    "warmup_s": 1.0,
    "duration_s": 4.0,
    "duration_1_s": 5.0,
    "duration_long_s": 7.0,
    "roundtrips": 500,
    "noop_tasks": 3000,
    "mongo_n": 500,
    "history_sizes": [1000, 100_000],
    "history_budget_s": 12.0,
    "csv_cap_s": 10.0,
    "many_warm_requests": 120,
    "many_requests": 400,
    "auto_rows": 100_000,
    "batch_rows": 1_000_000,
}
QUICK = {
    "warmup_s": 0.3,
    "duration_s": 1.0,
    "duration_1_s": 1.5,
    "duration_long_s": 2.0,
    "roundtrips": 100,
    "noop_tasks": 500,
    "mongo_n": 100,
    "history_sizes": [1000, 5000],
    "history_budget_s": 2.0,
    "csv_cap_s": 3.0,
    "many_warm_requests": 80,
    "many_requests": 200,
    "auto_rows": 20_000,
    "batch_rows": 50_000,
}
CLIENT_PROCESSES = 2  # one per core: more would only take turns


def arguments():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="short windows and 5,000 jobs of history; writes nothing"
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const=True,
        default=False,
        metavar="SCENARIO",
        help=f"repeat one scenario under py-spy (default {profile.SCENARIO})",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave RESULTS.md and results.json"
    )
    parser.add_argument(
        "--only",
        default="",
        help="run only scenarios whose name contains this (many-models, auto-fit, batch-file and peer are "
        "four; the limits, the modes and history at scale run only for the matrix's scenarios)",
    )
    parser.add_argument("--modes", default="on,off", help="micro-batching modes to run, in order")
    parser.add_argument("--skip-history", action="store_true", help="leave out history at scale")
    parser.add_argument(
        "--ensure-indexes",
        action="store_true",
        help="build the MongoDB indexes the documents declare first (for a version whose setup does not)",
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    timing = QUICK if args.quick else FULL
    began = time.monotonic()
    var = Path(tempfile.mkdtemp(prefix="platform-bench-"))
    meter = Meter()
    meter.add("bench", os.getpid(), tree=False)
    run_span = meter.whole_run()
    measured = machine()
    results = {
        "config": {
            **timing,
            "quick": args.quick,
            "client_processes": CLIENT_PROCESSES,
            "ensure_indexes": args.ensure_indexes,
            "modes": MODES,
            "var_dir": str(var),
        },
        "limits": {},
        "scenarios": {},
    }

    def selected(name: str) -> bool:
        return not args.only or args.only in name

    # The limits, the micro-batching modes and history at scale go with the matrix's scenarios.
    matrix = any(selected(scenarios.name(spec)) for spec in scenarios.matrix())
    stack = clients = None
    try:
        stack = Stack(var, meter)
        results["setup_platform_s"] = stack.setup_s
        print(f"bench: stack up in {time.monotonic() - began:.0f} s (logs in {var / 'logs'})", flush=True)
        users = [stack.user(f"bench-load-{index}") for index in range(CLIENT_PROCESSES)]
        owner = stack.user("bench-history")
        token = http("POST", f"{stack.base}/login/", owner)[1]["access"]
        clients = Clients(stack.base, users, CLIENT_PROCESSES, stack.env, meter)
        examples = []
        if matrix:
            examples = matrix_and_limits(args, stack, clients, meter, token, timing, results, began)
        if selected("many-models") or selected("auto-fit"):
            builder = stack.builder("bench-builder")
        if selected("many-models"):
            step("many models in rotation", began)
            results["many_models"] = many_models.run(
                stack, clients, meter, builder, timing, MODES["on"], lambda what: step(what, began)
            )
        if selected("auto-fit"):
            step("auto fit", began)
            results["auto_fit"] = auto_fit.run(
                stack, meter, builder, timing["auto_rows"], lambda what: step(what, began)
            )
        if selected("batch-file"):
            step("a batch file", began)
            batch_rows = scenarios.rows_for(stack.base, token, batch_file.MODEL, 1000)
            results["batch_file"] = batch_file.run(
                stack, clients, meter, token, batch_rows, timing, timing["batch_rows"], MODES["on"],
                lambda what: step(what, began),
            )  # fmt: skip
        if selected("peer"):
            step("the tutorial app as a peer", began)
            on = results["scenarios"].get("on", {})
            results["peer"] = peer_run.section(
                stack, clients, meter, token, timing, on, MODES["on"], lambda what: step(what, began)
            )
        if matrix and not args.skip_history:
            # Last: 100,000 stored jobs (and their deletion) would slow what came after them.
            step("history at scale", began)
            history.collection(stack).delete_many({})
            results["history"] = history_at_scale(stack, owner, token, meter, timing, examples)
            results["history"]["indexes"] = results["mongo_indexes"]
    finally:
        if clients:
            clients.close()
        if stack:
            stack.close()
    results["usage"] = run_span.stop()
    results["peaks_resettable"] = meter.peaks_resettable
    results["run_s"] = round(time.monotonic() - began, 1)
    results["machine"] = measured
    now = code_state()
    if now != {key: measured[key] for key in ("commit", "dirty")}:
        # Workers started after the change ran the new code: the figures mix two versions.
        results["machine"]["code_changed_during_run"] = now
    # RESULTS.md and results.json hold whole runs only: a partial one would read as a regression.
    partial = args.quick or args.only or args.skip_history or args.modes != "on,off"
    report.finish(results, write=not (args.no_write or partial))
    if not args.profile:
        shutil.rmtree(var, ignore_errors=True)


def matrix_and_limits(args, stack, clients, meter, token, timing, results, began) -> list[dict]:
    """The limits, then the scenario matrix in each micro-batching mode; returns the stored
    jobs history at scale copies."""
    every_model = [
        model["name"] for model in http("GET", f"{stack.base}/api/v1/models/", token=token)[1]["results"]
    ]
    rows = {model: scenarios.rows_for(stack.base, token, model, 1000) for model in every_model}
    if args.ensure_indexes:
        stack.manage_python("from predictor import history; history.ensure_indexes()")
    results["mongo_indexes"] = history.indexes(stack)

    step("limits: no-op Celery task", began)
    results["limits"] = {
        "noop": limits.noop_limits(
            stack, clients, meter, roundtrips=timing["roundtrips"], tasks=timing["noop_tasks"]
        )
    }
    step("limits: the web floor", began)
    floor_body = scenarios.bodies({"model": scenarios.MODELS[0], "rows": 1}, rows[scenarios.MODELS[0]])[0]
    results["limits"]["web_floor"] = limits.web_floor(clients, meter, floor_body, timing)
    step("limits: the model in process", began)
    used = {model: rows[model] for model in scenarios.MODELS}
    results["limits"]["model"] = limits.model_limits(stack, used, [1, *scenarios.BATCH_ROWS])

    modes = [mode for mode in args.modes.split(",") if mode]
    results["memory"], examples = {}, []
    for index, mode in enumerate(modes):
        step(f"predict worker, micro-batching {mode}", began)
        # Each mode starts on an empty collection: the earlier mode's jobs would make every
        # query that is not by _id slower for the later one.
        history.collection(stack).delete_many({})
        stack.worker("predict", env=MODES[mode])
        if index == 0:
            results["memory"] = limits.worker_memory(stack, clients, rows)
            examples = history.templates(stack)
            results["limits"]["mongo"] = history.mongo_limits(stack, meter, examples[0], timing["mongo_n"])
        results["scenarios"][mode] = run_scenarios(
            clients, meter, rows, timing, args.only, began, history.collection(stack)
        )
        if index == 0:
            results["memory"]["pool_after_scenarios"] = [
                {"pid": pid, **rss_mb(pid)} for pid in stack.pool_pids("predict")
            ]
            if args.profile:
                results["profile"] = profile.record(stack, clients, meter, rows, timing, args.profile)
        stack.stop("predict")
    return examples


def step(what: str, began: float) -> None:
    print(f"bench: [{time.monotonic() - began:5.0f} s] {what}", flush=True)


def history_at_scale(stack, owner: dict, token: str, meter: Meter, timing: dict, examples: list) -> dict:
    # A client process of its own, logged in as the user whose history it reads.
    reader = Clients(stack.base, [owner], 1, stack.env, meter)
    try:
        span = meter.start()
        figures = history.history_phase(stack, reader, token_user_id(token), examples, timing)
        figures["cpu"] = span.stop()
        return figures
    finally:
        reader.close()


def run_scenarios(clients, meter, rows, timing, only: str, began: float, stored) -> dict:
    done = {}
    for spec in scenarios.matrix():
        name = scenarios.name(spec)
        if only and only not in name:
            continue
        figures = scenarios.run(clients, meter, spec, rows[spec["model"]], timing)
        figures["jobs_stored_after"] = stored.estimated_document_count()
        done[name] = figures
        step(
            f"{name}: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
            f"{figures['jobs_per_s']} jobs/s, {figures['errors']} errors",
            began,
        )
    return done


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "node": platform.node(),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **code_state(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }


# Git pathspecs leaving out the bench's own files and the documentation: changes to them do
# not change what is measured.
NOT_MEASURED = [":!bench", ":!Makefile", ":!requirements-dev.txt", ":!README.md", ":!docs"]


def code_state() -> dict:
    """The commit measured, and whether the platform's files (bench/ aside) differ from it."""

    def git(*words):
        return subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", ".", *NOT_MEASURED)),
    }


if __name__ == "__main__":
    main()
