"""The web's gunicorn settings, one place for `make up` (Procfile) and the image (docker/
Dockerfile): `gunicorn -c python:myproject.gunicorn_conf`. Gunicorn reads every module-level
name here that is one of its settings."""

import signal
import threading

from myproject import defaults, metrics
from myproject.env import env_str

wsgi_app = "myproject.wsgi"
# make up's address unless WEB_BIND is set (the image sets it: docker/Dockerfile).
bind = env_str("WEB_BIND", defaults.WEB_BIND)
# Two processes of 48 threads: a request mostly waits (MongoDB, Redis, a `Prefer: wait`),
# and the waiters of one process share its Redis subscription (api/waiting.py).
workers = 2
threads = 48
accesslog = "-"
# A worker told to stop (SIGTERM: a deploy's restart, the master's reload on SIGHUP or its
# own stop) stops taking connections and has this long to answer the requests it holds;
# any still running then are cut off with no answer. Its `Prefer: wait` requests, which may
# hold up to 60 s (api/waiting.py), answer at once when it is told to stop (post_worker_init
# below), so this covers the rest: a submit or a read, whose every MongoDB call gives up
# after MONGODB_TIMEOUT_MS (2 s) and whose publish after about 2 s (myproject/settings.py).
# tests/chaos/test_web_faults.py restarts the workers under load and counts every request.
graceful_timeout = 15
# No runtime control socket (gunicornc): nothing here uses it, and by default it lands in
# $HOME/.gunicorn, one more writable path and one more way in.
control_socket_disable = True


# Prometheus multiprocess mode (myproject/metrics.py): the files of processes gone before
# this start are forgotten; a worker that exits takes its live gauges (waiters) with it.
def on_starting(server) -> None:
    metrics.multiprocess_dir_clean()


def child_exit(server, worker) -> None:
    metrics.process_dead(worker.pid)


def post_fork(server, worker) -> None:
    metrics.process_role_set("web")  # the label of its MongoDB commands


def post_worker_init(worker) -> None:
    """On SIGTERM, the worker's own graceful stop, and its `Prefer: wait` requests answer at
    once (api/waiting.py's waits_end) rather than be cut off when graceful_timeout ends."""
    stop = signal.getsignal(signal.SIGTERM)

    def told_to_stop(signum, frame):
        stop(signum, frame)
        # In a thread: a signal handler must not take locks the code it interrupted may hold.
        threading.Thread(target=_waits_end, name="waits-end", daemon=True).start()

    signal.signal(signal.SIGTERM, told_to_stop)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn sets it: requests' calls go on


def _waits_end() -> None:
    from api.waiting import waits_end  # the worker has loaded the app: Django is set up

    waits_end()
