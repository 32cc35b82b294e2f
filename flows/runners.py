"""Task runners from a short spec: where a flow's submitted tasks (walk-forward blocks) run.

=============================== ===================================================================
spec                            runner
=============================== ===================================================================
``local`` (default, or empty)   one thread: blocks run one after another in this process
``threads:N``                   N threads in this process
``dask``                        prefect-dask on a new local Dask cluster, one single-threaded worker
                                process per core
``dask:N``                      the same with N worker processes
``dask:tcp://host:port``        prefect-dask on an existing Dask scheduler (a cluster you run)
=============================== ===================================================================

Every runner gives the same predictions for the same seed, to the bit (tested in
``tests/flows/test_runners.py``): a block's initial weights, dropout masks and batch order come
from its training seed alone (:class:`models.learn.lstm._LayerSeeds`, :class:`models.learn.batches.WindowBatches`),
not from Python's process-wide ``random`` module, which Dask's and Prefect's own threads draw from
too (that shared state is what made Dask runs differ before). One thread is the default because
on one machine TensorFlow already spreads a block's matrix work over all cores; ``threads:N``
and ``dask`` pay off when blocks are small or the cluster has more machines.

Dask needs the optional extra: ``pip install 'updown[dask]'`` (prefect-dask).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

DASK_HINT = "the dask task runner needs prefect-dask: pip install 'updown[dask]' (or pip install prefect-dask)"


def _positive(text: str, spec: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"task runner count must be a positive integer, got task_runner={spec!r}")
    return int(text)


def task_runner_from(spec: str | None = None) -> TaskRunner[Any]:
    """The task runner a spec names (see the module docstring).

    Raises:
        ValueError: an unknown spec, naming it.
        ImportError: ``dask...`` without prefect-dask installed, saying what to install.
    """
    text = (spec or "local").strip()
    kind, _, arg = text.partition(":")
    if kind == "local" and not arg:
        return ThreadPoolTaskRunner(max_workers=1)
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=_positive(arg, text))
    if kind == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as exc:
            raise ImportError(DASK_HINT) from exc
        if "://" in arg:
            return DaskTaskRunner(address=arg)
        workers = _positive(arg, text) if arg else max(os.cpu_count() or 1, 1)
        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            },
        )
    raise ValueError(
        "task_runner must be 'local', 'threads:N', 'dask', 'dask:N' or 'dask:tcp://host:port', "
        f"got task_runner={spec!r}"
    )


def runs_on_other_machines(runner: TaskRunner[Any] | None) -> bool:
    """Whether ``runner`` may run tasks on other machines: a Dask scheduler at a non-loopback address.

    Those workers cannot see this machine's folders, such as the local mirror of a remote data root.
    """
    address = getattr(runner, "address", None)
    if not address:
        return False
    host = urlsplit(address if "://" in address else f"tcp://{address}").hostname or ""
    return host not in ("127.0.0.1", "::1", "localhost")
