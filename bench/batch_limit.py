"""The limit a batch file is judged against: one process that reads the same CSV with pandas,
predicts with the same pipeline and writes the same results CSV (the key, label, each
class's probability, an empty error).

Run by bench/batch_file.py with the bench stack's environment, so the pipeline is the very
artifact the workers load. Reads {"model", "input", "output", "key"} on stdin; writes JSON:
seconds per step, rows a second, and the process's peak RSS.
"""

import json
import os
import sys
import time

import django


def main() -> None:
    request = json.load(sys.stdin)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    django.setup()
    import numpy as np
    import pandas as pd

    from predictor import registry
    from predictor.inference import pipeline_get

    from .procs import vm_kb

    version = registry.champion_get(request["model"])
    pipeline = pipeline_get(
        version.artifact_sha256, sklearn_version=version.sklearn_version, signature=version.artifact_signature
    )
    features = [feature["name"] for feature in version.feature_schema]
    started = time.perf_counter()
    frame = pd.read_csv(request["input"])
    read_s = time.perf_counter() - started
    probabilities = pipeline.predict_proba(frame[features].to_numpy(dtype=float))
    predict_s = time.perf_counter() - started - read_s
    classes = [str(name) for name in pipeline.classes_]
    out = pd.DataFrame({request["key"]: frame[request["key"]]})
    out["label"] = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
    for index, name in enumerate(classes):
        out[f"p_{name}"] = probabilities[:, index].round(6)
    out["error"] = ""
    out.to_csv(request["output"], index=False)
    total_s = time.perf_counter() - started
    json.dump(
        {
            "rows": len(frame),
            "read_s": round(read_s, 2),
            "predict_s": round(predict_s, 2),
            "write_s": round(total_s - read_s - predict_s, 2),
            "total_s": round(total_s, 2),
            "rows_per_s": round(len(frame) / total_s),
            "peak_rss_mb": round(vm_kb(os.getpid(), "VmHWM") / 1024, 1),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
