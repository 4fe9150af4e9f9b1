"""Markdown tables of a run's figures: the parts that are not scenarios."""

GROUPS = [
    "web",
    "predict",
    "train",
    "mongo",
    "redis",
    "clients",
    "noop",
    "peer-web",
    "peer-worker",
    "bench",
    "other",
]
NOTES = {
    "other": "not the bench's: anything else running on the machine",
    "peer-web": "the tutorial app's gunicorn (bench/peer/)",
    "peer-worker": "the tutorial app's Celery worker",
}


def fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def cpu_split(usage: dict) -> str:
    """Percent of one core per group, busiest first: where the two cores went."""
    groups = usage["groups"]
    busy = sorted((g for g in groups if groups[g]["cpu_pct"] >= 1), key=lambda g: -groups[g]["cpu_pct"])
    return " ".join(f"{g} {groups[g]['cpu_pct']:.0f}" for g in busy)


def limits(limits: dict) -> list[str]:
    if not limits:
        return ["Not measured in this run (only scenarios that do not need them were chosen).", ""]
    rt, tp = limits["noop"]["roundtrip"], limits["noop"]["throughput"]
    rows = [
        ["Celery no-op round trip, 1 client", rt["p50_ms"], rt["p99_ms"], "-", f"n={rt['n']}"],
        [
            "Celery no-op throughput",
            "-",
            "-",
            f"{fmt(tp['tasks_per_s'])} tasks/s",
            f"{tp['tasks']:,} tasks, sent at {fmt(tp['sent_per_s'])}/s; CPU {cpu_split(tp['cpu'])}",
        ],
    ]
    mongo = limits.get("mongo")
    if mongo:
        for op in ("insert_one", "find_one", "update_one"):
            rows.append(
                [
                    f"MongoDB {op} by _id (job document)",
                    mongo[op]["p50_ms"],
                    mongo[op]["p99_ms"],
                    "-",
                    f"n={mongo[op]['n']}",
                ]
            )
        rows.append(
            [
                "MongoDB insert_many",
                "-",
                "-",
                f"{fmt(mongo['insert_many_docs_per_s'])} docs/s",
                f"chunks of {mongo['insert_many_chunk']:,}",
            ]
        )
        cpu = mongo.get("cpu_ms", {})
        rows.append(
            [
                "MongoDB floor per job",
                mongo["job_floor_ms"],
                "-",
                "-",
                "p50s: insert + find_one + 2 x update_one; SecantusDB CPU "
                + ", ".join(f"{op} {ms} ms" for op, ms in cpu.items()),
            ]
        )
    floor = limits.get("web_floor")
    if floor:
        one, many = floor["c1"], floor["c16"]
        rows.append(
            [
                "web floor: authenticated DRF POST, 1 client",
                one["p50_ms"],
                one["p99_ms"],
                f"{fmt(one['requests_per_s'])} req/s",
                "bench/web_urls.py",
            ]
        )
        rows.append(
            [
                "web floor, 16 clients",
                many["p50_ms"],
                many["p99_ms"],
                f"{fmt(many['requests_per_s'])} req/s",
                f"web CPU {many['web_cpu_ms_per_request']} ms a request; CPU {cpu_split(many['cpu'])}",
            ]
        )
    out = table(["limit", "p50 ms", "p99 ms", "rate", "note"], rows)
    model = limits["model"]["models"]
    sizes = list(next(iter(model.values())))
    kinds = (
        ("the model (predict_proba or predict)", "model_s"),
        ("the worker's predict_rows", "predict_rows_s"),
    )
    rows = [
        [f"{name}: {label}", *[per[n][key] * 1000 for n in sizes]]
        for name, per in model.items()
        for label, key in kinds
    ]
    return out + table(["model in process, ms", *[f"{n} rows" for n in sizes]], rows)


def memory(results: dict) -> list[str]:
    memory = results.get("memory")
    if not memory:
        return []
    rows = [
        ["predict worker, main process: RSS now / peak", memory["main"]["rss_mb"], memory["main"]["peak_mb"]]
    ]
    for index, (before, after) in enumerate(zip(memory["pool_before"], memory["pool_after"], strict=False)):
        rows.append(
            [f"pool process {index + 1}: RSS started / every model loaded", before["rss_mb"], after["rss_mb"]]
        )
    for index, entry in enumerate(memory.get("pool_after_scenarios", [])):
        rows.append(
            [f"pool process {index + 1} after the scenarios: RSS / peak", entry["rss_mb"], entry["peak_mb"]]
        )
    model = results["limits"]["model"]
    rows.append(
        [
            "one process (bench.inprocess): Django / + every model",
            model["rss_mb_django"],
            model["rss_mb_all_models"],
        ]
    )
    return ["### Memory, MB", "", *table(["process", "", ""], rows)]


