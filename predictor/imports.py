"""Models trained elsewhere: a skops file becomes a version of a model, judged like a trained
one.

The web checks the file statically (predictor/model_files.py `check`: a pickle, a type the
platform does not trust, another scikit-learn version are refused before anything in it is
built), stores its bytes (content-addressed, unsigned: nothing loads them without the
registry's signature) and records a training run that names them. A training worker then
loads it with the platform's trusted types, reads its input schema from its
`feature_names_in_` and the dataset's column types, scores it on the model's fixed held-out
split, and registers it: the promotion gate (predictor/training.py) decides the rest. A
file that fails any of that ends the run failed, with the reason, and registers nothing.
"""

import numpy as np
import pandas as pd
import sklearn
from django.conf import settings

from . import model_files
from .artifacts import artifact_bytes
from .definitions import Definition
from .estimators import BOOLEAN
from .fitting import TrainingDataError, TrainingResult, diagnostics, evaluate, feature_schema, split
from .frames import model_input


def import_check(data: bytes) -> list[str]:
    """The web's check of an uploaded file (ModelFileRefused, in the error shape, when it
    fails): the types it needs, all trusted."""
    if len(data) > settings.MODEL_IMPORT_MAX_BYTES:
        raise model_files.ModelFileRefused(
            f"The file is {len(data):,} bytes, over MODEL_IMPORT_MAX_BYTES "
            f"({settings.MODEL_IMPORT_MAX_BYTES:,}).",
            code="too_large",
        )
    return model_files.check(
        data, sklearn_version=sklearn.__version__, extra=settings.MODEL_IMPORT_TRUSTED_TYPES
    )


def imported_load(sha256: str):
    """The uploaded file's model, built by skops with the platform's trusted types only (the
    same checks as the web's, again: the stored bytes are what is loaded)."""
    try:
        return model_files.load(
            artifact_bytes(sha256),
            sklearn_version=sklearn.__version__,
            extra=settings.MODEL_IMPORT_TRUSTED_TYPES,
        )
    except model_files.ModelFileRefused as exc:
        raise TrainingDataError(exc.message) from exc


def imported_features(pipeline, columns: list[dict]) -> list[dict]:
    """The model's features, typed by the dataset's columns ({"name", "type"}), in the order
    of its `feature_names_in_`; TrainingDataError when it has none or names a column the
    dataset lacks."""
    names = getattr(pipeline, "feature_names_in_", None)
    if names is None:
        raise TrainingDataError(
            "the model has no feature_names_in_, so the platform cannot tell which column is which: "
            "fit it on a pandas DataFrame whose columns are the dataset's"
        )
    types = {column["name"]: column["type"] for column in columns}
    missing = [str(name) for name in names if str(name) not in types]
    if missing:
        raise TrainingDataError(f"the model's features {missing} are not columns of the dataset")
    spellings = {column["name"]: column.get("spellings") for column in columns}
    features = []
    for name in map(str, names):
        feature = {"name": name, "type": types[name]}
        if types[name] == BOOLEAN and spellings.get(name):
            # How the file spells it ("Yes"/"No"): what pandas, and so the model, saw.
            feature["spellings"] = spellings[name]
        features.append(feature)
    return features


def imported_result(definition: Definition, table: pd.DataFrame, pipeline, *, on_stage=lambda stage: None):
    """The imported pipeline scored on the definition's held-out rows, as a TrainingResult
    (its features are the model's own, typed by the dataset)."""
    features = definition.features
    X_train, y_train, held_out, dropped = split(definition, table)
    on_stage("evaluating")
    X = model_input(pipeline, held_out.X, features)
    try:
        predicted = pipeline.predict(X)
        metrics = evaluate(definition, pipeline, held_out, predicted=predicted)
    except Exception as exc:  # scikit-learn's own message is the reason
        raise TrainingDataError(
            f"the model failed on the held-out rows: {type(exc).__name__}: {exc}"
        ) from exc
    classes = None
    if definition.is_classifier:
        classes = [str(label) for label in pipeline.classes_]
        unknown = sorted(set(np.unique(held_out.y)) - set(classes))
        if unknown and len(unknown) == len(set(np.unique(held_out.y))):
            raise TrainingDataError(
                f"the model's classes {classes[:10]} are none of the target's values {unknown[:10]}"
            )
    return TrainingResult(
        definition=definition,
        pipeline=pipeline,
        params={},
        metrics=metrics,
        feature_schema=feature_schema(features, X_train),
        classes=classes,
        training_rows=len(X_train),
        diagnostics=diagnostics(definition, pipeline, held_out, predicted, y_train),
        estimator=type(getattr(pipeline, "steps", [[None, pipeline]])[-1][1]).__name__,
        rows_dropped=dropped,
        source="imported",
    )
