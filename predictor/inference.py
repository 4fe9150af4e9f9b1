"""Runs a pipeline on validated rows. Pipelines are cached per process, keyed by hash."""

from collections import OrderedDict
from operator import itemgetter

import numpy as np

from .artifacts import artifact_load, artifact_verify

# Champions of four models plus pinned older versions fit; the least recently used goes.
MAX_CACHED_PIPELINES = 16
_pipelines: OrderedDict[str, object] = OrderedDict()


def pipeline_get(sha256: str, *, sklearn_version: str, signature: str | None):
    """Load (once per process) and return the verified pipeline with this SHA-256.

    The signature is checked on every call, cached or not: the caller's claim is what is
    being verified, not the artifact.
    """
    artifact_verify(sha256, sklearn_version=sklearn_version, signature=signature)
    pipeline = _pipelines.get(sha256)
    if pipeline is None:
        pipeline = artifact_load(sha256, sklearn_version=sklearn_version, signature=signature)
        _pipelines[sha256] = pipeline
        while len(_pipelines) > MAX_CACHED_PIPELINES:
            _pipelines.popitem(last=False)
    else:
        _pipelines.move_to_end(sha256)
    return pipeline


def predict_rows(pipeline, rows: list[dict[str, float]], feature_names: list[str]) -> list[dict]:
    """One output per row, in order. Per-row Python is only what the output's shape needs
    (one dict a row); conversions and rounding are numpy's, whole-array."""
    take = itemgetter(*feature_names)
    X = np.array([take(row) for row in rows], dtype=float).reshape(len(rows), len(feature_names))
    if hasattr(pipeline, "predict_proba"):
        # The label is the most probable class: what the probabilities beside it show, and
        # one model call, not two (predict() is the same argmax for the shipped models).
        probabilities = pipeline.predict_proba(X)
        classes = [str(c) for c in pipeline.classes_]
        labels = [classes[i] for i in probabilities.argmax(axis=1).tolist()]
        probabilities = np.round(probabilities, 6).tolist()
        return [
            {"label": label, "probabilities": dict(zip(classes, probs, strict=True))}
            for label, probs in zip(labels, probabilities, strict=True)
        ]
    return [{"value": value} for value in pipeline.predict(X).astype(float).tolist()]
