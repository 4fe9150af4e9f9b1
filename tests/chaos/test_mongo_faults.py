"""MongoDB restarted while workers are finishing jobs: their finishes retry and land; no
job is left `running`; submits during the outage are fast 503s. MongoDB's disk filling up
under load: submits are fast 503s that create nothing, and every accepted job ends once
space is back."""

import re
import threading
import time

import pymongo
import pytest

from myproject.servers import mongo_command, port_open, wait_until
from tests.chaos.faults import TABLE, Platform, Row, platform_fixture
from tests.small_disk import fill, small_disk

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
    row.assert_promise_kept()
    assert row.succeeded == row.submitted, row


# Scenario: MongoDB's disk fills up under load.
#
# What SecantusDB 0.7.0b3 does then (tried by hand on a small tmpfs, and what this scenario
# relies on): while the journal (WiredTiger's log) still has room in its current file,
# writes go on; the first commit that needs a block the disk no longer has makes WiredTiger
# panic. From then on every command that touches data, reads included, fails with code 1
# InternalError ("internal server error"), `ping` still answers ok, and freeing space does
# not help: the server needs a restart (mongod exits instead; its supervisor restarts it).
# The writes it acknowledged with w:1 in the last moments before the panic were still in
# the journal's buffer and are gone after the restart; a write with j:true waits for its
# journal write, so what it acknowledged survives: the platform's writes ask for it
# (predictor/history/base.py; tests/test_mongo_durability.py).

DISK = "160m"  # the tmpfs MongoDB's data lives on; the platform's data takes about 15 MB
# How long the disk stays full: the fault itself, not a wait for a condition. Long enough
# for tasks to use up a handful of retries (workers/tasks.py: they now retry for minutes).
FULL_S = 15


@pytest.fixture
def platform_on_small_disk(tmp_path, mongo_server):
    """A Platform whose SecantusDB keeps its data on a small filesystem of its own: the
    Stack puts it in <var>/mongo (bench/stack.py), mounted here first."""
    var = tmp_path / "platform"
    with small_disk(var / "mongo", DISK) as disk:
        running = Platform(var, workers=2, hold_s=0.3)
        try:
            yield running, disk
        finally:
            running.close()


def _hog(uri: str):
    """A collection in the platform's database that the fill's last writes go to."""
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    return client, client.get_default_database()["chaos_disk_hog"]


def _write_until_refused(hog) -> str:
    """Grow the hog until MongoDB refuses a write: its journal needed the space that is gone."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            hog.insert_one({"pad": "x" * 1_000_000})
        except pymongo.errors.PyMongoError as exc:
            return str(exc)
    raise AssertionError("MongoDB still accepted writes a minute after its disk was full")


class _Trickle(threading.Thread):
    """Clients that keep submitting, one job at a time, until stopped: the disk fills while
    submits are arriving, not between them."""

    def __init__(self, platform: Platform, first: int):
        super().__init__(daemon=True)
        self.platform, self.number, self.errors = platform, first, []
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            try:
                self.platform.submit(self.number)
            except Exception as exc:  # a 500, or a submit that hung past its timeout
                self.errors.append(repr(exc))
            self.number += 1
            self.stopped.wait(0.05)

    def stop(self):
        self.stopped.set()
        self.join(timeout=120)


def _tasks_received(platform: Platform) -> set[str]:
    """The predict tasks the workers were handed, by their logs (the task id is the job id)."""
    found = set()
    for name in platform.stack.procs:
        if name.startswith("predict"):
            found.update(
                re.findall(r"predict_task\[([0-9a-f-]{36})\] received", platform.stack.log(name).read_text())
            )
    return found


def _stored_ids(platform: Platform) -> set[str]:
    with pymongo.MongoClient(platform.stack.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        jobs = client.get_default_database()["prediction_jobs"]
        return {doc["_id"] for doc in jobs.find({"owner_id": platform.owner}, {"_id": 1})}


def _stored_states(platform: Platform, job_ids: list[str]) -> list[dict]:
    """What MongoDB holds of these jobs: for a failure's message."""
    fields = {
        name: 1
        for name in (
            "status",
            "attempts",
            "claimed_by",
            "worker",
            "started_at",
            "completed_at",
            "requeued_at",
        )
    }
    with pymongo.MongoClient(platform.stack.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        return list(client.get_default_database()["prediction_jobs"].find({"_id": {"$in": job_ids}}, fields))


def test_mongodb_disk_full_under_load_refuses_submits_and_loses_nothing(platform_on_small_disk):
    platform, disk = platform_on_small_disk
    stack = platform.stack
    row = Row("MongoDB disk full, 50 jobs + submits")
    client, hog = _hog(stack.mongo_uri)
    hog.insert_one({"made": True})  # the collection exists before the disk is full
    platform.backlog(50)

    trickle = _Trickle(platform, 20_000)
    trickle.start()
    try:
        filler = fill(disk)
        refused = _write_until_refused(hog)
        print(f"\nMongoDB refused a write on the full disk: {refused[:160]}")
        full_since = time.monotonic()
        down = [platform.submit(10_000 + n) for n in range(5)]
        time.sleep(max(0.0, FULL_S - (time.monotonic() - full_since)))
    finally:
        trickle.stop()
        client.close()

    # Space comes back. SecantusDB keeps refusing until it restarts (mongod would have exited,
    # and its supervisor started it again): the journal it failed to write stays failed.
    filler.unlink()
    stack.stop("mongo")
    stack.start("mongo", mongo_command(stack.mongo_port, str(disk)))
    wait_until(lambda: port_open(stack.mongo_port), timeout=60, what="SecantusDB")
    recovered = time.monotonic()
    with pymongo.MongoClient(stack.mongo_uri, serverSelectionTimeoutMS=5000) as mongo:
        mongo.get_default_database().drop_collection("chaos_disk_hog")

    assert not trickle.errors, trickle.errors[:5]
    assert [answer.status for answer in down] == [503] * 5, [(a.status, a.json) for a in down]
    assert max(answer.seconds for answer in down) < 5
    assert all(answer.seconds < 5 for answer in platform.refused)
    platform.settle(row, since=recovered, deadline_s=240)
    TABLE.append(row)
    print(f"accepted {len(platform.accepted)}, refused {len(platform.refused)}")
    # Nothing half-exists: MongoDB holds exactly the accepted jobs, and the workers were
    # handed no task whose job was refused.
    assert _stored_ids(platform) == set(platform.accepted)
    assert platform.stored_jobs() == len(platform.accepted)
    assert _tasks_received(platform) <= set(platform.accepted)
    # Every webhook of a job that ended was called, every wait answered.
    unheard = [job_id for job_id in platform.hooked if job_id not in platform.receiver.heard]
    assert row.unheard == 0, (row, _stored_states(platform, unheard))
    row.assert_promise_kept()
    assert row.succeeded == row.submitted, row
