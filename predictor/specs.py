"""The models the platform ships: each a scikit-learn Pipeline on a bundled dataset."""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

BINARY = "binary_classification"
MULTICLASS = "multiclass_classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    description: str
    load: Callable[[], Dataset]
    build: Callable[[dict], Pipeline]
    primary_metric: str
    # True when a larger primary metric is better (AUC), False for errors (RMSE).
    greater_is_better: bool
    default_params: dict = field(default_factory=dict)
    # Fixed so that every version of a model is judged on the same held-out rows.
    test_size: float = 0.25
    random_state: int = 42

    @property
    def is_classifier(self) -> bool:
        return self.task in (BINARY, MULTICLASS)


def _snake(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def _load_breast_cancer() -> Dataset:
    bunch = datasets.load_breast_cancer()
    # Train on the class names so that the pipeline itself answers "benign", not 1.
    labels = np.asarray(bunch.target_names)[bunch.target]
    return Dataset(bunch.data, labels, [_snake(n) for n in bunch.feature_names])


def _build_logistic(params: dict) -> Pipeline:
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(random_state=0, **params)),
        ]
    )


SPECS: dict[str, ModelSpec] = {
    "breast_cancer": ModelSpec(
        name="breast_cancer",
        task=BINARY,
        description="Malignant or benign tumour from 30 cell-nucleus measurements "
        "(Wisconsin diagnostic breast cancer data, bundled with scikit-learn).",
        load=_load_breast_cancer,
        build=_build_logistic,
        primary_metric="roc_auc",
        greater_is_better=True,
        default_params={"C": 1.0, "max_iter": 1000},
    ),
}


def get_spec(name: str) -> ModelSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown model spec {name!r}; known: {sorted(SPECS)}") from None
