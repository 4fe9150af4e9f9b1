"""Redis, the broker, restarted under load (stop, an outage, start; AOF on, as compose runs
it): every accepted job ends, none runs twice, submits during the outage are fast 503s that
create nothing, and `Prefer: wait` requests get the result or a 202 to poll.

The short form (50 jobs) runs in `make test`; `make chaos` runs every scenario."""

import time

import pytest

from tests.chaos.faults import TABLE, Row, platform_fixture

pytestmark = pytest.mark.pipeline

OUTAGE_S = 3  # how long Redis stays down: the fault itself, not a wait for a condition


platform = platform_fixture(workers=2, hold_s=0.2)


def test_a_redis_restart_under_load_loses_nothing(platform):
    row = Row("Redis restarted (AOF on), 50 jobs")
    # A backlog queued in Redis while the workers are frozen, then the fault while they run it.
    platform.backlog(50)
    platform.stack.stop("redis")
    down = [platform.submit(10_000 + n) for n in range(5)]
    time.sleep(OUTAGE_S)
    platform.stack.redis_start()
    restarted = time.monotonic()

    # Refused during the outage, and fast; no job half-exists: MongoDB holds exactly the
    # jobs that were accepted.
    assert [answer.status for answer in down] == [503] * 5
    assert max(answer.seconds for answer in down) < 5
    assert platform.stored_jobs() == len(platform.accepted) == 50
    platform.settle(row, since=restarted, deadline_s=120)
    TABLE.append(row)
    row.assert_promise_kept()
    assert row.succeeded == row.submitted, row
    for answer in platform.waits:
        assert answer.status in (200, 202), answer.json


@pytest.mark.chaos
def test_redis_restarted_empty_loses_nothing_what_was_queued_is_published_again(platform):
    row = Row("Redis data lost (restarted empty), 50 jobs")
    platform.backlog(50)
    platform.stack.stop("redis")
    platform.stack.redis_start(wipe=True)  # every queued task message is gone
    restarted = time.monotonic()

    # MongoDB still says which jobs are unfinished: the rescue (every 10 s) finds Redis's data
    # gone and publishes every queued job again, without waiting for STALE_JOB_SECONDS.
    platform.settle(row, since=restarted, deadline_s=120)
    TABLE.append(row)
    row.assert_promise_kept()
    assert row.succeeded == row.submitted == 50, row


platform_two_beats = platform_fixture("platform_two_beats", workers=2, beats=2, hold_s=0.2)


@pytest.mark.chaos
def test_two_beats_and_redis_restarted_empty_still_run_each_job_once(platform_two_beats):
    # Two schedulers (a common deployment mistake) send every sweep and rescue twice: after
    # Redis loses its data, both find the queued jobs and publish them again.
    platform = platform_two_beats
    row = Row("two beats, Redis data lost, 50 jobs")
    platform.backlog(50)
    platform.stack.stop("redis")
    platform.stack.redis_start(wipe=True)
    restarted = time.monotonic()
    platform.settle(row, since=restarted, deadline_s=120)
    TABLE.append(row)
    row.assert_promise_kept()
    assert row.succeeded == row.submitted == 50, row
