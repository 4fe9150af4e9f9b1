"""The issue's targets, judged on the default configuration (micro-batching on), and the
spread between this run and the previous one."""

from .scenarios import BATCH_ROWS, MODELS
from .stats import ratio


def _row(target, measured, limit, ratio, met, unit="") -> dict:
    return {
        "target": target,
        "measured": measured,
        "limit": limit,
        "ratio": ratio,
        "unit": unit,
        "met": None if met is None else bool(met),
    }


def _bounded(target, measured, base, factor, unit, *, at_least: bool) -> dict:
    """`measured` against `factor` times `base`: the ratio shown is measured / base."""
    r = ratio(measured, base)
    met = r is not None and (r >= factor if at_least else r <= factor)
    limit = round(factor * base, 2) if base is not None else None
    return _row(target, measured, limit, r, met, unit)


def _at_most(target, measured, base, factor, unit) -> dict:
    return _bounded(target, measured, base, factor, unit, at_least=False)


def _at_least(target, measured, base, factor, unit) -> dict:
    return _bounded(target, measured, base, factor, unit, at_least=True)


def floors(results: dict) -> dict:
    """What the parts alone allow, from limits measured in the same run.

    latency_ms: one one-row job, one client, can be no faster than the parts it must pass
    through one after the other: the Celery no-op round trip, an authenticated DRF request
    (the web floor), MongoDB's insert + find + 2 updates, and the model on one row.
    jobs_per_s: every one-row job costs at least the CPU of those parts (the web floor's
    request, the no-op task's sender, worker and Redis, MongoDB's four calls, the model);
    the machine's cores can do no more jobs a second than they have CPU time for.
    """
    limits = results["limits"]
    floor, mongo = limits.get("web_floor"), limits.get("mongo")
    model = limits.get("model", {}).get("models", {})
    if not floor or not mongo or not model:
        return {}
    model_ms = max(sizes["1"]["model_s"] for sizes in model.values()) * 1000
    noop = limits["noop"]
    latency_ms = noop["roundtrip"]["p50_ms"] + floor["c1"]["p50_ms"] + mongo["job_floor_ms"] + model_ms
    tp = noop["throughput"]
    groups = tp["cpu"]["groups"]
    noop_cpu_s = sum(groups.get(g, {}).get("cpu_s", 0.0) for g in ("noop", "redis", "clients"))
    noop_cpu_ms = 1000 * noop_cpu_s / tp["tasks"]
    per_job_ms = floor["c16"]["web_cpu_ms_per_request"] + noop_cpu_ms + mongo["job_floor_cpu_ms"] + model_ms
    cores = results["machine"]["cores"]
    # Micro-batching can spare a job the worker's share of it at most (its task still runs, to
    # find the job done): web and MongoDB stay. What the rest allows, over what all allows.
    rest_ms = floor["c16"]["web_cpu_ms_per_request"] + mongo["job_floor_cpu_ms"]
    return {
        "batching_gain_max": round(per_job_ms / rest_ms, 2),
        "latency_ms": round(latency_ms, 2),
        "cpu_ms_per_job": {
            "web_floor": floor["c16"]["web_cpu_ms_per_request"],
            "noop_task": round(noop_cpu_ms, 3),
            "mongo": mongo["job_floor_cpu_ms"],
            "model": round(model_ms, 3),
            "total": round(per_job_ms, 3),
        },
        "jobs_per_s": round(cores * 1000 / per_job_ms, 1),
        "cores": cores,
    }


def floor_rows(results: dict) -> list[dict]:
    """The floors beside the targets they bound: where a target lies below its floor, no
    design of the platform can meet it on this machine."""
    found = results.get("floors") or {}
    if not found:
        return []
    noop = results["limits"]["noop"]
    rows = [
        _row(
            "floor: one-row job latency, 1 client (no-op round trip + web floor + MongoDB floor + model)",
            found["latency_ms"],
            round(4 * noop["roundtrip"]["p50_ms"], 2),
            ratio(found["latency_ms"], noop["roundtrip"]["p50_ms"]),
            None,
            "ms",
        ),
        _row(
            f"floor: one-row jobs/s the parts' CPU allows on {found['cores']} cores "
            f"({found['cpu_ms_per_job']['total']} ms a job)",
            found["jobs_per_s"],
            round(0.5 * noop["throughput"]["tasks_per_s"], 1),
            ratio(found["jobs_per_s"], noop["throughput"]["tasks_per_s"]),
            None,
            "/s",
        ),
    ]
    rows.append(
        _row(
            "floor: the most micro-batching can gain at the parts' cost (web floor and MongoDB stay, "
            "the worker's share goes)",
            found["batching_gain_max"],
            3,
            None,
            None,
            "x",
        )
    )
    for model in MODELS:
        if ceiling := batching_ceiling(results, model):
            rows.append(
                _row(
                    f"floor: {model} micro-batching at 64 clients can gain at most this much, with the "
                    f"predict worker free ({ceiling['outside_cpu_ms_per_job']} ms of CPU a job elsewhere)",
                    ceiling["jobs_per_s"],
                    round(3 * ceiling["off_jobs_per_s"], 1),
                    ceiling["ratio_to_off"],
                    None,
                    "/s",
                )
            )
    return rows


