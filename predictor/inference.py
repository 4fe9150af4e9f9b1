"""Runs a pipeline on validated rows. Pipelines are cached per process, keyed by hash."""

from collections import OrderedDict

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
    X = np.array([[row[name] for name in feature_names] for row in rows], dtype=float)
    if hasattr(pipeline, "predict_proba"):
        labels = pipeline.predict(X)
        probabilities = pipeline.predict_proba(X)
        classes = [str(c) for c in pipeline.classes_]
        return [
            {
                "label": str(label),
                "probabilities": {cls: round(float(p), 6) for cls, p in zip(classes, probs, strict=True)},
            }
            for label, probs in zip(labels, probabilities, strict=True)
        ]
    return [{"value": float(value)} for value in pipeline.predict(X)]
