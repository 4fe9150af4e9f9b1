"""A model's definition: made from a dataset version, checked whole before anything is
recorded, and read back as a plain value for fitting (predictor/fitting.py).

Every model exists this way, the four the platform ships included (predictor/shipped.py).
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from . import estimators
from .errors import FieldErrors
from .estimators import AUTO, CATEGORY, NUMBER
from .models import DatasetVersion, MLModel, Visibility

BINARY = "binary_classification"
MULTICLASS = "multiclass_classification"
REGRESSION = "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)
# What a request may ask for: `auto` decides from the target column.
TASK_CHOICES = (AUTO, "classification", REGRESSION)

# The metrics each task is scored on (predictor/fitting.py), the primary one first.
METRICS = {
    BINARY: ("roc_auc", "accuracy", "f1", "log_loss"),
    MULTICLASS: ("f1_macro", "accuracy"),
    REGRESSION: ("rmse", "mae", "r2"),
}
# Errors and losses: smaller is better.
LOWER_IS_BETTER = {"log_loss", "rmse", "mae"}
# `auto` takes a number target as classes when it has at most this many distinct whole values.
AUTO_CLASSES_MAX = 20
# A classifier has at most this many classes: the profile keeps every value's count up to
# it (predictor/tabular/), so the checks below see every class.
MAX_CLASSES = 100
# Cross-validation folds (`auto`); every class needs at least this many rows in training.
CV_FOLDS = 3


class UnknownModel(Exception):
    """No model has this name (or none the caller may see: the two are not told apart)."""


class DefinitionRefused(FieldErrors):
    """A model that cannot be made from this dataset as asked; nothing was recorded."""


@dataclass(frozen=True)
class Definition:
    """What fitting needs of a model, free of the database."""

    name: str
    task: str
    target: str
    features: list[dict]  # [{"name", "type"}] in the pipeline's order
    estimator: str  # an allowed estimator, or "auto"
    params: dict
    primary_metric: str
    test_size: float = 0.25
    random_state: int = 42

    @property
    def is_classifier(self) -> bool:
        return self.task in (BINARY, MULTICLASS)

    @property
    def greater_is_better(self) -> bool:
        return greater_is_better(self.primary_metric)

    @property
    def feature_names(self) -> list[str]:
        return [feature["name"] for feature in self.features]


def greater_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def definition_of(model: MLModel) -> Definition:
    if model.dataset_version_id is None:
        raise UnknownModel(f"{model.name} has no definition yet (run setup_platform to adopt it)")
    return Definition(
        name=model.name,
        task=model.task,
        target=model.target,
        features=model.features,
        estimator=model.estimator,
        params=model.params,
        primary_metric=model.primary_metric,
        test_size=model.test_size,
        random_state=model.random_state,
    )


def _column_errors(columns: dict[str, dict], target: str, features: list[str] | None) -> dict:
    errors = {}
    if target not in columns:
        errors["target"] = [f"No column {target!r} in the dataset; its columns: {sorted(columns)}."]
    for name in features or ():
        if name not in columns:
            errors.setdefault("features", []).append(f"No column {name!r} in the dataset.")
        elif name == target:
            errors.setdefault("features", []).append(f"{name!r} is the target; it cannot be a feature too.")
    if features is not None and len(set(features)) != len(features):
        errors.setdefault("features", []).append("A feature is named twice.")
    return errors


def _classes(column: dict) -> dict[str, int] | None:
    """The target's classes with their counts, labels as text; None when too many to list."""
    values = column.get("values")
    if values is None:
        return None
    return {label_text(value): count for value, count in values}


