"""Train a model spec, evaluate it on its fixed held-out set, store and register it.

As a command:  python -m predictor.train_model --model breast_cancer [--if-missing]
"""

import argparse
import math
from dataclasses import dataclass

import numpy as np
import sklearn
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from .specs import BINARY, MULTICLASS, ModelSpec, get_spec


@dataclass
class TrainingResult:
    spec: ModelSpec
    pipeline: Pipeline
    params: dict
    metrics: dict
    feature_schema: list[dict]
    classes: list[str] | None
    training_rows: int
    # Labelled samples (feedback, uploads) added to the base training split.
    samples_used: int = 0


@dataclass(frozen=True)
class HeldOut:
    """The spec's fixed evaluation rows: the same for every version of a model."""

    X: np.ndarray
    y: np.ndarray


def split(spec: ModelSpec):
    data = spec.load()
    X_train, X_test, y_train, y_test = train_test_split(
        data.X,
        data.y,
        test_size=spec.test_size,
        random_state=spec.random_state,
        stratify=data.y if spec.is_classifier else None,
    )
    return data.feature_names, X_train, y_train, HeldOut(X_test, y_test)


def evaluate(spec: ModelSpec, pipeline: Pipeline, held_out: HeldOut) -> dict:
    scores = _evaluate(spec, pipeline, held_out.X, held_out.y)
    return {key: round(float(value), 6) for key, value in scores.items()}


def _evaluate(spec: ModelSpec, pipeline: Pipeline, X_test, y_test) -> dict:
    predicted = pipeline.predict(X_test)
    if spec.task == BINARY:
        positive = pipeline.classes_[1]
        scores = pipeline.predict_proba(X_test)[:, 1]
        return {
            "roc_auc": skm.roc_auc_score(y_test == positive, scores),
            "accuracy": skm.accuracy_score(y_test, predicted),
            "f1": skm.f1_score(y_test, predicted, pos_label=positive),
            "log_loss": skm.log_loss(y_test, pipeline.predict_proba(X_test)),
        }
    if spec.task == MULTICLASS:
        return {
            "f1_macro": skm.f1_score(y_test, predicted, average="macro"),
            "accuracy": skm.accuracy_score(y_test, predicted),
        }
    return {
        "rmse": math.sqrt(skm.mean_squared_error(y_test, predicted)),
        "mae": skm.mean_absolute_error(y_test, predicted),
        "r2": skm.r2_score(y_test, predicted),
    }


def _feature_schema(names: list[str], X: np.ndarray) -> list[dict]:
    return [
        {"name": name, "type": "number", "min": float(X[:, i].min()), "max": float(X[:, i].max())}
        for i, name in enumerate(names)
    ]


def train(
    spec: ModelSpec,
    params: dict | None = None,
    *,
    samples: tuple[np.ndarray, np.ndarray] | None = None,
    on_stage=lambda stage: None,
) -> TrainingResult:
    """Fit the spec's pipeline on its training split (+ labelled samples) and score it on
    the fixed held-out split. `on_stage` hears each stage as it begins."""
    params = {**spec.default_params, **(params or {})}
    on_stage("loading data")
    # Split first, so that no preprocessing ever sees the held-out rows.
    feature_names, X_train, y_train, held_out = split(spec)
    samples_used = 0
    if samples is not None and len(samples[0]):
        X_train = np.vstack([X_train, samples[0]])
        y_train = np.concatenate([y_train, samples[1].astype(str if spec.is_classifier else float)])
        samples_used = len(samples[0])
    on_stage("fitting")
    pipeline = spec.build(params)
    pipeline.fit(X_train, y_train)
    on_stage("evaluating")
    return TrainingResult(
        spec=spec,
        pipeline=pipeline,
        params=params,
        metrics=evaluate(spec, pipeline, held_out),
        feature_schema=_feature_schema(feature_names, X_train),
        classes=[str(c) for c in pipeline.classes_] if spec.is_classifier else None,
        training_rows=len(X_train),
        samples_used=samples_used,
    )


def train_and_register(model_name: str, *, params: dict | None = None):
    """Train, store the artifact, and record the version; the first version becomes champion."""
    from .artifacts import artifact_save
    from .registry import version_register

    result = train(get_spec(model_name), params)
    sha256 = artifact_save(result.pipeline)
    return version_register(result, artifact_sha256=sha256, sklearn_version=sklearn.__version__)


def main(argv: list[str] | None = None) -> None:
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    django.setup()
    from .registry import champion_get

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="breast_cancer")
    parser.add_argument(
        "--if-missing", action="store_true", help="do nothing when the model already has a champion"
    )
    args = parser.parse_args(argv)
    if args.if_missing and champion_get(args.model) is not None:
        print(f"{args.model}: a champion is registered; not retraining")
        return
    version = train_and_register(args.model)
    print(f"{args.model}: trained v{version.number} ({version.status}) {version.metrics}")


if __name__ == "__main__":
    main()
