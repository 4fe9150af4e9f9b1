"""The tutorial app: one DRF prediction view in front of a Celery task, the way the Django,
DRF and Celery guides put one together, built for `make bench` to measure beside the
platform (bench/peer_run.py starts and measures it).

The Celery app is imported here, as Celery's Django guide has it, so that `shared_task`
(tasks.py) sends with the peer's settings in the web too.
"""

from .celery_app import app as celery_app

__all__ = ["celery_app"]
