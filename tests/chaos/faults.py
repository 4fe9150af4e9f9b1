"""Fault scenarios against the platform as `make up` runs it (bench/stack.py: its own
SecantusDB, redis-server with AOF as compose runs it, gunicorn, Celery workers and beat), each
checked job by job and summed up in one table row (printed at the end of the pytest run).

How a scenario counts:
- submitted: jobs the API accepted (202, or 200 for a `Prefer: wait` that saw the end);
- succeeded / failed (with reasons) / canceled: the jobs' final states, read through the API;
- lost: accepted jobs still queued or running when the scenario's deadline passed;
- run twice: jobs the workers finished twice, by their ledger (tests/chaos/ledger_app.py),
  written outside the platform and never read by it; ran again: jobs whose model ran more
  than once because a run was cut short before its end was written (allowed);
- 503s: submits refused while a dependency was down (each must have been fast and have
  created nothing);
- unheard: a `Prefer: wait` that got neither the result nor a 202 to poll, or a job with a
  webhook (one in eight of the mix, to a receiver of the test's own) whose end was never
  delivered;
- recovery: from the end of the fault to the last job ending.
"""

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pymongo

from bench.procs import Meter
from bench.stack import Stack, token_user_id
from tests.chaos.ledger_app import ledger_read
from tests.processes import process_tree, signal_all

MODEL = "breast_cancer"
ENDED = ("succeeded", "failed", "canceled")
# Printed by tests/chaos/conftest.py once every scenario has run.
TABLE: list["Row"] = []


@dataclass
class Row:
    scenario: str
    submitted: int = 0
    succeeded: int = 0
    failed: Counter = field(default_factory=Counter)
    canceled: int = 0
    lost: int = 0
    run_twice: int = 0
    ran_again: int = 0
    refused_503: int = 0
    unheard: int = 0
    recovery_s: float | None = None

    def assert_promise_kept(self) -> None:
        """Nothing accepted lost, nothing run twice, every waiter and webhook heard."""
        assert self.lost == 0, self
        assert self.run_twice == 0, self
        assert self.unheard == 0, self

    def cells(self) -> list[str]:
        failed = sum(self.failed.values())
        reasons = "; ".join(f"{count}x {reason}" for reason, count in self.failed.most_common(3))
        return [
            self.scenario, str(self.submitted), str(self.succeeded),
            f"{failed}" + (f" ({reasons})" if reasons else ""), str(self.canceled), str(self.lost),
            str(self.run_twice), str(self.ran_again), str(self.refused_503), str(self.unheard),
            "-" if self.recovery_s is None else f"{self.recovery_s:.1f} s",
        ]  # fmt: skip


HEADER = [
    "scenario", "submitted", "succeeded", "failed", "canceled", "lost", "run twice", "ran again", "503s",
    "unheard", "recovery",
]  # fmt: skip


