"""Slow consumers: 100 webhook receivers that never answer (they accept nothing, so every
delivery to them waits for WEBHOOK_TIMEOUT_S). Deliveries to healthy receivers, submitted
among theirs, are not delayed past their normal time: the same jobs' delivery delays
measured first with no silent receiver at all."""

import socket
import statistics
import time
from datetime import datetime

import psutil
import pytest

from tests.chaos.faults import MODEL, TABLE, Row, platform_fixture

pytestmark = pytest.mark.chaos

SILENT = 100
HEALTHY = 60

platform = platform_fixture(workers=2)


def _delays(platform, job_ids: list[str]) -> list[float]:
    """Seconds from each job's end (as the API reports it) to its webhook's arrival."""
    delays = []
    for job_id in job_ids:
        job = platform.call("GET", f"/api/v1/predictions/{job_id}/").json
        ended = datetime.fromisoformat(job["completed_at"].replace("Z", "+00:00")).timestamp()
        delays.append(platform.receiver.heard[job_id] - ended)
    return delays


def _submit_hooked(platform, url: str) -> str:
    body = {"model": MODEL, "input": platform.row, "webhook": url, "webhook_events_filter": ["completed"]}
    answer = platform.call("POST", "/api/v1/predictions/", body)
    assert answer.status == 202, answer.json
    platform.accepted.append(answer.json["id"])
    return answer.json["id"]


def _healthy_round(platform, row: Row, silent_urls: list[str]) -> list[float]:
    """HEALTHY jobs calling the test's receiver, each after its share of the silent ones."""
    healthy = []
    per_healthy = len(silent_urls) // HEALTHY + 1
    urls = iter(silent_urls)
    for _ in range(HEALTHY):
        for url in [next(urls, None) for _ in range(per_healthy)]:
            if url is not None:
                _submit_hooked(platform, url)
        healthy.append(_submit_hooked(platform, platform.receiver.url))
    platform.hooked.extend(healthy)
    platform.settle(row, since=time.monotonic(), deadline_s=120)
    return _delays(platform, healthy)


def _summary(delays: list[float]) -> str:
    ordered = sorted(delays)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"median {statistics.median(ordered):.2f} s, p95 {p95:.2f} s, max {ordered[-1]:.2f} s"


def test_a_hundred_receivers_that_never_answer_do_not_delay_the_others(platform):
    baseline = _healthy_round(platform, Row("baseline"), [])

    listeners = [socket.create_server(("127.0.0.1", 0), backlog=8) for _ in range(SILENT)]
    try:
        silent_urls = [f"http://127.0.0.1:{each.getsockname()[1]}/hook" for each in listeners]
        row = Row(f"{SILENT} webhook receivers that never answer, {HEALTHY} healthy")
        platform.accepted.clear()
        loaded = _healthy_round(platform, row, silent_urls)
    finally:
        for each in listeners:
            each.close()
    TABLE.append(row)
    notifier = psutil.Process(platform.stack.procs["notifier"].pid)
    print(
        f"\nhealthy webhook delays, alone: {_summary(baseline)}; among {SILENT} silent: {_summary(loaded)};"
        f" notifier: {notifier.num_threads()} threads, {notifier.memory_info().rss / 2**20:.0f} MiB resident"
    )
    row.assert_promise_kept()
    assert row.succeeded == row.submitted == SILENT + HEALTHY, row
    # Not delayed past their normal time: within a second of the slowest seen alone (a
    # delivery waiting for a silent one would wait WEBHOOK_TIMEOUT_S, 10 s).
    assert max(loaded) < max(baseline) + 1.0, (_summary(baseline), _summary(loaded))
