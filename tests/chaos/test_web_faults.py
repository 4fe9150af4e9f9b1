"""Faults around the web: gunicorn restarted under load as a deploy restarts it, and jobs
with a short Cancel-After whose deadline passes while Redis is down.

The restart: client threads submit the Platform.submit mix (tests/chaos/faults.py), poll
jobs and hold `Prefer: wait=60` requests the whole time, while (a) each gunicorn worker in
turn gets SIGTERM (the master starts a replacement; the next goes once it serves) and (b)
the master gets SIGHUP (a graceful reload of every worker). Every request is counted: an
answer other than the expected one, or a connection refused, reset or cut, is a failed
request. For each restart the predict workers' main processes are held (SIGSTOP: no job
starts) until the old gunicorn workers are gone, and the signal goes once those hold a long
wait: what a deploy meets when the workers are behind. Before the fix (graceful_timeout
5 s, waits held to their end: myproject/gunicorn_conf.py, api/waiting.py) such a worker
lingered about 36 s, its slot unreplaced, and then was killed with its waits unanswered.

The Cancel-After scenario: a backlog and then 20 jobs with `Cancel-After: 2` are queued
while the workers are frozen; once the workers run, Redis is stopped for 4 s. Each of the
20 must end canceled (or succeeded before its deadline), none may be lost, and by the
ledger no run of the model may have begun after its deadline."""

import contextlib
import http.client
import itertools
import random
import signal
import threading
import time
from collections import Counter
from datetime import datetime

import psutil
import pytest

from myproject.servers import wait_until
from tests.chaos.faults import MODEL, TABLE, Row, platform_fixture
from tests.chaos.ledger_app import ledger_read
from tests.processes import held

pytestmark = pytest.mark.chaos

SUBMITTERS, POLLERS, LONG_WAITERS = 4, 2, 6
# The longest a client may ask a request to be held (api/waiting.py's MAX_WAIT_S).
LONG_WAIT = "wait=60"
POLL_EVERY_S = 0.05  # each poller's pace, as a client polls (not a wait for a condition)
# A connection held this long, with the predict workers held, is a `Prefer: wait=60`.
LONG_HELD_S = 4.5


platform = platform_fixture(workers=2, hold_s=0.05)


class Load:
    """Client threads running until stopped; every request they make is counted."""

    def __init__(self, platform):
        self.platform = platform
        self.stopping = threading.Event()
        self.requests = Counter()  # what was asked and what came back, e.g. "submit 202"
        self.failures: list[str] = []
        self._numbers = itertools.count(1_000_000)
        # Long waits in flight now, and answered so far (whatever the answer). A waiter that
        # is answered sends the next at once: in flight dips below LONG_WAITERS for a moment
        # only, too short to be seen reliably; the count of answers only grows.
        self.long_in_flight = self.long_answered = 0
        self._lock = threading.Lock()
        self._threads = [
            *(threading.Thread(target=self._submit, name=f"submit{n}") for n in range(SUBMITTERS)),
            *(threading.Thread(target=self._poll, name=f"poll{n}") for n in range(POLLERS)),
            *(threading.Thread(target=self._wait_long, name=f"wait{n}") for n in range(LONG_WAITERS)),
        ]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout=120)
            assert not thread.is_alive(), f"{thread.name} is still waiting for an answer"

    @property
    def made(self) -> int:
        return sum(self.requests.values())

    def _count(self, what: str, request, expected=(200, 202)):
        try:
            answer = request()
        except AssertionError as error:  # Platform.submit: an answer it did not expect
            status = str(error)
        except (OSError, http.client.HTTPException) as error:  # refused, reset, cut short, timed out
            status = f"{type(error).__name__}: {error}"
        else:
            status = answer.status
        with self._lock:
            self.requests[f"{what} {status}"] += 1
            if status not in expected:
                self.failures.append(f"{time.strftime('%H:%M:%S')} {what}: {status}")
        return answer if status in expected else None

    def _submit(self):
        while not self.stopping.is_set():
            number = next(self._numbers)
            # The mix: one row, 10 rows, Prefer: wait=3, Cancel-After (a 503 would be a failure:
            # every dependency is up).
            self._count(f"submit({number % 4})", lambda number=number: self.platform.submit(number))

    def _poll(self):
        while not self.stopping.is_set():
            if not self.platform.accepted:
                time.sleep(0.05)  # nothing to poll yet
                continue
            job_id = random.choice(self.platform.accepted)
            self._count(
                "poll",
                lambda job_id=job_id: self.platform.call("GET", f"/api/v1/predictions/{job_id}/"),
                (200,),
            )
            time.sleep(POLL_EVERY_S)

    def _wait_long(self):
        body = {"model": MODEL, "input": self.platform.row}
        while not self.stopping.is_set():
            with self._lock:
                self.long_in_flight += 1
            answer = self._count(
                "submit(wait=60)",
                lambda: self.platform.call(
                    "POST", "/api/v1/predictions/", body, headers={"Prefer": LONG_WAIT}, timeout=120
                ),
            )
            with self._lock:
                self.long_in_flight -= 1
                self.long_answered += 1
            if answer is not None:
                with self.platform._lock:
                    self.platform.accepted.append(answer.json["id"])


