"""Counting cores: the usable ones (affinity) and the ones no other process is running on."""

from __future__ import annotations

import os

import numpy as np
import pytest


def test_usable_cores_is_the_affinity() -> None:
    from models.learn.cores import usable_cores

    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


@pytest.mark.parametrize(
    ("running", "own", "cores", "idle"),
    [(1, 1, 2, 2), (2, 1, 2, 1), (3, 1, 2, 1), (9, 1, 2, 1), (3, 1, 16, 14), (3, 3, 2, 2), (4, 3, 2, 1)],
)
def test_idle_cores_are_the_usable_ones_no_other_process_runs_on(monkeypatch, tmp_path, running, own, cores, idle):
    # own: this process's running threads (the reader and, e.g., a BLAS pool still spinning)
    import builtins

    import models.learn.cores as cores_module

    fake = tmp_path / "loadavg"
    fake.write_text(f"5.1 4.0 3.2 {running}/812 4242\n")
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: real_open(fake if f == "/proc/loadavg" else f, *a, **k))
    monkeypatch.setattr(cores_module, "usable_cores", lambda: cores)
    monkeypatch.setattr(cores_module, "_own_running_threads", lambda: own)
    assert cores_module.idle_cores(reads=3, interval=0) == idle


def test_own_running_threads_counts_this_one():
    import threading

    from models.learn.cores import _own_running_threads

    stop = threading.Event()
    a = np.ones((400, 400))

    def busy() -> None:  # NumPy's products release the GIL: this thread runs beside the reader
        while not stop.is_set():
            a @ a

    spinner = threading.Thread(target=busy, daemon=True)
    assert _own_running_threads() >= 1  # the reading thread is running
    spinner.start()
    try:
        assert max(_own_running_threads() for _ in range(50)) >= 2  # a busy thread of ours shows up
    finally:
        stop.set()
        spinner.join()


def test_idle_cores_is_one_where_the_count_cannot_be_read(monkeypatch):
    import builtins

    from models.learn.cores import idle_cores

    def no_proc(f, *a, **k):
        raise FileNotFoundError(f)

    monkeypatch.setattr(builtins, "open", no_proc)
    assert idle_cores(reads=2, interval=0) == 1