def label_text(value) -> str:
    """A class label as the platform keeps it: text, whole numbers without ".0"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def task_infer(column: dict, asked: str) -> str:
    """The task for this target column. `auto`: classes for a category or boolean target, or
    a number target of few distinct whole values; else regression."""
    if asked == REGRESSION:
        return REGRESSION
    if asked == AUTO:
        few_whole = (
            column["type"] == NUMBER
            and column.get("integers")
            and column.get("distinct") is not None
            and column["distinct"] <= AUTO_CLASSES_MAX
        )
        if column["type"] == NUMBER and not few_whole:
            return REGRESSION
    distinct = column.get("distinct")
    return BINARY if distinct is not None and distinct <= 2 else MULTICLASS


def _target_errors(column: dict, task: str, rows: int, test_size: float) -> dict[str, list[str]]:
    name = column["name"]
    present = rows - column["missing"]
    if present == 0:
        return {"target": [f"{name!r} is missing on every row."]}
    if task == REGRESSION:
        if column["type"] != NUMBER:
            return {"task": [f"Regression needs a number target; {name!r} is a {column['type']}."]}
        # distinct None: more values than the profile counts, surely more than one.
        if column.get("distinct") is not None and column["distinct"] < 2:
            return {"target": [f"{name!r} has one value only; there is nothing to learn."]}
        return {}
    classes = _classes(column)
    if classes is None or len(classes) > MAX_CLASSES:
        return {"target": [f"{name!r} has more than {MAX_CLASSES} distinct values: too many classes."]}
    if len(classes) < 2:
        return {"target": [f"{name!r} has one class only; a classifier needs at least two."]}
    # The held-out split is stratified and the training part cross-validated in CV_FOLDS:
    # each class needs a row in the held-out part and CV_FOLDS in training.
    needed = CV_FOLDS + max(1, round(CV_FOLDS * test_size / (1 - test_size)))
    few = sorted(label for label, count in classes.items() if count < needed)
    if few:
        return {
            "target": [
                f"Classes {few} have fewer than {needed} rows, the least the held-out split and "
                f"{CV_FOLDS}-fold cross-validation need; add rows or merge those classes."
            ]
        }
    return {}


def _features_of(columns: dict[str, dict], target: str, asked: list[str] | None, rows: int):
    """(features, notes, errors): the typed features, what was dropped and why, refusals."""
    features, notes, errors = [], [], {}
    names = asked if asked is not None else [name for name in columns if name != target]
    for name in names:
        column = columns[name]
        if column["missing"] >= rows:
            notes.append(f"{name!r} dropped: it is missing on every row.")
            continue
        if column.get("distinct") == 1 and column["missing"] == 0:
            notes.append(f"{name!r} dropped: it has the same value on every row.")
            continue
        if column["type"] == CATEGORY and column.get("distinct") is None:
            limit = settings.DATASET_MAX_CATEGORIES
            errors.setdefault("features", []).append(
                f"{name!r} has more than {limit} distinct values (an id or free text?); "
                "leave it out of `features`."
            )
            continue
        feature = {"name": name, "type": column["type"], "nullable": column["missing"] > 0}
        features.append(feature)
    if not features and not errors:
        errors["features"] = ["No usable feature is left: every one is constant or missing."]
    return features, notes, errors


def definition_check(
    columns: list[dict],
    rows: int,
    *,
    name: str,
    target: str,
    features: list[str] | None = None,
    task: str = AUTO,
    estimator: str = AUTO,
    params: dict | None = None,
    metric: str | None = None,
) -> tuple[Definition, list[str]]:
    """The definition a request makes of a dataset's profile (its columns and rows), with
    notes (what `auto` chose, what was dropped); DefinitionRefused lists every fault. No
    database: predictor/train_model.py uses it offline."""
    by_name = {column["name"]: column for column in columns}
    errors = _column_errors(by_name, target, features)
    if errors:
        raise DefinitionRefused(errors)
    chosen_task = task_infer(by_name[target], task)
    errors = _target_errors(by_name[target], chosen_task, rows, test_size=0.25)
    typed, notes, feature_errors = _features_of(by_name, target, features, rows)
    errors.update(feature_errors)
    metric = metric or METRICS[chosen_task][0]
    if metric not in METRICS[chosen_task]:
        errors["metric"] = [f"Not a metric of a {chosen_task} model; one of {list(METRICS[chosen_task])}."]
    params = params or {}
    if estimator == AUTO:
        if params:
            errors["params"] = ["`params` need a chosen `estimator`; `auto` tries each with its defaults."]
    else:
        try:
            params = estimators.params_validate(estimator, chosen_task, params)
        except estimators.InvalidParams as exc:
            errors.update(exc.errors)
    rows_left = rows - by_name[target]["missing"]
    if rows_left < 10:
        errors.setdefault("target", []).append(
            f"{rows_left} rows have a target; at least 10 are needed to train and hold some out."
        )
    if errors:
        raise DefinitionRefused(errors)
    if task == AUTO:
        notes.insert(0, f"task: {chosen_task} (auto, from the target column {target!r}).")
    if by_name[target]["missing"]:
        notes.append(f"{by_name[target]['missing']} rows without a target are left out of training.")
    definition = Definition(
        name=name,
        task=chosen_task,
        target=target,
        features=[{"name": f["name"], "type": f["type"]} for f in typed],
        estimator=estimator,
        params=params,
        primary_metric=metric,
    )
    return definition, notes


def model_define(
    *,
    name: str,
    dataset_version: DatasetVersion,
    target: str,
    owner,
    features: list[str] | None = None,
    task: str = AUTO,
    estimator: str = AUTO,
    params: dict | None = None,
    metric: str | None = None,
    visibility: str = Visibility.PRIVATE,
    description: str = "",
) -> tuple[MLModel, list[str]]:
    """Check the request against the dataset's profile and record the definition; returns
    it with notes (what `auto` chose, what was dropped). DefinitionRefused lists every fault."""
    taken = {"name": ["A model with this name exists; model names are unique."]}
    name_taken = MLModel.objects.filter(name=name).exists()
    try:
        definition, notes = definition_check(
            dataset_version.columns,
            dataset_version.rows,
            name=name,
            target=target,
            features=features,
            task=task,
            estimator=estimator,
            params=params,
            metric=metric,
        )
    except DefinitionRefused as exc:
        raise DefinitionRefused({**exc.errors, **taken} if name_taken else exc.errors) from None
    if name_taken:
        raise DefinitionRefused(taken)
    try:
        with transaction.atomic():
            model = MLModel.objects.create(
                name=name,
                task=definition.task,
                description=description,
                primary_metric=definition.primary_metric,
                owner=owner,
                visibility=visibility,
                dataset_version=dataset_version,
                target=target,
                features=definition.features,
                estimator=estimator,
                params=definition.params,
            )
    except IntegrityError:
        raise DefinitionRefused(taken) from None
    return model, notes