def gunicorn_master(platform) -> psutil.Process:
    # bench/stack.py execs the Procfile's gunicorn: the "web" process is the master.
    return psutil.Process(platform.stack.procs["web"].pid)


def clients(process: psutil.Process, port: int) -> set:
    """The client addresses of the connections the process holds on the web port (accepted,
    being answered)."""
    try:
        found = process.net_connections("tcp")
    except psutil.NoSuchProcess:
        return set()
    return {
        each.raddr for each in found if each.status == psutil.CONN_ESTABLISHED and each.laddr.port == port
    }


class Held:
    """Which connections the gunicorn workers have held since when, from looking repeatedly."""

    def __init__(self, port: int):
        self.port, self.since = port, {}

    def long_waits(self, processes: list[psutil.Process]) -> int:
        """Connections held over LONG_HELD_S: `Prefer: wait=60` requests (every other request
        is answered sooner, a `Prefer: wait=3` included)."""
        now, seen = time.monotonic(), set()
        for process in processes:
            seen |= {(process.pid, client) for client in clients(process, self.port)}
        self.since = {key: self.since.get(key, now) for key in seen}
        return sum(1 for started in self.since.values() if now - started >= LONG_HELD_S)


def serving_workers(platform, *, old: set[int]) -> list[psutil.Process] | None:
    """The master's workers once there are as many as configured (2), none of them one of
    `old`, and each has taken a connection (it serves), else None."""
    workers = gunicorn_master(platform).children()
    fresh = [each for each in workers if each.pid not in old]
    if len(workers) == len(fresh) == 2 and all(clients(each, platform.stack.web_port) for each in fresh):
        return fresh
    return None


@contextlib.contextmanager
def predict_workers_held(platform):
    """Stop the predict workers' main processes (SIGSTOP) for the block: their pool processes
    finish what they run, and no job starts until the block ends."""
    mains = [
        psutil.Process(proc.pid) for name, proc in platform.stack.procs.items() if name.startswith("predict")
    ]
    with held(mains):
        yield


def restart(platform, load: Load, stopping: list[psutil.Process], send) -> None:
    """Hold the predict workers until the gunicorn workers in `stopping` hold a long wait,
    `send` the signal, let the predict workers go once those have exited, and return when
    their replacements serve. Where the long waits land is the kernel's choice: when none
    did, the predict workers go for a moment (the waits end, the clients send others) and
    it looks again."""
    held = Held(platform.stack.web_port)
    for _ in range(5):
        answered = load.long_answered
        with predict_workers_held(platform):
            wait_until(lambda: load.long_in_flight == LONG_WAITERS, timeout=30, what="long waits in flight")
            deadline = time.monotonic() + LONG_HELD_S + 5
            while not (waits := held.long_waits(stopping)) and time.monotonic() < deadline:
                time.sleep(0.2)  # looking again until the deadline
            if waits:
                started = time.monotonic()
                send()
                wait_until(
                    lambda: (
                        not any(
                            each.is_running() and each.status() != psutil.STATUS_ZOMBIE for each in stopping
                        )
                    ),
                    timeout=120,
                    what="the stopped gunicorn workers to exit",
                )
                exited = time.monotonic() - started
                print(f"  {waits} long waits held; the stopped workers exited in {exited:.1f} s")
                break
        wait_until(
            lambda answered=answered: load.long_answered > answered, timeout=30, what="a long wait answered"
        )
    else:
        raise AssertionError("no long wait landed on the workers to stop")
    wait_until(
        lambda: serving_workers(platform, old={each.pid for each in stopping}),
        timeout=120,
        what="the replacements to serve",
    )


