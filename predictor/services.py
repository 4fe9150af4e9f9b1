"""Writes of the prediction pipeline: prepare a job (web side) and run it (worker side)."""

import logging

from django.conf import settings

from . import history, registry
from .artifacts import ArtifactError
from .inference import pipeline_get, predict_rows
from .specs import UnknownModel
from .validation import InvalidInput, row_errors

logger = logging.getLogger(__name__)

# A 400 lists at most this many bad fields: enough to fix a batch, small enough to read.
MAX_REPORTED_ERRORS = 50


class UnknownVersion(Exception):
    pass


def _version(model_name: str, number: int | None):
    if number is None:
        version = registry.champion_get(model_name)
        if version is None:
            raise UnknownModel(model_name)
        return version
    version = registry.version_get(model_name, number)
    if version is None:
        if registry.model_get(model_name) is None:
            raise UnknownModel(model_name)
        raise UnknownVersion(f"{model_name} has no version {number}")
    return version


def _clean_rows(schema: list[dict], rows: list, *, path: str) -> list[dict]:
    errors: dict[str, list[str]] = {}
    for index, row in enumerate(rows):
        errors.update(row_errors(schema, row, path=path.format(index=index)))
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    if errors:
        raise InvalidInput(dict(list(errors.items())[:MAX_REPORTED_ERRORS]))
    return [{feature["name"]: float(row[feature["name"]]) for feature in schema} for row in rows]


def prediction_prepare(
    *, model_name: str, input: dict | None = None, inputs: list | None = None, version: int | None = None
) -> dict:
    """Validate one row or a batch against the chosen version (default: the champion).

    Returns the job's fields, naming exactly which artifact will serve it. Writes nothing.
    """
    chosen = _version(model_name, version)
    fields = {
        "model": model_name,
        "version": chosen.number,
        "artifact_sha256": chosen.artifact_sha256,
        "sklearn_version": chosen.sklearn_version,
        "artifact_signature": chosen.artifact_signature,
    }
    if inputs is not None:
        if not inputs:
            raise InvalidInput({"inputs": ["Send at least one row."]})
        if len(inputs) > settings.PREDICTION_MAX_BATCH_ROWS:
            limit = settings.PREDICTION_MAX_BATCH_ROWS
            raise InvalidInput({"inputs": [f"At most {limit} rows per batch; got {len(inputs)}."]})
        return {**fields, "inputs": _clean_rows(chosen.feature_schema, inputs, path="inputs[{index}]")}
    return {**fields, "input": _clean_rows(chosen.feature_schema, [input], path="input")[0]}


def prediction_run(job_id: str, *, on_event=lambda event, job: None) -> history.PredictionJob | None:
    """Run one job; returns it finished, or None when there was nothing to run.

    `on_event("start" | "completed", job)` hears the job's progress (webhooks, waiters).
    """
    job = history.job_claim(job_id)
    if job is None:
        logger.info("job %s is finished or gone; nothing to run", job_id)
        return None
    if job.attempts > settings.PREDICTION_MAX_ATTEMPTS:
        error = f"gave up after {job.attempts - 1} attempts that never finished (worker lost)"
        return _finish(job_id, on_event, status=history.FAILED, error=error)
    if _past_deadline(job):
        return _finish(
            job_id, on_event, status=history.CANCELED, error="canceled: its Cancel-After deadline passed"
        )
    if job.attempts == 1:
        on_event("start", job)
    try:
        # The job names its artifact, but only the registry's signature makes it loadable.
        pipeline = pipeline_get(
            job.artifact_sha256, sklearn_version=job.sklearn_version, signature=job.artifact_signature
        )
    except ArtifactError as exc:
        logger.error("job %s: %s", job_id, exc)
        return _finish(job_id, on_event, status=history.FAILED, error=str(exc))
    try:
        outputs = predict_rows(pipeline, job.rows, list(job.rows[0]))
    except Exception as exc:
        _finish(job_id, on_event, status=history.FAILED, error=f"prediction failed: {exc}")
        raise
    if _past_deadline(job):
        return _finish(
            job_id, on_event, status=history.CANCELED, error="canceled: its Cancel-After deadline passed"
        )
    return _finish(job_id, on_event, status=history.SUCCEEDED, output=outputs if job.is_batch else outputs[0])


def _past_deadline(job) -> bool:
    return job.cancel_after is not None and history.now() > job.cancel_after


def _finish(job_id: str, on_event, **result) -> history.PredictionJob | None:
    job = history.job_finish(job_id, **result)
    if job is not None:
        on_event("completed", job)
    return job
