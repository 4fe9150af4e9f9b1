"""The load generator: authenticated HTTP clients in processes of their own.

Each process runs an asyncio loop of aiohttp clients, so the clients' CPU is counted apart
from the server's and never steals a thread from the process that measures. The processes
are started once (spawn, each logs in once) and take one scenario at a time over a pipe.
Every client is closed-loop: it sends its next request when the previous one is done.
"""

import asyncio
import json
import multiprocessing
import os
import time
from collections import Counter

import aiohttp

from .procs import Meter

SUBMIT = "/api/v1/predictions/"
FLOOR = "/bench/floor/"  # bench/web_urls.py
LOGIN = "/login/"
FINISHED = ("succeeded", "failed", "canceled")
# A polling client looks again after 10 ms, then 1.5 times later each time, up to 200 ms.
POLL_FIRST_S, POLL_GROWTH, POLL_MAX_S = 0.010, 1.5, 0.200


class Clients:
    def __init__(
        self, base: str, users: list[dict], processes: int, env: dict, meter: Meter, *, login: str = LOGIN
    ):
        """`login`: where the users get their token (another app than the platform's: bench/peer/)."""
        context = multiprocessing.get_context("spawn")
        self.meter, self.pipes, self.procs = meter, [], []
        for index in range(processes):
            parent, child = context.Pipe()
            user = users[index % len(users)]
            proc = context.Process(
                target=serve, args=(child, base, user, env, login), name=f"bench-client-{index}"
            )
            proc.start()
            child.close()  # so that a client process that dies is an EOFError here, not a hang
            meter.add("clients", proc.pid)
            self.pipes.append(parent)
            self.procs.append(proc)
        for pipe in self.pipes:
            if not pipe.poll(60):
                raise RuntimeError("a client process did not log in within 60 s")
            answer = pipe.recv()
            if "error" in answer:
                raise RuntimeError(f"a client process could not start: {answer['error']}")

    def run(self, spec: dict, clients: int) -> dict:
        """Run one scenario on `clients` clients spread over the processes; merged records."""
        used = min(clients, len(self.pipes))
        shares = [clients // used + (1 if index < clients % used else 0) for index in range(used)]
        # Every process starts its warm-up at the same moment (CLOCK_MONOTONIC is system-wide).
        t_start = time.monotonic() + 0.2
        t0 = t_start + spec.get("warmup_s", 0.0)
        timing = {"t_start": t_start, "t0": t0, "t_end": t0 + spec["duration_s"]}
        offsets = [sum(shares[:index]) for index in range(used)]
        for pipe, share, offset in zip(self.pipes, shares, offsets, strict=False):
            pipe.send({**spec, **timing, "clients": share, "first_client": offset, "all_clients": clients})
        parts = [pipe.recv() for pipe in self.pipes[:used]]
        merged = {"t0": t0, "t_end": timing["t_end"], "errors": Counter(), "error_samples": {}}
        for part in parts:
            for key, value in part.items():
                if key == "errors":
                    merged["errors"].update(value)
                elif key == "error_samples":
                    merged["error_samples"].update(value)
                elif isinstance(value, list):
                    merged.setdefault(key, []).extend(value)
                elif isinstance(value, int | float):
                    merged[key] = merged.get(key, 0) + value
        merged["errors"] = dict(merged["errors"])
        return merged

    def call(self, spec: dict) -> dict:
        """Something one process does alone (the no-op Celery client)."""
        self.pipes[0].send(spec)
        return self.pipes[0].recv()

    def close(self) -> None:
        self.meter.retire("clients", [proc.pid for proc in self.procs])
        for pipe in self.pipes:
            pipe.send(None)
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()


def serve(pipe, base: str, user: dict, env: dict, login: str = LOGIN) -> None:
    os.environ.update(env)  # bench.noop reads the platform's settings (REDIS_URL) from it
    loop = asyncio.new_event_loop()
    try:
        token = loop.run_until_complete(_login(base, user, login))
    except Exception as exc:  # reported to the parent, which stops the run
        pipe.send({"error": repr(exc)})
        return
    pipe.send({"ready": True})
    while (spec := pipe.recv()) is not None:
        if spec["kind"] == "noop_roundtrip":
            from . import noop

            pipe.send({"seconds": noop.roundtrip(spec["n"])})
        elif spec["kind"] == "noop_throughput":
            from . import noop

            pipe.send(noop.throughput(spec["n"]))
        else:
            pipe.send(loop.run_until_complete(_scenario(base, token, spec)))


async def _login(base: str, user: dict, login: str = LOGIN) -> str:
    async with aiohttp.ClientSession() as session, session.post(f"{base}{login}", json=user) as answer:
        body = await answer.json()
        if answer.status != 200:
            raise RuntimeError(f"login failed: {answer.status} {body}")
        return body["access"]


async def _scenario(base: str, token: str, spec: dict) -> dict:
    out = {
        "latency_s": [],
        "end_t": [],
        "paired_s": [],
        "errors": Counter(),
        "error_samples": {},
        "held_202": 0,
        "gets": 0,
        "queue_s": [],
        "predict_s": [],
        "bytes": 0,
        "first_row_s": [],
        "rows": 0,
    }
    bodies = [body.encode() for body in spec.get("bodies", [])]
    # Paired: every other request is this one instead (a one-row job between batches), so the
    # two are measured in the same moments and their difference carries no drift.
    pair = spec["paired_body"].encode() if spec.get("paired_body") else None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=spec.get("timeout_s", 120))
    connector = aiohttp.TCPConnector(limit=0)
    max_requests = spec.get("max_requests") or 0
    counted = 0
    async with aiohttp.ClientSession(base, headers=headers, timeout=timeout, connector=connector) as session:

        async def client(index: int) -> None:
            nonlocal counted
            turn = index
            if spec.get("stagger") and bodies:
                # Each client (of every process) walks the bodies from its own share of them:
                # a sequence (models in rotation) is not requested by two clients in step.
                turn = (spec["first_client"] + index) * len(bodies) // spec["all_clients"]
            await asyncio.sleep(max(0.0, spec["t_start"] - time.monotonic()))
            while (started := time.monotonic()) < spec["t_end"]:
                if max_requests and counted >= max_requests:
                    break
                measured = started >= spec["t0"]
                counted += measured
                paired = pair is not None and turn % 2 == 1
                body = pair if paired else bodies[turn % len(bodies)] if bodies else None
                try:
                    await _request(session, spec, body, out)
                except _Failed as failure:
                    out["errors"][failure.kind] += 1
                    out["error_samples"].setdefault(failure.kind, failure.detail[:300])
                    continue
                except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
                    # A dropped connection, a timeout, or an answer that is not the job it should be.
                    out["errors"][type(exc).__name__] += 1
                    out["error_samples"].setdefault(type(exc).__name__, str(exc)[:300])
                    continue
                finally:
                    turn += 1
                if measured and paired:
                    out["paired_s"].append(time.monotonic() - started)
                elif measured:
                    now = time.monotonic()
                    out["latency_s"].append(now - started)
                    out["end_t"].append(now)

        await asyncio.gather(*(client(index) for index in range(spec["clients"])))
    out["errors"] = dict(out["errors"])
    return out


