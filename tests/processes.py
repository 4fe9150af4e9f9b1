"""Processes the tests start, read and hold still: servers and Celery workers spawned with
their output in a log file, the tail of those logs, the environment of a site of its own,
and SIGSTOP for a block, SIGCONT after."""

import os
import signal
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from myproject.servers import wait_until

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = Path(os.environ["VAR_DIR"]) / "logs"


def spawn(name: str, command: list[str], env: dict | None = None) -> subprocess.Popen:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / f"{name}.log", "ab")  # closed when the process ends
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)


def log_tail(name: str, lines: int = 40) -> str:
    path = LOG_DIR / f"{name}.log"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def start_worker(queue: str, env: dict, *, pool: str = "prefork", app: str = "myproject"):
    name = f"{queue}-{uuid.uuid4().hex[:8]}@localhost"
    command = [
        sys.executable, "-m", "celery", "-A", app, "worker", "--queues", queue,
        "--concurrency", "1" if pool == "prefork" else "4", "--pool", pool, "--hostname", name,
        "--without-mingle", "--without-gossip", "--loglevel", "INFO",
    ]  # fmt: skip
    proc = spawn(
        f"{queue}-worker", command, {**os.environ, "DJANGO_SETTINGS_MODULE": "myproject.settings", **env}
    )
    # Ready when it says so: it logs "<name> ready." once connected and consuming.
    wait_until(
        lambda: proc.poll() is not None or f"{name} ready." in log_tail(f"{queue}-worker", 200),
        timeout=60,
        what=f"the {queue} worker",
    )
    if proc.poll() is not None:
        pytest.fail(f"the {queue} worker exited:\n{log_tail(f'{queue}-worker')}")
    proc.node = name
    return proc


def site_environ(var_dir, **extra: str) -> dict:
    """The environment of a platform command (manage.py, a server) with a site of its own:
    its var/ and SQLite database in `var_dir` (the suite's DATABASE_URL left out), and `extra`."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "myproject.settings", "VAR_DIR": str(var_dir), **extra}
    env.pop("DATABASE_URL", None)
    return env


def shared_database_url() -> str:
    """The test database, as a URL another process can open (tests using it are transactional)."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host = f"{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{host}/{db['NAME']}"


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (a Celery worker and its pool)."""
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def signal_all(processes, signal_number: int) -> None:
    for process in processes:
        process.send_signal(signal_number)


@contextmanager
def held(processes):
    """The processes stopped (SIGSTOP) for the block: a stopped worker takes no message, so
    what is sent meanwhile stays queued; on again (SIGCONT) when the block ends."""
    processes = list(processes)
    signal_all(processes, signal.SIGSTOP)
    try:
        yield
    finally:
        signal_all(processes, signal.SIGCONT)
