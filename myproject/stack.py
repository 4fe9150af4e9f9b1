"""The embedded stack behind `make up`.

`python -m myproject.stack up` uses the Redis at REDIS_URL and the MongoDB at MONGODB_URI
when they answer, and otherwise adds private ones (data under var/) to the Procfile
processes; it prepares the database and the first model (running the private MongoDB
just for that step), prints where everything is, then hands over to honcho, which runs
and stops every process.
`python -m myproject.stack wait` blocks until Redis and MongoDB answer (Procfile entries
run it before starting a process that needs them).

It runs before Django is set up: its defaults come from myproject/defaults.py, its server
helpers from myproject/servers.py.
"""

import contextlib
import fcntl
import os
import secrets
import subprocess
import sys
from pathlib import Path

from myproject import defaults
from myproject.flower import flower_address
from myproject.procfile import PROCFILE
from myproject.servers import (
    free_port,
    mongo_command,
    mongo_uri,
    port_open,
    reachable,
    redis_command,
    redis_url,
    running,
    wait_until,
)


def _secret_file(path: Path, make) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _hold_var_lock(var: Path) -> None:
    """One `make up` per data folder: a second would fight the first over its stores.

    The lock's descriptor survives the exec into honcho, so it is held exactly as long as
    the platform runs, and the kernel drops it however that ends.
    """
    var.mkdir(parents=True, exist_ok=True)
    fd = os.open(var / "stack.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"another `make up` is running on {var}; stop it first (Ctrl-C in its terminal)")
    os.set_inheritable(fd, True)


def _metrics_dir_empty(env: dict, var: Path) -> None:
    """One PROMETHEUS_MULTIPROC_DIR for every process started here, emptied before any starts:
    the web's /metrics then shows the workers' counts beside its own (myproject/metrics.py).
    Only the metrics' files are removed, in case the directory is one the user named."""
    directory = Path(env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(var / "prometheus")))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)


def _check_free(bind: str, variable: str) -> None:
    host, _, port = bind.rpartition(":")
    if port_open(int(port), host or "127.0.0.1"):
        sys.exit(f"{bind} is already in use; stop what runs there, or set {variable} to another address")


def _private_port(preferred: int) -> int:
    """`preferred` when it is free, else any free port."""
    return preferred if not port_open(preferred) else free_port()