class _Failed(Exception):
    def __init__(self, kind: str, detail: str):
        super().__init__(kind)
        self.kind, self.detail = kind, detail


async def _request(session, spec, body, out) -> None:
    kind = spec["kind"]
    if kind == "get":
        async with session.get(spec["path"]) as answer:
            data = await answer.read()
            if answer.status != 200:
                raise _Failed(f"HTTP {answer.status}", data.decode(errors="replace"))
            out["bytes"] += len(data)
        # A page that came back short would time the wrong thing: fail it rather.
        if spec.get("expect_results") and len(json.loads(data)["results"]) != spec["expect_results"]:
            raise _Failed("short page", f"expected {spec['expect_results']} results")
        return
    if kind == "csv":
        await _csv(session, spec, out)
        return
    if kind in ("floor", "post"):  # "post": the body to spec["path"], answered 200
        async with session.post(FLOOR if kind == "floor" else spec["path"], data=body) as answer:
            data = await answer.read()
            if answer.status != 200:
                raise _Failed(f"HTTP {answer.status}", data.decode(errors="replace"))
        return
    headers = {"Prefer": f"wait={spec['wait_s']}"} if kind == "wait" else {}
    async with session.post(SUBMIT, data=body, headers=headers) as answer:
        data = await answer.read()
        status = answer.status
    if status not in (200, 202):
        raise _Failed(f"HTTP {status}", data.decode(errors="replace"))
    job = json.loads(data)
    if status == 202 and kind == "wait":
        out["held_202"] += 1  # no waiter slot was free: the client polls, as a real one would
    delay = POLL_FIRST_S
    while job["status"] not in FINISHED:
        await asyncio.sleep(delay)
        delay = min(delay * POLL_GROWTH, POLL_MAX_S)
        async with session.get(f"{SUBMIT}{job['id']}/") as answer:
            data = await answer.read()
            if answer.status != 200:
                raise _Failed(f"HTTP {answer.status} on poll", data.decode(errors="replace"))
        out["gets"] += 1
        job = json.loads(data)
    if job["status"] != "succeeded":
        raise _Failed(f"job {job['status']}", str(job.get("error")))
    metrics = job.get("metrics") or {}
    if metrics.get("queue_s") is not None:
        out["queue_s"].append(metrics["queue_s"])
        out["predict_s"].append(metrics["predict_s"])


async def _csv(session, spec, out) -> None:
    """Stream the export; stop reading after cap_s (a huge history) and report how far it got."""
    started = time.monotonic()
    first_row, lines = None, 0
    async with session.get(spec["path"]) as answer:
        if answer.status != 200:
            raise _Failed(f"HTTP {answer.status}", (await answer.read()).decode(errors="replace"))
        async for chunk in answer.content.iter_any():
            lines += chunk.count(b"\n")
            if first_row is None and lines >= 2:  # the header, then the first job
                first_row = time.monotonic() - started
            if time.monotonic() - started > spec["cap_s"]:
                out["errors"]["cut at cap_s"] += 1
                out["error_samples"].setdefault("cut at cap_s", f"stopped reading after {spec['cap_s']} s")
                break
    out["rows"] += lines
    if first_row is not None:
        out["first_row_s"].append(first_row)
