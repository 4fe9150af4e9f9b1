"""Holding live processes still in tests: SIGSTOP for a block, SIGCONT after."""

import signal
from contextlib import contextmanager

import psutil


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (a Celery worker and its pool)."""
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def signal_all(processes, signal_number: int) -> None:
    for process in processes:
        process.send_signal(signal_number)


@contextmanager
def held(processes):
    """The processes stopped (SIGSTOP) for the block: a stopped worker takes no message, so
    what is sent meanwhile stays queued; on again (SIGCONT) when the block ends."""
    processes = list(processes)
    signal_all(processes, signal.SIGSTOP)
    try:
        yield
    finally:
        signal_all(processes, signal.SIGCONT)
