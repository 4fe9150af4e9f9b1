"""The estimators a model may use, their parameters' allowed ranges, and the one Pipeline
every model is: typed columns in, preprocessing inside, the estimator last.

The pipeline follows scikit-learn's "Column Transformer with Mixed Types" example:
numbers are imputed (median) and, for the linear models, scaled; booleans are imputed
(most frequent); categories are imputed with their own "(missing)" value and one-hot
encoded, an unknown category becoming all zeros (`handle_unknown="ignore"`). Histogram
gradient boosting takes categories natively instead (ordinal codes, unknown = missing),
which is faster and, on many categories, far smaller than one-hot columns.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from .errors import FieldErrors

CLASSIFICATION, REGRESSION = "classification", "regression"
NUMBER, CATEGORY, BOOLEAN = "number", "category", "boolean"
# What an imputed missing category is called inside the pipeline (never a user's value:
# the parentheses keep it apart from real categories).
MISSING_CATEGORY = "(missing)"
# Histogram gradient boosting bins a native category into at most 255 codes; a feature with
# more categories keeps its most frequent ones, the rest grouped as "infrequent".
NATIVE_CATEGORIES_MAX = 250


class InvalidParams(FieldErrors):
    """An estimator the platform does not offer, or a parameter outside its range."""


@dataclass(frozen=True)
class Param:
    kind: type  # int or float
    low: float
    high: float
    # None is allowed too (e.g. max_depth: no limit).
    nullable: bool = False


@dataclass(frozen=True)
class Estimator:
    name: str
    description: str
    # Which kind of target it fits: its build for each.
    build: dict[str, Callable[[dict], object]]
    defaults: dict[str, dict]
    params: dict[str, Param]
    # Linear models need comparable scales; trees do not.
    scaled: bool = False
    native_categories: bool = False


_FOREST_PARAMS = {
    "n_estimators": Param(int, 1, 2000),
    "max_depth": Param(int, 1, 100, nullable=True),
    "min_samples_leaf": Param(int, 1, 10_000),
    # null: trees grown until every leaf is pure (scikit-learn's own default).
    "max_leaf_nodes": Param(int, 2, 100_000, nullable=True),
}
# A forest's default bound on each tree's leaves. Fully grown trees keep about one leaf per
# few training rows, so a forest grew with the table: `auto` on the bench's 100,000 x 20
# table chose a 100-tree forest of 288 MB, on disk and in every predict worker's memory. With
# at most 2,048 leaves a tree has at most 4,095 nodes, so 100 trees take at most about 33 MB
# for a binary target (a node is 64 bytes plus 8 per class), whatever the rows. On that table
# (make bench, 2026-12-07) the bounded forest is 31 MB with the same held-out ROC AUC (0.7796
# against 0.7797) and the whole run took 63 s instead of 191 s. A table smaller than the bound
# (the shipped ones) never reaches it; `max_leaf_nodes: null` grows trees fully.
FOREST_MAX_LEAF_NODES = 2048
_BOOSTING_PARAMS = {
    "learning_rate": Param(float, 1e-4, 1.0),
    "max_iter": Param(int, 1, 5000),
    "max_leaf_nodes": Param(int, 2, 4096),
    "max_depth": Param(int, 1, 100, nullable=True),
    "l2_regularization": Param(float, 0.0, 1e6),
}

ESTIMATORS: dict[str, Estimator] = {
    "logistic_regression": Estimator(
        name="logistic_regression",
        description="Logistic regression (linear; features scaled).",
        build={CLASSIFICATION: lambda p: LogisticRegression(random_state=0, **p)},
        defaults={CLASSIFICATION: {"C": 1.0, "max_iter": 1000}},
        params={"C": Param(float, 1e-6, 1e6), "max_iter": Param(int, 1, 100_000)},
        scaled=True,
    ),
    "ridge": Estimator(
        name="ridge",
        description="Ridge regression (linear, L2-penalised; features scaled).",
        build={REGRESSION: lambda p: Ridge(**p)},
        defaults={REGRESSION: {"alpha": 1.0}},
        params={"alpha": Param(float, 0.0, 1e6)},
        scaled=True,
    ),
    "random_forest": Estimator(
        name="random_forest",
        description="Random forest of decision trees.",
        build={
            CLASSIFICATION: lambda p: RandomForestClassifier(random_state=0, n_jobs=1, **p),
            REGRESSION: lambda p: RandomForestRegressor(random_state=0, n_jobs=1, **p),
        },
        defaults={
            kind: {
                "n_estimators": 100,
                "max_depth": None,
                "min_samples_leaf": 1,
                "max_leaf_nodes": FOREST_MAX_LEAF_NODES,
            }
            for kind in (CLASSIFICATION, REGRESSION)
        },
        params=_FOREST_PARAMS,
    ),
    "hist_gradient_boosting": Estimator(
        name="hist_gradient_boosting",
        description="Histogram-based gradient boosting (categories taken natively).",
        build={
            CLASSIFICATION: lambda p: HistGradientBoostingClassifier(random_state=0, **p),
            REGRESSION: lambda p: HistGradientBoostingRegressor(random_state=0, **p),
        },
        defaults={
            CLASSIFICATION: {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31},
            REGRESSION: {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31},
        },
        params=_BOOSTING_PARAMS,
        native_categories=True,
    ),
}

AUTO = "auto"


def kind_of(task: str) -> str:
    """classification or regression, for a task (binary_classification, regression...)."""
    return REGRESSION if task == REGRESSION else CLASSIFICATION


def allowed(task: str) -> list[str]:
    """The estimators for a task, in the order `auto` tries them."""
    kind = kind_of(task)
    return [name for name, estimator in ESTIMATORS.items() if kind in estimator.build]


def estimator_check(name: str, task: str) -> Estimator:
    choices = allowed(task)
    if name not in choices:
        raise InvalidParams(
            {"estimator": [f"Unknown for a {kind_of(task)} model; one of {[AUTO, *choices]}."]}
        )
    return ESTIMATORS[name]


def params_validate(name: str, task: str, params: dict, *, field: str = "params") -> dict:
    """The params, typed, or InvalidParams naming each one not taken or out of range."""
    estimator = estimator_check(name, task)
    errors: dict[str, list[str]] = {}
    clean = {}
    for key, value in params.items():
        spec = estimator.params.get(key)
        if spec is None:
            errors[f"{field}.{key}"] = [f"Not a parameter of {name}; it takes {sorted(estimator.params)}."]
            continue
        if value is None and spec.nullable:
            clean[key] = None
            continue
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if spec.kind is int:
            # An int is whole as it is: float() of one beyond float range would overflow.
            ok = ok and (isinstance(value, int) or value.is_integer())
        if not ok or not spec.low <= value <= spec.high:
            what = "an integer" if spec.kind is int else "a number"
            also = " or null" if spec.nullable else ""
            errors[f"{field}.{key}"] = [f"Must be {what} from {spec.low:g} to {spec.high:g}{also}."]
            continue
        clean[key] = spec.kind(value)
    if errors:
        raise InvalidParams(errors)
    return clean


def ranges() -> dict:
    """Every estimator with its tasks, defaults and parameter ranges, for the API and docs."""
    return {
        name: {
            "description": estimator.description,
            "tasks": sorted(estimator.build),
            "defaults": estimator.defaults,
            "params": {
                key: {
                    "type": spec.kind.__name__,
                    "min": spec.low,
                    "max": spec.high,
                    "nullable": spec.nullable,
                }
                for key, spec in estimator.params.items()
            },
        }
        for name, estimator in ESTIMATORS.items()
    }


def _columns(features: list[dict], kind: str) -> list[int]:
    return [index for index, feature in enumerate(features) if feature["type"] == kind]


def pipeline_build(features: list[dict], *, estimator: str, task: str, params: dict) -> Pipeline:
    """One Pipeline from typed features ({"name", "type", "nullable"?, "categories"?}) to the
    estimator. It takes a matrix with the features' columns in their order
    (predictor/frames.py `matrix`): floats when every feature is a number or a boolean,
    else objects (text for categories).

    Measured on one row (bench/RESULTS.md has the figures): scikit-learn's per-call checks,
    not the arithmetic, are most of a small prediction's cost, and a ColumnTransformer on a
    DataFrame costs tens of times a plain pipeline's. So a model of numbers and booleans
    alone is a plain pipeline (an imputer only when training saw a value missing, a scaler
    for the linear models), and a mixed one a ColumnTransformer over column positions.
    """
    chosen = ESTIMATORS[estimator]
    model_params = {**chosen.defaults[kind_of(task)], **params}
    numbers, booleans, categories = (_columns(features, kind) for kind in (NUMBER, BOOLEAN, CATEGORY))
    # keep_empty_features: a column all missing in a training sample keeps its place.
    if not categories:
        steps = []
        if any(feature.get("nullable") for feature in features):
            # A boolean is 0/1 here: its median is its most frequent value (0.5 on a tie).
            steps.append(("impute", SimpleImputer(strategy="median", keep_empty_features=True)))
        if chosen.scaled:
            steps.append(("scale", StandardScaler()))
        return Pipeline([*steps, ("model", chosen.build[kind_of(task)](model_params))])
    parts = []
    if numbers:
        steps = [("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
        if chosen.scaled:
            steps.append(("scale", StandardScaler()))
        parts.append((NUMBER, Pipeline(steps), numbers))
    if booleans:
        parts.append((BOOLEAN, SimpleImputer(strategy="most_frequent", keep_empty_features=True), booleans))
    # Boosting takes every category natively: at most NATIVE_CATEGORIES_MAX codes a
    # feature, its rarest values grouped as one. (One-hot columns instead, dense as boosting
    # needs them, cost it 14x the fit time and 15x the memory on a 400-value feature.)
    native = categories if chosen.native_categories else []
    hot = [index for index in categories if index not in native]
    impute = SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY, missing_values=None)
    if native:
        encode = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            max_categories=NATIVE_CATEGORIES_MAX,
        )
        parts.append(("native", Pipeline([("impute", impute), ("encode", encode)]), native))
    if hot:
        # Sparse: many categories stay small for the linear models and the forests.
        encode = OneHotEncoder(handle_unknown="ignore", sparse_output=True)
        parts.append((CATEGORY, Pipeline([("impute", impute), ("encode", encode)]), hot))
    columns = ColumnTransformer(parts, remainder="drop")
    if native:
        # The transformer's output keeps its parts in the order above: the native codes come
        # right after the numbers and the booleans.
        start = len(numbers) + len(booleans)
        model_params["categorical_features"] = list(range(start, start + len(native)))
    return Pipeline([("columns", columns), ("model", chosen.build[kind_of(task)](model_params))])


def categorical_columns(pipeline) -> set[int]:
    """The column positions a pipeline built here reads as categories (text), or, for any
    other pipeline, none: its input is all numbers."""
    columns = getattr(pipeline, "named_steps", {}).get("columns")
    found: set[int] = set()
    for name, _, positions in getattr(columns, "transformers", ()):
        if name in (CATEGORY, "native"):
            found.update(positions)
    return found