def up() -> None:
    env = dict(os.environ)
    var = Path(env.setdefault("VAR_DIR", str(defaults.VAR_DIR)))
    _hold_var_lock(var)
    web = env.setdefault("WEB_BIND", defaults.WEB_BIND)
    _check_free(web, "WEB_BIND")
    # A socket in a directory only this user may enter: the web reaches Flower there, and
    # people through the web's /flower/, behind a staff login.
    flower_url = env.setdefault("FLOWER_URL", f"unix://{var / 'flower' / 'flower.sock'}")
    try:
        flower = flower_address(flower_url)
    except ValueError as problem:
        sys.exit(str(problem))
    if flower.port:
        _check_free(f"{flower.host}:{flower.port}", "FLOWER_URL")
    env.setdefault("PUBLIC_BASE_URL", f"http://{web}")
    processes = ["web", "worker", "batcher", "trainer", "notifier", "beat", "flower"]
    notes = []

    redis = env.get("REDIS_URL") or defaults.REDIS_URL
    if reachable(redis, defaults.REDIS_PORT):
        notes.append(f"Redis     {redis} (already running; not started here)")
    else:
        port = _private_port(defaults.PRIVATE_REDIS_PORT)
        redis = redis_url(port)
        env["REDIS_CMD"] = " ".join(redis_command(port, var / "redis", persist=True))
        processes.insert(0, "redis")
        notes.append(f"Redis     {redis} (private, data in {var / 'redis'})")
    env["REDIS_URL"] = redis

    # setup_platform needs MongoDB (it stores trained models in GridFS) before honcho starts
    # a private one; nullcontext when MONGODB_URI names a server that already runs.
    mongo_for_setup = contextlib.nullcontext()
    private_mongo = not env.get("MONGODB_URI")
    if private_mongo:
        port = _private_port(defaults.PRIVATE_MONGO_PORT)
        env["MONGODB_URI"] = mongo_uri(port, defaults.MONGO_DATABASE)
        command = mongo_command(port, str(var / "mongo"))
        env["MONGO_CMD"] = " ".join(command)
        mongo_for_setup = running(command, port, what="SecantusDB")
        processes.insert(0, "mongo")
        notes.append(f"MongoDB   {env['MONGODB_URI']} (private SecantusDB, data in {var / 'mongo'})")
    else:
        if not reachable(env["MONGODB_URI"], defaults.MONGO_PORT):
            sys.exit(f"MONGODB_URI={env['MONGODB_URI']} does not answer; start it or unset MONGODB_URI")
        notes.append(f"MongoDB   {env['MONGODB_URI']} (already running; not started here)")

    # Django's key, unless given: the checkout's own, which the settings read from var/.
    if not (env.get("DJANGO_SECRET_KEY") or env.get("DJANGO_SECRET_KEY_FILE")):
        _secret_file(var / defaults.SECRET_KEY_FILE, lambda: secrets.token_urlsafe(50))
    flower_auth = env.get("FLOWER_BASIC_AUTH") or _secret_file(
        var / "flower-credentials", lambda: f"flower:{secrets.token_urlsafe(12)}"
    )
    env["FLOWER_BASIC_AUTH"] = flower_auth
    admin_password = _secret_file(var / defaults.ADMIN_PASSWORD_FILE, lambda: secrets.token_urlsafe(12))
    # What Prometheus sends to read /metrics; the web reads it from the file (METRICS_TOKEN_FILE).
    if env.get("METRICS_TOKEN") or env.get("METRICS_TOKEN_FILE"):
        metrics_token = "the METRICS_TOKEN you set"
    else:
        token_path = var / "metrics-token"
        _secret_file(token_path, lambda: secrets.token_urlsafe(32))
        env["METRICS_TOKEN_FILE"] = str(token_path)
        metrics_token = f"$(cat {token_path})"

    setup = [sys.executable, str(defaults.ROOT / "manage.py"), "setup_platform"]
    # In the setup's environment only, never on a command line (`ps` shows those to everyone).
    setup_env = {**env, "ADMIN_PASSWORD": admin_password}
    # The full setup trains every model without a champion, in MongoDB. With a private
    # SecantusDB, `--no-train` runs first, without it: SecantusDB is started for the full
    # setup only when that exits NEEDS_TRAINING.
    full_setup = True
    if private_mongo:
        quick = subprocess.run([*setup, "--no-train"], env=setup_env, stderr=subprocess.PIPE, text=True)
        if quick.returncode not in (0, defaults.NEEDS_TRAINING):
            sys.exit(quick.stderr)
        full_setup = quick.returncode == defaults.NEEDS_TRAINING
    if full_setup:
        with mongo_for_setup:
            subprocess.run(setup, env=setup_env, check=True)

    print(
        "\n".join(
            [
                "",
                "Prediction platform",
                f"  API + pages  http://{web}/   (API docs: http://{web}/api/v1/docs/)",
                f"  Admin        http://{web}/admin/   user admin, password {admin_password}",
                f"  Flower       http://{web}/flower/   (staff login: admin)",
                f"  Metrics      http://{web}/metrics   (header Authorization: Bearer {metrics_token})",
                *[f"  {note}" for note in notes],
                "  Register a user:  see README.md (curl examples).   Stop: Ctrl-C",
                "",
            ]
        ),
        flush=True,
    )
    _metrics_dir_empty(env, var)
    env["PYTHONUNBUFFERED"] = "1"
    # The Procfile's gunicorn and celery are this virtual environment's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    honcho = str(Path(sys.executable).with_name("honcho"))
    os.chdir(defaults.ROOT)
    os.execve(honcho, [honcho, "-f", str(PROCFILE), "start", *processes], env)


def wait() -> None:
    redis = os.environ.get("REDIS_URL") or defaults.REDIS_URL
    mongo = os.environ.get("MONGODB_URI") or defaults.MONGODB_URI
    wait_until(lambda: reachable(redis, defaults.REDIS_PORT), timeout=60, what=f"Redis at {redis}")
    wait_until(lambda: reachable(mongo, defaults.MONGO_PORT), timeout=60, what=f"MongoDB at {mongo}")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "up"
    {"up": up, "wait": wait}[command]()
