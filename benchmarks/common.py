"""Shared pieces of the benchmarks: repeated timings, machine facts, a scratch workspace, a champion.

Every figure is measured several times and kept with all its repeats (:class:`Figure`), so a
reader sees the spread: this machine's two cores are shared, and one slow repeat is noise, not
a regression. Comparisons run side by side in one process, alternating A, B, A, B, and are
reported as ratios, which survive a busy neighbour better than absolute times do.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

Scale = str  # "full", "quick" or "toy"
SCALES = ("full", "quick", "toy")


def in_fresh_process(
    module: str, call: str, *, env: dict[str, str] | None = None, unset: tuple[str, ...] = (), live_stderr: bool = False
) -> Any:
    """``from benchmarks.<module> import ...; <call>`` in a new Python process; its JSON result.

    The call's return value travels back as one ``RESULT <json>`` line on stdout. ``env`` is laid
    over this process's environment (``TF_CPP_MIN_LOG_LEVEL=3`` unless given), ``unset`` names
    variables to drop; ``live_stderr`` passes the worker's stderr through as it runs (progress
    lines), else it is kept for the error message.

    Raises:
        RuntimeError: when the worker fails or prints no result.
    """
    import json
    import subprocess
    import sys

    function = call.split("(", 1)[0]
    code = f"import json; from benchmarks.{module} import {function}; print('RESULT ' + json.dumps({call}))"
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    for name in unset:
        full_env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=None if live_stderr else subprocess.PIPE,
        text=True,
        check=False,
        env=full_env,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{module} worker failed ({proc.returncode}): {(proc.stderr or '')[-2000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def updown_command() -> list[str]:
    """The ``updown`` command of this interpreter's environment (not whichever is first on PATH).

    Falls back to PATH, then to ``python -m flows.cli.commands``.
    """
    import shutil
    import sys

    beside = Path(sys.executable).with_name("updown")
    if beside.is_file():
        return [str(beside)]
    exe = shutil.which("updown")
    return [exe] if exe else [sys.executable, "-m", "flows.cli.commands"]


def check_scale(scale: Scale) -> Scale:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got scale={scale!r}")
    return scale


@dataclass
class Figure:
    """One measured quantity with every repeat.

    Attributes:
        unit: e.g. ``"s"``, ``"samples/s"``, ``"MiB"``, ``"ratio"``.
        values: one value per repeat, in the order measured.
        better: ``"lower"`` or ``"higher"``.
    """

    unit: str
    values: list[float] = field(default_factory=list)
    better: str = "lower"

    @property
    def median(self) -> float:
        return float(statistics.median(self.values)) if self.values else float("nan")

    def to_dict(self) -> dict[str, Any]:
        v = self.values
        return {
            "unit": self.unit,
            "better": self.better,
            "median": self.median,
            "min": float(min(v)) if v else None,
            "max": float(max(v)) if v else None,
            "spread": float((max(v) - min(v)) / self.median) if v and self.median else None,
            "repeats": [float(x) for x in v],
        }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(wall seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def side_by_side(
    contenders: dict[str, Callable[[], Any]], *, repeats: int, warmup: bool = True
) -> dict[str, list[float]]:
    """Wall seconds of each contender, interleaved A, B, A, B ... so contention hits both alike.

    Args:
        contenders: name -> zero-argument callable.
        repeats: timed calls of each.
        warmup: one untimed call of each first (graph tracing, caches, imports).
    """
    if warmup:
        for fn in contenders.values():
            fn()
    out: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            out[name].append(timed(fn)[0])
    return out


def ratios(numerator: list[float], denominator: list[float]) -> list[float]:
    """Pairwise ratios of two interleaved series (repeat i over repeat i)."""
    return [a / b for a, b in zip(numerator, denominator, strict=True)]


def result(
    name: str,
    *,
    goal: str,
    headline: str,
    figures: dict[str, Figure],
    met: bool | None,
    params: dict[str, Any],
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """The JSON-ready result of one benchmark; ``headline`` names the figure the goal applies to."""
    return {
        "name": name,
        "goal": goal,
        "headline": headline,
        "met": met,
        "params": params,
        "figures": {k: f.to_dict() for k, f in figures.items()},
        "notes": notes or [],
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, load and library versions, for the results file."""
    from models.versions import library_versions

    versions = library_versions()
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
        mem_kib = next(int(line.split()[1]) for line in lines if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem_kib = 0
    return {
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "loadavg_at_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


NOTABLE_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
"""CPU flags that tell hosts of one ``cpu_model`` apart (an AVX2 EPYC, an AVX-512 Xeon, one with AMX)."""


def cpu_flags() -> list[str]:
    """Which of :data:`NOTABLE_FLAGS` this CPU has (from /proc/cpuinfo; empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return [f for f in NOTABLE_FLAGS if f in flags]


def rss_mib() -> float:
    """Current resident set size of this process, MiB (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def max_rss_mib() -> float:
    """High-water resident set size of this process so far, MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def workspace(prefix: str = "updown-bench-") -> Iterator[Path]:
    """A scratch folder removed afterwards (set ``UPDOWN_BENCH_KEEP=1`` to keep it)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if not os.environ.get("UPDOWN_BENCH_KEEP"):
            import shutil

            shutil.rmtree(path, ignore_errors=True)


# 5,040 business days from here end in 2018: every date is in the past, as updates require.
SYNTHETIC_START = "1999-01-04"


def synthetic_prices(tickers: int, days: int, *, seed: int = 7, signal: float = 0.3) -> pd.DataFrame:
    """A canonical synthetic market (``features.prices.sources.synthetic.SyntheticMarket``) from 1999."""
    from features.prices.sources.synthetic import SyntheticMarket

    return SyntheticMarket(tickers=tickers, days=days, seed=seed, signal=signal, start=SYNTHETIC_START).fetch()


def train_champion(root: Path, *, tickers: int = 4, days: int = 700, units: tuple[int, ...] = (128, 64)) -> str:
    """Train a small model of the default architecture on a small slice and make it the champion.

    One epoch on a few thousand windows: the weights are not meant to predict anything, only to
    have the shape (and the cost) of a production champion. Returns the model id.
    """
    from features.dataset import DatasetConfig
    from models.learn.lstm import ModelConfig
    from models.learn.training import TrainConfig
    from models.serving.registry import save_model, set_champion
    from models.serving.scoring import train_production_model

    prices = synthetic_prices(tickers, days, seed=3)
    fitted, meta = train_production_model(
        prices,
        DatasetConfig(),
        ModelConfig(units=units),
        TrainConfig(epochs=1, batch_size=256, patience=0),
        verbose=0,
    )
    model_id = save_model(root, fitted, meta)
    set_champion(root, model_id, reason="benchmark champion")
    return model_id


def lstm_forward_flops(timesteps: int, n_features: int, units: tuple[int, ...], n_classes: int = 3) -> float:
    """Forward-pass FLOPs of one window through stacked LSTM layers and the softmax head.

    Per timestep, an LSTM layer of ``u`` units on ``d`` inputs does the four gates' matrix products,
    ``4 * u * (d + u)`` multiply-adds, i.e. ``2 * 4 * u * (d + u)`` FLOPs; the element-wise gate
    work (about ``10 * u``) is counted too, though it is small. The Dense head adds
    ``2 * last_units * n_classes``.
    """
    flops = 0.0
    d = n_features
    for u in units:
        flops += timesteps * (2.0 * 4 * u * (d + u) + 10.0 * u)
        d = u
    return flops + 2.0 * d * n_classes


def lstm_train_flops(timesteps: int, n_features: int, units: tuple[int, ...], n_classes: int = 3) -> float:
    """Training FLOPs per window: forward + backward ≈ 3 x forward (backward computes two products)."""
    return 3.0 * lstm_forward_flops(timesteps, n_features, units, n_classes)


def _product_rates(product: Callable[[], Any], flops: float, *, repeats: int, min_s: float) -> list[float]:
    """GFLOP/s of ``product`` per repeat; each repeat times as many products as fill ``min_s``."""
    once, _ = timed(product)  # warm-up, and a first estimate of one product's time
    k = max(1, int(min_s / max(once, 1e-6)))
    out = []
    for _ in range(repeats):
        seconds, _ = timed(lambda: [product() for _ in range(k)])
        out.append(k * flops / seconds / 1e9)
    return out


def tf_matmul_rates(n: int, repeats: int, min_s: float) -> list[float]:
    """TensorFlow's fp32 ``n x n`` product rates in this process, as its thread settings stand."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    ta = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    tb = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    return _product_rates(lambda: tf.linalg.matmul(ta, tb).numpy(), 2.0 * n**3, repeats=repeats, min_s=min_s)


def matmul_peak(scale: str) -> tuple[dict[str, Figure], float]:
    """:func:`matmul_gflops` at the size ``scale`` wants, and the rate LSTM shares are set against.

    The rate is the better median of NumPy's and TensorFlow's fp32 products (toy scale: one small
    product, enough for a smoke test).
    """
    peak = matmul_gflops(n=256, repeats=1, min_s=0.02) if scale == "toy" else matmul_gflops(repeats=3)
    return peak, max(peak["numpy_matmul_gflops"].median, peak["tf_matmul_gflops"].median)


def size_params(size: dict[str, Any]) -> dict[str, Any]:
    """A benchmark's size settings as JSON-ready parameters (tuples become lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in size.items()}


def matmul_gflops(*, n: int = 2048, repeats: int = 5, min_s: float = 0.3) -> dict[str, Figure]:
    """The machine's fp32 matrix-multiply rate with NumPy and TensorFlow (2 n^3 FLOPs per product).

    Each repeat times as many back-to-back products as fill ``min_s`` seconds, so one preempted
    product does not decide a repeat. TensorFlow's rate is measured in a fresh process on every
    core (``TF_NUM_INTRAOP_THREADS=0``): the peak is the machine's, whatever threads the
    pipeline's own processes use (:data:`models.learn.backend.SMALL_MACHINE_CORES`).
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    tf_rates = in_fresh_process(
        "common", f"tf_matmul_rates({n}, {repeats}, {min_s})", env={"TF_NUM_INTRAOP_THREADS": "0"}
    )
    return {
        "numpy_matmul_gflops": Figure(
            "GFLOP/s", _product_rates(lambda: a @ b, 2.0 * n**3, repeats=repeats, min_s=min_s), "higher"
        ),
        "tf_matmul_gflops": Figure("GFLOP/s", tf_rates, "higher"),
    }
