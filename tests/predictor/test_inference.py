from pathlib import Path

import pytest
import sklearn
from django.conf import settings

from predictor import inference
from predictor.artifacts import ArtifactError, artifact_sign
from predictor.model_cache import MB, ModelCache


def sign(sha256: str) -> str:
    return artifact_sign(sha256, sklearn_version=sklearn.__version__)


@pytest.fixture
def loads(monkeypatch) -> list:
    """A fresh cache of 64 MB for the test; each artifact load is appended to the list."""
    loads = []
    real_load = inference.artifact_load_sized
    monkeypatch.setattr(inference, "model_cache", ModelCache(64 * MB))
    monkeypatch.setattr(
        inference, "artifact_load_sized", lambda *a, **k: loads.append(a) or real_load(*a, **k)
    )
    return loads


def get(sha256: str, signature: str | None = None):
    return inference.pipeline_get(
        sha256, sklearn_version=sklearn.__version__, signature=signature or sign(sha256)
    )


def test_it_loads_a_pipeline_once_per_process(trained_breast_cancer, loads):
    _, sha256 = trained_breast_cancer

    first = get(sha256)
    second = get(sha256)

    assert first is second
    assert len(loads) == 1
    stats = inference.model_cache.stats()
    assert (stats["misses"], stats["hits"], stats["entries"]) == (1, 1, 1)
    # Measured as loaded, and never smaller than its artifact.
    artifact_nbytes = (Path(settings.ARTIFACT_DIR) / f"{sha256}.artifact").stat().st_size
    assert stats["bytes"] >= artifact_nbytes > 0


def test_a_cached_pipeline_is_still_refused_without_its_signature(trained_breast_cancer, loads):
    _, sha256 = trained_breast_cancer
    get(sha256)

    for signature in ("0" * 64, sign("0" * 64)):
        with pytest.raises(ArtifactError, match="not signed"):
            get(sha256, signature)

    assert len(loads) == 1
    assert inference.model_cache.stats()["hits"] == 0  # refused before the cache was asked


def test_it_answers_a_label_and_class_probabilities(trained_breast_cancer, valid_input):
    result, _ = trained_breast_cancer
    [output] = inference.predict_rows(result.pipeline, [valid_input], list(valid_input))
    assert output["label"] == "malignant"
    assert set(output["probabilities"]) == {"benign", "malignant"}
    assert abs(sum(output["probabilities"].values()) - 1) < 1e-5


def test_it_keeps_pipelines_within_its_bytes_the_least_recently_used_out_first(
    trained_breast_cancer, loads, monkeypatch
):
    _, sha256 = trained_breast_cancer
    cache = ModelCache(1 * MB)
    for i in range(8):  # 8 x 128 KB: full
        cache.put(f"old{i}", object(), artifact_nbytes=128 * 1024)
    cache.get("old0")  # used again: old1 is now the least recently used
    monkeypatch.setattr(inference, "model_cache", cache)

    get(sha256)

    assert "old1" not in cache
    assert "old0" in cache
    assert cache.keys()[-1] == sha256
    assert cache.stats()["bytes"] <= cache.max_bytes
    assert cache.stats()["evictions"] == 1

    get(sha256)  # still there: no second load
    assert len(loads) == 1


def test_the_process_cache_is_bounded_by_model_cache_mb():
    assert inference.model_cache.max_bytes == settings.MODEL_CACHE_MB * MB


def test_the_label_is_what_predict_says_for_every_shipped_classifier():
    from predictor.frames import model_input
    from predictor.shipped import SHIPPED, shipped_definition
    from tests.shipped import features, shipped_train

    classifiers = [name for name in SHIPPED if shipped_definition(name).is_classifier]
    assert classifiers
    for name in classifiers:
        result = shipped_train(name)
        X = features(name)
        names = list(X.columns)
        rows = X.to_dict(orient="records")
        labels = [output["label"] for output in inference.predict_rows(result.pipeline, rows, names)]
        predicted = result.pipeline.predict(model_input(result.pipeline, X))
        assert labels == [str(label) for label in predicted], name
