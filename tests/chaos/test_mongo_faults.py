"""MongoDB restarted while workers are finishing jobs: their finishes retry and land; no
job is left `running`; submits during the outage are fast 503s."""

import time

import pytest

from myproject.stack import mongo_command, port_open, wait_until
from tests.chaos.faults import TABLE, Row, platform_fixture

pytestmark = pytest.mark.chaos

OUTAGE_S = 3  # how long MongoDB stays down


platform = platform_fixture(workers=2, hold_s=0.3)


def test_a_mongodb_restart_while_workers_finish_loses_nothing(platform):
    row = Row("MongoDB restarted, 50 jobs")
    platform.backlog(50)
    stack = platform.stack
    stack.stop("mongo")
    down = [platform.submit(10_000 + n) for n in range(5)]
    time.sleep(OUTAGE_S)
    stack.start("mongo", mongo_command(stack.mongo_port, str(stack.var / "mongo")))
    wait_until(lambda: port_open(stack.mongo_port), timeout=60, what="SecantusDB")
    restarted = time.monotonic()

    assert [answer.status for answer in down] == [503] * 5
    assert max(answer.seconds for answer in down) < 5
    platform.settle(row, since=restarted, deadline_s=180)
    TABLE.append(row)
    assert platform.stored_jobs() == len(platform.accepted) == 50
    assert row.lost == 0, row
    assert row.run_twice == 0, row
    assert row.succeeded == row.submitted, row