def batching_ceiling(results: dict, model: str) -> dict | None:
    """Micro-batching saves the predict worker's time, nothing else: with one-task-per-job
    measured, the CPU every job costs outside the worker (web, MongoDB, Redis, clients)
    bounds what any batching can reach on this machine's cores."""
    off = results["scenarios"].get("off", {}).get(f"{model}/wait-1/c64")
    if not off or not off["jobs_per_s"]:
        return None
    groups = off["cpu"]["groups"]
    jobs = off["jobs_per_s"] * off["cpu"]["wall_s"]
    outside_s = sum(groups[g]["cpu_s"] for g in groups if g not in ("predict", "other", "bench"))
    per_job_ms = 1000 * outside_s / jobs
    jobs_per_s = results["machine"]["cores"] * 1000 / per_job_ms
    return {
        "outside_cpu_ms_per_job": round(per_job_ms, 2),
        "jobs_per_s": round(jobs_per_s, 1),
        "off_jobs_per_s": off["jobs_per_s"],
        "ratio_to_off": ratio(jobs_per_s, off["jobs_per_s"]),
    }


def _flat(model: str, sizes: dict) -> dict:
    """Per-row cost beyond the model, flat within 2x from 10 to 1,000 rows. A size whose
    cost the run could not tell from zero (its 95% interval reaches below it: a 10-row
    batch adds well under a millisecond to jitter of a few) is shown with its interval and
    judged only by it: its cost cannot be over twice the largest resolved one."""
    resolved = {n: f["beyond_model_us_per_row"] for n, f in sizes.items() if f.get("beyond_model_resolved")}
    shown = []
    for n, f in sizes.items():
        low, high = f["beyond_model_us_per_row_ci95"]
        value = f"{f['beyond_model_us_per_row']:g}"
        shown.append(
            f"{n}: {value}" if n in resolved else f"{n}: {value} (unresolved, 95% {low:g} to {high:g})"
        )
    if len(resolved) < 2:
        return _row(
            f"{model}: cost beyond the model per row flat within 2x, 10 to 1,000 rows",
            "; ".join(shown),
            "max/min <= 2",
            None,
            None,
            "us",
        )
    spread = round(max(resolved.values()) / min(resolved.values()), 2)
    ceiling = 2 * max(resolved.values())
    unresolved_fit = all(
        f["beyond_model_us_per_row_ci95"][1] <= ceiling for n, f in sizes.items() if n not in resolved
    )
    return _row(
        f"{model}: cost beyond the model per row flat within 2x, 10 to 1,000 rows",
        "; ".join(shown),
        "max/min <= 2",
        spread,
        spread <= 2 and unresolved_fit,
        "us",
    )


def targets(results: dict) -> list[dict]:
    rows = _matrix(results) if results["limits"].get("noop") else []
    return rows + many_models(results) + auto_fit(results) + peer(results)


