"""Fitting: train a model spec's pipeline, score it on its fixed held-out set, and keep its
diagnostics; then store and register it. (A training *run*, with its promotion gate, is
predictor/training.py; a run's document is predictor/history/trainings.py.)

As a command:  python -m predictor.fitting --model breast_cancer [--if-missing]
"""

import argparse
import math
from dataclasses import dataclass, field

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
    # What the pages plot for this version (see `diagnostics`); {} for none.
    diagnostics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class HeldOut:
    """The spec's fixed evaluation rows: the same for every version of a model."""

    X: np.ndarray
    y: np.ndarray


def split(spec: ModelSpec):
    """(feature names, X_train, y_train, held_out): the spec's data, split the same way every time."""
    data = spec.load()
    X_train, X_test, y_train, y_test = train_test_split(
        data.X,
        data.y,
        test_size=spec.test_size,
        random_state=spec.random_state,
        stratify=data.y if spec.is_classifier else None,
    )
    return data.feature_names, X_train, y_train, HeldOut(X_test, y_test)


def evaluate(spec: ModelSpec, pipeline: Pipeline, held_out: HeldOut, *, predicted=None) -> dict:
    """The spec's metrics on the held-out rows, rounded to six places. `predicted`: the
    pipeline's predictions of held_out.X, when the caller already has them."""
    if predicted is None:
        predicted = pipeline.predict(held_out.X)
    scores = _scores(spec, pipeline, held_out.X, held_out.y, predicted)
    return {key: round(float(value), 6) for key, value in scores.items()}


def _scores(spec: ModelSpec, pipeline: Pipeline, X_test, y_test, predicted) -> dict:
    if spec.task == BINARY:
        positive = pipeline.classes_[1]
        probabilities = pipeline.predict_proba(X_test)
        return {
            "roc_auc": skm.roc_auc_score(y_test == positive, probabilities[:, 1]),
            "accuracy": skm.accuracy_score(y_test, predicted),
            "f1": skm.f1_score(y_test, predicted, pos_label=positive),
            "log_loss": skm.log_loss(y_test, probabilities),
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


# A regressor's predicted-vs-actual plot shows at most this many held-out rows.
MAX_POINTS = 300


def _significant(value, digits: int = 6) -> float:
    return float(f"{float(value):.{digits}g}")


def diagnostics(spec: ModelSpec, pipeline: Pipeline, held_out: HeldOut, predicted, y_train) -> dict:
    """What the pages show of a version, computed once when it is trained.

    Classifier: {"held_out_rows", "confusion_matrix": {"labels", "matrix"}}, matrix[i][j]
    counting the held-out rows of true label labels[i] predicted labels[j], labels in the
    order of pipeline.classes_ (= the version's classes).
    Regressor: {"held_out_rows", "predicted_vs_actual": {"points": [[actual, predicted], ...]}
    (every held-out row, or MAX_POINTS evenly spaced ones), "target": {"min", "max", "mean",
    "std", "p05", "p50", "p95"} of y_train}. Floats to 6 significant digits.
    """
    rows = len(held_out.y)
    if spec.is_classifier:
        labels = pipeline.classes_
        matrix = skm.confusion_matrix(held_out.y, predicted, labels=labels)
        return {
            "held_out_rows": rows,
            "confusion_matrix": {
                "labels": [str(label) for label in labels],
                "matrix": [[int(count) for count in row] for row in matrix],
            },
        }
    chosen = range(rows) if rows <= MAX_POINTS else np.linspace(0, rows - 1, MAX_POINTS).round().astype(int)
    y = np.asarray(y_train, dtype=float)
    p05, p50, p95 = np.percentile(y, [5, 50, 95])
    target = {
        "min": y.min(),
        "max": y.max(),
        "mean": y.mean(),
        "std": y.std(),
        "p05": p05,
        "p50": p50,
        "p95": p95,
    }
    return {
        "held_out_rows": rows,
        "predicted_vs_actual": {
            "points": [[_significant(held_out.y[i]), _significant(predicted[i])] for i in chosen]
        },
        "target": {key: _significant(value) for key, value in target.items()},
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
    predicted = pipeline.predict(held_out.X)
    return TrainingResult(
        spec=spec,
        pipeline=pipeline,
        params=params,
        metrics=evaluate(spec, pipeline, held_out, predicted=predicted),
        feature_schema=_feature_schema(feature_names, X_train),
        classes=[str(c) for c in pipeline.classes_] if spec.is_classifier else None,
        training_rows=len(X_train),
        samples_used=samples_used,
        diagnostics=diagnostics(spec, pipeline, held_out, predicted, y_train),
    )


def store_and_register(result: TrainingResult, *, training_run_id: str | None = None):
    """Store the fitted pipeline's artifact and record the version (registry.version_register:
    the first version of a model becomes champion)."""
    # Here, not at the top: `python -m predictor.fitting` imports this module before
    # django.setup(), and the registry's models need Django set up.
    from .artifacts import artifact_save
    from .registry import version_register

    sha256 = artifact_save(result.pipeline)
    return version_register(
        result, artifact_sha256=sha256, sklearn_version=sklearn.__version__, training_run_id=training_run_id
    )


def train_and_register(model_name: str, *, params: dict | None = None):
    """Train with the spec's defaults (or `params`), store the artifact, record the version."""
    return store_and_register(train(get_spec(model_name), params))


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
