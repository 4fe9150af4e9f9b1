"""The web's gunicorn settings, one place for `make up` (Procfile) and the image (docker/
Dockerfile): `gunicorn -c python:myproject.gunicorn_conf --bind HOST:PORT`. Gunicorn reads
every module-level name here that is one of its settings."""

from myproject import metrics

wsgi_app = "myproject.wsgi"
# Two processes of 48 threads: a request mostly waits (MongoDB, Redis, a `Prefer: wait`),
# and the waiters of one process share its Redis subscription (api/waiting.py).
workers = 2
threads = 48
accesslog = "-"
graceful_timeout = 5
# No runtime control socket (gunicornc): nothing here uses it, and by default it lands in
# $HOME/.gunicorn, one more writable path and one more way in.
control_socket_disable = True


# Prometheus multiprocess mode (myproject/metrics.py): the files of processes gone before
# this start are forgotten; a worker that exits takes its live gauges (waiters) with it.
def on_starting(server) -> None:
    metrics.multiprocess_dir_clean()


def child_exit(server, worker) -> None:
    metrics.process_dead(worker.pid)
