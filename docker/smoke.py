#!/usr/bin/env python3
"""Smoke test of compose.yaml: build the stack, start it, use it as a client would, tear it down.

Run it as root (docker and the stand-in scripts need root), from anywhere:

    sudo python3 docker/smoke.py

It uses the host's Python 3.11 and its standard library only, and docker-compose 1.29
(what docker/standin/engine.sh installs). Every step is timed; a table of the times ends
the report. The exit status is 0 only when every check passed and nothing was left behind.

Steps and checks:

1. Engine and images: docker/standin/engine.sh when `docker info` fails; then
   docker/standin/build.sh (idempotent: it keeps images already present and builds a
   stand-in only for one that is missing and cannot be pulled), whose summary is printed;
   then `docker-compose build` of the app image, and the app image's size.
2. Up: `docker-compose up -d` under the project name `platform-smoke`, with
   DJANGO_SECRET_KEY, POSTGRES_PASSWORD, REDIS_PASSWORD, FLOWER_BASIC_AUTH, ADMIN_PASSWORD,
   MONGO_ROOT_PASSWORD, MONGO_PASSWORD and METRICS_TOKEN freshly generated for this run and
   passed in the environment of docker-compose only (never on a command line, never printed). Then GET
   /readyz on the web's published address until it answers 200 (180 s at most).
3. The API, as README.md's "Use the API" describes it, over plain HTTP with
   `X-Forwarded-Proto: https` (compose's web expects a TLS proxy in front of it):
   register a user and log in (JWT); read the model's input schema; one one-row prediction
   with `Prefer: wait=30`, which must answer 200 with status `succeeded`; one batch of 10
   rows (each feature at the midpoint of its observed min and max), which must succeed with
   10 outputs; the user's history must list both jobs. Then, as `admin` (ADMIN_PASSWORD),
   a staff training run of the same model, followed until it ends: it must succeed and the
   promotion gate must promote it, and the model must then be served by the new version.
   A gate that rejects is reported with the API's own decision and reason, as a failure.
   Then the predict workers are scaled to 3 containers (`--scale worker=3`), and, once all
   three answer a Celery ping, 60 one-row jobs from 12 concurrent clients must each succeed
   and, by the worker each job names (its `metrics.worker`), have run on all three.
   Then a worker is killed mid-load: with the three paused (`docker pause`), 300 jobs from
   three more users are queued (every second one a batch of 1,000 rows); the workers resume,
   and once a first job has ended one worker container is killed (`docker kill`, SIGKILL).
   Another worker's rescue (workers/liveness.py) must report it gone and publish again the
   jobs it held (at least one: else the kill tested nothing), and every one of the 300
   jobs must end `succeeded`; the report says how many ran twice and how long it all took.
   Last, Prometheus: the web's /metrics refuses a scrape without METRICS_TOKEN (401) and,
   with it, has counted every job this run submitted, the 202s by route, the version the
   model serves (the training run's) and the depth of every queue; each live predict
   worker's own exporter (port 9808, unpublished, read from inside its container) has
   counted jobs finished there and their latencies.
4. Always, whatever happened: `docker-compose ps`; after a failure, the last 50 log lines
   of every service that is not running (or healthy, where it has a healthcheck); then
   `docker-compose down -v --remove-orphans`, and a check that no container, network or
   volume of the project is left (by the compose project label, and the volumes, named or
   anonymous, that the project's containers mounted).
5. A table of the steps and their seconds, and which images were local stand-ins (images
   labelled org.example.standin=true by docker/standin/build.sh) and what runs in them.

Every failed check stops the run with what was expected and the HTTP status and body that
came back instead. Nothing here changes the repository.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
PROJECT = "platform-smoke"
COMPOSE = ["docker-compose", "-p", PROJECT, "-f", "compose.yaml"]
PROJECT_LABEL = f"label=com.docker.compose.project={PROJECT}"
STANDIN_LABEL = "org.example.standin"

MODEL = "breast_cancer"  # README's example model
BATCH_ROWS = 10
READY_TIMEOUT_S = 180
WAIT_S = 30  # Prefer: wait=N on the submits
SCALE = 3  # predict workers, each a container of its own
SPREAD_JOBS, SPREAD_CLIENTS = 60, 12
KILL_USERS = 3  # each stays under the API's 120 submits a minute per user
KILL_JOBS_PER_USER = 100
KILL_BATCH_EVERY = 2  # every 2nd job a batch of KILL_BATCH_ROWS rows, the rest one row
KILL_BATCH_ROWS = 1000
RESCUE_TIMEOUT_S = 90
RECOVERY_TIMEOUT_S = 180
JOB_TIMEOUT_S = 60  # a batch that answered 202 is polled this long
TRAINING_TIMEOUT_S = 180
WORKER_METRICS_PORT = 9808  # compose.yaml's METRICS_PORT of the workers


class Image(NamedTuple):
    """An image compose.yaml or docker/Dockerfile names."""

    name: str
    role: str
    service: str  # whose container runs it
    probe: str  # a shell command that says what really runs in that container
    versioned: bool = True  # the probe's version can be held against the tag's


IMAGES = [
    Image(
        "python:3.11-slim",
        "Python (base of the app image)",
        "web",
        '. /etc/os-release; echo "$(python --version) on $PRETTY_NAME"',
    ),
    Image("redis:7", "Redis", "redis", "redis-server --version | cut -d' ' -f1-3"),
    Image("postgres:16", "PostgreSQL", "postgres", "postgres --version"),
    Image(
        "mongo:7",
        "MongoDB",
        "mongo",
        "if command -v mongod >/dev/null; then mongod --version | head -n 1; "
        "else python -c 'import secantus; print(\"SecantusDB\", secantus.__version__)' "
        "&& echo '(no mongod here)'; fi",
        versioned=False,  # the stand-in is another server, with version numbers of its own
    ),
]


class SmokeFailure(Exception):
    """A check that did not pass; its message says what was expected and what came back."""


# ---- output and timing ------------------------------------------------------------------

T0 = time.monotonic()
STEPS: list[tuple[str, float, str]] = []  # (step, seconds, "ok" | "FAILED")


def log(message: str) -> None:
    print(f"[smoke {time.strftime('%H:%M:%S')} +{time.monotonic() - T0:5.1f}s] {message}", flush=True)


@contextmanager
def step(name: str):
    """Time one step; it is recorded as FAILED when it raises."""
    log(f"--- {name}")
    start = time.monotonic()
    try:
        yield
    except BaseException:
        STEPS.append((name, time.monotonic() - start, "FAILED"))
        raise
    seconds = time.monotonic() - start
    STEPS.append((name, seconds, "ok"))
    log(f"    {name}: {seconds:.1f}s")


def indent(text: str, prefix: str = "    | ") -> str:
    return "\n".join(prefix + line for line in text.rstrip().splitlines())


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# ---- commands ---------------------------------------------------------------------------


def run(
    cmd: list[str], *, env: dict | None = None, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess:
    """Run a command in the repository, stdout and stderr together in .stdout."""
    try:
        done = subprocess.run(
            cmd,
            cwd=REPO,
            env=env,
            timeout=timeout,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else (exc.output or "")
        raise SmokeFailure(
            f"`{' '.join(cmd)}` did not finish in {timeout:.0f}s; its last output:\n{indent(tail(output))}"
        ) from None
    except FileNotFoundError:
        raise SmokeFailure(f"`{cmd[0]}` is not installed (docker/standin/engine.sh installs it)") from None
    if check and done.returncode != 0:
        raise SmokeFailure(f"`{' '.join(cmd)}` exited {done.returncode}:\n{indent(tail(done.stdout))}")
    return done


def compose(*args: str, env: dict, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    # Every compose command needs compose_env()'s secrets: compose.yaml refuses to load without them.
    return run([*COMPOSE, *args], env=env, timeout=timeout, check=check)


def compose_env() -> dict:
    """The child environment of docker-compose: this one plus fresh secrets for this run."""
    env = dict(os.environ)
    env.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        POSTGRES_PASSWORD=secrets.token_urlsafe(24),
        REDIS_PASSWORD=secrets.token_urlsafe(24),
        FLOWER_BASIC_AUTH=f"flower:{secrets.token_urlsafe(24)}",
        ADMIN_PASSWORD=secrets.token_urlsafe(24),
        MONGO_ROOT_PASSWORD=secrets.token_urlsafe(24),
        MONGO_PASSWORD=secrets.token_urlsafe(24),
        METRICS_TOKEN=secrets.token_urlsafe(32),
    )
    return env


def project_containers() -> list[str]:
    """The ids of the project's containers, running or not."""
    return run(["docker", "ps", "-a", "--filter", PROJECT_LABEL, "-q"], timeout=30).stdout.split()


