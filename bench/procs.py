"""Where the two cores and the memory go: CPU seconds and peak RSS per group of processes.

A group is a root process and everything under it (gunicorn's master and its workers, a
Celery worker and its pool), so a pool process the worker replaces is still counted from
the moment it appears. Peak RSS is the kernel's own high-water mark (VmHWM); it is reset at
the start of each span by writing 5 to /proc/<pid>/clear_refs, so a span's peak is its own.
"""

import time
from pathlib import Path

import psutil


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def vm_kb(pid: int, field: str) -> int:
    """A /proc/<pid>/status field in kB (VmHWM: peak RSS, VmRSS: RSS now); 0 once gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Meter:
    """CPU and peak RSS of named process groups over spans of the run.

    A stopped process is retired, not forgotten: its last CPU reading and peak stay in the
    figures of every span it was part of, and of the whole run.
    """

    def __init__(self):
        # A negative pid stands for that process alone, not its children (the bench's own).
        self.groups: dict[str, list[int]] = {}
        self.retired: dict[str, dict[int, float]] = {}
        # Per group and process, the highest VmHWM seen before a reset or an exit.
        self.run_peaks: dict[str, dict[int, float]] = {}
        self.peaks_resettable = True

    def add(self, group: str, pid: int, *, tree: bool = True) -> None:
        self.groups.setdefault(group, []).append(pid if tree else -pid)

    def retire(self, group: str, pids: list[int] | None = None) -> None:
        """Call before stopping a group (or some of its roots)."""
        roots = self.groups.get(group, [])
        leaving = [pid for pid in roots if pids is None or abs(pid) in pids]
        for proc in self._processes(leaving):
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            self.retired.setdefault(group, {})[proc.pid] = times.user + times.system
            self._fold_peak(group, proc.pid)
        self.groups[group] = [pid for pid in roots if pid not in leaving]

    def processes(self, group: str) -> list[psutil.Process]:
        return self._processes(self.groups.get(group, []))

    @staticmethod
    def _processes(roots: list[int]) -> list[psutil.Process]:
        found = []
        for pid in roots:
            if pid > 0:
                found.extend(_tree(pid))
            elif psutil.pid_exists(-pid):
                found.append(psutil.Process(-pid))
        return found

    def _fold_peak(self, group: str, pid: int) -> None:
        peaks = self.run_peaks.setdefault(group, {})
        peaks[pid] = max(peaks.get(pid, 0.0), vm_kb(pid, "VmHWM") / 1024)

    def cpu(self) -> dict[str, dict[int, float]]:
        seconds = {group: dict(retired) for group, retired in self.retired.items()}
        for group in self.groups:
            for proc in self.processes(group):
                try:
                    times = proc.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                seconds.setdefault(group, {})[proc.pid] = times.user + times.system
        return seconds

    def start(self) -> "Span":
        """A span whose peaks are its own (the high-water marks are reset)."""
        for group in self.groups:
            for proc in self.processes(group):
                self._fold_peak(group, proc.pid)
                self.peaks_resettable &= _reset_peak(proc.pid)
        return Span(self)

    def whole_run(self) -> "Span":
        return Span(self, run=True)


class Span:
    def __init__(self, meter: Meter, *, run: bool = False):
        self.meter, self.run = meter, run
        self.started = time.monotonic()
        self.before = meter.cpu()
        self.machine_before = _machine_busy()

    def stop(self) -> dict:
        """{"wall_s", "groups": {group: {cpu_s, cpu_pct (of one core), peak RSS}}}."""
        wall = time.monotonic() - self.started
        groups = {}
        for group, now in self.meter.cpu().items():
            was = self.before.get(group, {})
            cpu = sum(seconds - was.get(pid, 0.0) for pid, seconds in now.items())
            live = {proc.pid for proc in self.meter.processes(group)}
            peaks = {pid: vm_kb(pid, "VmHWM") / 1024 for pid in live}
            if self.run:
                for pid, peak in self.meter.run_peaks.get(group, {}).items():
                    peaks[pid] = max(peaks.get(pid, 0.0), peak)
            groups[group] = {
                "cpu_s": round(cpu, 2),
                "cpu_pct": round(100 * cpu / wall, 1) if wall else 0.0,
                "processes": len(peaks),
                "peak_rss_mb": round(sum(peaks.values()), 1),
                "peak_rss_max_mb": round(max(peaks.values(), default=0.0), 1),
            }
        # Whatever else ran on the machine meanwhile (another session's tests, a build): the
        # busy time of every core less what the groups above used.
        other = _machine_busy() - self.machine_before - sum(group["cpu_s"] for group in groups.values())
        groups["other"] = {
            "cpu_s": round(max(0.0, other), 2),
            "cpu_pct": round(100 * max(0.0, other) / wall, 1),
        }
        return {"wall_s": round(wall, 2), "groups": groups}


def _machine_busy() -> float:
    times = psutil.cpu_times()
    return (
        times.user + times.nice + times.system + getattr(times, "irq", 0.0) + getattr(times, "softirq", 0.0)
    )


def rss_mb(pid: int) -> dict:
    """RSS now and its peak since start (or the last reset), in MB, of one process."""
    return {"rss_mb": round(vm_kb(pid, "VmRSS") / 1024, 1), "peak_mb": round(vm_kb(pid, "VmHWM") / 1024, 1)}
