"""The model alone: predict_proba (classifiers) or predict (regressors) of the bench's rows,
in one process.

Run by bench/limits.py with the bench stack's environment, so the pipeline is the very
artifact the workers load (the registry's champion, verified and unpickled by the platform's
own code). Reads {"rows": {model: [row, ...]}, "sizes": [...]} on stdin; writes JSON.
"""

import json
import os
import statistics
import sys
import time

import django


def _timed(call, *, min_total_s=0.3, min_runs=5, max_runs=2000) -> float:
    """Median seconds of one call, over enough runs to see past the timer."""
    call()  # first call: caches, lazy imports
    seconds, total = [], 0.0
    while len(seconds) < min_runs or (total < min_total_s and len(seconds) < max_runs):
        started = time.perf_counter()
        call()
        elapsed = time.perf_counter() - started
        seconds.append(elapsed)
        total += elapsed
    return statistics.median(seconds)


def _sizes(pipeline, batch: list[dict], features: list[str], predict_rows, rows_input) -> dict:
    # The input as the pipeline takes it (predictor/frames.py): the matrix of the features in
    # their order, objects where it has categories.
    X = rows_input(pipeline, batch, features)
    # What answers a job: a classifier's probabilities (its label is their argmax), a
    # regressor's value. The model alone, without the platform around it.
    model_call = pipeline.predict_proba if hasattr(pipeline, "predict_proba") else pipeline.predict
    return {
        "model_s": _timed(lambda: model_call(X)),
        # The worker's whole inference step (predictor/inference.py): rows to an array, the
        # model, outputs to dicts.
        "predict_rows_s": _timed(lambda: predict_rows(pipeline, batch, features)),
    }


def main() -> None:
    request = json.load(sys.stdin)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    django.setup()
    import threadpoolctl

    from predictor import registry
    from predictor.frames import rows_matrix
    from predictor.inference import pipeline_get, predict_rows
    from predictor.shipped import SHIPPED

    from .procs import vm_kb

    rss_before = vm_kb(os.getpid(), "VmRSS")
    pipelines = {}
    for name in SHIPPED:  # every shipped model, as a worker that served them all holds them
        version = registry.champion_get(name)
        pipelines[name] = (
            version,
            pipeline_get(
                version.artifact_sha256,
                sklearn_version=version.sklearn_version,
                signature=version.artifact_signature,
            ),
        )
    result = {
        "rss_mb_django": round(rss_before / 1024, 1),
        "rss_mb_all_models": round(vm_kb(os.getpid(), "VmRSS") / 1024, 1),
        "blas": [
            {key: info.get(key) for key in ("internal_api", "num_threads", "architecture")}
            for info in threadpoolctl.threadpool_info()
        ],
        "models": {},
    }
    for name, rows in request["rows"].items():
        version, pipeline = pipelines[name]
        features = [feature["name"] for feature in version.feature_schema]
        result["models"][name] = {
            str(size): _sizes(pipeline, rows[:size], features, predict_rows, rows_matrix)
            for size in request["sizes"]
        }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
