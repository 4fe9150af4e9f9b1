"""The four models the platform ships, made the way every model is made: each bundled
scikit-learn table is uploaded as a dataset (owned by the admin, shared) and a model is
defined on it (predictor/definitions.py). setup_platform runs this; it does only what is
missing, and adopts models registered before definitions existed (their versions keep
serving: their pipelines take the plain float matrix, predictor/frames.py)."""

import csv
import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import datasets as bundled

from . import tabular
from .datasets import dataset_upload
from .definitions import BINARY, MULTICLASS, REGRESSION, Definition, model_define
from .models import Dataset, MLModel, Visibility

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shipped:
    name: str
    task: str
    description: str
    load: Callable[[], object]
    target: str
    estimator: str
    params: dict
    metric: str


def _snake(name: str) -> str:
    # "sepal length (cm)" -> "sepal_length_cm": a name a client can type as a JSON key or CSV header.
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


SHIPPED: dict[str, Shipped] = {
    spec.name: spec
    for spec in (
        Shipped(
            name="breast_cancer",
            task=BINARY,
            description="Malignant or benign tumour from 30 cell-nucleus measurements "
            "(Wisconsin diagnostic breast cancer data, bundled with scikit-learn).",
            load=bundled.load_breast_cancer,
            target="diagnosis",
            estimator="logistic_regression",
            params={"C": 1.0, "max_iter": 1000},
            metric="roc_auc",
        ),
        Shipped(
            name="iris",
            task=MULTICLASS,
            description="Iris species (setosa, versicolor, virginica) from sepal and petal sizes in cm.",
            load=bundled.load_iris,
            target="species",
            estimator="logistic_regression",
            params={"C": 1.0, "max_iter": 1000},
            metric="f1_macro",
        ),
        Shipped(
            name="wine",
            task=MULTICLASS,
            description="Cultivar (class_0, class_1, class_2) of an Italian wine "
            "from 13 chemical measurements.",
            load=bundled.load_wine,
            target="cultivar",
            estimator="random_forest",
            params={"n_estimators": 200, "max_depth": None},
            metric="f1_macro",
        ),
        Shipped(
            name="diabetes",
            task=REGRESSION,
            description="Disease progression one year after baseline, from age, sex, BMI, blood pressure "
            "and six blood serum measurements (all mean-centred and scaled, as scikit-learn ships them).",
            load=bundled.load_diabetes,
            target="progression",
            estimator="ridge",
            params={"alpha": 1.0},
            metric="rmse",
        ),
    )
}


def shipped_csv(spec: Shipped) -> bytes:
    """The bundled table as the CSV a user would upload: snake-case feature names, then the
    target, class names rather than codes (so the model answers "benign", not 1)."""
    bunch = spec.load()
    if spec.task == REGRESSION:
        target = [repr(float(value)) for value in bunch.target]
    else:
        target = list(np.asarray(bunch.target_names)[bunch.target])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*(_snake(name) for name in bunch.feature_names), spec.target])
    for row, label in zip(bunch.data.tolist(), target, strict=True):
        writer.writerow([*(repr(float(value)) for value in row), label])
    return out.getvalue().encode()


def shipped_table(name: str):
    """The shipped model's table, read the way every uploaded dataset is read."""
    data = shipped_csv(SHIPPED[name])
    profile = tabular.profile_csv(io.BytesIO(data))
    return tabular.load_frame(io.BytesIO(data), profile.columns), profile


def shipped_definition(name: str) -> Definition:
    """The shipped model's definition as a value, without the registry (tests, the command)."""
    spec = SHIPPED[name]
    _, profile = shipped_table(name)
    return Definition(
        name=spec.name,
        task=spec.task,
        target=spec.target,
        features=[
            {"name": c["name"], "type": c["type"]} for c in profile.columns if c["name"] != spec.target
        ],
        estimator=spec.estimator,
        params=spec.params,
        primary_metric=spec.metric,
    )


def shipped_ensure(admin, names: list[str] | None = None) -> list[str]:
    """Datasets and definitions for the shipped models (all, or `names`), where missing;
    returns the names of those without a champion yet (to train). `admin` owns them (None:
    the platform)."""
    chosen = [SHIPPED[name] for name in names] if names is not None else list(SHIPPED.values())
    for spec in chosen:
        model = MLModel.objects.filter(name=spec.name).first()
        if model is not None and model.dataset_version_id is not None:
            continue
        dataset = Dataset.objects.filter(name=spec.name).first()
        version = dataset.versions.first() if dataset else None
        if version is None:
            version = dataset_upload(
                name=spec.name,
                stream=io.BytesIO(shipped_csv(spec)),
                owner=admin,
                filename=f"{spec.name}.csv",
                visibility=Visibility.SHARED,
                description=spec.description,
            )
        if model is None:
            model_define(
                name=spec.name,
                dataset_version=version,
                target=spec.target,
                owner=admin,
                task=spec.task if spec.task == REGRESSION else "classification",
                estimator=spec.estimator,
                params=spec.params,
                metric=spec.metric,
                visibility=Visibility.SHARED,
                description=spec.description,
            )
        else:
            _adopt(model, spec, version, admin)
    return [
        spec.name
        for spec in chosen
        if not MLModel.objects.get(name=spec.name).versions.filter(status="champion").exists()
    ]


def _adopt(model: MLModel, spec: Shipped, version, admin) -> None:
    """A shipped model registered before definitions: its definition is filled in; its
    versions, jobs and history stay as they are."""
    features = [{"name": column["name"], "type": column["type"]} for column in version.columns]
    model.owner = admin
    model.visibility = Visibility.SHARED
    model.dataset_version = version
    model.target = spec.target
    model.features = [feature for feature in features if feature["name"] != spec.target]
    model.estimator = spec.estimator
    model.params = spec.params
    model.save()
    logger.info("adopted %s: its definition is the shipped one, on dataset %s", model.name, version)