def predict_node(container: str) -> str:
    """The Celery node name of a predict worker's container (predict@<its hostname>)."""
    return "predict@" + run(["docker", "inspect", "-f", "{{.Config.Hostname}}", container]).stdout.strip()


def project_leftovers() -> dict[str, list[str]]:
    """Containers, networks and volumes that carry the project's compose label."""
    found = {"containers": project_containers()}
    for kind, cmd in (
        ("networks", ["docker", "network", "ls", "--filter", PROJECT_LABEL, "-q"]),
        ("volumes", ["docker", "volume", "ls", "--filter", PROJECT_LABEL, "-q"]),
    ):
        found[kind] = run(cmd, timeout=30).stdout.split()
    return found


def project_services() -> list[tuple[str, str]]:
    """(service, trouble) of each container of the project, trouble "" when it is fine:
    running (and healthy, where it has a healthcheck), or a one-shot (restart "no") that
    exited 0, as compose's `setup` does."""
    ids = project_containers()
    if not ids:
        return []
    fmt = (
        '{{index .Config.Labels "com.docker.compose.service"}}\t{{.State.Status}}\t{{.State.ExitCode}}\t'
        "{{if .State.Health}}{{.State.Health.Status}}{{end}}\t{{.HostConfig.RestartPolicy.Name}}"
    )
    services = []
    for line in run(["docker", "inspect", "-f", fmt, *ids], timeout=30).stdout.splitlines():
        if not line.strip():
            continue
        service, state, code, health, restart = line.split("\t")
        if state == "running":
            trouble = "" if health in ("", "healthy") else f"running, {health}"
        elif state == "exited" and code == "0" and restart in ("", "no"):
            trouble = ""
        else:
            trouble = f"{state} (exit code {code}, restart policy {restart or 'no'})"
        services.append((service, trouble))
    return sorted(services)


def project_volumes_mounted() -> set[str]:
    """Every volume, named or anonymous, that a container of the project mounts."""
    ids = project_containers()
    if not ids:
        return set()
    fmt = '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}'
    return set(run(["docker", "inspect", "-f", fmt, *ids], timeout=30).stdout.split())


