"""The many-models scenario's work inside the platform, in one process of its own (run by
bench/many_models.py with the bench stack's environment, as bench/inprocess.py is).

    setup: define each model on its uploaded dataset (predictor.definitions.model_define,
           shared, owned by the bench's builder) and train and register its first version
           (predictor.training.model_train_and_register): what a training worker does, here
           without the queue, to have 50 champions in seconds.
    cold:  each model's pipeline through predictor.inference.pipeline_get on an empty cache
           (a miss: the artifact verified, read from this host's copy, unpickled and sized),
           then again (a hit), then one row through predict_rows; and its bytes fetched from
           GridFS, what a worker on a host without a copy adds to its first load.

Reads {"step": ..., ...} on stdin; writes JSON.
"""

import json
import os
import statistics
import sys
import time

import django


def setup(request: dict) -> dict:
    from django.contrib.auth import get_user_model

    from predictor.definitions import model_define
    from predictor.models import Dataset, Visibility
    from predictor.training import model_train_and_register

    owner = get_user_model().objects.get(username=request["owner"])
    done = {}
    for spec in request["models"]:
        started = time.perf_counter()
        version = Dataset.objects.get(name=spec["dataset"]).versions.first()
        model_define(
            name=spec["name"],
            dataset_version=version,
            target=spec["target"],
            owner=owner,
            task=spec["task"],
            estimator=spec["estimator"],
            params=spec["params"],
            visibility=Visibility.SHARED,
        )
        registered = model_train_and_register(spec["name"])
        done[spec["name"]] = {
            "seconds": round(time.perf_counter() - started, 3),
            "sha256": registered.artifact_sha256,
            "status": registered.status,
        }
    return {"models": done}


def cold(request: dict) -> dict:
    from predictor import artifacts, inference, registry
    from predictor.model_cache import ModelCache, model_nbytes

    # An empty cache with room for all: every first get is a miss, every second a hit.
    inference.model_cache = ModelCache(1 << 40)
    measured = {}
    for name, row in request["rows"].items():
        version = registry.champion_get(name)
        claim = {"sklearn_version": version.sklearn_version, "signature": version.artifact_signature}
        sha256 = version.artifact_sha256
        started = time.perf_counter()
        pipeline = inference.pipeline_get(sha256, **claim)
        cold_s = time.perf_counter() - started
        warm = []
        for _ in range(3):
            started = time.perf_counter()
            inference.pipeline_get(sha256, **claim)
            warm.append(time.perf_counter() - started)
        features = [feature["name"] for feature in version.feature_schema]
        predict = []
        for _ in range(3):
            started = time.perf_counter()
            inference.predict_rows(pipeline, [row], features)
            predict.append(time.perf_counter() - started)
        artifact_bytes = artifacts._path(sha256).stat().st_size
        started = time.perf_counter()
        nbytes = model_nbytes(pipeline, artifact_bytes)
        estimate_s = time.perf_counter() - started
        started = time.perf_counter()
        artifacts._fetch(sha256)
        gridfs_s = time.perf_counter() - started
        measured[name] = {
            "estimator": version.estimator,
            "nbytes": nbytes,
            "artifact_bytes": artifact_bytes,
            "cold_ms": round(1000 * cold_s, 2),
            "warm_ms": round(1000 * statistics.median(warm), 3),
            "predict_row_ms": round(1000 * statistics.median(predict), 2),
            "estimate_ms": round(1000 * estimate_s, 2),
            "gridfs_fetch_ms": round(1000 * gridfs_s, 2),
        }
    return {"models": measured, "cache": inference.model_cache.stats()}


def main() -> None:
    request = json.load(sys.stdin)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    django.setup()
    json.dump({"setup": setup, "cold": cold}[request["step"]](request), sys.stdout)


if __name__ == "__main__":
    main()
