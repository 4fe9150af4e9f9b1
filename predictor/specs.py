"""The models the platform ships: each a scikit-learn Pipeline on a bundled dataset."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn import datasets
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
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
    # The parameters a training request may set: name -> (type, minimum, maximum).
    tunable: dict[str, tuple[type, float, float]] = field(default_factory=dict)
    # Fixed so that every version of a model is judged on the same held-out rows.
    test_size: float = 0.25
    random_state: int = 42

    @property
    def is_classifier(self) -> bool:
        return self.task in (BINARY, MULTICLASS)


def _snake(name: str) -> str:
    # "sepal length (cm)" -> "sepal_length_cm": a name a client can type as a JSON key or CSV header.
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _classification(loader) -> Callable[[], Dataset]:
    def load() -> Dataset:
        bunch = loader()
        # Train on the class names so that the pipeline itself answers "benign", not 1.
        labels = np.asarray(bunch.target_names)[bunch.target]
        return Dataset(bunch.data, labels, [_snake(n) for n in bunch.feature_names])

    return load


def _load_diabetes() -> Dataset:
    bunch = datasets.load_diabetes()
    return Dataset(bunch.data, bunch.target.astype(float), [_snake(n) for n in bunch.feature_names])


def _build_logistic(params: dict) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(random_state=0, **params))])


def _build_forest(params: dict) -> Pipeline:
    # Trees need no scaling; the step is kept so every spec has the same shape.
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("classify", RandomForestClassifier(random_state=0, n_jobs=1, **params)),
        ]
    )


def _build_ridge(params: dict) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("regress", Ridge(**params))])


_LOGISTIC_TUNABLE = {"C": (float, 1e-6, 1e6), "max_iter": (int, 1, 100_000)}


SPECS: dict[str, ModelSpec] = {
    "breast_cancer": ModelSpec(
        name="breast_cancer",
        task=BINARY,
        description="Malignant or benign tumour from 30 cell-nucleus measurements "
        "(Wisconsin diagnostic breast cancer data, bundled with scikit-learn).",
        load=_classification(datasets.load_breast_cancer),
        build=_build_logistic,
        primary_metric="roc_auc",
        greater_is_better=True,
        default_params={"C": 1.0, "max_iter": 1000},
        tunable=_LOGISTIC_TUNABLE,
    ),
    "iris": ModelSpec(
        name="iris",
        task=MULTICLASS,
        description="Iris species (setosa, versicolor, virginica) from sepal and petal sizes in cm.",
        load=_classification(datasets.load_iris),
        build=_build_logistic,
        primary_metric="f1_macro",
        greater_is_better=True,
        default_params={"C": 1.0, "max_iter": 1000},
        tunable=_LOGISTIC_TUNABLE,
    ),
    "wine": ModelSpec(
        name="wine",
        task=MULTICLASS,
        description="Cultivar (class_0, class_1, class_2) of an Italian wine from 13 chemical measurements.",
        load=_classification(datasets.load_wine),
        build=_build_forest,
        primary_metric="f1_macro",
        greater_is_better=True,
        default_params={"n_estimators": 200, "max_depth": None},
        tunable={"n_estimators": (int, 1, 2000), "max_depth": (int, 1, 100)},
    ),
    "diabetes": ModelSpec(
        name="diabetes",
        task=REGRESSION,
        description="Disease progression one year after baseline, from age, sex, BMI, blood pressure "
        "and six blood serum measurements (all mean-centred and scaled, as scikit-learn ships them).",
        load=_load_diabetes,
        build=_build_ridge,
        primary_metric="rmse",
        greater_is_better=False,
        default_params={"alpha": 1.0},
        tunable={"alpha": (float, 0.0, 1e6)},
    ),
}


class UnknownModel(Exception):
    """No model (spec or registry entry) has this name."""


def get_spec(name: str) -> ModelSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise UnknownModel(name) from None
