"""Artifact formats: the load time and the memory after load of each shipped model, as a
joblib pickle and as a skops file loaded the way a worker loads it (predictor/model_files.py:
the static check, skops's build with the trusted types, the checks of its trees).

    python -m bench.model_formats

Each model is trained in process (predictor/fitting.py) and written both ways. Load time:
the best and the median of REPEATS loads from bytes in memory. Memory: in a fresh Python
per model and format, RSS after a second load minus RSS before it (the first load, thrown
away, imports what the format needs), both after a garbage collection and malloc_trim.
"""

import io
import json
import os
import statistics
import subprocess
import sys
import time

REPEATS = 7

_CHILD = r"""
import ctypes, gc, io, sys, joblib, sklearn
from predictor import model_files
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
def load(data):
    if sys.argv[1] == "joblib":
        return joblib.load(io.BytesIO(data))
    return model_files.load(data, sklearn_version=sklearn.__version__, extra=[])
def settle():
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
data = open(sys.argv[2], "rb").read()
# The first load imports what the format needs (skops imports its loaders lazily): not the
# model's cost, so it is made once and thrown away before measuring.
load(data)
settle()
before = rss()
model = load(data)
settle()
print(rss() - before)
"""


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-model-formats")
    import django

    django.setup()
    import joblib
    import sklearn

    from predictor import model_files
    from predictor.fitting import train
    from predictor.shipped import SHIPPED, shipped_definition, shipped_table

    rows = []
    for name in SHIPPED:
        table, _ = shipped_table(name)
        pipeline = train(shipped_definition(name), table).pipeline
        buffer = io.BytesIO()
        joblib.dump(pipeline, buffer)
        blobs = {"joblib": buffer.getvalue(), "skops": model_files.dumps(pipeline)}
        loaders = {
            "joblib": lambda data: joblib.load(io.BytesIO(data)),
            "skops": lambda data: model_files.load(data, sklearn_version=sklearn.__version__, extra=[]),
        }
        for fmt, data in blobs.items():
            times = []
            for _ in range(REPEATS):
                began = time.perf_counter()
                loaders[fmt](data)
                times.append((time.perf_counter() - began) * 1000)
            path = f"/tmp/bench-model-formats-{name}.{fmt}"
            with open(path, "wb") as handle:
                handle.write(data)
            grown = subprocess.run(
                [sys.executable, "-c", "import django; django.setup()\n" + _CHILD, fmt, path],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            os.unlink(path)
            rows.append(
                {
                    "model": name,
                    "format": fmt,
                    "bytes": len(data),
                    "load_ms_best": round(min(times), 2),
                    "load_ms_median": round(statistics.median(times), 2),
                    "rss_after_load_mb": round(float(grown), 2),
                }
            )
    print("| model | format | file bytes | load ms, best / median | RSS after load, MB |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['model']} | {row['format']} | {row['bytes']:,} | {row['load_ms_best']} / "
            f"{row['load_ms_median']} | {row['rss_after_load_mb']} |"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
