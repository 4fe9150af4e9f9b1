"""A small filesystem of its own for MongoDB's files, to fill up: a tmpfs mounted for the
test (so root only; skipped, saying so, otherwise) and unmounted after it. Used by
tests/test_mongo_durability.py and tests/chaos/test_mongo_faults.py."""

import errno
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(path: Path, size: str):
    """Mount a tmpfs of `size` (e.g. "48m") at `path` (made here) for the block's length."""
    if os.geteuid() != 0:
        pytest.skip("filling a disk for MongoDB needs root: it mounts a small tmpfs (CI here runs as root)")
    path.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs for MongoDB's data: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode:
            subprocess.run(["umount", "--lazy", str(path)], check=True)  # a process still holds a file


def fill(disk: Path) -> Path:
    """Take every free block of the filesystem with one file; returns it."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        for size in (1 << 20, 4096, 512):
            try:
                while out.write(b"\0" * size):
                    pass
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler
