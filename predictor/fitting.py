"""Fitting: a model definition's pipeline trained on its dataset (and labelled samples),
scored on its fixed held-out rows, with its diagnostics and, for `estimator: auto`, the
leaderboard of the candidates; then stored and registered. (A training *run*, with its
promotion gate, is predictor/training.py; a run's document is predictor/history/trainings.py.)

The command that trains a model by hand is predictor/train_model.py.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sklearn
from sklearn import metrics as skm
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import Pipeline

from . import estimators
from .definitions import BINARY, CV_FOLDS, MULTICLASS, Definition, label_text
from .estimators import AUTO, CATEGORY, NUMBER
from .frames import matrix, model_input


class TrainingDataError(Exception):
    """The data found at training time cannot make a model (the run fails with this reason)."""


@dataclass
class TrainingResult:
    definition: Definition
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
    estimator: str = ""
    # `auto`: every candidate's cross-validated score and times, the chosen one marked.
    leaderboard: list[dict] = field(default_factory=list)
    # Dataset rows left out for want of a target.
    rows_dropped: int = 0
    # "trained" here, or "imported" (predictor/imports.py): ModelVersion.Source.
    source: str = "trained"


@dataclass(frozen=True)
class HeldOut:
    """The definition's fixed evaluation rows: the same for every version of a model."""

    X: pd.DataFrame
    y: np.ndarray


def targets(definition: Definition, values: pd.Series) -> np.ndarray:
    """Target values as the model learns them: class labels as text, or floats."""
    if definition.is_classifier:
        return np.array([label_text(value) for value in values], dtype=object)
    return values.to_numpy(dtype=float)


def split(definition: Definition, table: pd.DataFrame):
    """(X_train, y_train, held_out, rows_dropped): the table without rows lacking a target,
    split the same way every time (seeded; stratified for a classifier)."""
    present = table[definition.target].notna()
    table = table[present]
    X = table[definition.feature_names]
    y = targets(definition, table[definition.target])
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=definition.test_size,
        random_state=definition.random_state,
        stratify=y if definition.is_classifier else None,
    )
    return X_train, y_train, HeldOut(X_test, y_test), int((~present).sum())


def evaluate(definition: Definition, pipeline, held_out: HeldOut, *, predicted=None) -> dict:
    """The definition's metrics on the held-out rows, rounded to six places. `predicted`:
    the pipeline's predictions of held_out.X, when the caller already has them."""
    X = model_input(pipeline, held_out.X, definition.features)
    if predicted is None:
        predicted = pipeline.predict(X)
    scores = _scores(definition, pipeline, X, held_out.y, predicted)
    return {key: round(float(value), 6) for key, value in scores.items()}


def _scores(definition: Definition, pipeline, X_test, y_test, predicted) -> dict:
    if definition.task == BINARY:
        positive = pipeline.classes_[1]
        probabilities = pipeline.predict_proba(X_test)
        return {
            "roc_auc": skm.roc_auc_score(y_test == positive, probabilities[:, 1]),
            "accuracy": skm.accuracy_score(y_test, predicted),
            "f1": skm.f1_score(y_test, predicted, pos_label=positive),
            "log_loss": skm.log_loss(y_test, probabilities, labels=pipeline.classes_),
        }
    if definition.task == MULTICLASS:
        return {
            "f1_macro": skm.f1_score(y_test, predicted, average="macro"),
            "accuracy": skm.accuracy_score(y_test, predicted),
        }
    return {
        "rmse": math.sqrt(skm.mean_squared_error(y_test, predicted)),
        "mae": skm.mean_absolute_error(y_test, predicted),
        "r2": skm.r2_score(y_test, predicted),
    }


def _scorer(definition: Definition, classes: np.ndarray):
    metric = definition.primary_metric
    if metric == "f1":
        return skm.make_scorer(skm.f1_score, pos_label=sorted(classes)[1])
    return {
        "roc_auc": "roc_auc",
        "accuracy": "accuracy",
        "log_loss": "neg_log_loss",
        "f1_macro": "f1_macro",
        "rmse": "neg_root_mean_squared_error",
        "mae": "neg_mean_absolute_error",
        "r2": "r2",
    }[metric]


