"""How many cores this process may use, and how many no other process is using right now.

Standard library only, so :mod:`models.learn.backend` can ask before TensorFlow is imported.
"""

from __future__ import annotations

import os
import statistics
import time


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's share), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def idle_cores(*, reads: int = 5, interval: float = 0.01) -> int:
    """Usable cores that no other process is running on right now; at least 1.

    Usable cores (the process's CPU affinity) minus the runnable threads of *other* processes:
    ``/proc/loadavg``'s running count less this process's own running threads
    (``/proc/self/task/*/stat``; its BLAS and OpenMP pools may still be spinning after the last
    fit, and they are ours to reuse). The median of a few reads ``interval`` seconds apart. 1
    where the counts cannot be read (not Linux).
    """
    others = []
    for i in range(reads):
        try:
            with open("/proc/loadavg", encoding="ascii") as f:
                running = int(f.read().split()[3].split("/")[0])
            others.append(max(0, running - _own_running_threads()))
        except (OSError, ValueError, IndexError):
            return 1
        if i < reads - 1:
            time.sleep(interval)
    return max(1, usable_cores() - int(statistics.median(others)))


def _own_running_threads() -> int:
    """Threads of this process in state R (running or runnable), this one included."""
    count = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as f:
                stat = f.read()
        except OSError:  # the thread ended while we looked
            continue
        count += stat[stat.rindex(")") + 2] == "R"  # the state follows "(comm) "
    return count
