"""The platform's Celery app, with every execution written down outside the platform: for
the fault scenarios (tests/chaos/faults.py), which count runs without trusting the code
they test. Started as `celery -A tests.chaos.ledger_app worker`.

Each pool process appends one JSON line per job to CHAOS_LEDGER_DIR/<pid>.jsonl, on local
disk (Redis and MongoDB are what the scenarios break): `predict` when the model has run for
the job, `finish` when the worker's write of its end was answered (whether it landed or
found the job already ended). A job with two `finish` lines ran twice; two `predict` lines
and one `finish` is a run cut short (its process killed, its write never answered) and done
again. CHAOS_HOLD_S holds every
prediction that long first, so that a fault lands while jobs run. CHAOS_POISON: a job with
this value in a row kills the pool process running it (SIGKILL), every time.
"""

import json
import os
import signal
import time

from celery.signals import worker_process_init

from myproject import celery_app as app  # noqa: F401  (the app celery -A looks for)


def _write(kind: str, jobs) -> None:
    path = os.path.join(os.environ["CHAOS_LEDGER_DIR"], f"{os.getpid()}.jsonl")
    stamp = time.time()
    lines = "".join(
        json.dumps({"kind": kind, "job": job.id, "pid": os.getpid(), "t": stamp, "attempts": job.attempts})
        + "\n"
        for job in jobs
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, lines.encode())
    finally:
        os.close(fd)


@worker_process_init.connect
def _ledger(**_):
    from predictor import predictions

    predict, finish = predictions._predict, predictions._finish
    hold = float(os.environ.get("CHAOS_HOLD_S", "0"))
    poison = float(os.environ["CHAOS_POISON"]) if os.environ.get("CHAOS_POISON") else None

    def predicted(jobs):
        if poison is not None and any(poison in row.values() for job in jobs for row in job.rows):
            _write("poisoned", jobs)
            os.kill(os.getpid(), signal.SIGKILL)
        if hold:
            time.sleep(hold)
        results = predict(jobs)
        _write("predict", jobs)
        return results

    def finished(results, on_event, *rest):
        ended = finish(results, on_event, *rest)  # raises when MongoDB did not answer: retried, not run
        _write("finish", [job for job, _ in results])
        return ended

    predictions._predict, predictions._finish = predicted, finished


def ledger_read(directory) -> dict[str, dict[str, list[dict]]]:
    """{job id: {"predict": [...], "finish": [...], "poisoned": [...]}} from every process's ledger."""
    found: dict[str, dict[str, list[dict]]] = {}
    for name in os.listdir(directory):
        with open(os.path.join(directory, name)) as ledger:
            for line in ledger:
                if line.endswith("\n"):  # a process killed mid-write leaves half a line
                    entry = json.loads(line)
                    runs = found.setdefault(entry["job"], {"predict": [], "finish": [], "poisoned": []})
                    runs[entry["kind"]].append(entry)
    return found
