"""Training runs: train a challenger, judge it against the champion, promote or reject it.

training_request (the API) and nightly_requests (beat's nightly task) record runs; a
training worker runs one with training_execute.
"""

import logging
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError
from threadpoolctl import threadpool_limits

from . import estimators, history, imports, registry
from .datasets import dataset_frame
from .definitions import Definition, UnknownModel, definition_of
from .errors import FieldErrors
from .fitting import TrainingResult, evaluate, split, store_and_register, train
from .frames import rows_frame
from .inference import pipeline_get
from .models import MLModel

logger = logging.getLogger(__name__)


class InvalidParams(FieldErrors):
    """Training params the model's estimator does not take, or out of their range."""


def shipped_defined(model_name: str) -> None:
    """A shipped model the registry does not define yet is defined now (the command's
    first run on a fresh checkout), owned by the first superuser, or by the platform."""
    from django.contrib.auth import get_user_model

    from .shipped import SHIPPED, shipped_ensure

    if (
        model_name in SHIPPED
        and not MLModel.objects.filter(name=model_name, dataset_version__isnull=False).exists()
    ):
        admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
        shipped_ensure(admin, [model_name])


def model_defined(model_name: str) -> MLModel:
    model = MLModel.objects.select_related("dataset_version__dataset").filter(name=model_name).first()
    if model is None or model.dataset_version_id is None:
        raise UnknownModel(model_name)
    return model


def params_validate(model: MLModel, params: dict) -> dict:
    if not params:
        return {}
    if model.estimator == estimators.AUTO:
        raise InvalidParams(
            {"params": [f"{model.name} chooses its estimator at each training (auto); it takes no params."]}
        )
    try:
        return estimators.params_validate(model.estimator, model.task, params)
    except estimators.InvalidParams as exc:
        raise InvalidParams(exc.errors) from None


def training_request(*, model_name: str, params: dict, requested_by: int, trigger: str = "api"):
    model = model_defined(model_name)
    return history.training_create(
        model=model_name, params=params_validate(model, params), trigger=trigger, requested_by=requested_by
    )


def nightly_requests(night: str) -> list[history.TrainingRun]:
    """One run per defined model for this night; a model that has its run already is skipped."""
    runs = []
    names = MLModel.objects.filter(dataset_version__isnull=False).values_list("name", flat=True)
    for name in names:
        try:
            runs.append(
                history.training_create(
                    model=name, params={}, trigger="nightly", nightly_key=f"{name}:{night}"
                )
            )
        except history.DuplicateRun:
            logger.info("nightly run for %s on %s exists; not training again", name, night)
    return runs


def _labelled_samples(definition: Definition) -> tuple[pd.DataFrame, np.ndarray] | None:
    """The model's labelled samples as (features, targets) to add to its training split."""
    rows = history.samples_for(definition.name)
    if not rows:
        return None
    # Columns by name: a sample's features are a document read back from MongoDB, whose key
    # order is not relied on here.
    frame = rows_frame([sample.features for sample in rows], definition.features)
    return frame, np.array([sample.label for sample in rows], dtype=object)


def _table(model: MLModel, definition: Definition, *also: list[str]) -> pd.DataFrame:
    """The dataset's columns the run needs: the definition's features, `also` (an imported
    model's), the champion's (it is scored again on the same rows), and the target."""
    champion = registry.champion_get(model.name)
    names = [*definition.feature_names, *[n for names in also for n in names]]
    names += champion.feature_names if champion is not None else []
    columns = {column["name"] for column in model.dataset_version.columns}
    return dataset_frame(
        model.dataset_version, [*dict.fromkeys(n for n in names if n in columns), definition.target]
    )


def model_fit(model_name: str, params: dict | None = None, *, on_stage=lambda stage: None) -> TrainingResult:
    """Train the model on its dataset and samples; nothing is stored."""
    model = model_defined(model_name)
    definition = definition_of(model)
    return train(
        definition,
        _table(model, definition),
        params,
        samples=_labelled_samples(definition),
        on_stage=on_stage,
        cv_max_rows=settings.AUTO_CV_MAX_ROWS,
    )


def model_train_and_register(model_name: str, *, params: dict | None = None, if_missing: bool = False):
    """Train, store the artifact and record the version (the first becomes champion); None
    when `if_missing` and the model has a champion already."""
    if if_missing and registry.champion_get(model_name) is not None:
        return None
    return store_and_register(model_defined(model_name), model_fit(model_name, params))


def _not_worse(definition: Definition, challenger: float, champion: float) -> bool:
    return challenger >= champion if definition.greater_is_better else challenger <= champion


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
        with threadpool_limits(limits=settings.TRAINING_THREADS):
            return _execute(run)
    except Exception as exc:
        history.training_finish(run_id, status=history.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise


def _execute(run: history.TrainingRun) -> str:
    run_id = run.id
    model = model_defined(run.model)
    definition = definition_of(model)

    def on_stage(stage: str) -> None:
        history.training_stage(run_id, stage)

    if run.artifact_sha256:
        on_stage("loading the model")
        pipeline = imports.imported_load(run.artifact_sha256)
        features = imports.imported_features(pipeline, model.dataset_version.columns)
        on_stage("loading data")
        table = _table(model, definition, [feature["name"] for feature in features])
        result = imports.imported_result(
            replace(definition, features=features), table, pipeline, on_stage=on_stage
        )
    else:
        on_stage("loading data")
        table = _table(model, definition)
        result = train(
            definition,
            table,
            run.params,
            samples=_labelled_samples(definition),
            on_stage=on_stage,
            cv_max_rows=settings.AUTO_CV_MAX_ROWS,
        )
    on_stage("storing artifact")
    try:
        version = store_and_register(
            model, result, training_run_id=run_id, artifact_sha256=run.artifact_sha256
        )
    except IntegrityError:
        # An earlier delivery of this run registered its version already.
        version = registry.ModelVersion.objects.get(training_run_id=run_id)
    champion_metrics = None
    if version.status == registry.Status.CHAMPION:
        decision, reason = "first", version.status_reason
    else:
        on_stage("comparing with the champion")
        decision, reason, champion_metrics = _judge(definition, table, version)
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


def _judge(definition: Definition, table: pd.DataFrame, version) -> tuple[str, str, dict | None]:
    champion = registry.champion_get(definition.name)
    metric = definition.primary_metric
    # The champion is scored again, now, on the very rows the challenger was scored on (the
    # split depends on the rows and the seed, not on the features), with its own features.
    as_champion = replace(
        definition, features=[{"name": f["name"], "type": f["type"]} for f in champion.feature_schema]
    )
    *_, held_out, _ = split(as_champion, table)
    champion_pipeline = pipeline_get(
        champion.artifact_sha256,
        sklearn_version=champion.sklearn_version,
        signature=champion.artifact_signature,
    )
    champion_metrics = evaluate(as_champion, champion_pipeline, held_out)
    ours, theirs = version.metrics[metric], champion_metrics[metric]
    if _not_worse(definition, ours, theirs):
        reason = f"{metric} {ours} is not worse than champion v{champion.number}'s {theirs}"
        registry.version_promote(version, reason=reason)
        return "promoted", reason, champion_metrics
    reason = f"{metric} {ours} is worse than champion v{champion.number}'s {theirs}"
    registry.version_reject(version, reason=reason)
    return "rejected", reason, champion_metrics


def stale_cutoff(hard_time_limit_s: int) -> datetime:
    # A run started longer ago than the hard time limit has surely lost its worker.
    return history.now() - timedelta(seconds=hard_time_limit_s)
