"""predictor.model_cache: loaded models by SHA-256, bounded by their measured bytes, LRU out first."""

import io
import logging
import random

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from predictor.model_cache import MB, ModelCache, estimate_nbytes, model_nbytes


def put(cache: ModelCache, key: str, mb: float) -> object:
    """A stand-in model whose measured size is its artifact's: `mb` megabytes."""
    model = object()
    cache.put(key, model, artifact_nbytes=int(mb * MB))
    return model


def test_the_least_recently_used_goes_first():
    cache = ModelCache(3 * MB)
    for key in "abc":
        put(cache, key, 1)
    assert cache.get("a") is not None  # a is now the most recent: b is the least

    put(cache, "d", 1)

    assert cache.keys() == ["c", "a", "d"]
    put(cache, "e", 1.5)  # needs room for 1.5 MB: c and a go, in that order
    assert cache.keys() == ["d", "e"]


def test_the_bytes_kept_never_exceed_the_bound():
    rng = random.Random(0)
    cache = ModelCache(10 * MB)
    sizes = {}
    for _ in range(300):
        key = f"m{rng.randrange(40)}"
        if cache.get(key) is None:
            sizes[key] = rng.randrange(1, 10 * MB + 1)
            cache.put(key, object(), artifact_nbytes=sizes[key])
        stats = cache.stats()
        assert stats["bytes"] <= 10 * MB
        assert stats["bytes"] == sum(sizes[key] for key in cache.keys())
        assert stats["entries"] == len(cache.keys())
    assert cache.stats()["evictions"] > 0


def test_room_is_made_before_a_load_by_the_models_last_measure_or_else_its_artifact():
    cache = ModelCache(4 * MB)
    put(cache, "big", 3)
    put(cache, "x", 1)
    put(cache, "y", 1)  # big, the least recently used, goes
    assert cache.keys() == ["x", "y"]

    cache.reserve("big")  # measured at 3 MB when it was loaded: x goes to make room
    assert cache.keys() == ["y"]
    assert cache.stats()["bytes"] == 1 * MB

    cache.reserve("never-loaded", artifact_nbytes=2 * MB)  # 1 + 2 fits: nothing goes
    assert cache.keys() == ["y"]
    cache.reserve("never-loaded-either", artifact_nbytes=4 * MB)
    assert cache.keys() == []
    assert cache.stats()["evictions"] == 3


def test_a_model_larger_than_the_cap_is_served_but_kept_only_until_the_next_load(caplog):
    cache = ModelCache(4 * MB)
    put(cache, "small1", 1)
    put(cache, "small2", 1)

    with caplog.at_level(logging.WARNING, logger="predictor.model_cache"):
        huge = put(cache, "huge", 10)

    assert "kept only until the next model is loaded" in caplog.text
    assert cache.keys() == ["huge"]  # everything else went
    assert cache.get("huge") is huge  # served from the cache while it is the one in use
    assert cache.stats()["bytes"] == 10 * MB

    put(cache, "small3", 1)

    assert cache.keys() == ["small3"]
    assert cache.stats()["bytes"] == 1 * MB


def test_a_cap_of_zero_keeps_only_the_model_last_loaded():
    cache = ModelCache(0)
    put(cache, "a", 0.1)
    put(cache, "b", 0.1)
    assert cache.keys() == ["b"]


def test_it_counts_hits_misses_evictions_and_bytes():
    cache = ModelCache(2 * MB)
    assert cache.stats() == {
        "hits": 0,
        "misses": 0,
        "evictions": 0,
        "bytes": 0,
        "entries": 0,
        "max_bytes": 2 * MB,
    }
    assert cache.get("a") is None
    put(cache, "a", 1)
    assert cache.get("a") is not None
    assert cache.get("a") is not None
    assert cache.get("b") is None
    put(cache, "b", 1)
    put(cache, "c", 1)  # a goes

    assert cache.stats() == {
        "hits": 2,
        "misses": 2,
        "evictions": 1,
        "bytes": 2 * MB,
        "entries": 2,
        "max_bytes": 2 * MB,
    }


def test_putting_a_key_again_replaces_it_without_counting_it_twice():
    cache = ModelCache(10 * MB)
    put(cache, "a", 2)
    newer = put(cache, "a", 3)  # two threads loaded it at once
    assert cache.get("a") is newer
    assert cache.stats()["bytes"] == 3 * MB
    assert cache.stats()["evictions"] == 0


def test_the_measured_size_is_the_larger_of_the_artifact_and_the_loaded_object():
    array = np.zeros(MB, dtype=np.uint8)
    assert model_nbytes(object(), 5 * MB) == 5 * MB
    assert MB <= model_nbytes(array, 1000) < MB + 1024


def test_an_array_and_its_views_count_once():
    base = np.zeros(MB, dtype=np.uint8)
    holder = {"a": base, "b": base[:10], "c": base.reshape(1024, 1024)[::2], "d": [base, base]}
    assert MB <= estimate_nbytes(holder) < MB + 4096


def _tree_buffers(forest) -> int:
    total = 0
    for tree in forest.estimators_:
        state = tree.tree_.__getstate__()
        total += state["nodes"].nbytes + state["values"].nbytes
    return total


def _artifact_nbytes(model) -> int:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return len(buffer.getvalue())


@pytest.fixture(scope="module")
def forest_and_logistic():
    wine = load_wine()
    forest = RandomForestClassifier(n_estimators=50, random_state=0, n_jobs=1).fit(wine.data, wine.target)
    cancer = load_breast_cancer()
    logistic = LogisticRegression(max_iter=5000).fit(cancer.data, cancer.target)
    return forest, logistic


def test_a_fitted_forest_is_measured_with_its_trees_and_a_logistic_regression_is_small(
    forest_and_logistic,
):
    forest, logistic = forest_and_logistic
    # The trees' nodes are C memory behind no __dict__: a walk of __dict__ alone misses them.
    buffers = _tree_buffers(forest)
    forest_nbytes = estimate_nbytes(forest)
    # And 50 estimator objects besides, each at least its instance dict. How large a dict is
    # depends on whether its keys are still shared with the class's other instances, which
    # other tests' models change (about 900 bytes each alone, less after some): a floor of
    # 500 bytes each holds in any order.
    assert forest_nbytes >= buffers + 50 * 500
    assert forest_nbytes >= _artifact_nbytes(forest)  # unpickled, a forest is bigger than its file

    logistic_nbytes = estimate_nbytes(logistic)
    assert logistic.coef_.nbytes < logistic_nbytes < 20_000
    assert forest_nbytes > 10 * logistic_nbytes


def test_a_loaded_model_measures_as_the_fitted_one(forest_and_logistic):
    forest, _ = forest_and_logistic
    buffer = io.BytesIO()
    joblib.dump(forest, buffer)
    loaded = joblib.load(io.BytesIO(buffer.getvalue()))
    assert _tree_buffers(loaded) == _tree_buffers(forest)
    assert abs(estimate_nbytes(loaded) - estimate_nbytes(forest)) < 0.1 * estimate_nbytes(forest)
