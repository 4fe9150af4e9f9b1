"""`--profile`: one scenario again, with py-spy sampling the web, the predict worker and
SecantusDB (each with its child processes), after the measured runs so that the sampling
never slows a figure that is reported as measured.

Per process: a flamegraph (SVG, for a browser) and the raw collapsed stacks (text, one
stack per line with its sample count: grep it, or load it in speedscope or inferno).
"""

import subprocess
import sys
from pathlib import Path

from . import scenarios

SCENARIO = "breast_cancer/wait-1/c16"  # without a name after --profile
TARGETS = ("web", "predict", "mongo")
RATE_HZ = 100  # per sampler; two per process (SVG and raw)


def parse(name: str) -> dict:
    """`breast_cancer/batch-1000/c1` -> a scenario spec (the names scenarios.name() gives)."""
    model, shape, clients = name.split("/")
    kind, count = shape.split("-")
    rows = 1 if kind in ("wait", "poll") else int(count)
    return {
        "model": model,
        "kind": "wait" if kind == "batch" else kind,
        "rows": rows,
        "clients": int(clients.lstrip("c")),
    }


def record(stack, clients, meter, rows: dict, timing: dict, scenario=True) -> dict:
    spec = parse(scenario if isinstance(scenario, str) else SCENARIO)
    out = stack.var / "profile"
    out.mkdir(exist_ok=True)
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    seconds = int(timing["warmup_s"] + timing["duration_s"]) + 2
    samplers, files = [], {}
    for target in TARGETS:
        for fmt, suffix in (("flamegraph", "svg"), ("raw", "txt")):
            path = out / f"{target}.{suffix}"
            files.setdefault(target, []).append(str(path))
            command = [
                py_spy,
                "record",
                "--pid",
                str(stack.procs[target].pid),
                "--subprocesses",
                "--nonblocking",
                # Only the thread holding the GIL: where CPU goes, not 48 idle gthreads
                # waiting on sockets (without it, a 20-second run gave about 100 samples that
                # mattered).
                "--gil",
                "--rate",
                str(RATE_HZ),
                "--duration",
                str(seconds),
                "--format",
                fmt,
                "--output",
                str(path),
            ]
            log = open(stack.log(f"py-spy-{target}-{fmt}"), "wb")  # closed once py-spy is done
            samplers.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log))
    figures = scenarios.run(clients, meter, spec, rows[spec["model"]], timing)
    for sampler, log in samplers:
        sampler.wait(timeout=seconds + 60)
        log.close()
    name = scenarios.name(spec)
    print(
        f"bench: profiled {name} (figures under py-spy: p50 {figures['p50_ms']} ms, "
        f"{figures['jobs_per_s']} jobs/s); files:",
        flush=True,
    )
    for target, paths in files.items():
        for path in paths:
            state = "" if Path(path).exists() else f"  (missing: see {stack.log('py-spy-' + target)}*)"
            print(f"  {target}: {path}{state}", flush=True)
    return {"scenario": name, "files": files, "under_py_spy": figures}
