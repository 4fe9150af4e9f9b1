"""What MongoDB acknowledged is kept when its disk fills: the history's writes wait for the
server's journal (j: true, predictor/history/base.py).

Against a SecantusDB of its own, on a small tmpfs (mounting one needs root; skipped
otherwise): jobs are written through the history until the full disk refuses one. Its
journal then cannot be written, and the server refuses everything until it restarts
(tests/chaos/test_mongo_faults.py). After space is freed and it restarts, every job whose
write was answered is there. At w:1 alone, the last of them were not.
"""

import time
from pathlib import Path

import pytest
from django.test import override_settings

from myproject.servers import free_port, mongo_command, mongo_uri, port_open, stop, wait_until
from predictor import history
from tests.processes import spawn
from tests.small_disk import fill, small_disk

DISK = "48m"


@pytest.fixture
def disk(tmp_path):
    with small_disk(tmp_path / "disk", DISK) as mounted:
        yield mounted


def server(port: int, storage: Path):
    proc = spawn("mongo-small-disk", mongo_command(port, str(storage)))
    wait_until(lambda: port_open(port) or proc.poll() is not None, timeout=60, what="SecantusDB")
    assert proc.poll() is None, "SecantusDB did not start"
    return proc


def test_every_job_mongodb_acknowledged_is_kept_when_its_disk_fills(disk, mongo_server):
    port, storage = free_port(), disk / "mongo"
    proc = server(port, storage)
    try:
        with override_settings(MONGODB_URI=mongo_uri(port, "durability_test")):
            history.connect()
            # Big inputs: the journal's file (10 MB) runs out after a few hundred jobs.
            row = {f"feature_{n}": "x" * 1000 for n in range(50)}

            def create() -> str:
                return history.job_create(
                    owner_id=1, model="m", version=1, artifact_sha256="0" * 64, sklearn_version="1", input=row
                ).id

            answered = [create()]  # the collection's file exists before the disk is full
            filler = fill(disk)
            refused, deadline = None, time.monotonic() + 120
            while refused is None and time.monotonic() < deadline:
                try:
                    answered.append(create())
                except history.HistoryUnavailable as exc:
                    refused = exc
            assert refused is not None, "MongoDB kept taking jobs on a full disk"

            filler.unlink()
            stop(proc)
            proc = server(port, storage)
            history.connect()
            stored = {doc["_id"] for doc in history.PredictionJob._get_collection().find({}, {"_id": 1})}
            missing = [job_id for job_id in answered if job_id not in stored]
            print(
                f"{len(answered)} jobs answered before the disk filled; {len(missing)} gone after a restart"
            )
            assert not missing
    finally:
        stop(proc)
        history.connect()  # the suite's MongoDB again