# A regressor's predicted-vs-actual plot shows at most this many held-out rows.
MAX_POINTS = 300


def _significant(value, digits: int = 6) -> float:
    return float(f"{float(value):.{digits}g}")


def diagnostics(definition: Definition, pipeline, held_out: HeldOut, predicted, y_train) -> dict:
    """What the pages show of a version, computed once when it is trained.

    Classifier: {"held_out_rows", "confusion_matrix": {"labels", "matrix"}}, matrix[i][j]
    counting the held-out rows of true label labels[i] predicted labels[j], labels in the
    order of pipeline.classes_ (= the version's classes).
    Regressor: {"held_out_rows", "predicted_vs_actual": {"points": [[actual, predicted], ...]}
    (every held-out row, or MAX_POINTS evenly spaced ones), "target": {"min", "max", "mean",
    "std", "p05", "p50", "p95"} of y_train}. Floats to 6 significant digits.
    """
    rows = len(held_out.y)
    if definition.is_classifier:
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


def feature_schema(features: list[dict], X: pd.DataFrame) -> list[dict]:
    """The version's input schema from the rows it was fitted on: a feature may be null when
    some of them lacked it (it is imputed); a number's range, a category's known values."""
    schema = []
    for feature in features:
        column = X[feature["name"]]
        entry = {"name": feature["name"], "type": feature["type"], "nullable": bool(column.isna().any())}
        if feature["type"] == NUMBER:
            present = column.dropna()
            entry["min"] = float(present.min()) if len(present) else None
            entry["max"] = float(present.max()) if len(present) else None
        elif feature["type"] == CATEGORY:
            entry["categories"] = sorted(str(value) for value in column.dropna().unique())
        if feature.get("spellings"):  # an imported model's boolean (predictor/imports.py)
            entry["spellings"] = feature["spellings"]
        schema.append(entry)
    return schema


def _cv_rows(X: pd.DataFrame, y: np.ndarray, *, classifier: bool, max_rows: int, seed: int):
    """At most max_rows of the training rows for cross-validation (stratified when a classifier)."""
    if len(X) <= max_rows:
        return X, y
    X_cv, _, y_cv, _ = train_test_split(
        X, y, train_size=max_rows, random_state=seed, stratify=y if classifier else None
    )
    return X_cv, y_cv


def _categorical(features: list[dict]) -> set[int]:
    return {index for index, feature in enumerate(features) if feature["type"] == CATEGORY}


def leaderboard(
    definition: Definition, features: list[dict], X: pd.DataFrame, y: np.ndarray, *, cv_max_rows: int
) -> list[dict]:
    """Every allowed estimator, with its defaults, cross-validated on the training rows (a
    sample of cv_max_rows at most), best first by the primary metric."""
    X_cv, y_cv = _cv_rows(
        X, y, classifier=definition.is_classifier, max_rows=cv_max_rows, seed=definition.random_state
    )
    folds = (StratifiedKFold if definition.is_classifier else KFold)(
        n_splits=CV_FOLDS, shuffle=True, random_state=definition.random_state
    )
    scorer = _scorer(definition, np.unique(y_cv))
    X_cv = matrix(X_cv, _categorical(features))
    board = []
    for name in estimators.allowed(definition.task):
        pipeline = estimators.pipeline_build(features, estimator=name, task=definition.task, params={})
        scores = cross_validate(pipeline, X_cv, y_cv, cv=folds, scoring=scorer, error_score="raise")
        sign = 1 if definition.greater_is_better else -1
        test_rows = len(X_cv) / CV_FOLDS
        board.append(
            {
                "estimator": name,
                "params": estimators.ESTIMATORS[name].defaults[estimators.kind_of(definition.task)],
                "metric": definition.primary_metric,
                # Scorers are "greater is better": an error comes back negated.
                "cv_score": _significant(sign * scores["test_score"].mean()),
                "cv_std": _significant(scores["test_score"].std()),
                "fit_s": _significant(scores["fit_time"].mean(), 4),
                "predict_us_per_row": _significant(scores["score_time"].mean() / test_rows * 1e6, 4),
                "cv_rows": len(X_cv),
            }
        )
    board.sort(key=lambda entry: entry["cv_score"], reverse=definition.greater_is_better)
    for rank, entry in enumerate(board):
        entry["chosen"] = rank == 0
    return board