def image_label(image: str) -> str | None:
    """The image's stand-in label ("true" on a stand-in), or None when it is not present."""
    done = run(
        ["docker", "image", "inspect", "-f", f'{{{{ index .Config.Labels "{STANDIN_LABEL}" }}}}', image],
        timeout=30,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def app_image() -> str:
    """The image compose.yaml builds for the app services (the `image:` of its x-app block)."""
    text = (REPO / "compose.yaml").read_text()
    block = re.search(r"^x-app:.*?^\S", text, re.S | re.M)
    found = re.search(r"^\s+image:\s*(\S+)", block.group(0) if block else "", re.M)
    if not found:
        raise SmokeFailure("compose.yaml: no `image:` in its x-app block")
    return found.group(1)


# ---- HTTP -------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect (say, to https) is an answer to check, not one to follow.
    def redirect_request(self, *args, **kwargs):
        return None


# No proxy from the environment: the web is on this host.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


class Answer:
    def __init__(self, method: str, url: str, status: int, body: bytes):
        self.method, self.url, self.status = method, url, status
        self.text = body.decode(errors="replace")
        try:
            self.json = json.loads(self.text)
        except ValueError:
            self.json = None

    def describe(self) -> str:
        text = (
            self.text if len(self.text) <= 4000 else self.text[:4000] + f"... ({len(self.text)} characters)"
        )
        return f"{self.method} {self.url} answered {self.status}: {text}"


class Web:
    """The web service at its published address, as an API client."""

    def __init__(self, base: str):
        self.base = base
        self.requests = 0

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body=None,
        headers: dict | None = None,
        timeout: float = 30,
    ) -> Answer:
        self.requests += 1
        url = self.base + path
        all_headers = {
            "Accept": "application/json",
            "X-Forwarded-Proto": "https",  # as the TLS proxy in front of it would say
            "X-Request-ID": f"smoke-{os.getpid()}-{self.requests}",  # to find it in the logs
            **(headers or {}),
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
        try:
            with OPENER.open(request, timeout=timeout) as response:
                return Answer(method, url, response.status, response.read())
        except urllib.error.HTTPError as exc:
            return Answer(method, url, exc.code, exc.read())
        except (urllib.error.URLError, OSError) as exc:
            raise SmokeFailure(f"{method} {url}: no answer ({exc})") from None


def expect(ok: bool, what: str, answer: Answer) -> None:
    if not ok:
        raise SmokeFailure(f"expected {what}; {answer.describe()}")


def field(answer: Answer, name: str):
    return answer.json.get(name) if isinstance(answer.json, dict) else None


# ---- the steps --------------------------------------------------------------------------


def prepare_images(env: dict, report: dict) -> None:
    with step("docker engine"):
        if run(["docker", "info"], timeout=30, check=False).returncode != 0:
            log("docker info failed: running docker/standin/engine.sh")
            print(indent(run(["bash", "docker/standin/engine.sh"], timeout=600).stdout), flush=True)
            run(["docker", "info"], timeout=30)
        else:
            log("dockerd answers")
    with step("stand-in images (build.sh)"):
        out = run(["bash", "docker/standin/build.sh"], timeout=1800).stdout
        print(indent(out), flush=True)
        if "STAND-IN built" in out:
            log("build.sh built stand-ins in this run (see above)")
    with step("docker-compose build"):
        log("building the app image (minutes when nothing is cached, seconds otherwise)")
        out = compose("build", env=env, timeout=1800).stdout
        for line in dict.fromkeys(line for line in out.splitlines() if line.startswith("Successfully")):
            print(indent(line), flush=True)
    image = app_image()
    size = run(["docker", "image", "inspect", "-f", "{{.Size}}", image], timeout=30).stdout.strip()
    report["app_image"] = f"{image}: {int(size) / 1e6:.1f} MB"
    log(f"app image {report['app_image']}")


def start_stack(env: dict) -> Web:
    leftovers = project_leftovers()
    if any(leftovers.values()):
        with step("remove an earlier run's leftovers"):
            log(f"project {PROJECT} exists already ({leftovers}): taking it down first")
            compose("down", "-v", "--remove-orphans", env=env, timeout=180)
    with step("docker-compose up -d"):
        # `up -d` returns once `setup` (migrate, admin, first training) has finished and
        # the long-running services are started.
        out = compose("up", "-d", env=env, timeout=420).stdout
        print(indent(out), flush=True)
        setup = compose(
            "logs", "--no-color", "--tail", "10", "setup", env=env, timeout=60, check=False
        ).stdout
        log("setup said:")
        print(indent(setup), flush=True)
    address = compose("port", "web", "8000", env=env, timeout=30).stdout.strip()
    if not re.fullmatch(r"[\d.]+:\d+", address):
        raise SmokeFailure(f"`docker-compose port web 8000` said {address!r}, not HOST:PORT")
    host, port = address.rsplit(":", 1)
    if host == "0.0.0.0":
        host = "127.0.0.1"
    web = Web(f"http://{host}:{port}")
    log(f"web published at {web.base}")

    with step("ready (/readyz 200)"):
        deadline, last = time.monotonic() + READY_TIMEOUT_S, "no answer yet"
        while True:
            try:
                answer = web.call("GET", "/readyz", timeout=5)
                if answer.status == 200:
                    log(f"/readyz: {answer.text.strip()}")
                    break
                last = answer.describe()
            except SmokeFailure as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise SmokeFailure(f"/readyz did not answer 200 in {READY_TIMEOUT_S}s; last: {last}")
            time.sleep(1)
    return web


def probe_images(env: dict, report: dict) -> None:
    """What really runs in each service (for the stand-in summary); never fails the run."""
    for image in IMAGES:
        done = compose("exec", "-T", image.service, "sh", "-c", image.probe, env=env, timeout=60, check=False)
        if done.returncode == 0 and done.stdout.strip():
            report.setdefault("probes", {})[image.name] = " ".join(done.stdout.split())


def register(web: Web, username: str, password: str) -> None:
    """A new user, through the API."""
    answer = web.call(
        "POST",
        "/register/",
        body={
            "username": username,
            "email": f"{username}@example.com",
            "password": password,
            "password_confirm": password,
            "organization": "Smoke test",
        },
    )
    expect(answer.status == 201, "201 Created", answer)


def login(web: Web, username: str, password: str) -> str:
    """The user's access token (JWT)."""
    answer = web.call("POST", "/login/", body={"username": username, "password": password})
    expect(
        answer.status == 200 and field(answer, "access"), f"200 with an access token for {username}", answer
    )
    return answer.json["access"]


def api_flow(web: Web, admin_password: str, report: dict) -> None:
    username = f"smoke-{secrets.token_hex(4)}"
    password = f"Smoke-{secrets.token_urlsafe(16)}"

    with step("register"):
        register(web, username, password)

    with step("login (JWT)"):
        token = login(web, username, password)

    with step("model input schema"):
        answer = web.call("GET", f"/api/v1/models/{MODEL}/", token=token)
        schema = field(answer, "input_schema")
        expect(
            answer.status == 200 and isinstance(schema, list) and schema,
            f"200 with {MODEL}'s input_schema",
            answer,
        )
        try:
            row = {feature["name"]: (feature["min"] + feature["max"]) / 2 for feature in schema}
        except (KeyError, TypeError):
            raise SmokeFailure(
                f"every input_schema feature should have name, min and max; {answer.describe()}"
            ) from None
        log(f"{MODEL} v{field(answer, 'version')}: {len(row)} features, each at its min/max midpoint")
    report["token"], report["row"] = token, row

    wait = {"Prefer": f"wait={WAIT_S}"}
    with step(f"prediction, 1 row (Prefer: wait={WAIT_S})"):
        answer = web.call(
            "POST",
            "/api/v1/predictions/",
            token=token,
            headers=wait,
            body={"model": MODEL, "input": row},
            timeout=WAIT_S + 30,
        )
        expect(
            answer.status == 200 and field(answer, "status") == "succeeded",
            "200 with status succeeded (the job finished within the wait)",
            answer,
        )
        single = answer.json
        log(f"job {single['id']}: {json.dumps({k: single.get(k) for k in ('output', 'metrics')})}")

    with step(f"prediction, batch of {BATCH_ROWS} rows"):
        answer = web.call(
            "POST",
            "/api/v1/predictions/",
            token=token,
            headers=wait,
            body={"model": MODEL, "inputs": [row] * BATCH_ROWS},
            timeout=WAIT_S + 30,
        )
        expect(answer.status in (200, 202) and field(answer, "id"), "200 or 202 with the job", answer)
        batch_id = answer.json["id"]
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while field(answer, "status") not in ("succeeded", "failed", "canceled"):
            if time.monotonic() > deadline:
                raise SmokeFailure(
                    f"batch job not finished {JOB_TIMEOUT_S}s after the wait; {answer.describe()}"
                )
            time.sleep(0.5)
            answer = web.call("GET", f"/api/v1/predictions/{batch_id}/", token=token)
            expect(answer.status == 200, f"200 for job {batch_id}", answer)
        output = field(answer, "output")
        expect(
            field(answer, "status") == "succeeded" and isinstance(output, list) and len(output) == BATCH_ROWS,
            f"status succeeded with {BATCH_ROWS} outputs",
            answer,
        )
        log(f"job {batch_id}: {len(output)} outputs, metrics {json.dumps(answer.json.get('metrics'))}")

    with step("history lists both jobs"):
        answer = web.call("GET", "/api/v1/predictions/?limit=100", token=token)
        results = field(answer, "results")
        expect(answer.status == 200 and isinstance(results, list), "200 with results", answer)
        listed = {job.get("id"): job.get("status") for job in results}
        expect(
            listed.get(single["id"]) == "succeeded" and listed.get(batch_id) == "succeeded",
            f"jobs {single['id']} and {batch_id} listed as succeeded",
            answer,
        )
        log(f"history: {len(results)} jobs, both present")

    with step("admin login"):
        admin = login(web, "admin", admin_password)

    with step(f"training run ({MODEL})"):
        before = web.call("GET", f"/api/v1/models/{MODEL}/", token=admin)
        expect(before.status == 200, f"200 for {MODEL}", before)
        answer = web.call("POST", "/api/v1/trainings/", token=admin, body={"model": MODEL})
        expect(answer.status == 202 and field(answer, "id"), "202 with the training run", answer)
        run_id = answer.json["id"]
        log(f"training run {run_id} queued; champion before: v{field(before, 'version')}")
        deadline, stage = time.monotonic() + TRAINING_TIMEOUT_S, None
        while field(answer, "status") not in ("succeeded", "failed"):
            if time.monotonic() > deadline:
                raise SmokeFailure(f"training run not finished in {TRAINING_TIMEOUT_S}s; {answer.describe()}")
            time.sleep(0.5)
            answer = web.call("GET", f"/api/v1/trainings/{run_id}/", token=admin)
            expect(answer.status == 200, f"200 for training run {run_id}", answer)
            if field(answer, "stage") != stage:
                stage = field(answer, "stage")
                log(f"    stage: {stage}")
        training = answer.json
        report["training"] = (
            f"v{training.get('version')} {training.get('decision')}: {training.get('decision_reason')} "
            f"(ran {training.get('duration_s')}s)"
        )
        expect(training["status"] == "succeeded", "the training run to succeed", answer)
        if training.get("decision") != "promoted":
            raise SmokeFailure(
                f"the promotion gate did not promote: decision={training.get('decision')!r}, "
                f"reason={training.get('decision_reason')!r}; {answer.describe()}"
            )
        log(f"training: {report['training']}")
        after = web.call("GET", f"/api/v1/models/{MODEL}/", token=admin)
        expect(
            after.status == 200 and field(after, "version") == training.get("version"),
            f"{MODEL} served by the promoted v{training.get('version')}",
            after,
        )


def teardown(env: dict, failed: bool) -> list[str]:
    """ps, logs of the services in trouble (after a failure), down -v, and the leftovers check.
    Returns what went wrong here (nothing, when all is clean)."""
    problems = []
    try:
        print(indent(compose("ps", env=env, timeout=60, check=False).stdout), flush=True)
        if failed:
            for service, trouble in project_services():
                if trouble:
                    log(f"{service} is {trouble}: its last 50 log lines")
                    logs = compose(
                        "logs", "--no-color", "--tail", "50", service, env=env, timeout=60, check=False
                    )
                    print(indent(logs.stdout), flush=True)
        mounted = project_volumes_mounted()
    except SmokeFailure as exc:
        problems.append(f"inspecting the stack: {exc}")
        mounted = set()

    with step("docker-compose down -v"):
        try:
            print(indent(compose("down", "-v", "--remove-orphans", env=env, timeout=180).stdout), flush=True)
        except SmokeFailure as exc:
            problems.append(str(exc))

    with step("nothing left behind"):
        try:
            left = project_leftovers()
            existing = set(run(["docker", "volume", "ls", "-q"], timeout=30).stdout.split())
        except SmokeFailure as exc:
            problems.append(f"listing what is left: {exc}")
            return problems
        left["volumes the containers mounted"] = sorted(mounted & existing)
        for kind, ids in left.items():
            if ids:
                problems.append(f"left behind after down -v: {kind} {' '.join(ids)}")
        if not problems:
            log(f"nothing of {PROJECT} is left: no container, network or volume ({len(mounted)} removed)")
    return problems


def standin_summary(report: dict) -> list[str]:
    """One line saying which images were stand-ins, then one line for each image."""
    lines = []
    probes = report.get("probes", {})
    labels = {image.name: image_label(image.name) for image in IMAGES}
    standins = [image for image, label in labels.items() if label == "true"]
    real = [image for image, label in labels.items() if label is not None and label != "true"]
    lines.append(
        f"Stand-ins ({STANDIN_LABEL}=true): {', '.join(standins) or 'none'}; "
        f"real images: {', '.join(real) or 'none'}"
    )
    for image in IMAGES:
        label = labels[image.name]
        if label is None:
            lines.append(f"{image.role}: {image.name} not present")
            continue
        what = probes.get(image.name, "not probed")
        if label != "true":
            lines.append(f"{image.role}: real {image.name} ({what})")
            continue
        # "postgres:16" wants 16.x: say so when the stand-in runs another version.
        wanted = re.match(r"\d+(\.\d+)*", image.name.split(":", 1)[1]).group(0)
        found = re.search(r"\d+(\.\d+)+", what)
        other = image.versioned and found and not (found.group(0) + ".").startswith(wanted + ".")
        lines.append(
            f"{image.role}: STAND-IN for {image.name}: {what}" + (f" (not {wanted})" if other else "")
        )
    app = app_image()
    if image_label(app) == "true":
        lines.append(f"App image {app}: built on the python:3.11-slim stand-in (inherits its label)")
    return lines


def redis_hardened(env: dict) -> None:
    """Redis as compose configures it: a password it insists on and that no command line
    shows, AOF on, noeviction."""
    with step("redis: password, AOF, noeviction"):
        anonymous = compose(
            "exec", "-T", "-e", "REDISCLI_AUTH=", "redis", "redis-cli", "ping", env=env, check=False
        )
        if "NOAUTH" not in anonymous.stdout:
            raise SmokeFailure(
                f"redis should refuse a client without the password; it said: {anonymous.stdout!r}"
            )
        settings = {}
        for name in ("appendonly", "maxmemory-policy"):
            answer = compose(
                "exec", "-T", "redis", "redis-cli", "config", "get", name, env=env
            ).stdout.split()
            settings[name] = answer[1] if len(answer) > 1 else None
        if settings != {"appendonly": "yes", "maxmemory-policy": "noeviction"}:
            raise SmokeFailure(f"redis should run with AOF and noeviction; it runs with {settings}")
        shown = compose("exec", "-T", "redis", "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '", env=env)
        if env["REDIS_PASSWORD"] in shown.stdout:
            raise SmokeFailure("the redis password is on a command line in the redis container")
        log(f"redis: refuses without the password; {settings}; the password on no command line")


# Run in the web container (its image has pymongo, whichever image mongo runs): what an
# anonymous client and the web's own MONGODB_URI may do. No secret on this command line:
# the web's URI is read from its environment.
MONGO_AUTH_PROBE = """
import os
from pymongo import MongoClient
from pymongo.errors import OperationFailure

def attempt(action):
    try:
        action()
        return "allowed"
    except OperationFailure as exc:
        return f"refused:{exc.code}"

anonymous = MongoClient("mongodb://mongo:27017/", serverSelectionTimeoutMS=5000)
platform = MongoClient(os.environ["MONGODB_URI"], serverSelectionTimeoutMS=5000)
print("anonymous-read", attempt(lambda: anonymous.predictions.jobs.find_one()))
print("platform-read", attempt(lambda: platform.predictions.jobs.find_one()))
print("platform-other-db", attempt(lambda: platform.other.things.find_one()))
print("platform-users", attempt(lambda: platform.admin.command("usersInfo", 1)))
"""


def mongo_auth(env: dict) -> None:
    """MongoDB as compose configures it: a login required, the apps logged in as `platform`
    (readWrite on predictions alone), and the root password in the environment of mongo and
    setup only, on no command line."""
    root_password = env["MONGO_ROOT_PASSWORD"]
    with step("mongo: auth on, the apps as platform"):
        done = compose("exec", "-T", "web", "python", "-c", MONGO_AUTH_PROBE, env=env, check=False)
        seen = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.count(" ") == 1)
        wanted = {
            "anonymous-read": "refused",
            "platform-read": "allowed",
            "platform-other-db": "refused",
            "platform-users": "refused",
        }
        if done.returncode != 0 or any(not seen.get(k, "").startswith(v) for k, v in wanted.items()):
            raise SmokeFailure(f"expected {wanted}; the probe in web said:\n{indent(tail(done.stdout))}")
        log(f"mongo: {', '.join(f'{k} {v}' for k, v in seen.items())}")

        ids = project_containers()
        fmt = '{{index .Config.Labels "com.docker.compose.service"}}\t{{json .Config.Env}}'
        holders, checked = set(), set()
        for line in run(["docker", "inspect", "-f", fmt, *ids], timeout=30).stdout.splitlines():
            if not line.strip():
                continue
            service, variables = line.split("\t", 1)
            names = [item.split("=", 1)[0] for item in json.loads(variables)]
            if root_password in variables or {"MONGO_INITDB_ROOT_PASSWORD", "MONGODB_ADMIN_URI"} & set(names):
                holders.add(service)
            checked.add(service)
            uri = next((item for item in json.loads(variables) if item.startswith("MONGODB_URI=")), None)
            if uri and not uri.startswith("MONGODB_URI=mongodb://platform:"):
                raise SmokeFailure(f"{service}'s MONGODB_URI should log in as platform")
        # setup must hold it (it makes the platform's user): the search finds what it looks for.
        if holders != {"mongo", "setup"} or not {"web", "worker", "beat"} <= checked:
            raise SmokeFailure(
                f"the root password should be in the environment of mongo and setup only; "
                f"it is in {sorted(holders)} (containers checked: {sorted(checked)})"
            )
        shown = compose("exec", "-T", "mongo", "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '", env=env)
        if root_password in shown.stdout:
            raise SmokeFailure("the mongo root password is on a command line in the mongo container")
        log(
            f"mongo: the root password in the environment of {' and '.join(sorted(holders))} only, "
            f"none of {', '.join(sorted(checked - holders))}; on no command line"
        )