def table() -> str:
    rows = [HEADER, *(row.cells() for row in TABLE)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


class Answer:
    def __init__(self, status: int, body: bytes, seconds: float):
        self.status, self.seconds = status, seconds
        try:
            self.json = json.loads(body or b"null")
        except ValueError:
            self.json = None


class Receiver:
    """A webhook receiver of the test's own: notes when each job's `completed` call came
    (first one; receivers de-duplicate by webhook-id) and answers 204."""

    def __init__(self):
        self.heard: dict[str, float] = {}
        heard = self.heard

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                heard.setdefault(body["id"], time.time())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Platform:
    """One scenario's platform: the stack, `workers` predict workers on the ledger app, the
    notifier (webhooks), `beats` beat processes, a webhook receiver, a user, and the jobs it
    submitted."""

    def __init__(
        self, var: Path, *, workers: int = 2, beats: int = 1, hold_s: float = 0.0, env: dict | None = None
    ):
        self.ledger = var / "ledger"
        self.ledger.mkdir(parents=True)
        settings = {
            "CHAOS_LEDGER_DIR": str(self.ledger),
            "CHAOS_HOLD_S": str(hold_s),
            "WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on 127.0.0.1
            **(env or {}),
        }
        self.stack = Stack(var, Meter(), redis_persist=True, env=settings)
        self.receiver = Receiver()
        try:
            for number in range(workers):
                self.stack.worker(f"predict{number}", app="tests.chaos.ledger_app")
            self.stack.worker("notifier", queue="webhooks", entry="notifier")
            for number in range(beats):  # more than one: a deployment mistake the platform must survive
                self.stack.start(f"beat{number}", ["celery", "-A", "myproject", "beat", "--loglevel", "INFO"])
            login = self.stack.user("chaos")
            answer = self.call("POST", "/login/", login)
            assert answer.status == 200, answer.json
            self.token = answer.json["access"]
            self.owner = token_user_id(self.token)
            schema = self.call("GET", f"/api/v1/models/{MODEL}/").json["input_schema"]
            self.row = {feature["name"]: (feature["min"] + feature["max"]) / 2 for feature in schema}
        except BaseException:
            self.close()
            raise
        self.accepted: list[str] = []
        self.refused: list[Answer] = []
        self.waits: list[Answer] = []
        self.hooked: list[str] = []  # jobs with a webhook to self.receiver
        self._lock = threading.Lock()

    def close(self) -> None:
        self.stack.close()
        self.receiver.close()

    def call(
        self, method: str, path: str, body=None, *, headers: dict | None = None, timeout: float = 60
    ) -> Answer:
        request = urllib.request.Request(
            self.stack.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
        )
        request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        if getattr(self, "token", None):
            request.add_header("Authorization", f"Bearer {self.token}")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Answer(response.status, response.read(), time.monotonic() - started)
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read(), time.monotonic() - started)

    def submit(self, n: int) -> Answer:
        """The n-th job of a mix: one-row jobs, 10-row batches, `Prefer: wait` and
        `Cancel-After` (far enough off not to cancel); one in eight calls a webhook."""
        kind = n % 4
        body = (
            {"model": MODEL, "inputs": [self.row] * 10} if kind == 1 else {"model": MODEL, "input": self.row}
        )
        hooked = n % 8 == 0
        if hooked:
            body |= {"webhook": self.receiver.url, "webhook_events_filter": ["completed"]}
        headers = {"Prefer": "wait=3"} if kind == 2 else {"Cancel-After": "600"} if kind == 3 else {}
        answer = self.call("POST", "/api/v1/predictions/", body, headers=headers)
        with self._lock:
            if answer.status in (200, 202):
                self.accepted.append(answer.json["id"])
                if hooked:
                    self.hooked.append(answer.json["id"])
                if kind == 2:
                    self.waits.append(answer)
            elif answer.status == 503:
                self.refused.append(answer)
            else:
                raise AssertionError(f"submit answered {answer.status}: {answer.json}")
        return answer

    def submit_many(self, count: int, *, clients: int = 8) -> list[Answer]:
        start = len(self.accepted) + len(self.refused)
        with ThreadPoolExecutor(clients) as pool:
            return list(pool.map(self.submit, range(start, start + count)))

    def backlog(self, count: int) -> None:
        """Queue `count` jobs while the workers are frozen, let them go, and return once they
        have run a first job: a fault struck now lands while jobs run and others wait."""
        self.workers_signal(signal.SIGSTOP)
        try:
            self.submit_many(count)
        finally:
            self.workers_signal(signal.SIGCONT)
        deadline = time.monotonic() + 60
        while not any(path.stat().st_size for path in self.ledger.iterdir()):
            assert time.monotonic() < deadline, "no job started"
            time.sleep(0.05)

    def workers_signal(self, signal_number: int) -> None:
        """Send a signal to every predict worker process (SIGSTOP: frozen, they take nothing;
        SIGCONT: on again), so that a backlog is queued before a fault."""
        for name, proc in self.stack.procs.items():
            if name.startswith("predict"):
                signal_all(process_tree(proc.pid), signal_number)

    def stored_jobs(self) -> int:
        """The user's jobs in MongoDB, read directly (not through the platform)."""
        with pymongo.MongoClient(self.stack.mongo_uri, serverSelectionTimeoutMS=5000) as client:
            return client.get_default_database()["prediction_jobs"].count_documents({"owner_id": self.owner})

    def settle(self, row: Row, *, since: float, deadline_s: float) -> list[dict]:
        """Wait until every accepted job has ended (or the deadline passed); fill `row` in."""
        pending, ended = set(self.accepted), {}
        deadline = time.monotonic() + deadline_s
        while pending and time.monotonic() < deadline:
            with ThreadPoolExecutor(8) as pool:
                answers = list(
                    pool.map(
                        lambda job_id: (job_id, self.call("GET", f"/api/v1/predictions/{job_id}/")),
                        sorted(pending),
                    )
                )
            for job_id, answer in answers:
                if answer.status == 200 and answer.json["status"] in ENDED:
                    ended[job_id] = answer.json
                    pending.discard(job_id)
            if pending:
                time.sleep(0.5)
        if not pending:
            row.recovery_s = time.monotonic() - since

        # Every ended job with a webhook is heard (its delivery follows its end by moments).
        def unheard() -> list[str]:
            return [job_id for job_id in self.hooked if job_id in ended and job_id not in self.receiver.heard]

        while unheard() and time.monotonic() < deadline + 30:
            time.sleep(0.2)
        row.unheard = len(unheard()) + sum(1 for answer in self.waits if answer.status not in (200, 202))
        runs = ledger_read(self.ledger)
        row.submitted = len(self.accepted)
        row.lost = len(pending)
        row.refused_503 = len(self.refused)
        for job in ended.values():
            if job["status"] == "succeeded":
                row.succeeded += 1
            elif job["status"] == "canceled":
                row.canceled += 1
            else:
                row.failed[job["error"]] += 1
        row.run_twice = sum(1 for job_id in self.accepted if len(runs.get(job_id, {}).get("finish", [])) > 1)
        row.ran_again = sum(1 for job_id in self.accepted if len(runs.get(job_id, {}).get("predict", [])) > 1)
        return list(ended.values())


def platform_fixture(name: str = "platform", **options):
    """A pytest fixture, `name`, giving each test its own Platform(**options), closed after it."""
    import pytest

    @pytest.fixture(name=name)
    def platform(tmp_path, mongo_server):
        running = Platform(tmp_path / "platform", **options)
        yield running
        running.close()

    return platform
