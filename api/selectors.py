"""Every read behind the API and the pages (HackSoft's selectors): views read through
these functions, never through predictor's modules or a model's manager themselves.
Writes go through api/services.py.

A job someone may not see is reported exactly as one that does not exist (404, the same
message), so ids cannot be probed.
"""

import base64
import binascii
from datetime import datetime
from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.http import Http404

from predictor import history, registry
from predictor.specs import UnknownModel, get_spec

NO_SUCH_JOB = "No prediction with this id."
NO_SUCH_MODEL = "No model with this name; see /api/v1/models/."


class BadCursor(ValueError):
    pass


# ------------------------------------------------------------------------- jobs


def job_get_owned(user, job_id: str) -> history.JobView:
    """The user's job, or Http404 (a 404 in the API's error shape and on the pages)."""
    job = history.job_get(job_id, owner_id=user.pk)
    if job is None:
        raise Http404(NO_SUCH_JOB)
    return job


def cursor_encode(job: history.JobView) -> str:
    raw = f"{job.created_at.isoformat()}|{job.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, job_id = raw.split("|", 1)
        return datetime.fromisoformat(created_at), job_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor(cursor) from None


def jobs_filtered(user, **filters) -> history.JobsQuery:
    """The user's jobs matching `filters` (model, version, status, created_after/before)."""
    return history.JobsQuery(owner_id=user.pk, **filters)


def jobs_page(query: history.JobsQuery, *, limit: int, cursor: str | None = None):
    """One page of `query`, newest first, after `cursor` (a page's `next_cursor`):
    (jobs, next_cursor or None). BadCursor when the cursor is not one this site issued."""
    before = cursor_decode(cursor) if cursor else None
    jobs = history.jobs_page(query, limit=limit + 1, before=before)
    return jobs[:limit], cursor_encode(jobs[limit - 1]) if len(jobs) > limit else None


def jobs_all(query: history.JobsQuery, *, chunk: int):
    """Every job of `query`, newest first, read `chunk` at a time (memory stays flat)."""
    before = None
    while jobs := history.jobs_page(query, limit=chunk, before=before):
        yield from jobs
        before = (jobs[-1].created_at, jobs[-1].id)


def jobs_recent(user, *, limit: int) -> list[history.JobView]:
    return history.jobs_page(history.JobsQuery(owner_id=user.pk), limit=limit)


def jobs_summary(user, *, since: datetime) -> dict:
    return history.jobs_summary(user.pk, since)


def job_feedback_label(job: history.JobView):
    """The true label its owner gave a one-row job, or None."""
    return history.sample_label(job_id=job.id, row=0)


def job_deliveries(job: history.JobView) -> list:
    """The webhook delivery attempts of a job (one job_get_owned gave), oldest first."""
    return history.deliveries_for(job.id)


# ---------------------------------------------------------------- models, training


def model_list() -> list[SimpleNamespace]:
    return [SimpleNamespace(model=m, champion=c) for m, c in registry.models_with_champions()]


def model_detail(name: str) -> SimpleNamespace | None:
    model = registry.model_get(name)
    if model is None:
        return None
    return SimpleNamespace(model=model, champion=registry.champion_get(name))


def model_get_or_404(name: str):
    """The model, or Http404 (a 404 in the API's error shape and on the pages)."""
    model = registry.model_get(name)
    if model is None:
        raise Http404(NO_SUCH_MODEL)
    return model


def model_greater_is_better(name: str) -> bool | None:
    """Whether a higher primary metric is better for the model; None for a model no spec
    describes any more."""
    try:
        return get_spec(name).greater_is_better
    except UnknownModel:
        return None


def champion_get(name: str):
    return registry.champion_get(name)


def version_get(name: str, number: int):
    return registry.version_get(name, number)


def rollback_target(name: str):
    """The version a rollback of the model would bring back, or None."""
    return registry.rollback_target(name)


def versions_list(name: str) -> list:
    return registry.versions_list(name)


def versions_all(fields: tuple[str, ...]) -> list:
    """Every version of every model, only `fields` loaded, by model then number."""
    return registry.versions_all(fields)


def training_get(run_id: str):
    return history.training_get(run_id)


def trainings_list(*, model: str | None = None, limit: int = 50) -> list:
    return history.trainings_list(model=model, limit=limit)


# ------------------------------------------------------------------------- users


def usernames(ids) -> dict[int, str]:
    """{user id: username} of the given ids (staff pages name who asked for a run)."""
    ids = set(ids)
    if not ids:
        return {}
    return dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
