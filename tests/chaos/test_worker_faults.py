"""Faults of the workers themselves: a poison job that kills its process every time, a
rolling restart of every predict worker (SIGTERM, warm shutdown) under load, and pool
processes and a whole worker killed (SIGKILL) while they run micro-batches."""

import signal
import time

import psutil
import pytest

from myproject.servers import wait_until
from tests.chaos.faults import TABLE, Row, platform_fixture
from tests.chaos.ledger_app import ledger_read

pytestmark = pytest.mark.chaos

POISON = 7777.0


platform = platform_fixture(workers=2, hold_s=0.1, env={"CHAOS_POISON": str(POISON)})


def test_a_poison_job_fails_after_its_attempts_and_never_blocks_the_queue(platform):
    row = Row("poison job (kills its process) among 60 jobs")
    poisoned_row = {**platform.row, next(iter(platform.row)): POISON}
    answer = platform.call("POST", "/api/v1/predictions/", {"model": "breast_cancer", "input": poisoned_row})
    assert answer.status == 202, answer.json
    poison_id = answer.json["id"]
    platform.accepted.append(poison_id)
    started = time.monotonic()
    platform.submit_many(60)
    ended = {job["id"]: job for job in platform.settle(row, since=started, deadline_s=240)}
    TABLE.append(row)

    row.assert_promise_kept()
    poison = ended[poison_id]
    assert poison["status"] == "failed"
    assert "gave up after 3 attempts" in poison["error"], poison["error"]
    # It killed a process on each of its tries, and never ran.
    assert len(ledger_read(platform.ledger)[poison_id]["poisoned"]) == 3
    # Every other job succeeded (the ones a poisoned micro-batch held ran again, alone).
    assert row.succeeded == row.submitted - 1, row


def test_a_rolling_restart_of_every_worker_under_load_loses_nothing(platform):
    row = Row("rolling restart of the predict workers (SIGTERM), 120 jobs")
    stack = platform.stack
    platform.backlog(120)
    for name in [name for name in stack.procs if name.startswith("predict")]:
        # Warm shutdown: it finishes what it runs, hands back what it had taken; a new one
        # takes its place (a deploy).
        stack.stop(name)
        stack.worker(f"{name}-next", app="tests.chaos.ledger_app")
    restarted = time.monotonic()
    platform.settle(row, since=restarted, deadline_s=180)
    TABLE.append(row)
    row.assert_promise_kept()
    assert row.succeeded == row.submitted == 120, row


platform_killed = platform_fixture("platform_killed", workers=2, hold_s=0.3)


def _runs_so_far(platform) -> int:
    return sum(len(runs["finish"]) for runs in ledger_read(platform.ledger).values())


def test_pool_processes_and_a_whole_worker_killed_mid_run_lose_nothing(platform_killed):
    # Pool processes killed (SIGKILL) twice while they run micro-batches, then a whole worker
    # with its pool, as `docker kill` does: what they held runs again elsewhere.
    platform, stack = platform_killed, platform_killed.stack
    row = Row("pool processes killed twice, then a whole worker (SIGKILL), 200 jobs")
    platform.backlog(200)
    for victim in ("predict0", "predict0", "predict1"):
        # Strike while jobs run: once more of them have ended since the last strike.
        seen = _runs_so_far(platform)
        wait_until(lambda seen=seen: _runs_so_far(platform) > seen, timeout=60, what="jobs running")
        main = psutil.Process(stack.procs[victim].pid)
        children = main.children(recursive=True)
        if victim == "predict1":
            stack.meter.retire(victim)
            proc = stack.procs.pop(victim)
            main.send_signal(signal.SIGKILL)
        for child in children:
            child.send_signal(signal.SIGKILL)
    proc.wait()
    stack.worker("predict1-next", app="tests.chaos.ledger_app")
    killed = time.monotonic()
    ended = platform.settle(row, since=killed, deadline_s=240)
    TABLE.append(row)
    row.assert_promise_kept()
    # A job struck on each of its three tries is a poison job to the platform (it gives up);
    # every other job succeeds.
    assert all(reason.startswith("gave up after 3 attempts") for reason in row.failed), row
    assert row.succeeded + sum(row.failed.values()) == row.submitted == 200, row
    assert any(job["attempts"] > 1 for job in ended), "no kill landed while a job ran"
