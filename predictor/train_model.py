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


def train(spec: ModelSpec, params: dict | None = None) -> TrainingResult:
    """Fit the spec's pipeline on its training split and score it on the held-out split."""
    params = {**spec.default_params, **(params or {})}
    data = spec.load()
    # Split first, so that no preprocessing ever sees the held-out rows.
    X_train, X_test, y_train, y_test = train_test_split(
        data.X,
        data.y,
        test_size=spec.test_size,
        random_state=spec.random_state,
        stratify=data.y if spec.is_classifier else None,
    )
    pipeline = spec.build(params)
    pipeline.fit(X_train, y_train)
    scores = {key: round(float(value), 6) for key, value in _evaluate(spec, pipeline, X_test, y_test).items()}
    return TrainingResult(
        spec=spec,
        pipeline=pipeline,
        params=params,
        metrics=scores,
        feature_schema=_feature_schema(data.feature_names, X_train),
        classes=[str(c) for c in pipeline.classes_] if spec.is_classifier else None,
        training_rows=len(X_train),
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