def test_gunicorn_restarted_under_load_fails_no_request(platform):
    restarts = 0
    with Load(platform) as load:
        wait_until(lambda: load.made >= 50, timeout=60, what="load under way")
        # (a) A rolling restart: SIGTERM to each worker in turn; the master starts another.
        for worker in gunicorn_master(platform).children():
            restart(platform, load, [worker], lambda worker=worker: worker.send_signal(signal.SIGTERM))
            restarts += 1
        # (b) A graceful reload: SIGHUP to the master, which starts new workers and stops the old.
        master = gunicorn_master(platform)
        restart(platform, load, master.children(), lambda: master.send_signal(signal.SIGHUP))
        restarts += 1
        restarted = time.monotonic()
        wait_until(lambda: load.made >= 50 + 100, timeout=60, what="load after the restarts")
    row = Row(
        f"gunicorn restarted ({restarts}x) under load: {load.made} requests, {len(load.failures)} failed"
    )
    platform.settle(row, since=restarted, deadline_s=180)
    TABLE.append(row)
    print(f"\n{row.scenario}: {dict(sorted(load.requests.items()))}")
    for failure in load.failures:
        print(f"  failed: {failure}")
    assert load.failures == [], load.failures
    assert platform.stored_jobs() == len(platform.accepted)
    row.assert_promise_kept()
    assert row.succeeded == row.submitted, row


# --- Cancel-After expiring while Redis is down ------------------------------------------------

OUTAGE_S = 4  # how long Redis stays down: the fault itself, not a wait for a condition
DEADLINE = "2"  # Cancel-After, seconds: shorter than the outage
SHORT_JOBS = 20
HOLD_S = 0.3  # each prediction held that long (CHAOS_HOLD_S), so that the backlog takes a while
# A run's `predict` line (tests/chaos/ledger_app.py) comes after the hold, the model's load
# and the predict: the run began at most HOLD_S before it, and at least this much more.
RUN_BEGAN_SLACK_S = 1.0
# A worker decides a job succeeded (its deadline not passed) a moment before it writes the
# end, whose time is completed_at (predictor/predictions.py, predictor/history/claims.py).
DECIDED_SLACK_S = 0.5

platform_slow = platform_fixture("platform_slow", workers=2, hold_s=HOLD_S)


def stamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def test_cancel_after_passing_while_redis_is_down_cancels_and_never_runs_late(platform_slow):
    platform = platform_slow
    row = Row(f"Cancel-After {DEADLINE} s, {SHORT_JOBS} jobs behind 60, Redis down {OUTAGE_S} s")
    short: list[str] = []
    # Queued while the workers are frozen: a backlog, then the jobs with a short deadline.
    platform.workers_signal(signal.SIGSTOP)
    try:
        platform.submit_many(60)
        for number in range(SHORT_JOBS):
            body = (
                {"model": MODEL, "inputs": [platform.row] * 10}
                if number % 2
                else {"model": MODEL, "input": platform.row}
            )
            answer = platform.call("POST", "/api/v1/predictions/", body, headers={"Cancel-After": DEADLINE})
            assert answer.status == 202, answer.json
            short.append(answer.json["id"])
            platform.accepted.append(answer.json["id"])
    finally:
        platform.workers_signal(signal.SIGCONT)
    wait_until(
        lambda: any(path.stat().st_size for path in platform.ledger.iterdir()), timeout=60, what="a job run"
    )
    platform.stack.stop("redis")
    time.sleep(OUTAGE_S)
    platform.stack.redis_start()
    restarted = time.monotonic()

    ended = {job["id"]: job for job in platform.settle(row, since=restarted, deadline_s=120)}
    TABLE.append(row)
    runs = ledger_read(platform.ledger)
    late = []
    for job_id in short:
        job = ended.get(job_id)
        assert job is not None, f"{job_id} never ended"
        deadline = stamp(job["cancel_after"])
        # No run of the model began after the deadline, whatever the job's end.
        began = [entry["t"] - HOLD_S - RUN_BEGAN_SLACK_S for entry in runs.get(job_id, {}).get("predict", [])]
        assert all(t < deadline for t in began), (job_id, job["status"], deadline, began)
        if job["status"] == "succeeded":
            assert stamp(job["completed_at"]) <= deadline + DECIDED_SLACK_S, job
        else:
            assert job["status"] == "canceled", job
            assert job["error"] == "canceled: its Cancel-After deadline passed", job
            late.append(stamp(job["completed_at"]) - deadline)
    print(
        f"\n{row.scenario}: {len(late)} canceled, {SHORT_JOBS - len(late)} succeeded in time; "
        f"canceled at most {max(late, default=0):.1f} s after the deadline"
    )
    row.assert_promise_kept()
    assert row.succeeded + row.canceled == row.submitted, row
