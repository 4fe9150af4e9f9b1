"""Markdown tables of a run's figures: the parts that are not scenarios."""

GROUPS = ["web", "predict", "mongo", "redis", "clients", "noop", "bench", "other"]
NOTES = {"other": "not the bench's: anything else running on the machine"}


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
