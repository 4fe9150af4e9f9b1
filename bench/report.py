"""The run's figures as Markdown (printed, and appended to bench/RESULTS.md) and as JSON
(bench/results.json: the latest run only, every figure)."""

import json
from pathlib import Path

from myproject.procfile import procfile_command

from . import scenarios, tables, targets
from .load import POLL_FIRST_S, POLL_GROWTH, POLL_MAX_S
from .stats import ratio
from .tables import cpu_split, fmt, table

BENCH = Path(__file__).resolve().parent
RESULTS_MD, RESULTS_JSON = BENCH / "RESULTS.md", BENCH / "results.json"
DISTURBED_PCT = 10


def finish(results: dict, *, write: bool) -> None:
    scenarios.compare(results["scenarios"], results["limits"])
    results["floors"] = targets.floors(results)
    results["targets"] = targets.targets(results) + targets.floor_rows(results)
    previous = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else None
    results["spread"] = targets.spread(results, previous)
    text = markdown(results)
    print(text)
    if write:
        RESULTS_MD.write_text(RESULTS_MD.read_text().rstrip("\n") + "\n\n" + text)
        RESULTS_JSON.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        print(f"bench: appended to {RESULTS_MD}; every figure in {RESULTS_JSON}")
    else:
        print("bench: wrote nothing (--no-write, --quick, or a partial run)")


def markdown(results: dict) -> str:
    m = results["machine"]
    commit = f"{m['commit']}{' with uncommitted changes' if m['dirty'] else ''}"
    quick = " (--quick: short windows, not comparable)" if results["config"]["quick"] else ""
    out = [
        f"## {m['date_utc']} UTC: make bench{quick}",
        "",
        f"Machine: {m['node']}, {m['cores']} cores ({m['cpu']}), Python {m['python']}, {m['platform']}. "
        f"Commit {commit}. Run: {results['run_s']:.0f} s.",
        "",
        *changed(m),
        *disturbance(results),
        legend(results),
        "",
        "### Limits, measured in the same run on the same servers",
        "",
        *tables.limits(results["limits"]),
    ]
    for mode, done in results["scenarios"].items():
        out += [f"### Scenarios, micro-batching {mode}", "", *scenario_table(done)]
    out += micro_batching(results["scenarios"])
    out += tables.memory(results) + tables.many_models(results) + tables.auto_fit(results)
    out += tables.batch_file(results)
    out += tables.peer(results)
    out += tables.history(results) + tables.usage(results)
    out += ["### Targets (micro-batching on: the default)", "", *targets_table(results["targets"])]
    out += tables.spread(results.get("spread"))
    return "\n".join(out)


def legend(results: dict) -> str:
    """What ran and what each figure means, read from where each is set."""
    # Here, once the run is over, not at the top: the bench's own process is measured, and
    # gunicorn's settings import the platform's metrics (prometheus_client, redis).
    from myproject import gunicorn_conf

    worker = procfile_command("worker", {})
    pool = worker[worker.index("--pool") + 1] if "--pool" in worker else "prefork"
    concurrency = worker[worker.index("--concurrency") + 1]
    polls = f"{1000 * POLL_FIRST_S:.0f} ms, {1000 * POLL_FIRST_S * POLL_GROWTH:.0f} ms"
    return (
        f"Web: the Procfile's gunicorn ({gunicorn_conf.workers} workers x {gunicorn_conf.threads} "
        f"threads); predict worker: the Procfile's celery ({pool}, concurrency {concurrency}); "
        "SecantusDB; redis-server; each started by the bench on free ports. Clients: aiohttp, closed "
        f"loop, in {results['config']['client_processes']} processes of their own. Latency: submit to "
        "finished job, as the client sees it (`wait`: one request with "
        f"`Prefer: wait={scenarios.WAIT_S}`; `poll`: submit, then GET after {polls}, ... up to "
        f"{1000 * POLL_MAX_S:.0f} ms apart); jobs/s: jobs finished within the window (at one client, "
        "batches alternate with one-row jobs, measured apart, and jobs/s counts the batches). /noop: "
        "the ratio to the Celery no-op limit. Beyond model: (batch p50 - one-row p50 - the model's own "
        "time for the batch in process) / rows. CPU: percent of one core (the machine has "
        f"{100 * results['machine']['cores']}) per process group."
    )


