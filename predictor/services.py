"""Writes of the prediction pipeline: create a job (web side) and run it (worker side)."""

import logging

from django.conf import settings

from . import history, registry
from .artifacts import ArtifactError
from .inference import pipeline_get, predict_rows
from .specs import UnknownModel
from .validation import validate_row

logger = logging.getLogger(__name__)


class UnknownVersion(Exception):
    pass


def prediction_create(
    *, owner_id: int, model_name: str, input: dict, version: int | None = None
) -> history.PredictionJob:
    """Validate the input against the chosen version (default: the champion) and record a
    queued job that names exactly which artifact will serve it."""
    if version is None:
        version = registry.champion_get(model_name)
        if version is None:
            raise UnknownModel(model_name)
    else:
        number, version = version, registry.version_get(model_name, version)
        if version is None:
            if registry.model_get(model_name) is None:
                raise UnknownModel(model_name)
            raise UnknownVersion(f"{model_name} has no version {number}")
    row = validate_row(version.feature_schema, input)
    return history.job_create(
        owner_id=owner_id,
        model=model_name,
        version=version.number,
        artifact_sha256=version.artifact_sha256,
        sklearn_version=version.sklearn_version,
        input=row,
    )


def prediction_run(job_id: str) -> str | None:
    """Run one queued job; returns its final status, or None when there was nothing to run."""
    job = history.job_claim(job_id)
    if job is None:
        logger.info("job %s is finished or gone; nothing to run", job_id)
        return None
    if job.attempts > settings.PREDICTION_MAX_ATTEMPTS:
        error = f"gave up after {job.attempts - 1} attempts that never finished (worker lost)"
        history.job_finish(job_id, status=history.FAILED, error=error)
        return history.FAILED
    try:
        pipeline = pipeline_get(job.artifact_sha256, sklearn_version=job.sklearn_version)
    except ArtifactError as exc:
        logger.error("job %s: %s", job_id, exc)
        history.job_finish(job_id, status=history.FAILED, error=str(exc))
        return history.FAILED
    try:
        [output] = predict_rows(pipeline, [job.input], list(job.input))
    except Exception as exc:
        history.job_finish(job_id, status=history.FAILED, error=f"prediction failed: {exc}")
        raise
    history.job_finish(job_id, status=history.SUCCEEDED, output=output)
    return history.SUCCEEDED