def peer(results: dict) -> list[dict]:
    """The platform against the tutorial app tuned (bench/peer/, `get(interval=0.01)`), same run:
    at 16 and 64 clients at least its finished/s with a p99 no worse, at 1 client a p50 no
    worse. The ratio shown is the platform's figure over the peer's."""
    found = results.get("peer") or {}
    platform, tuned = found.get("platform", {}), found.get("tuned", {})
    rows = []
    if (ours := platform.get("c1")) and (theirs := tuned.get("c1")):
        rows.append(
            _at_most(
                "peer: breast_cancer one-row wait, 1 client, platform p50 <= the tuned tutorial app's",
                ours["p50_ms"],
                theirs["p50_ms"],
                1,
                "ms",
            )
        )
    for count in (16, 64):
        ours, theirs = platform.get(f"c{count}"), tuned.get(f"c{count}")
        if not ours or not theirs:
            continue
        rows.append(
            _at_least(
                f"peer: breast_cancer one-row wait, {count} clients, platform finished/s >= the tuned "
                "tutorial app's",
                ours["jobs_per_s"],
                theirs["jobs_per_s"],
                1,
                "/s",
            )
        )
        rows.append(
            _at_most(
                f"peer: breast_cancer one-row wait, {count} clients, platform p99 <= the tuned "
                "tutorial app's",
                ours["p99_ms"],
                theirs["p99_ms"],
                1,
                "ms",
            )
        )
    return rows


def many_models(results: dict) -> list[dict]:
    """A predict pool process, many models in rotation, holds no more than its cache's cap
    beyond what it holds warm with the small models alone; at its peak, no more than the cap
    plus the model being loaded (predictor/model_cache.py's own bound: room is made for a
    model before it loads, and unpickling holds it twice for a moment)."""
    found = results.get("many_models")
    if not found:
        return []
    cap = found["cache_mb"]
    baseline = {entry["pid"]: entry["rss_mb"] for entry in found["warm"]["pool"]}
    floor = min(baseline.values(), default=0.0)

    def growth(key: str) -> float:
        return max(
            entry[key] - baseline.get(entry["pid"], floor)
            for pattern in ("uniform", "zipf")
            for entry in found[pattern]["pool"]
        )

    what = f"{found['models']} models ({found['models_mb_total']:,.0f} MB loaded) in rotation"
    now, peak = round(growth("rss_mb"), 1), round(growth("peak_mb"), 1)
    peak_limit = round(cap + found["largest_model_mb"], 1)
    errors = sum(found[pattern]["errors"] for pattern in ("uniform", "zipf"))
    return [
        _row(
            f"many models: predict pool process RSS after {what}, above its RSS warm with the linear "
            f"models only, <= MODEL_CACHE_MB ({cap})",
            now,
            cap,
            ratio(now, cap),
            now <= cap,
            "MB",
        ),
        _row(
            f"many models: predict pool process peak RSS during the rotation, above the same, <= "
            f"MODEL_CACHE_MB + the largest model ({cap} + {found['largest_model_mb']})",
            peak,
            peak_limit,
            ratio(peak, peak_limit),
            peak <= peak_limit,
            "MB",
        ),
        _row(f"many models: {what}, no errors", errors, 0, None, errors == 0),
    ]


def auto_fit(results: dict) -> list[dict]:
    found = results.get("auto_fit")
    if not found:
        return []
    limit = found["soft_time_limit_s"]
    return [
        _at_most(
            f"auto fit: {found['rows']:,} rows x {found['columns']} columns, created -> succeeded "
            f"<= TRAINING_SOFT_TIME_LIMIT",
            found["wall_s"],
            limit,
            1,
            "s",
        )
    ]


