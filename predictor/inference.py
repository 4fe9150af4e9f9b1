"""Runs a pipeline on validated rows. Pipelines are cached per process, keyed by hash."""

import numpy as np
import sklearn
from django.conf import settings

from .artifacts import artifact_load_sized, artifact_nbytes_here, artifact_verify
from .frames import rows_matrix
from .model_cache import MB, ModelCache

# This process's loaded pipelines, at most MODEL_CACHE_MB of them by their measured size,
# the least recently used out first (predictor/model_cache.py). Its stats() are its counts.
model_cache = ModelCache(settings.MODEL_CACHE_MB * MB, metrics=True)


def pipeline_get(sha256: str, *, sklearn_version: str, signature: str | None):
    """Load (once per process, while it stays in model_cache) and return the verified
    pipeline with this SHA-256.

    The signature is checked on every call, cached or not: the caller's claim is what is
    being verified, not the artifact.
    """
    artifact_verify(sha256, sklearn_version=sklearn_version, signature=signature)
    pipeline = model_cache.get(sha256)
    if pipeline is None:
        model_cache.reserve(sha256, artifact_nbytes=artifact_nbytes_here(sha256))
        pipeline, nbytes = artifact_load_sized(sha256, sklearn_version=sklearn_version, signature=signature)
        model_cache.put(sha256, pipeline, artifact_nbytes=nbytes)
    return pipeline


def predict_rows(
    pipeline, rows: list[dict[str, float]], feature_names: list[str], spellings: dict | None = None
) -> list[dict]:
    """One output per row, in order. Per-row Python is only what the output's shape needs
    (one dict a row); conversions and rounding are numpy's, whole-array. `spellings`: an
    imported model's boolean features as its dataset spells them (predictor/frames.py)."""
    return predict_matrix(pipeline, rows_matrix(pipeline, rows, feature_names, spellings))


def predict_matrix(pipeline, X) -> list[dict]:
    """One output per row of X, the pipeline's input as rows_matrix makes it."""
    # The rows were checked (predictor/validation.py, predictor/batch_score.py): no infinity,
    # NaN only where a value may be missing. Skipping scikit-learn's own finiteness scan saves
    # a good part of a one-row prediction's time.
    with sklearn.config_context(assume_finite=True):
        return _predicted(pipeline, X)


def predict_matrix_columns(pipeline, X) -> tuple[np.ndarray | None, np.ndarray]:
    """predict_matrix's outputs a column at a time: a classifier's (the index in
    pipeline.classes_ of each row's label, its probabilities rounded to 6 places, a row per
    row of X); a regressor's (None, its values as floats)."""
    with sklearn.config_context(assume_finite=True):
        return _columns(pipeline, X)


def _columns(pipeline, X) -> tuple[np.ndarray | None, np.ndarray]:
    if hasattr(pipeline, "predict_proba"):
        # The label is the most probable class: what the probabilities beside it show, and
        # one model call, not two (predict() is the same argmax for the shipped models).
        probabilities = pipeline.predict_proba(X)
        return probabilities.argmax(axis=1), np.round(probabilities, 6)
    return None, pipeline.predict(X).astype(float)


def _predicted(pipeline, X) -> list[dict]:
    best, numbers = _columns(pipeline, X)
    if best is not None:
        classes = [str(c) for c in pipeline.classes_]
        labels = [classes[i] for i in best.tolist()]
        probabilities = numbers.tolist()
        return [
            {"label": label, "probabilities": dict(zip(classes, probs, strict=True))}
            for label, probs in zip(labels, probabilities, strict=True)
        ]
    return [{"value": value} for value in numbers.tolist()]
