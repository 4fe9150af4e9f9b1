"""History at scale: the list API, a filtered page and the CSV export over 1,000 and 100,000
stored jobs of one user, and the raw MongoDB writes every job costs.

Jobs are written straight into the platform's `prediction_jobs` collection, copied from
real finished jobs of the run (so every field is the platform's own), with new ids, times
and a mix of models and outcomes. They are deleted afterwards, so the scenarios that follow
run on the same collection they would have found without them.
"""

import copy
import time
import uuid
from datetime import UTC, datetime, timedelta

import pymongo

from .stats import latency, ms, pct

COLLECTION = "prediction_jobs"
CHUNK = 2000
# One job in ten did not succeed: the filtered page has something to filter out.
OUTCOMES = ["succeeded"] * 9 + ["failed"]


def collection(stack):
    return pymongo.MongoClient(stack.mongo_uri).get_default_database()[COLLECTION]


def templates(stack) -> list[dict]:
    """One real finished job per model, as the platform stored it."""
    jobs = collection(stack)
    found = []
    for model in jobs.distinct("model"):
        job = jobs.find_one({"model": model, "status": "succeeded", "inputs": None})
        if job:
            found.append(job)
    assert found, "no finished job to copy: the predict worker ran nothing"
    return found


def job_documents(templates: list[dict], owner_id: int, start: int, count: int, newest: datetime):
    """`count` jobs of `owner_id`, one second apart going back from `newest`."""
    for index in range(start, start + count):
        document = copy.deepcopy(templates[index % len(templates)])
        created = newest - timedelta(seconds=index)
        document.update(
            _id=str(uuid.uuid4()),
            owner_id=owner_id,
            created_at=created,
            started_at=created + timedelta(milliseconds=4),
            completed_at=created + timedelta(milliseconds=9),
        )
        if OUTCOMES[index % len(OUTCOMES)] == "failed":
            document.update(status="failed", output=None, error="prediction failed: bench")
        yield document


def insert(jobs, documents) -> int:
    batch, written = [], 0
    for document in documents:
        batch.append(document)
        if len(batch) == CHUNK:
            jobs.insert_many(batch, ordered=False)
            written, batch = written + len(batch), []
    if batch:
        jobs.insert_many(batch, ordered=False)
        written += len(batch)
    return written


def mongo_limits(stack, meter, template: dict, n: int) -> dict:
    """Raw pymongo on the same server, in a scratch collection, with the calls a job costs
    the platform at the least: insert (submit), find_one by _id (the worker's claim), a
    conditional update_one by _id (claim, finish); and SecantusDB's CPU for each. The
    scratch collection has the platform's indexes: each write keeps them up to date, as the
    platform's writes do (an update costs SecantusDB about twice as much with them)."""
    scratch = pymongo.MongoClient(stack.mongo_uri)["bench_limits"]["jobs"]
    scratch.drop()
    for name, index in collection(stack).index_information().items():
        if name != "_id_":
            scratch.create_index(index["key"], name=name)
    documents = list(job_documents([template], 0, 0, n * 3, datetime.now(UTC)))
    calls = {
        "insert_one": lambda document: scratch.insert_one(document),
        "find_one": lambda document: scratch.find_one({"_id": document["_id"]}),
        "update_one": lambda document: scratch.update_one(
            {"_id": document["_id"], "status": {"$in": ["queued", "running", "succeeded"]}},
            {"$set": {"status": "running"}, "$inc": {"attempts": 1}},
        ),
    }
    ops = {name: [] for name in calls}
    cpu_ms = {}
    for name, call in calls.items():
        span = meter.start()
        for document in documents[:n]:
            started = time.perf_counter()
            call(document)
            ops[name].append(time.perf_counter() - started)
        cpu_ms[name] = round(1000 * span.stop()["groups"].get("mongo", {}).get("cpu_s", 0.0) / n, 3)
    started = time.perf_counter()
    insert(scratch, documents[n:])
    many_s = time.perf_counter() - started
    scratch.drop()
    p50 = {name: pct(seconds, 50) for name, seconds in ops.items()}
    return {
        **{name: latency(seconds) for name, seconds in ops.items()},
        "insert_one_per_s": round(n / sum(ops["insert_one"]), 1),
        "insert_many_docs_per_s": round((len(documents) - n) / many_s, 1),
        "insert_many_chunk": CHUNK,
        # Submit's insert, the claim's read and update, the finish's update.
        "job_floor_ms": ms(p50["insert_one"] + p50["find_one"] + 2 * p50["update_one"]),
        "cpu_ms": cpu_ms,
        "job_floor_cpu_ms": round(cpu_ms["insert_one"] + cpu_ms["find_one"] + 2 * cpu_ms["update_one"], 3),
    }


def indexes(stack) -> list[str]:
    return sorted(collection(stack).index_information())


PAGES = {
    "list": "/api/v1/predictions/?limit=50",
    "filtered": "/api/v1/predictions/?model=breast_cancer&status=succeeded&limit=50",
}
EXPORT = "/api/v1/predictions/?format=csv"


def _measured(clients, spec: dict) -> dict:
    records = clients.run(spec, 1)
    if records["errors"] and set(records["errors"]) != {"cut at cap_s"}:
        raise RuntimeError(f"{spec['path']}: {records['error_samples']}")
    return records


def history_phase(stack, clients, owner_id: int, examples: list[dict], timing: dict) -> dict:
    """Latency of the history pages at each size, one client."""
    jobs = collection(stack)
    newest = datetime.now(UTC).replace(microsecond=0)
    results, stored = {}, 0
    for size in timing["history_sizes"]:
        started = time.perf_counter()
        stored += insert(jobs, job_documents(examples, owner_id, stored, size - stored, newest))
        entry = {
            "insert_s": round(time.perf_counter() - started, 2),
            "documents_in_collection": jobs.estimated_document_count(),
        }
        for name, path in PAGES.items():
            # No warm-up: at 100,000 jobs one page can take longer than the whole budget.
            spec = {
                "kind": "get",
                "path": path,
                "warmup_s": 0.0,
                "duration_s": timing["history_budget_s"],
                "max_requests": 60,
                "expect_results": 50,
            }
            entry[name] = latency(_measured(clients, spec)["latency_s"])
        entry["csv"] = _export(clients, size, timing["csv_cap_s"])
        results[str(size)] = entry
    return results


def _export(clients, size: int, cap_s: float) -> dict:
    # Read whole and often when small; a huge one is read once, up to cap_s.
    spec = {
        "kind": "csv",
        "path": EXPORT,
        "warmup_s": 0.0,
        "duration_s": cap_s,
        "max_requests": 5,
        "cap_s": cap_s,
    }
    records = _measured(clients, spec)
    seconds = records["latency_s"]
    data_rows = records["rows"] - len(seconds)  # one header line per export
    complete = not records["errors"]
    if complete and data_rows != size * len(seconds):
        raise RuntimeError(f"the export gave {data_rows} rows for {len(seconds)} x {size} jobs")
    return {
        **latency(seconds),
        "first_row_p50_ms": ms(pct(records["first_row_s"], 50)),
        "rows_read": data_rows,
        "rows_per_s": round(data_rows / sum(seconds), 1) if seconds else None,
        "complete": complete,
    }