def predict_workers(env: dict) -> list[str]:
    """The predict workers answering a Celery ping (node names predict@<container>)."""
    ping = ["celery", "-A", "myproject", "inspect", "ping", "--timeout", "3"]
    answer = compose("exec", "-T", "web", *ping, env=env, timeout=60, check=False)
    return sorted(set(re.findall(r"predict@[\w.-]+", answer.stdout)))


def worker_spread(web: Web, env: dict, report: dict) -> None:
    """Three predict workers, and one-row jobs from concurrent clients spread over all three:
    each job names the worker that ran it (metrics.worker)."""
    with step(f"scale the predict workers to {SCALE}"):
        compose("up", "-d", "--no-recreate", "--scale", f"worker={SCALE}", env=env, timeout=240)
        deadline = time.monotonic() + 120
        while len(found := predict_workers(env)) < SCALE:
            if time.monotonic() > deadline:
                raise SmokeFailure(f"{SCALE} predict workers should answer a ping; these did: {found}")
            time.sleep(1)
        log(f"predict workers answering: {', '.join(found)}")

    def one(_):
        answer = web.call(
            "POST",
            "/api/v1/predictions/",
            token=report["token"],
            headers={"Prefer": f"wait={WAIT_S}"},
            body={"model": MODEL, "input": report["row"]},
            timeout=WAIT_S + 30,
        )
        expect(answer.status == 200 and field(answer, "status") == "succeeded", "200 succeeded", answer)
        return answer.json["metrics"]["worker"]

    with step("the predict workers share no volume"):
        ids = compose("ps", "-q", "worker", env=env).stdout.split()
        mounts = run(["docker", "inspect", "-f", "{{.Name}} {{len .Mounts}}", *ids]).stdout.split("\n")
        shared = [line for line in mounts if line.strip() and not line.strip().endswith(" 0")]
        if len(ids) != SCALE or shared:
            raise SmokeFailure(
                f"{SCALE} predict workers with no mounts expected; found {ids}, mounts {shared}"
            )
        log(
            f"{len(ids)} predict worker containers, none with a volume or bind mount: they need only "
            "REDIS_URL, MONGODB_URI and DATABASE_URL (artifacts come from MongoDB GridFS)"
        )

    with step(f"{SPREAD_JOBS} one-row jobs from {SPREAD_CLIENTS} clients"):
        with ThreadPoolExecutor(SPREAD_CLIENTS) as pool:
            ran_on = list(pool.map(one, range(SPREAD_JOBS)))
        counts = {name: ran_on.count(name) for name in sorted(set(ran_on))}
        log(f"jobs per worker: {counts}")
        report["spread"] = counts
        if len(counts) < SCALE:
            raise SmokeFailure(f"jobs should have run on all {SCALE} workers; they ran on {counts}")


