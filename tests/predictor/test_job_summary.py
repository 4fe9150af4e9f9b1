"""history.jobs_summary against the suite's real MongoDB-wire server: counts by status and
nearest-rank percentiles of the owner's jobs in the window, nobody else's, nothing older."""

import math
from datetime import timedelta

import pytest

DAY = timedelta(hours=24)


@pytest.fixture
def make_job(history):
    """Write a job through the history, finish it if asked, then set its times (seconds
    relative to `base`) straight on the stored document."""

    def make(owner_id, *, base, created_s, status="queued", started_s=None, completed_s=None):
        job = history.job_create(
            owner_id=owner_id,
            model="breast_cancer",
            version=1,
            artifact_sha256="0" * 64,
            sklearn_version="1.0",
            input={"x": 1.0},
        )
        if status in history.FINISHED:
            assert history.job_finish(job.id, status=status) is not None
        elif status == history.RUNNING:
            history.PredictionJob.objects(id=job.id).update_one(set__status=history.RUNNING)
        times = {"created_at": base + timedelta(seconds=created_s)}
        if started_s is not None:
            times["started_at"] = base + timedelta(seconds=started_s)
        times["completed_at"] = base + timedelta(seconds=completed_s) if completed_s is not None else None
        history.PredictionJob.objects(id=job.id).update_one(**{f"set__{k}": v for k, v in times.items()})
        return job.id

    return make


def nearest_rank(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(percent * len(ordered) / 100) - 1]


def test_counts_and_percentiles_of_the_owners_last_day(history, make_job):
    now = history.now()
    base = now - timedelta(hours=1)
    # Alice's finished jobs, created one second apart, with known queue waits and totals.
    totals = [0.25, 4.0, 1.5, 0.75, 12.0, 2.0, 0.5, 3.25, 8.0, 1.0, 0.125, 6.5, 2.5]
    waits = [0.05 * (i + 1) for i in range(len(totals))]
    statuses = ["succeeded"] * 9 + ["failed"] * 3 + ["canceled"]
    for i, (total, wait, status) in enumerate(zip(totals, waits, statuses, strict=True)):
        make_job(1, base=base, created_s=i, status=status, started_s=i + wait, completed_s=i + total)
    # A canceled job that never started: in the total times, not in the queue waits.
    make_job(1, base=base, created_s=20, status="canceled", completed_s=20 + 9.0)
    totals.append(9.0)
    # Unfinished ones: counted, not timed; the running one has waited 0.4 s.
    make_job(1, base=base, created_s=30, status="queued")
    make_job(1, base=base, created_s=31, status="queued")
    make_job(1, base=base, created_s=32, status="running", started_s=32.4)
    waits.append(0.4)
    # Not Alice's, or not in the window: left out whatever they hold.
    make_job(2, base=base, created_s=5, status="failed", started_s=5.1, completed_s=500)
    make_job(2, base=base, created_s=6, status="queued")
    make_job(
        1,
        base=now - DAY - timedelta(minutes=5),
        created_s=0,
        status="succeeded",
        started_s=1,
        completed_s=900,
    )
    make_job(1, base=now - 3 * DAY, created_s=0, status="queued")

    summary = history.jobs_summary(1, now - DAY)

    assert summary["by_status"] == {"queued": 2, "running": 1, "succeeded": 9, "failed": 3, "canceled": 2}
    assert summary["total"] == 17
    assert summary["finished"] == 14
    # By hand: the 14 totals sorted are 0.125 0.25 0.5 0.75 1 1.5 2 2.5 3.25 4 6.5 8 9 12;
    # p50 is the 7th (ceil(7.0)), p95 the 14th (ceil(13.3)).
    assert summary["p50_s"] == 2.0 == nearest_rank(totals, 50)
    assert summary["p95_s"] == 12.0 == nearest_rank(totals, 95)
    # 14 started jobs with waits 0.05 ... 0.65 and 0.4: the 7th smallest is 0.35.
    assert summary["started"] == 14
    assert summary["queue_p50_s"] == pytest.approx(0.35) == pytest.approx(nearest_rank(waits, 50))

    assert history.jobs_summary(2, now - DAY)["by_status"] == {
        "queued": 1,
        "running": 0,
        "succeeded": 0,
        "failed": 1,
        "canceled": 0,
    }
    assert history.jobs_summary(2, now - DAY)["p95_s"] == 495.0


def test_nearest_rank_at_exact_multiples(history, make_job):
    """20 values: the p95 is the 19th exactly (95 * 20 / 100 is a whole number), the p50 the 10th."""
    now = history.now()
    base = now - timedelta(hours=2)
    for i in range(20):
        make_job(7, base=base, created_s=i, status="succeeded", started_s=i, completed_s=i + (i + 1))
    summary = history.jobs_summary(7, now - DAY)
    assert (summary["finished"], summary["p50_s"], summary["p95_s"]) == (20, 10.0, 19.0)


def test_no_finished_jobs_means_no_percentiles(history, make_job):
    now = history.now()
    make_job(3, base=now - timedelta(minutes=1), created_s=0, status="queued")
    make_job(3, base=now - 2 * DAY, created_s=0, status="succeeded", started_s=1, completed_s=2)
    summary = history.jobs_summary(3, now - DAY)
    assert summary == {
        "by_status": {"queued": 1, "running": 0, "succeeded": 0, "failed": 0, "canceled": 0},
        "total": 1,
        "finished": 0,
        "p50_s": None,
        "p95_s": None,
        "started": 0,
        "queue_p50_s": None,
    }
    assert history.jobs_summary(4, now - DAY) == {
        "by_status": dict.fromkeys(history.STATUSES, 0),
        "total": 0,
        "finished": 0,
        "p50_s": None,
        "p95_s": None,
        "started": 0,
        "queue_p50_s": None,
    }
