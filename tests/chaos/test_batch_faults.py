"""A whole file scored while its workers die: a 1,000,000-row batch (breast_cancer's 30
features, 220 MB) with a batch worker's pool process killed mid-chunk, then the whole worker
killed (SIGKILL, as `docker kill` does) and replaced. It must end with every row's result in
the results exactly once, in the file's order: chunks are the unit of retry, and a chunk's
results are named only by the run that finished it."""

import csv
import signal
import time
import urllib.request

import psutil
import pytest
from pymongo import MongoClient

from bench.batch_file import write_csv
from bench.stack import upload
from myproject.servers import wait_until
from tests.chaos.faults import TABLE, Row, platform_fixture

pytestmark = pytest.mark.chaos

ROWS = 1_000_000
MODEL = "breast_cancer"

platform = platform_fixture(workers=1)


def _batch(platform, batch_id: str) -> dict:
    answer = platform.call("GET", f"/api/v1/batches/{batch_id}/")
    assert answer.status == 200, answer.json
    return answer.json


def _chunks_done(platform, batch_id: str) -> int:
    return _batch(platform, batch_id)["chunks"]["done"]


def _running_chunk_pid(chunks, batch_id: str) -> int | None:
    running = chunks.find_one({"batch_id": batch_id, "status": "running"}, {"worker_pid": 1})
    return running and running.get("worker_pid")


def test_a_million_row_batch_with_its_worker_killed_twice_has_every_rows_result_once(platform, tmp_path):
    stack = platform.stack
    stack.worker("batcher", queue="batch", entry="batcher")
    chunks = MongoClient(stack.mongo_uri).get_default_database()["batch_chunks"]
    schema = platform.call("GET", f"/api/v1/models/{MODEL}/").json["input_schema"]
    rows = [
        {f["name"]: round(f["min"] + (f["max"] - f["min"]) * (n % 97) / 97, 4) for f in schema}
        for n in range(500)
    ]
    path = tmp_path / "million.csv"
    write_csv(path, rows, ROWS)
    row = Row(f"{ROWS:,}-row batch: a batch pool process killed, then the whole batch worker (rows)")

    status, batch = upload(
        f"{stack.base}/api/v1/batches/", platform.token, {"model": MODEL, "key_column": "id"}, path
    )
    assert status == 202, batch
    batch_id = batch["id"]
    row.submitted = ROWS

    # 1. A pool process, while it scores a chunk.
    wait_until(lambda: _chunks_done(platform, batch_id) >= 10, timeout=300, what="10 chunks scored")
    wait_until(lambda: _running_chunk_pid(chunks, batch_id) is not None, timeout=60, what="a chunk running")
    pid = _running_chunk_pid(chunks, batch_id)
    if pid is not None and psutil.pid_exists(pid):
        psutil.Process(pid).send_signal(signal.SIGKILL)

    # 2. The whole worker with its pool, then a new one in its place.
    wait_until(lambda: _chunks_done(platform, batch_id) >= 40, timeout=300, what="40 chunks scored")
    main = psutil.Process(stack.procs["batcher"].pid)
    for process in [*main.children(recursive=True), main]:
        process.send_signal(signal.SIGKILL)
    stack.procs["batcher"].wait(timeout=30)
    killed_at = time.monotonic()
    stack.procs.pop("batcher")
    stack.meter.retire("batcher")
    stack.worker("batcher-next", queue="batch", entry="batcher")

    wait_until(
        lambda: _batch(platform, batch_id)["status"] in ("succeeded", "failed", "canceled"),
        timeout=600,
        what="the batch's end",
    )
    done = _batch(platform, batch_id)
    row.recovery_s = time.monotonic() - killed_at
    assert done["status"] == "succeeded", done

    request = urllib.request.Request(
        f"{stack.base}/api/v1/batches/{batch_id}/results/",
        headers={"Authorization": f"Bearer {platform.token}"},
    )
    results = tmp_path / "results.csv"
    with urllib.request.urlopen(request, timeout=600) as answer, open(results, "wb") as out:
        while piece := answer.read(1024 * 1024):
            out.write(piece)
    seen: dict[str, int] = {}
    order_kept = True
    errors = 0
    with open(results, newline="") as lines:
        reader = csv.reader(lines)
        header = next(reader)
        expected = iter(f"c{n:08d}" for n in range(ROWS))
        for cells in reader:
            key = cells[0]
            seen[key] = seen.get(key, 0) + 1
            order_kept = order_kept and key == next(expected, None)
            errors += bool(cells[header.index("error")])
    row.succeeded = sum(1 for count in seen.values() if count == 1) - errors
    if errors:
        row.failed["row with an error"] = errors
    row.lost = sum(1 for n in range(ROWS) if f"c{n:08d}" not in seen)
    row.run_twice = sum(1 for count in seen.values() if count > 1)
    row.ran_again = chunks.count_documents({"batch_id": batch_id, "attempts": {"$gt": 1}})
    TABLE.append(row)

    row.assert_promise_kept()
    assert order_kept, "the results are not in the file's order"
    assert errors == 0
    assert row.succeeded == ROWS
    # The kills landed on chunks being scored: they ran again (the pool process's for sure;
    # the whole worker's, whatever its pool held then).
    assert row.ran_again >= 1, row