def new_user(web: Web) -> str:
    """Register a user and log in: its access token."""
    username = f"smoke-{secrets.token_hex(4)}"
    password = f"Smoke-{secrets.token_urlsafe(16)}"
    register(web, username, password)
    return login(web, username, password)


def rescue_lines(env: dict) -> list[tuple[str, int]]:
    """What the workers' rescue logged: (node, jobs published again) per worker found gone."""
    logs = compose("logs", "--no-color", "worker", env=env, timeout=60).stdout
    return [
        (node, int(count))
        for node, count in re.findall(
            r"worker (\S+) (?:is gone|lost processes or restarted): (\d+) of its jobs", logs
        )
    ]


def worker_killed(web: Web, env: dict, report: dict) -> None:
    """One predict worker container killed (SIGKILL) while it runs jobs of a backlog: every
    accepted job still ends, succeeded, the dead worker's ones run again elsewhere."""
    with step(f"{KILL_USERS} more users"):
        tokens = [new_user(web) for _ in range(KILL_USERS)]
    workers = compose("ps", "-q", "worker", env=env).stdout.split()
    row = report["row"]

    def submit(n: int) -> str:
        batch = n % KILL_BATCH_EVERY == 0
        body = (
            {"model": MODEL, "inputs": [row] * KILL_BATCH_ROWS} if batch else {"model": MODEL, "input": row}
        )
        answer = web.call("POST", "/api/v1/predictions/", token=tokens[n % KILL_USERS], body=body, timeout=60)
        expect(answer.status == 202 and field(answer, "id"), "202 with the job's id", answer)
        return answer.json["id"]

    total = KILL_USERS * KILL_JOBS_PER_USER
    with step(f"a backlog: {total} jobs queued while the predict workers are paused"):
        # Paused (frozen), the workers take nothing: once they resume, each is busy for
        # seconds, so the kill below lands while the victim runs jobs, not between them.
        run(["docker", "pause", *workers])
        try:
            with ThreadPoolExecutor(12) as pool:
                ids = list(pool.map(submit, range(total)))
        finally:
            run(["docker", "unpause", *workers])
        log(f"{total} jobs accepted ({total // KILL_BATCH_EVERY} of {KILL_BATCH_ROWS} rows), workers resumed")

    victim = workers[0]
    node = predict_node(victim)
    before = {name for name, _ in rescue_lines(env)}
    with step(f"kill one predict worker mid-load ({node}, SIGKILL)"):
        # Once the resumed workers have finished a first job of the backlog, each is busy
        # with the rest of it for seconds: the victim holds jobs when it dies.
        started = time.monotonic()
        while all(
            web.call("GET", f"/api/v1/predictions/{job_id}/", token=tokens[n % KILL_USERS]).json["status"]
            in ("queued", "running")
            for n, job_id in enumerate(ids[:6])
        ):
            if time.monotonic() - started > RESCUE_TIMEOUT_S:
                raise SmokeFailure("no job of the backlog ended: the workers did not resume")
        run(["docker", "kill", "--signal", "KILL", victim])
        killed = time.monotonic()
        deadline = killed + RESCUE_TIMEOUT_S
        while not (
            found := [count for name, count in rescue_lines(env) if name == node and name not in before]
        ):
            if time.monotonic() > deadline:
                raise SmokeFailure(f"no worker reported {node} gone within {RESCUE_TIMEOUT_S}s")
            time.sleep(1)
        rescued_after = time.monotonic() - killed
        log(f"{node} found gone {rescued_after:.0f}s after the kill: {found[0]} of its jobs published again")
        if not found[0]:
            # Its messages' jobs had all been run by the other workers' micro-batches (they
            # take queued one-row jobs as peers): the death was found, nothing was left to
            # publish again. The rescue of held jobs is tested in tests/workers/test_liveness.py
            # and by `make chaos`.
            log(f"{node} held no unfinished job when it was killed: nothing to publish again")

    with step(f"every one of the {total} jobs ends"):
        pending, ended = set(ids), {}

        owner = {job_id: tokens[n % KILL_USERS] for n, job_id in enumerate(ids)}

        def look(job_id: str) -> tuple[str, Answer]:
            return job_id, web.call("GET", f"/api/v1/predictions/{job_id}/", token=owner[job_id])

        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while pending:
            if time.monotonic() > deadline:
                raise SmokeFailure(f"{len(pending)} jobs never ended, e.g. {sorted(pending)[:3]}")
            with ThreadPoolExecutor(12) as pool:
                answers = list(pool.map(look, sorted(pending)))
            for job_id, answer in answers:
                expect(answer.status == 200, "200 with the job", answer)
                if answer.json["status"] not in ("queued", "running"):
                    ended[job_id] = answer.json
                    pending.discard(job_id)
            if pending:
                time.sleep(1)
        all_ended = time.monotonic() - killed
        statuses = {}
        for job in ended.values():
            statuses[job["status"]] = statuses.get(job["status"], 0) + 1
        again = [job for job in ended.values() if job["attempts"] > 1]
        on_victim = sum(1 for job in ended.values() if job["metrics"]["worker"] == node)
        report["kill"] = (
            f"{total} jobs, {statuses}; {node} killed: {found[0]} of its jobs published again "
            f"{rescued_after:.0f}s after, {len(again)} ran a second time elsewhere, {on_victim} had "
            f"finished on it before; the last job ended {all_ended:.0f}s after the kill"
        )
        log(report["kill"])
        if statuses.get("succeeded") != total:
            failed = [
                (job["id"], job["status"], job["error"])
                for job in ended.values()
                if job["status"] != "succeeded"
            ]
            raise SmokeFailure(f"every job should succeed; these did not: {failed[:5]}")
        state = run(
            ["docker", "inspect", "-f", "{{.State.Status}} restarts={{.RestartCount}}", victim]
        ).stdout.strip()
        log(f"the killed container: {state} (compose does not restart a container killed by hand)")


