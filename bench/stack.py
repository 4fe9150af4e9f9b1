"""The platform as `make up` runs it, started privately for one bench run.

Its own SecantusDB, redis-server, gunicorn and Celery workers on free ports, with a
temporary VAR_DIR, so a running `make up` is never touched. The web and the predict worker
run the Procfile's own command lines, so the bench follows any change made there.
"""

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from myproject.defaults import ROOT
from myproject.procfile import procfile_command
from myproject.servers import (
    free_port,
    mongo_command,
    mongo_uri,
    port_open,
    redis_command,
    redis_url,
    stop,
    wait_until,
)

from .procs import Meter

PASSWORD = "bench-Pass-2026"
NOOP_QUEUE = "bench-noop"
# The platform the bench runs now (one at a time): the one bench/scenarios.py reads /metrics of.
running: "Stack | None" = None


def http(method, url, body=None, token=None, timeout=60):
    """Setup requests only (users, schemas); everything measured goes through bench/load.py."""
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def upload(url: str, token: str, fields: dict, path: Path, *, timeout=600):
    """POST a file as multipart/form-data (its field `file`, after `fields`), streamed from
    disk in pieces, as a browser or curl -F sends it; (status, JSON answer)."""
    boundary = f"bench-{uuid.uuid4().hex}"
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        with open(path, "rb") as handle:
            while piece := handle.read(1024 * 1024):
                yield piece
        yield tail

    request = urllib.request.Request(url, method="POST", data=body())
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    request.add_header("Content-Length", str(len(head) + path.stat().st_size + len(tail)))
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def token_user_id(token: str) -> int:
    payload = token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["user_id"])


