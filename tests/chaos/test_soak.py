"""Soak: 20,000 jobs over ten minutes (the mix of tests/chaos/faults.py: one-row, batches,
`Prefer: wait`, `Cancel-After`, webhooks), with a predict worker killed (SIGKILL, the whole
worker with its pool, as `docker kill` does) every 30 s and a new one started in its place.
Every accepted job ends, none runs twice, every webhook is heard, and the memory of the
processes that live through it stays flat.

`make soak` runs it (it lasts ten minutes by definition, so it is not part of `make chaos`);
SOAK_SECONDS and SOAK_JOBS make it shorter for a try.
"""

import os
import random
import signal
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pymongo
import pytest

from tests.chaos.faults import TABLE, Row, platform_fixture
from tests.processes import process_tree, signal_all

pytestmark = pytest.mark.soak

SOAK_S = float(os.environ.get("SOAK_SECONDS", 600))
JOBS = int(os.environ.get("SOAK_JOBS", 20_000))
KILL_EVERY_S = 30
SAMPLE_EVERY_S = SOAK_S / 60  # sixty samples, however long the run
# Processes that live through the whole run (the predict workers are killed in turn).
STEADY = ("web", "notifier", "beat0", "redis", "mongo")

platform = platform_fixture(
    workers=3,
    # One user submits all of it: its rate limit is lifted (the default is 120 a minute).
    env={"THROTTLE_SUBMIT": "1000000/minute"},
)


def _rss_mib(proc: psutil.Process) -> float:
    total = 0
    for each in [proc, *proc.children(recursive=True)]:
        try:
            total += each.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


class Killer(threading.Thread):
    """Every KILL_EVERY_S: SIGKILL one predict worker (main process and pool), start another."""

    def __init__(self, platform, stop: threading.Event):
        super().__init__(daemon=True)
        self.platform, self.stop, self.kills, self.errors = platform, stop, 0, []

    def run(self):
        stack = self.platform.stack
        # On a fixed beat (every KILL_EVERY_S from the start), however long a new worker takes
        # to start.
        next_kill = time.monotonic() + KILL_EVERY_S
        while not self.stop.wait(max(0.0, next_kill - time.monotonic())):
            next_kill += KILL_EVERY_S
            try:
                name = random.choice([name for name in stack.procs if name.startswith("predict")])
                proc = stack.procs.pop(name)
                stack.meter.retire(name)
                signal_all(process_tree(proc.pid), signal.SIGKILL)
                proc.wait()
                self.kills += 1
                stack.worker(f"predict-k{self.kills}", app="tests.chaos.ledger_app")
            except Exception as exc:  # reported by the test, not swallowed
                self.errors.append(repr(exc))


class Sampler(threading.Thread):
    """The resident memory of each steady process (with its children), every SAMPLE_EVERY_S."""

    def __init__(self, platform, stop: threading.Event):
        super().__init__(daemon=True)
        self.platform, self.stop = platform, stop
        self.samples: dict[str, list[tuple[float, float]]] = {name: [] for name in STEADY}

    def run(self):
        started = time.monotonic()
        while True:
            for name in STEADY:
                proc = self.platform.stack.procs.get(name)
                if proc is not None:
                    rss = _rss_mib(psutil.Process(proc.pid))
                    self.samples[name].append((time.monotonic() - started, rss))
            if self.stop.wait(SAMPLE_EVERY_S):
                return

    def growth(self, name: str) -> tuple[float, float]:
        """Median RSS of the run's second fifth (warmed up) and of its last fifth."""
        points = self.samples[name]
        span = points[-1][0]
        early = [rss for t, rss in points if span * 0.2 <= t < span * 0.4]
        late = [rss for t, rss in points if t >= span * 0.8]
        return statistics.median(early), statistics.median(late)


def test_twenty_thousand_jobs_with_a_worker_killed_every_thirty_seconds(platform):
    stop = threading.Event()
    killer, sampler = Killer(platform, stop), Sampler(platform, stop)
    sampler.start()
    killer.start()
    started = time.monotonic()

    def paced(n: int):
        # Job n is due at its place in an even stream of JOBS over SOAK_S (the pacing of the
        # load, not a wait for a condition).
        delay = started + n * SOAK_S / JOBS - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return platform.submit(n)

    try:
        with ThreadPoolExecutor(24) as pool:
            list(pool.map(paced, range(JOBS)))
    finally:
        stop.set()
        killer.join()
        sampler.join()
    submitted_s = time.monotonic() - started

    # Until MongoDB (read directly) holds no unfinished job of the run, then every job is read
    # through the API once.
    with pymongo.MongoClient(platform.stack.mongo_uri) as client:
        jobs = client.get_default_database()["prediction_jobs"]
        deadline = time.monotonic() + 600
        while jobs.count_documents({"owner_id": platform.owner, "status": {"$in": ["queued", "running"]}}):
            if time.monotonic() > deadline:
                break
            time.sleep(1)
    row = Row(f"soak: {JOBS} jobs in {SOAK_S / 60:.0f} min, a worker killed every {KILL_EVERY_S} s")
    platform.settle(row, since=time.monotonic(), deadline_s=300)
    row.recovery_s = None  # no single fault to recover from
    TABLE.append(row)

    memory = {name: sampler.growth(name) for name in STEADY}
    print(
        f"\nsoak: {len(platform.accepted)} accepted in {submitted_s:.0f} s "
        f"({len(platform.accepted) / submitted_s:.1f}/s), {killer.kills} workers killed; RSS MiB "
        + ", ".join(f"{name} {early:.0f} -> {late:.0f}" for name, (early, late) in memory.items())
    )
    assert killer.errors == []
    assert killer.kills >= SOAK_S // KILL_EVERY_S - 1
    row.assert_promise_kept()
    assert row.submitted == JOBS, row
    assert row.succeeded == row.submitted, row
    # Flat: the web, the notifier and beat grow by less than a fifth from warmed up to the end.
    # (Redis and MongoDB hold the run's data, so theirs is reported, not judged.)
    for name in ("web", "notifier", "beat0"):
        early, late = memory[name]
        assert late < early * 1.2 + 10, (name, early, late)