def samples(text: str, name: str) -> list[tuple[dict, float]]:
    """The samples of one metric in a Prometheus text exposition: (labels, value)."""
    found = []
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if match:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or ""))
            found.append((labels, float(match.group(2))))
    return found


def total(text: str, name: str, **labels) -> float:
    return sum(value for found, value in samples(text, name) if labels.items() <= found.items())


WORKER_SCRAPE = (
    "import urllib.request; "
    f"url = 'http://127.0.0.1:{WORKER_METRICS_PORT}/metrics'; "
    "print(urllib.request.urlopen(url, timeout=10).read().decode())"
)


def metrics_scraped(web: Web, env: dict, report: dict, submitted: int) -> None:
    """The web's /metrics (behind METRICS_TOKEN) and each live predict worker's own exporter
    (WORKER_METRICS_PORT, inside the compose network) count what this run did."""
    with step(f"Prometheus metrics: web (/metrics) and each predict worker (:{WORKER_METRICS_PORT})"):
        refused = web.call("GET", "/metrics", headers={"Accept": "text/plain"})
        expect(refused.status == 401, "401 without the token", refused)
        answer = web.call(
            "GET",
            "/metrics",
            headers={"Accept": "text/plain", "Authorization": f"Bearer {env['METRICS_TOKEN']}"},
        )
        expect(answer.status == 200, "200 with the token", answer)
        text = answer.text
        counted = total(text, "platform_jobs_submitted_total", model=MODEL)
        if counted != submitted:
            raise SmokeFailure(
                f"the web counted {counted:.0f} jobs submitted; this run submitted {submitted}"
            )
        accepted = total(text, "platform_http_requests_total", route="/api/v1/predictions/", status="202")
        serving = total(text, "platform_model_serving_version", model=MODEL)
        if serving != 2:
            raise SmokeFailure(f"{MODEL} should be served by v2 (the training run's); metrics say {serving}")
        depth = samples(text, "platform_queue_depth")
        if {labels.get("queue") for labels, _ in depth} < {"predict", "train", "webhooks"}:
            raise SmokeFailure(f"queue depth should be there for every queue; found {depth}")
        log(
            f"web: {counted:.0f} jobs submitted (all of this run's), {accepted:.0f} answered 202 on "
            f"/api/v1/predictions/, {MODEL} served by v{serving:.0f}, queue depth {depth}"
        )
        finished = {}
        live = run(
            [
                "docker",
                "ps",
                "-q",
                "--filter",
                PROJECT_LABEL,
                "--filter",
                "label=com.docker.compose.service=worker",
            ]
        ).stdout.split()
        for container in live:
            node = predict_node(container)
            scraped = run(["docker", "exec", container, "python", "-c", WORKER_SCRAPE], check=False)
            if scraped.returncode != 0:
                raise SmokeFailure(f"{node}'s exporter did not answer:\n{indent(tail(scraped.stdout))}")
            finished[node] = total(
                scraped.stdout, "platform_jobs_finished_total", model=MODEL, status="succeeded"
            )
            if not total(scraped.stdout, "platform_job_total_seconds_count", model=MODEL):
                raise SmokeFailure(f"{node} observed no job latency")
        if len(finished) != SCALE - 1 or not all(finished.values()):
            raise SmokeFailure(
                f"the {SCALE - 1} live predict workers should each count finished jobs: {finished}"
            )
        log(f"live predict workers' exporters, jobs finished there: {finished}")
        report["metrics"] = f"{counted:.0f} submitted counted by the web; finished per live worker {finished}"