def history(results: dict) -> list[str]:
    past = results.get("history")
    if not past:
        return []
    rows = []
    for size, entry in past.items():
        if not size.isdigit():
            continue
        for page in ("list", "filtered"):
            rows.append(
                [
                    f"{int(size):,} jobs: {page}",
                    entry[page]["p50_ms"],
                    entry[page]["p99_ms"],
                    entry[page]["n"],
                    "",
                ]
            )
        csv = entry["csv"]
        cut = "" if csv["complete"] else "; cut at the cap"
        note = (
            f"{csv['rows_read']:,} rows at {fmt(csv['rows_per_s'])}/s, first row after "
            f"{fmt(csv['first_row_p50_ms'])} ms{cut}"
        )
        rows.append([f"{int(size):,} jobs: CSV export", csv["p50_ms"], csv["p99_ms"], csv["n"], note])
    title = (
        f"### History at scale (1 client; MongoDB indexes on prediction_jobs: "
        f"{', '.join(past.get('indexes', [])) or '-'})"
    )
    return [title, "", *table(["request", "p50 ms", "p99 ms", "n", "note"], rows)]


def usage(results: dict) -> list[str]:
    run = results["usage"]
    groups = run["groups"]
    keys = ("cpu_s", "cpu_pct", "processes", "peak_rss_mb", "peak_rss_max_mb")
    rows = [[g, *[groups[g].get(key) for key in keys], NOTES.get(g, "")] for g in GROUPS if g in groups]
    header = ["group", "CPU s", "% of one core", "processes", "peak RSS MB, sum", "largest process MB", ""]
    return [
        f"### Whole run: CPU and peak RSS per process group ({run['wall_s']:.0f} s)",
        "",
        *table(header, rows),
    ]


def spread(spread: dict | None) -> list[str]:
    if not spread:
        return ["Spread: no earlier run of the same kind in bench/results.json to compare with.", ""]
    rows = [
        [metric, spread[metric]["median_pct"], spread[metric]["max_pct"], spread[metric]["max_at"]]
        for metric in ("p50_ms", "p99_ms", "jobs_per_s")
        if metric in spread
    ]
    rows += [
        [label, spread[label], "", ""]
        for label in ("noop round trip p50", "noop tasks/s", "mongo insert_one p50")
        if label in spread
    ]
    title = f"### Spread against the previous run ({spread['previous_run']}, {spread['previous_commit']})"
    return [title, "", *table(["figure", "median % difference", "largest %", "where"], rows)]


