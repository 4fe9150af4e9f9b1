"""A Procfile entry run without honcho: `python -m myproject.procfile ENTRY` execs what the
entry runs after its `exec`, with $VARIABLES filled in from the environment.

The Procfile is the one home of each process's command line (a worker's queue, pool and
concurrency): `make up` runs it through honcho, the bench starts its web and workers from it
(bench/stack.py), and the image's containers run its entries through this (docker/Dockerfile,
compose.yaml). What comes before `exec` (`python -m myproject.stack wait`) is make up's own:
compose waits for the services with depends_on instead.
"""

import os
import re
import shlex
import sys

from myproject.defaults import ROOT

PROCFILE = ROOT / "Procfile"


def procfile_command(name: str, env) -> list[str]:
    """The entry's command after its `exec`, with $VARIABLES filled in from env."""
    for line in PROCFILE.read_text().splitlines():
        if line.startswith(f"{name}:"):
            words = shlex.split(line.split("exec ", 1)[1])
            return [re.sub(r"\$\{?(\w+)\}?", lambda match: env[match.group(1)], word) for word in words]
    raise RuntimeError(f"the Procfile has no {name!r} entry")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m myproject.procfile ENTRY")
    try:
        command = procfile_command(sys.argv[1], os.environ)
    except KeyError as missing:
        sys.exit(f"the Procfile's {sys.argv[1]} entry needs {missing.args[0]} in the environment")
    except RuntimeError as problem:
        sys.exit(str(problem))
    # exec, not a child: the process a container's runtime signals is the command itself.
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
