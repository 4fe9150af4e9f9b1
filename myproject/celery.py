import logging
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")

app = Celery("myproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _connect_history_after_fork(**_):
    # PyMongo clients are not fork-safe: each pool process opens its own.
    from predictor import history

    history.connect()
    # The history's indexes: without them every page of a user's history reads all of it.
    # Idempotent (a no-op once built); here because every deployment runs workers, with
    # MongoDB up, whatever else it runs.
    try:
        history.ensure_indexes()
    except history.HistoryUnavailable as exc:
        logging.getLogger(__name__).warning("history indexes not checked: %s", exc)
