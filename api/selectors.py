"""Every read behind the API and the pages (HackSoft's selectors): views read through
these functions, never through predictor's modules or a model's manager themselves.
Writes go through api/services.py.

A job someone may not see is reported exactly as one that does not exist (404, the same
message), so ids cannot be probed.
"""

import base64
import binascii
from datetime import UTC, datetime
from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import Http404

from predictor import datasets, history, registry
from predictor.batches import batch_results, batch_summary
from predictor.definitions import greater_is_better
from workers import claims

NO_SUCH_JOB = "No prediction with this id."
NO_SUCH_MODEL = "No model with this name; see /api/v1/models/."
NOT_YOURS = "Only the model's owner or staff may change it."


class BadCursor(ValueError):
    pass


# ------------------------------------------------------------------------- jobs


def job_get_owned(user, job_id: str) -> history.JobView:
    """The user's job, or Http404 (a 404 in the API's error shape and on the pages).

    A job a worker runs in its first moment is `running` in Redis only (workers/claims.py):
    MongoDB says `queued` until the run lasts PREDICTION_RUNNING_MARK_MS. Its status here
    says `running`, since when, either way."""
    job = history.job_get(job_id, owner_id=user.pk)
    if job is None:
        raise Http404(NO_SUCH_JOB)
    if job.status == history.QUEUED and (since := claims.running_since(job_id)) is not None:
        return job.finished_as({"status": history.RUNNING, "started_at": datetime.fromtimestamp(since, UTC)})
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


def model_list(user) -> list[SimpleNamespace]:
    """The models the user may see (their own, the shared ones; staff: all), with champions."""
    return [SimpleNamespace(model=m, champion=c) for m, c in registry.models_with_champions(user)]


def model_detail(user, name: str) -> SimpleNamespace | None:
    model = model_visible(user, name)
    if model is None:
        return None
    return SimpleNamespace(model=model, champion=registry.champion_get(name))


def model_visible(user, name: str):
    """The model, or None when there is none the user may see (the two are not told apart)."""
    model = registry.model_get(name)
    if model is None or not registry.can_see(user, model):
        return None
    return model


def model_get_or_404(user, name: str):
    """The model, or Http404 (a 404 in the API's error shape and on the pages) when the user
    may not see it."""
    model = model_visible(user, name)
    if model is None:
        raise Http404(NO_SUCH_MODEL)
    return model


def model_changeable_or_404(user, name: str):
    """The model the user may change (its owner, staff): 404 when they may not see it, 403
    when they may see but not change it."""
    model = model_get_or_404(user, name)
    if not registry.can_change(user, model):
        raise PermissionDenied(NOT_YOURS)
    return model


def model_greater_is_better(name: str) -> bool | None:
    """Whether a higher primary metric is better for the model; None for no such model."""
    model = registry.model_get(name)
    return greater_is_better(model.primary_metric) if model is not None else None


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


def training_get(user, run_id: str):
    """The run, or None unless the user may change its model (its owner, staff)."""
    run = history.training_get(run_id)
    if run is None or user.is_staff:
        return run
    model = registry.model_get(run.model)
    return run if model is not None and registry.can_change(user, model) else None


def trainings_list(user, *, model: str | None = None, limit: int = 50) -> list:
    """The latest runs of the models the user may change (staff: all), newest first."""
    if user.is_staff:
        return history.trainings_list(model=model, limit=limit)
    owned = set(registry.models_owned(user).values_list("name", flat=True))
    if model is not None:
        return history.trainings_list(model=model, limit=limit) if model in owned else []
    return history.trainings_list(models=sorted(owned), limit=limit) if owned else []


# ---------------------------------------------------------------------- datasets

NO_SUCH_DATASET = "No dataset with this name; see /api/v1/datasets/."


def datasets_list(user) -> list:
    return list(datasets.visible_to(user).prefetch_related("versions"))


def dataset_get_or_404(user, name: str):
    """The dataset, or Http404 when the user may not see it (the same as none at all)."""
    dataset = datasets.dataset_get(user, name)
    if dataset is None:
        raise Http404(NO_SUCH_DATASET)
    return dataset


def dataset_version_or_404(dataset, number: int):
    version = datasets.version_of(dataset, number)
    if version is None:
        raise Http404(f"{dataset.name} has no version {number}.")
    return version


def dataset_records(version):
    """The version's records, the header first, as text cells (streamed from the store)."""
    return datasets.dataset_rows(version)


def dataset_changeable_or_404(user, name: str):
    """The dataset the user may change (its owner, staff): 404 when they may not see it,
    403 when they may see but not change it (Django's PermissionDenied: the API and the
    pages both answer it)."""
    dataset = dataset_get_or_404(user, name)
    if not datasets.can_change(user, dataset):
        raise PermissionDenied("Only the dataset's owner or staff may change it.")
    return dataset


def dataset_can_change(user, dataset) -> bool:
    return datasets.can_change(user, dataset)


def dataset_can_see(user, dataset) -> bool:
    return datasets.can_see(user, dataset)


def dataset_visible(user, name: str):
    """The dataset, or None when there is none the user may see."""
    return datasets.dataset_get(user, name)


def dataset_models_visible(user, dataset) -> list:
    """The models defined on (a version of) the dataset that the user may see."""
    return [
        model for model in datasets.dataset_models(dataset).order_by("name") if registry.can_see(user, model)
    ]


def dataset_versions_by_id(ids) -> dict:
    """{id: dataset version, its dataset loaded} for the given ids, in one query; the profile
    and preview are left unread."""
    return datasets.versions_by_id(ids)


def model_can_change(user, model) -> bool:
    return registry.can_change(user, model)


def model_can_see(user, model) -> bool:
    return registry.can_see(user, model)


# ------------------------------------------------------------------------- users


def usernames(ids) -> dict[int, str]:
    """{user id: username} of the given ids (staff pages name who asked for a run)."""
    ids = set(ids)
    if not ids:
        return {}
    return dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))


# ------------------------------------------------------------------- batch files


def batch_get_owned(user, batch_id: str) -> history.BatchJob:
    """The user's batch job, or Http404: another's is reported exactly as none at all
    (staff included: a batch is its owner's, as on the API)."""
    batch = history.batch_get_owned(str(batch_id), owner_id=user.pk)
    if batch is None:
        raise Http404("No batch job with this id.")
    return batch


def batches_recent(user, *, limit: int) -> list[history.BatchJob]:
    """The user's batch jobs, the newest first."""
    return history.batches_list(owner_id=user.pk, limit=limit)


def batch_progress(batch: history.BatchJob) -> dict:
    """Its rows done, failed and pending, labels, rate and time left (predictor/batches.py),
    summed from its chunks as the API's answer is."""
    return batch_summary(batch, history.batch_chunks(batch.id, fields=history.PROGRESS_FIELDS))


def batches_progress(batches: list[history.BatchJob]) -> list[dict]:
    """batch_progress of each batch of a list, their chunks read in one query."""
    chunks = history.chunks_of([batch.id for batch in batches])
    return [batch_summary(batch, chunks[batch.id]) for batch in batches]


def batch_results_lines(batch: history.BatchJob):
    """A finished batch's results CSV, its lines streamed from GridFS (bytes)."""
    return batch_results(batch)
