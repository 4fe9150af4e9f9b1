"""A prediction job as its owner sees it: one shape for the API's answers, the pages and
the body of every webhook delivery.

The shape is the API's, so it lives here, with the URL names it links to (api/urls.py,
api/page_urls.py). Webhooks are sent by workers, which sit below the API and never
import it: the api app hands this function to predictor.webhooks when Django starts
(api/apps.py).
"""

import functools
from datetime import datetime

from django.conf import settings
from django.urls import reverse

from predictor.history import JobView


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


# What a client can do with a job, by URL name (Replicate answers with the same kind of `urls`).
JOB_LINKS = {
    "get": "prediction-detail",
    "cancel": "prediction-cancel",
    "feedback": "prediction-feedback",
    "webhooks": "prediction-webhook-deliveries",
    "web": "job",
}
_ID = "__job_id__"  # stands for the id in the reversed paths; reverse() keeps it as is


@functools.cache
def _job_url_templates() -> dict:
    # Reversed once per process, not five times for every job of a page.
    return {name: reverse(url_name, args=[_ID]) for name, url_name in JOB_LINKS.items()}


def job_urls(job_id: str) -> dict:
    base = settings.PUBLIC_BASE_URL
    return {name: base + template.replace(_ID, job_id) for name, template in _job_url_templates().items()}


def job_public(job: JobView) -> dict:
    """The job as clients see it, in the API and in webhook bodies alike."""
    return {
        "id": job.id,
        "model": job.model,
        "version": job.version,
        "status": job.status,
        "input": job.input,
        "inputs": job.inputs,
        "output": job.output,
        "error": job.error,
        "attempts": job.attempts,
        "cancel_after": _stamp(job.cancel_after),
        "webhook": job.webhook,
        "webhook_events_filter": list(job.webhook_events_filter or []),
        "created_at": _stamp(job.created_at),
        "started_at": _stamp(job.started_at),
        "completed_at": _stamp(job.completed_at),
        "metrics": {
            "queue_s": _seconds(job.created_at, job.started_at),
            "predict_s": _seconds(job.started_at, job.completed_at),
            "total_s": _seconds(job.created_at, job.completed_at),
            "worker": job.worker,
        },
        "urls": job_urls(job.id),
    }


def job_for_pages(job: JobView) -> dict:
    """The same shape, with `created_at` a datetime for the templates' date filters."""
    return {**job_public(job), "created_at": job.created_at}
