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
        labels = pipeline.predict(X).astype(str).tolist()
        probabilities = np.round(pipeline.predict_proba(X), 6).tolist()
        classes = [str(c) for c in pipeline.classes_]
        return [
            {"label": label, "probabilities": dict(zip(classes, probs, strict=True))}
            for label, probs in zip(labels, probabilities, strict=True)
        ]
    return [{"value": value} for value in pipeline.predict(X).astype(float).tolist()]
