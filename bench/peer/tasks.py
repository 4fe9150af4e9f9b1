"""predict_task: one row through the breast_cancer pipeline.

The pipeline is the kind the platform ships for breast_cancer (predictor/shipped.py and
predictor/estimators.py `pipeline_build`: a plain scikit-learn Pipeline of StandardScaler
and LogisticRegression(C=1.0, max_iter=1000, random_state=0) on the float matrix of the 30
features, class names as labels), trained here on scikit-learn's bundled data with the
platform's split (75% for training, random_state 42, stratified) rather than loaded from
the platform's registry: the same arithmetic, with nothing of the platform's in the peer.
It is trained once per worker process, when the process starts, and kept.
"""

import re
from functools import cache

import numpy as np
from celery import shared_task
from celery.signals import worker_process_init

from .features import FEATURES


@cache
def pipeline():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    names = [re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") for name in data.feature_names]
    if names != FEATURES:
        raise RuntimeError(f"the data's features are not features.py's: {names}")
    labels = np.asarray(data.target_names)[data.target]
    X_train, _, y_train, _ = train_test_split(
        data.data, labels, test_size=0.25, random_state=42, stratify=labels
    )
    model = LogisticRegression(C=1.0, max_iter=1000, random_state=0)
    return Pipeline([("scale", StandardScaler()), ("model", model)]).fit(X_train, y_train)


@worker_process_init.connect
def _train_at_start(**_) -> None:
    pipeline()


@shared_task
def predict_task(row: dict) -> dict:
    """{"label", "probabilities": {class: probability}} for one validated row."""
    model = pipeline()
    probabilities = model.predict_proba(np.array([[row[name] for name in FEATURES]], dtype=float))[0]
    classes = [str(label) for label in model.classes_]
    return {
        "label": classes[int(probabilities.argmax())],
        "probabilities": dict(zip(classes, probabilities.round(6).tolist(), strict=True)),
    }
