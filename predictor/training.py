"""Training runs: train a challenger, judge it against the champion, promote or reject it.

training_request (the API) and nightly_requests (beat's nightly task) record runs; a
training worker runs one with training_execute.
"""

import logging
from datetime import datetime, timedelta

import numpy as np
from django.db import IntegrityError

from . import history, registry
from .errors import FieldErrors
from .fitting import evaluate, split, store_and_register, train
from .inference import pipeline_get
from .specs import SPECS, ModelSpec, get_spec

logger = logging.getLogger(__name__)


class InvalidParams(FieldErrors):
    """Training params the model does not take, or out of their range."""


def params_validate(spec: ModelSpec, params: dict) -> dict:
    errors: dict[str, list[str]] = {}
    for name, value in params.items():
        if name not in spec.tunable:
            errors[f"params.{name}"] = [f"Not tunable for {spec.name}; tunable: {sorted(spec.tunable)}."]
            continue
        kind, low, high = spec.tunable[name]
        ok_type = isinstance(value, int | float) and not isinstance(value, bool)
        if kind is int:
            # An int is whole as it is: float() of one beyond float range would overflow.
            ok_type = ok_type and (isinstance(value, int) or value.is_integer())
        if not ok_type or not low <= value <= high:
            errors[f"params.{name}"] = [
                f"Must be {'an integer' if kind is int else 'a number'} from {low} to {high}."
            ]
    if errors:
        raise InvalidParams(errors)
    return {name: spec.tunable[name][0](value) for name, value in params.items()}


def training_request(*, model_name: str, params: dict, requested_by: int) -> history.TrainingRun:
    spec = get_spec(model_name)
    return history.training_create(
        model=model_name, params=params_validate(spec, params), trigger="api", requested_by=requested_by
    )


def nightly_requests(night: str) -> list[history.TrainingRun]:
    """One run per model for this night; a model that has its run already is skipped."""
    runs = []
    for name in SPECS:
        try:
            runs.append(
                history.training_create(
                    model=name, params={}, trigger="nightly", nightly_key=f"{name}:{night}"
                )
            )
        except history.DuplicateRun:
            logger.info("nightly run for %s on %s exists; not training again", name, night)
    return runs


def _labelled_samples(spec: ModelSpec) -> tuple[np.ndarray, np.ndarray] | None:
    """The model's labelled samples as (X, y) to add to its training split; None for none."""
    rows = history.samples_for(spec.name)
    if not rows:
        return None
    names = spec.load().feature_names
    # Columns by name, in the dataset's order: a sample's features are a document read back
    # from MongoDB, whose key order (kept by BSON) is not relied on here.
    X = np.array([[sample.features[name] for name in names] for sample in rows], dtype=float)
    return X, np.array([sample.label for sample in rows], dtype=object)


def _not_worse(spec: ModelSpec, challenger: float, champion: float) -> bool:
    return challenger >= champion if spec.greater_is_better else challenger <= champion


def training_execute(
    run_id: str, *, stale_before: datetime, max_attempts: int, worker: str | None = None
) -> str | None:
    """Run one training in this process of `worker` (the Celery node name); returns the
    decision, or None when the run is not ours to run (finished, gone, or held by a live
    process: predictor/history/trainings.py)."""
    run = history.training_claim(run_id, stale_before=stale_before, worker=worker)
    if run is None:
        logger.info("training run %s is finished, gone or running elsewhere; nothing to run", run_id)
        return None
    if run.attempts > max_attempts:
        error = f"gave up after {run.attempts - 1} attempts that never finished (worker lost)"
        history.training_finish(run_id, status=history.FAILED, error=error)
        return None
    try:
        return _execute(run)
    except Exception as exc:
        history.training_finish(run_id, status=history.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise


def _execute(run: history.TrainingRun) -> str:
    run_id, spec = run.id, get_spec(run.model)
    result = train(
        spec,
        run.params,
        samples=_labelled_samples(spec),
        on_stage=lambda stage: history.training_stage(run_id, stage),
    )
    history.training_stage(run_id, "storing artifact")
    try:
        version = store_and_register(result, training_run_id=run_id)
    except IntegrityError:
        # An earlier delivery of this run registered its version already.
        version = registry.ModelVersion.objects.get(training_run_id=run_id)
    champion_metrics = None
    if version.status == registry.Status.CHAMPION:
        decision, reason = "first", version.status_reason
    else:
        history.training_stage(run_id, "comparing with the champion")
        decision, reason, champion_metrics = _judge(spec, version)
    history.training_finish(
        run_id,
        status=history.SUCCEEDED,
        version=version.number,
        decision=decision,
        decision_reason=reason,
        metrics=result.metrics,
        champion_metrics=champion_metrics,
        training_rows=result.training_rows,
        samples_used=result.samples_used,
    )
    return decision


def _judge(spec: ModelSpec, version) -> tuple[str, str, dict | None]:
    champion = registry.champion_get(spec.name)
    metric = spec.primary_metric
    # The champion is scored again, now, on the very rows the challenger was scored on.
    *_, held_out = split(spec)
    champion_pipeline = pipeline_get(
        champion.artifact_sha256,
        sklearn_version=champion.sklearn_version,
        signature=champion.artifact_signature,
    )
    champion_metrics = evaluate(spec, champion_pipeline, held_out)
    ours, theirs = version.metrics[metric], champion_metrics[metric]
    if _not_worse(spec, ours, theirs):
        reason = f"{metric} {ours} is not worse than champion v{champion.number}'s {theirs}"
        registry.version_promote(version, reason=reason)
        return "promoted", reason, champion_metrics
    reason = f"{metric} {ours} is worse than champion v{champion.number}'s {theirs}"
    registry.version_reject(version, reason=reason)
    return "rejected", reason, champion_metrics


def stale_cutoff(hard_time_limit_s: int) -> datetime:
    # A run started longer ago than the hard time limit has surely lost its worker.
    return history.now() - timedelta(seconds=hard_time_limit_s)
