"""The tutorial app's Celery app, as Celery's "First steps with Django" lays one out: its
settings are the Django settings' CELERY_ ones (settings.py): broker a Redis database of
its own, results in MongoDB through Celery's MongoDB result backend
(`result_backend = "mongodb://..."`), JSON. The worker runs
`celery -A bench.peer.celery_app worker -c 2 -P prefork`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer.settings")

app = Celery("peer")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["bench.peer"])