def _matrix(results: dict) -> list[dict]:
    noop = results["limits"]["noop"]
    rt50, rt99 = noop["roundtrip"]["p50_ms"], noop["roundtrip"]["p99_ms"]
    noop_tps = noop["throughput"]["tasks_per_s"]
    on = results["scenarios"].get("on", {})
    off = results["scenarios"].get("off", {})
    rows = []
    for model in MODELS:
        if one := on.get(f"{model}/wait-1/c1"):
            rows.append(
                _at_most(
                    f"{model}: one-row wait, 1 client, p50 <= 4x no-op round trip p50",
                    one["p50_ms"],
                    rt50,
                    4,
                    "ms",
                )
            )
            rows.append(
                _at_most(
                    f"{model}: one-row wait, 1 client, p99 <= 6x no-op round trip p99",
                    one["p99_ms"],
                    rt99,
                    6,
                    "ms",
                )
            )
        if many := on.get(f"{model}/wait-1/c16"):
            rows.append(
                _at_least(
                    f"{model}: one-row wait, 16 clients, finished jobs/s >= 50% of no-op tasks/s",
                    many["jobs_per_s"],
                    noop_tps,
                    0.5,
                    "/s",
                )
            )
            rows.append(
                _at_most(f"{model}: one-row wait, 16 clients, p99 <= 100 ms", many["p99_ms"], 100, 1, "ms")
            )
            rows.append(
                _row(
                    f"{model}: one-row wait, 16 clients, no errors",
                    many["errors"],
                    0,
                    None,
                    many["errors"] == 0,
                )
            )
        key = f"{model}/wait-1/c64"
        if key in on and key in off:
            rows.append(
                _at_least(
                    f"{model}: micro-batching, 64 clients, finished jobs/s >= 3x without",
                    on[key]["jobs_per_s"],
                    off[key]["jobs_per_s"],
                    3,
                    "/s",
                )
            )
            rows.append(
                _at_most(
                    f"{model}: micro-batching, 64 clients, p99 no worse than without",
                    on[key]["p99_ms"],
                    off[key]["p99_ms"],
                    1,
                    "ms",
                )
            )
        per_row = {n: on.get(f"{model}/batch-{n}/c1", {}).get("beyond_model_us_per_row") for n in BATCH_ROWS}
        if per_row.get(1000) is not None:
            rows.append(
                _at_most(
                    f"{model}: batch of 1,000 rows, cost beyond the model <= 50 us/row",
                    per_row[1000],
                    50,
                    1,
                    "us",
                )
            )
        sizes = {n: on.get(f"{model}/batch-{n}/c1") for n in BATCH_ROWS}
        if all(f and f.get("beyond_model_us_per_row") is not None for f in sizes.values()):
            rows.append(_flat(model, sizes))
    memory = results.get("memory", {})
    pool = [entry["rss_mb"] for entry in memory.get("pool_after", [])]
    if pool:
        worst = max([*pool, memory["main"]["rss_mb"]])
        rows.append(
            _row(
                "predict worker RSS, largest process (main or pool), every model loaded, <= 250 MB",
                worst,
                250,
                ratio(worst, 250),
                worst <= 250,
                "MB",
            )
        )
    past = results.get("history", {})
    sizes = [key for key in past if key.isdigit()]
    if len(sizes) >= 2:
        small, large = past[min(sizes, key=int)]["filtered"], past[max(sizes, key=int)]["filtered"]
        r = ratio(large["p99_ms"], small["p99_ms"])
        rows.append(
            _row(
                f"history: filtered page p99 at {int(max(sizes, key=int)):,} jobs <= 1.5x at "
                f"{int(min(sizes, key=int)):,}",
                large["p99_ms"],
                round(1.5 * small["p99_ms"], 1),
                r,
                r is not None and r <= 1.5,
                "ms",
            )
        )
    return rows


def _relative(a, b):
    if a is None or b is None or a + b == 0:
        return None
    return abs(a - b) / ((a + b) / 2)


def spread(current: dict, previous: dict | None) -> dict | None:
    """Relative difference |a - b| / mean for each scenario figure the two runs share."""
    if not previous or previous.get("config", {}).get("quick") != current["config"]["quick"]:
        return None
    if not current["scenarios"] and not current["limits"]:
        return None  # a run of the other scenarios alone: nothing here to compare
    per_metric = {}
    for mode, now in current["scenarios"].items():
        before = previous.get("scenarios", {}).get(mode, {})
        for name, figures in now.items():
            for metric in ("p50_ms", "p99_ms", "jobs_per_s"):
                value = _relative(figures.get(metric), before.get(name, {}).get(metric))
                if value is not None:
                    per_metric.setdefault(metric, []).append((value, f"{mode} {name}"))
    summary = {
        "previous_run": previous.get("machine", {}).get("date_utc"),
        "previous_commit": previous.get("machine", {}).get("commit"),
    }
    for metric, values in per_metric.items():
        values.sort()
        summary[metric] = {
            "median_pct": round(100 * values[len(values) // 2][0], 1),
            "max_pct": round(100 * values[-1][0], 1),
            "max_at": values[-1][1],
            "scenarios": len(values),
        }
    limits_now, limits_before = current["limits"], previous.get("limits", {})
    pairs = {
        "noop round trip p50": ("noop", "roundtrip", "p50_ms"),
        "noop tasks/s": ("noop", "throughput", "tasks_per_s"),
        "mongo insert_one p50": ("mongo", "insert_one", "p50_ms"),
    }
    for label, (a, b, c) in pairs.items():
        value = _relative(limits_now.get(a, {}).get(b, {}).get(c), limits_before.get(a, {}).get(b, {}).get(c))
        summary[label] = None if value is None else round(100 * value, 1)
    return summary
