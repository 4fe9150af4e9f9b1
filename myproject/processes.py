"""Whether a process of this host is still there (by its id)."""

import os


def process_alive(pid: int) -> bool:
    """True while `pid` runs, under any user; a zombie (killed, not yet reaped by its
    parent) is gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc to tell: it answered the signal
