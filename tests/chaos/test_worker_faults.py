"""Faults of the workers themselves: a poison job that kills its process every time, and a
rolling restart of every predict worker (SIGTERM, warm shutdown) under load."""

import time

import pytest

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

    assert row.lost == 0, row
    assert row.run_twice == 0, row
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
    assert row.lost == 0, row
    assert row.run_twice == 0, row
    assert row.succeeded == row.submitted == 120, row