def main() -> int:
    if os.geteuid() != 0:
        print("run as root: sudo python3 docker/smoke.py", file=sys.stderr)
        return 2
    env = compose_env()
    report: dict = {}
    failure = summary = None
    docker_ready = False
    try:
        prepare_images(env, report)
        docker_ready = True
        web = start_stack(env)
        with step("what runs in each image"):
            probe_images(env, report)
        redis_hardened(env)
        mongo_auth(env)
        api_flow(web, env["ADMIN_PASSWORD"], report)
        worker_spread(web, env, report)
        worker_killed(web, env, report)
        # api_flow's two jobs, then worker_spread's and worker_killed's.
        metrics_scraped(web, env, report, submitted=2 + SPREAD_JOBS + KILL_USERS * KILL_JOBS_PER_USER)
    except SmokeFailure as exc:
        failure = str(exc)
        summary = failure.splitlines()[0]
    except KeyboardInterrupt:
        failure = summary = "interrupted"
    except Exception as exc:  # a bug here, or something unforeseen: still tear down
        failure = traceback.format_exc()
        summary = f"{type(exc).__name__}: {exc}"
    finally:
        if failure:
            log(f"FAILED: {failure}")
        # After a failed engine step there is no docker to clean up with.
        if docker_ready or run(["docker", "info"], timeout=30, check=False).returncode == 0:
            cleanup_problems = teardown(env, failed=failure is not None)
        else:
            cleanup_problems = ["docker does not answer: nothing could be checked or removed"]

    print("\n==== smoke test report " + "=" * 56)
    width = max(len(name) for name, _, _ in STEPS) if STEPS else 10
    for name, seconds, result in STEPS:
        print(f"  {name:<{width}}  {seconds:7.1f}s  {result}")
    print(f"  {'total':<{width}}  {time.monotonic() - T0:7.1f}s")
    if "app_image" in report:
        print(f"  app image: {report['app_image']}")
    if "training" in report:
        print(f"  training run: {report['training']}")
    if "spread" in report:
        print(f"  jobs per predict worker: {report['spread']}")
    if "kill" in report:
        print(f"  worker killed mid-load: {report['kill']}")
    if "metrics" in report:
        print(f"  metrics: {report['metrics']}")
    try:
        for line in standin_summary(report):
            print(f"  {line}")
    except SmokeFailure as exc:
        print(f"  images: could not be inspected ({exc})")
    for problem in cleanup_problems:
        print(f"  CLEANUP FAILED: {problem}")
    if failure:
        print(f"  FAILED: {summary}")
    ok = failure is None and not cleanup_problems
    print(f"  result: {'PASSED' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