def changed(m: dict) -> list[str]:
    moved = m.get("code_changed_during_run")
    if not moved:
        return []
    note = "a worker started after the change ran the new code; these figures mix two versions."
    return [
        f"**The code changed during the run** (now {moved['commit']}, dirty: {moved['dirty']}): {note}",
        "",
    ]


def scenario_table(done: dict) -> list[str]:
    header = [
        "scenario",
        "p50 ms",
        "p99 ms",
        "jobs/s",
        "rows/s",
        "errors",
        "p50 /noop",
        "p99 /noop",
        "jobs/s /noop",
        "beyond model us/row",
        "jobs stored",
        "MongoDB calls/job",
        "CPU, % of a core",
    ]
    rows = []
    for name, f in done.items():
        errors = fmt(f["errors"]) + (f" ({f['held_202']} got 202)" if f.get("held_202") else "")
        flag = " *" if disturbed(f["cpu"]) else ""
        ratios = [f["vs_noop"]["p50"], f["vs_noop"]["p99"], f["vs_noop"]["jobs_per_s"]]
        extra = [
            f.get("beyond_model_us_per_row"),
            f.get("jobs_stored_after"),
            f.get("mongo_commands_per_job"),
            cpu_split(f["cpu"]),
        ]
        rows.append(
            [name + flag, f["p50_ms"], f["p99_ms"], f["jobs_per_s"], f["rows_per_s"], errors, *ratios, *extra]
        )
    return table(header, rows)


def disturbed(usage: dict) -> bool:
    """Something else on the machine took at least a tenth of a core meanwhile."""
    return usage["groups"].get("other", {}).get("cpu_pct", 0) >= DISTURBED_PCT


def disturbance(results: dict) -> list[str]:
    marked = [
        name for done in results["scenarios"].values() for name, f in done.items() if disturbed(f["cpu"])
    ]
    other = results["usage"]["groups"].get("other", {}).get("cpu_pct", 0.0)
    note = (
        f"Processes that are not the bench's used {other:.0f}% of one core over the run. "
        f"{len(marked)} scenarios (marked *) had them take {DISTURBED_PCT}% or more: their figures "
        "are disturbed."
    )
    return [note, ""] if marked or other >= DISTURBED_PCT else []


def micro_batching(done: dict) -> list[str]:
    on, off = done.get("on", {}), done.get("off", {})
    shared = [name for name in on if name in off]
    if not shared:
        return []
    rows = [
        [
            name,
            on[name]["jobs_per_s"],
            off[name]["jobs_per_s"],
            ratio(on[name]["jobs_per_s"], off[name]["jobs_per_s"]),
            on[name]["p99_ms"],
            off[name]["p99_ms"],
            ratio(on[name]["p99_ms"], off[name]["p99_ms"]),
        ]
        for name in shared
    ]
    header = ["scenario", "jobs/s on", "jobs/s off", "on/off", "p99 ms on", "p99 ms off", "on/off"]
    return ["### Micro-batching on against off", "", *table(header, rows)]


def targets_table(rows: list[dict]) -> list[str]:
    def quantity(value, unit):
        return value if isinstance(value, str) else f"{fmt(value)} {unit}".strip()

    return table(
        ["target", "measured", "limit", "ratio", "met"],
        [
            [
                t["target"],
                quantity(t["measured"], t["unit"]),
                quantity(t["limit"], t["unit"]),
                t["ratio"],
                {True: "met", False: "MISSED", None: "-"}[t["met"]],
            ]
            for t in rows
        ],
    )