def train(
    definition: Definition,
    table: pd.DataFrame,
    params: dict | None = None,
    *,
    samples: tuple[pd.DataFrame, np.ndarray] | None = None,
    on_stage=lambda stage: None,
    cv_max_rows: int = 20_000,
) -> TrainingResult:
    """Fit the definition's pipeline on its training split (+ labelled samples) and score it
    on the fixed held-out split. `table`: the dataset (features and target columns);
    `samples`: (features frame, targets); `on_stage` hears each stage as it begins."""
    # Split first, so that no preprocessing ever sees the held-out rows.
    X_train, y_train, held_out, dropped = split(definition, table)
    samples_used = 0
    if samples is not None and len(samples[0]):
        X_train = pd.concat([X_train, samples[0][definition.feature_names]], ignore_index=True)
        y_train = np.concatenate([y_train, targets(definition, pd.Series(samples[1]))])
        samples_used = len(samples[0])
    if len(X_train) < 2:
        raise TrainingDataError(f"{len(X_train)} training rows; too few to fit a model")
    schema = feature_schema(definition.features, X_train)
    # Categories seen in training size the encoders (estimators.pipeline_build).
    typed = [{**feature, **entry} for feature, entry in zip(definition.features, schema, strict=True)]
    board = []
    estimator, chosen_params = definition.estimator, {**definition.params, **(params or {})}
    if estimator == AUTO:
        on_stage("cross-validating candidates")
        board = leaderboard(definition, typed, X_train, y_train, cv_max_rows=cv_max_rows)
        estimator, chosen_params = board[0]["estimator"], {}
    on_stage("fitting")
    pipeline = estimators.pipeline_build(
        typed, estimator=estimator, task=definition.task, params=chosen_params
    )
    pipeline.fit(matrix(X_train, _categorical(typed)), y_train)
    on_stage("evaluating")
    predicted = pipeline.predict(model_input(pipeline, held_out.X))
    return TrainingResult(
        definition=definition,
        pipeline=pipeline,
        params={
            **estimators.ESTIMATORS[estimator].defaults[estimators.kind_of(definition.task)],
            **chosen_params,
        },
        metrics=evaluate(definition, pipeline, held_out, predicted=predicted),
        feature_schema=schema,
        classes=[str(c) for c in pipeline.classes_] if definition.is_classifier else None,
        training_rows=len(X_train),
        samples_used=samples_used,
        diagnostics=diagnostics(definition, pipeline, held_out, predicted, y_train),
        estimator=estimator,
        leaderboard=board,
        rows_dropped=dropped,
    )


def store_and_register(
    model, result: TrainingResult, *, training_run_id: str | None = None, artifact_sha256: str | None = None
):
    """Store the fitted pipeline's artifact (or take `artifact_sha256`, an imported file's,
    stored already) and record the version (registry.version_register: the first version of a
    model becomes champion)."""
    # Here, not at the top: `python -m predictor.train_model` imports this module before
    # django.setup(), and the registry's models need Django set up.
    from .artifacts import artifact_save
    from .registry import version_register

    sha256 = artifact_sha256 or artifact_save(result.pipeline)
    return version_register(
        model,
        result,
        artifact_sha256=sha256,
        sklearn_version=sklearn.__version__,
        training_run_id=training_run_id,
    )