class Stack:
    def __init__(self, var: Path, meter: Meter, *, redis_persist: bool = False, env: dict | None = None):
        """`redis_persist`: Redis with AOF, as compose runs it (the chaos runs restart it);
        `env`: more settings for every process."""
        self.var, self.meter, self.procs = var, meter, {}
        self.redis_persist = redis_persist
        (var / "logs").mkdir(parents=True, exist_ok=True)
        self.web_port, self.mongo_port, self.redis_port = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.mongo_uri = mongo_uri(self.mongo_port, "bench")
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "myproject.settings",
            "VAR_DIR": str(var),
            "MONGODB_URI": self.mongo_uri,
            "REDIS_URL": redis_url(self.redis_port),
            "WEB_BIND": f"127.0.0.1:{self.web_port}",
            "PUBLIC_BASE_URL": self.base,
            # The bench's clients submit far faster than a person; the limits are not what it measures.
            "THROTTLE_SUBMIT": "100000000/minute",
            "THROTTLE_AUTH": "100000/minute",
            # Tokens outlive the run (the default, 15 min, is about the length of one).
            "JWT_ACCESS_MINUTES": "120",
            "PYTHONUNBUFFERED": "1",  # as `make up` runs its processes
            # Metrics counted as `make up` and compose count them: in files, one per process;
            # the web's /metrics sums the web's and the workers' (Stack.metrics).
            "PROMETHEUS_MULTIPROC_DIR": str(var / "prometheus"),
            "METRICS_TOKEN": secrets.token_urlsafe(24),
            # The run's own key, as `make up` makes a checkout's (myproject/stack.py): its
            # VAR_DIR is new, so there is no key file to read.
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            **(env or {}),
        }
        for name in ("DATABASE_URL", "FLOWER_URL", "ARTIFACT_DIR"):
            self.env.pop(name, None)
        self.start("mongo", mongo_command(self.mongo_port, str(var / "mongo")))
        wait_until(lambda: port_open(self.mongo_port), timeout=60, what="SecantusDB")
        self.redis_start()
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "manage.py", "setup_platform"],
            cwd=ROOT,
            env={**self.env, "ADMIN_PASSWORD": PASSWORD},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.setup_s = round(time.monotonic() - started, 1)
        # The platform's settings and URLs, plus the web floor (bench/web_urls.py).
        web_env = {"DJANGO_SETTINGS_MODULE": "bench.web_settings"}
        self.start("web", procfile_command("web", self.env), env=web_env)
        wait_until(self._healthy, timeout=60, what="gunicorn")
        global running
        running = self

    def redis_start(self, *, wipe: bool = False) -> None:
        """Start redis-server on its port; `wipe`: with none of its earlier data."""
        data = self.var / "redis"
        if wipe:
            shutil.rmtree(data, ignore_errors=True)
        self.start("redis", redis_command(self.redis_port, data, persist=self.redis_persist))
        wait_until(lambda: port_open(self.redis_port), timeout=60, what="redis-server")

    def manage_python(self, code: str) -> None:
        """Python run with Django set up on the bench's settings (what `manage.py shell -c` does)."""
        setup = "import django; django.setup(); "
        subprocess.run([sys.executable, "-c", setup + code], cwd=ROOT, env=self.env, check=True)

    def _healthy(self) -> bool:
        if self.procs["web"].poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {self.log('web')}")
        try:
            return http("GET", f"{self.base}/healthz", timeout=2)[0] == 200
        except OSError:
            return False

    def metrics(self) -> list:
        """The web's /metrics now, its samples: every process's counts, the web's and the
        workers' (they share PROMETHEUS_MULTIPROC_DIR)."""
        request = urllib.request.Request(f"{self.base}/metrics")
        request.add_header("Authorization", f"Bearer {self.env['METRICS_TOKEN']}")
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        return [sample for family in text_string_to_metric_families(text) for sample in family.samples]

    def log(self, name: str) -> Path:
        return self.var / "logs" / f"{name}.log"

    def start(self, name: str, command: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.log(name), "ab")
        proc = subprocess.Popen(
            command, cwd=ROOT, env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.procs[name] = proc
        self.meter.add(name, proc.pid)
        return proc

    def worker(
        self,
        name: str,
        *,
        app: str = "myproject",
        queue: str = "predict",
        env: dict | None = None,
        entry: str = "worker",
    ):
        """The Procfile's `entry` worker (its concurrency and pool: the predict worker unless
        told), on `app` and `queue`; returns once it logs that it is ready (connected and
        consuming)."""
        command = procfile_command(entry, self.env)
        for flag, value in (("-A", app), ("--queues", queue), ("--hostname", f"{name}@%h")):
            command[command.index(flag) + 1] = value
        offset = self.log(name).stat().st_size if self.log(name).exists() else 0
        proc = self.start(name, command, env)

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {name} exited; see {self.log(name)}")
            with open(self.log(name), "rb") as log:
                log.seek(offset)
                return b" ready." in log.read()

        wait_until(ready, timeout=90, what=f"the {name} worker")
        return proc

    def pool_pids(self, name: str) -> list[int]:
        return [proc.pid for proc in self.meter.processes(name)[1:]]

    def stop(self, name: str) -> None:
        self.meter.retire(name)
        stop(self.procs.pop(name), timeout=30)

    def close(self) -> None:
        global running
        if running is self:
            running = None
        for name in list(self.procs)[::-1]:
            self.stop(name)

    def user(self, username: str) -> dict:
        """Register a user through the API; the load processes log in as it themselves."""
        body = {"username": username, "password": PASSWORD}
        status, answer = http(
            "POST",
            f"{self.base}/register/",
            {**body, "email": f"{username}@example.com", "password_confirm": PASSWORD},
        )
        assert status == 201, answer
        return body

    def builder(self, username: str) -> dict:
        """A user registered through the API and put in the "model builders" group (what staff
        do to let someone upload datasets and create models); its user, and a token."""
        user = self.user(username)
        self.manage_python(
            "from django.contrib.auth import get_user_model; from django.contrib.auth.models import Group; "
            f"get_user_model().objects.get(username={username!r}).groups.add("
            "Group.objects.get(name='model builders'))"
        )
        return {**user, "token": http("POST", f"{self.base}/login/", user)[1]["access"]}
