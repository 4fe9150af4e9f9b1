"""Percentiles and the summary of one scenario's records."""

import math


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): a value that was measured, never interpolated."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def latency(seconds: list[float]) -> dict:
    return {
        "n": len(seconds),
        "p50_ms": ms(pct(seconds, 50)),
        "p90_ms": ms(pct(seconds, 90)),
        "p99_ms": ms(pct(seconds, 99)),
        "max_ms": ms(max(seconds, default=None)),
    }


def summarize(records: dict, rows: int) -> dict:
    """Latency of the requests started in the window; throughput of those finished in it."""
    window = records["t_end"] - records["t0"]
    finished = sum(1 for end in records.get("end_t", []) if end <= records["t_end"])
    summary = {
        **latency(records.get("latency_s", [])),
        "jobs_per_s": round(finished / window, 1),
        "rows_per_s": round(finished * rows / window, 1),
        "errors": sum(records["errors"].values()),
        "error_kinds": records["errors"],
        "error_samples": records["error_samples"],
        "window_s": round(window, 2),
    }
    for key in ("held_202", "gets"):
        if records.get(key):
            summary[key] = records[key]
    if records.get("predict_s"):
        done = len(records["predict_s"])
        summary["server_queue_ms_mean"] = round(1000 * sum(records["queue_s"]) / done, 2)
        summary["server_predict_ms_mean"] = round(1000 * sum(records["predict_s"]) / done, 2)
        summary["gets_per_job"] = round(records.get("gets", 0) / done, 2)
    return summary


def ratio(value: float | None, limit: float | None) -> float | None:
    if value is None or not limit:
        return None
    return round(value / limit, 2)