def many_models(results: dict) -> list[str]:
    found = results.get("many_models")
    if not found:
        return []
    sizes = found["sizes"]
    forests = [entry for entry in sizes.values() if entry["estimator"] == "random_forest"]
    intro = (
        f"{found['models']} models ({found['models'] - len(forests)} logistic regression or ridge, "
        f"{len(forests)} random forests of 100 and 200 trees) on five datasets of "
        f"{found['rows_per_dataset']:,} rows, defined and trained in two processes at once in "
        f"{fmt(found['setup_s'])} s: {fmt(found['models_mb_total'])} MB loaded (the cache's own "
        f"measure; largest {fmt(found['largest_model_mb'])} MB), against MODEL_CACHE_MB="
        f"{found['cache_mb']} in each pool process. {found['clients']} clients, one-row `Prefer: wait` "
        "requests through the web, each request once, micro-batching on; `warm`: the linear models only "
        "(the baseline), "
        f"`uniform`: any of the {found['models']}, `zipf`: weight 1/rank{_zipf(found)}. Hits and misses: "
        "the cache's counters from the worker's METRICS_PORT exporter (one get per task; a "
        "micro-batch is one task). RSS: each pool process's at the end of the window, and its peak "
        "in it."
    )
    rows = []
    for pattern in ("warm", "uniform", "zipf"):
        f = found[pattern]
        pool = "; ".join(f"{fmt(p['rss_mb'])} / {fmt(p['peak_mb'])}" for p in f["pool"])
        rows.append(
            [
                pattern,
                f["n"],
                f["wall_s"],
                f["p50_ms"],
                f["p99_ms"],
                f["jobs_per_s"],
                f["errors"],
                _percent(f.get("forest_share", 0.0)),
                f["hits"] + f["misses"],
                _percent(f["hit_rate"]),
                f["evictions"],
                f["cache_mb_after"],
                pool,
                f["main"]["rss_mb"],
                cpu_split(f["cpu"]),
            ]
        )
    header = [
        "pattern",
        "requests",
        "s",
        "p50 ms",
        "p99 ms",
        "jobs/s",
        "errors",
        "forests' share",
        "cache gets",
        "hit rate",
        "evictions",
        "cache MB, all pool",
        "pool RSS MB now / peak",
        "main RSS MB",
        "CPU, % of a core",
    ]
    out = [f"### Many models in rotation (MODEL_CACHE_MB={found['cache_mb']})", "", intro, ""]
    out += table(header, rows)
    loads = []
    for estimator in sorted({entry["estimator"] for entry in sizes.values()}):
        same = [entry for entry in sizes.values() if entry["estimator"] == estimator]

        def middle(key, same=same):
            ordered = sorted(entry[key] for entry in same)
            return ordered[len(ordered) // 2]

        loads.append(
            [
                estimator,
                len(same),
                f"{middle('nbytes') / 2**20:.2f} / {max(e['nbytes'] for e in same) / 2**20:.2f}",
                f"{max(e['artifact_bytes'] for e in same) / 2**20:.2f}",
                f"{fmt(middle('cold_ms'))} / {fmt(max(e['cold_ms'] for e in same))}",
                round(1000 * middle("warm_ms")),
                middle("estimate_ms"),
                middle("gridfs_fetch_ms"),
                middle("predict_row_ms"),
            ]
        )
    header = [
        "estimator",
        "models",
        "size MB, median / max",
        "artifact MB, max",
        "cold get ms, median / max",
        "warm get us",
        "of the cold: sizing ms",
        "GridFS fetch ms",
        "predict_rows, 1 row, ms",
    ]
    out += [
        "Cold load, in one process (bench/many_inprocess.py): pipeline_get on a miss (signature, this "
        "host's artifact copy read and hashed, unpickled, sized) and on a hit; a host without the copy "
        "fetches it from GridFS first (that column).",
        "",
        *table(header, loads),
    ]
    return out


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"


def _zipf(found: dict) -> str:
    return "" if found["zipf_s"] == 1 else f"^{found['zipf_s']}"


def auto_fit(results: dict) -> list[str]:
    found = results.get("auto_fit")
    if not found:
        return []
    up = found["upload"]
    before = {entry["pid"]: entry["rss_mb"] for entry in up["web_before"]}
    web = "; ".join(
        f"{fmt(before.get(entry['pid']))} -> {fmt(entry['rss_mb'])} (peak {fmt(entry['peak_mb'])})"
        for entry in up["web_after"]
    )
    types = ", ".join(f"{count} {kind}" for kind, count in up["types"].items())
    intro = [
        f"### Auto training: {found['rows']:,} rows x {found['columns']} columns (estimator auto)",
        "",
        f"CSV of {fmt(found['csv_mb'], 2)} MB ({types} columns as profiled), uploaded through the web API "
        f"(multipart) in {fmt(up['seconds'], 2)} s ({fmt(up['mb_per_s'])} MB/s); gunicorn workers' RSS, MB, "
        f"before -> after (peak during the upload): {web}. The model: created (202) and trained by the "
        f"Procfile's training worker in {fmt(found['wall_s'], 2)} s, created -> succeeded "
        f"({fmt(found['duration_s'], 2)} s started -> succeeded); {found['training_rows']:,} training rows; "
        f"chose {found['estimator']}, held out {found['metrics']}; "
        f"artifact {fmt(found['artifact_mb'], 2)} MB. "
        f"Training worker: pool process peak RSS (VmHWM) {fmt(found['pool_peak_mb'])} MB, main process "
        f"{fmt(found['main']['rss_mb'])} MB. CPU over the run, % of a core: {cpu_split(found['cpu'])}.",
        "",
    ]
    peaks = found["rss_by_stage"]
    stages = [[s["stage"], s["s"], peaks.get(s["stage"])] for s in found["stages"]]
    out = intro + table(["stage", "s", "pool RSS MB, highest sampled"], stages)
    board = [
        [
            e["estimator"],
            f"{e['metric']} {e['cv_score']}",
            str(e["cv_std"]),
            e["fit_s"],
            e["predict_us_per_row"],
            e["cv_rows"],
            "chosen" if e.get("chosen") else "",
        ]
        for e in found["leaderboard"]
    ]
    header = ["candidate", "cv score", "cv std", "fit s (a fold)", "predict us/row", "cv rows", ""]
    return [*out, "Leaderboard (3-fold cross-validation, best first):", "", *table(header, board)]


def peer(results: dict) -> list[str]:
    """The tutorial app (bench/peer/) beside the platform's one-row `Prefer: wait`, same run."""
    found = results.get("peer")
    if not found:
        return []
    config = found["config"]
    modes = (
        ("platform", "platform (Prefer: wait)"),
        ("tuned", "tuned peer"),
        ("as_written", "peer as written"),
    )
    header = ["clients"]
    for _, label in modes:
        header += [f"{label} finished/s", "p50 ms", "p99 ms"]
    rows = []
    for count in (1, 16, 64):
        row = [count]
        for mode, _ in modes:
            f = found.get(mode, {}).get(f"c{count}")
            row += [f["jobs_per_s"], f["p50_ms"], f["p99_ms"]] if f else ["-", "-", "-"]
        rows.append(row)
    intro = (
        "One DRF view (simplejwt JWT) validating the breast_cancer row's 30 features, then "
        "`predict_task.delay(row).get(timeout=30)`, results through Celery's MongoDB result backend "
        f"({config['result_backend'].split('?')[0]}, the run's SecantusDB), broker a Redis database of "
        f"its own on the run's redis-server; {config['web']}; {config['worker']}; the task's "
        "StandardScaler + LogisticRegression pipeline trained once per worker process. As written: "
        "Celery's default `get()` (it looks for the result every 0.5 s); tuned: `get(interval=0.01)`. "
        "The same load generator and rows as the platform's `breast_cancer/wait-1` scenarios "
        "(micro-batching on) of this run, the platform's stack idle meanwhile. Finished/s: the "
        "scenario tables' jobs/s, requests sent and answered inside the window, for all three; it "
        "leaves out about latency / window of them, a lot when answers take seconds (as written). "
        "Answered/s, below: the requests sent in the window, each answered, over the window "
        "(bench/peer_run.py)."
    )
    detail = [
        [
            f"{label} c{count}",
            f["n"],
            f["errors"],
            f["answered_per_s"],
            f["p90_ms"],
            f["max_ms"],
            cpu_split(f["cpu"]),
        ]
        for mode, label in modes
        for count in (1, 16, 64)
        if (f := found.get(mode, {}).get(f"c{count}"))
    ]
    return [
        "### The tutorial app as a peer (breast_cancer, one row a request)",
        "",
        intro,
        "",
        *table(header, rows),
        *table(
            ["scenario", "answers", "errors", "answered/s", "p90 ms", "max ms", "CPU, % of a core"], detail
        ),
    ]


def batch_file(results: dict) -> list[str]:
    found = results.get("batch_file")
    if not found:
        return []
    limit = found["limit"]
    web = ", ".join(fmt(entry["peak_mb"]) for entry in found["web_pids"])
    batcher = ", ".join(fmt(entry["peak_mb"]) for entry in found["batcher_pids"])
    alone, during = found["one_row_alone"], found["one_row_during"]
    platform = (
        f"POST /api/v1/batches/ (multipart, streamed from disk), {found['chunks']} chunks scored by the "
        f"Procfile's batcher, the results downloaded to disk: upload {fmt(found['upload_s'], 2)} s, "
        f"created -> succeeded {fmt(found['score_s'], 2)} s, download {fmt(found['download_s'], 2)} s; "
        f"end to end {fmt(found['end_to_end_s'], 2)} s, **{found['rows_per_s']:,} rows/s**."
    )
    steps = ", ".join(f"{step} {fmt(limit[step + '_s'], 2)}" for step in ("read", "predict", "write"))
    alone_line = (
        "The limit, one process reading the same file with pandas, predicting with the same pipeline "
        f"and writing the same CSV (bench/batch_limit.py): {fmt(limit['total_s'], 2)} s ({steps}), "
        f"{limit['rows_per_s']:,} rows/s, peak RSS {fmt(limit['peak_rss_mb'])} MB: "
        f"**{fmt(found['ratio_to_limit'], 2)}x the limit**."
    )
    loaded = found.get("with_one_row_jobs")
    peaks = [entry["peak_mb"] for key in ("web_pids", "batcher_pids") for entry in found[key]]
    if loaded:
        peaks += [entry["peak_mb"] for key in ("web_pids", "batcher_pids") for entry in loaded[key]]
    memory = (
        f"Peak RSS during the batch, MB: web processes {web}; batcher processes {batcher} "
        f"(the largest of either, in both runs: {fmt(max(peaks))} MB). "
        f"CPU, % of a core: {cpu_split(found['cpu'])}."
    )
    again = (
        f"Again with one-row jobs beside it (below): upload {fmt(loaded['upload_s'], 2)} s, scoring "
        f"{fmt(loaded['score_s'], 2)} s, end to end {fmt(loaded['end_to_end_s'], 2)} s, "
        f"{loaded['rows_per_s']:,} rows/s."
        if loaded
        else ""
    )
    return [
        f"### A batch file: {found['rows']:,} rows of breast_cancer ({fmt(found['csv_mb'])} MB)",
        "",
        f"{platform} {alone_line} {memory} {again}".rstrip(),
        "",
        *table(
            ["one-row `Prefer: wait`, 1 client", "p50 ms", "p99 ms", "jobs/s"],
            [
                ["alone", alone.get("p50_ms"), alone.get("p99_ms"), alone.get("jobs_per_s")],
                [
                    "during the batch"
                    + ("" if during.get("batch_running_at_its_end") else " (it ended first)"),
                    during.get("p50_ms"),
                    during.get("p99_ms"),
                    during.get("jobs_per_s"),
                ],
            ],
        ),
    ]
