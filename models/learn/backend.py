"""The few places where the Keras backend matters: seeding, deterministic ops, and what has to
happen before TensorFlow is first imported.

This module does not import Keras itself (``seed_everything`` does, when called), so
:mod:`models` can install :func:`prepare_tensorflow_import` at no cost to commands that never
load a model (``updown --help``, ``updown report``).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from types import ModuleType

from models.learn.cores import usable_cores

# TensorFlow's C++ log threshold when the user has not chosen one: 3 hides INFO, WARNING and
# ERROR lines (the oneDNN notice, "Could not find cuda drivers", "failed call to cuInit" on a
# machine without a GPU); Python exceptions still carry real errors. Set TF_CPP_MIN_LOG_LEVEL=0
# in the environment to see everything.
TF_CPP_MIN_LOG_LEVEL = "3"

# TensorFlow's threads per op (TF_NUM_INTRAOP_THREADS) on a machine of at most this many cores,
# when the user has not chosen: 1. Each step of the stacked LSTM is a few small matrix products
# that are faster whole on one core each, two ops at a time on TensorFlow's inter-op pool, than
# each split across both cores: `python -m benchmarks --only threads` measured training 1.1-1.3x
# faster on a 2-core AVX-512 Xeon with the same weights and predictions to the bit (BENCHMARKS.md,
# row 13), and 1.1-1.2x on a 2-core AVX2 EPYC, where the probabilities differ by ~2e-7 (row 14).
# Not measured on bigger machines, so there TensorFlow's default (every core) stands.
SMALL_MACHINE_CORES = 2
INTRA_OP_THREADS_SMALL = "1"

# One absl log record: severity letter, MMDD, time, thread, file:line].
_ABSL_RECORD = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\]]+\] ")
_ABSL_BANNER = "All log messages before absl::InitializeLog() is called are written to STDERR"
_CONTINUATIONS = ("To enable the following instructions:",)  # 2nd line of cpu_feature_guard's notice
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}


class _DropRetracingNotice(logging.Filter):
    """TensorFlow warns about tf.function retracing once a process has built several models.

    A walk-forward run builds one fresh model per block on purpose, so the warning is expected
    and says nothing actionable; every other TensorFlow message passes through.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_DropRetracingNotice())


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend, and ask the backend for deterministic ops.

    With the same seed and data, training on CPU then gives the same weights and predictions.
    """
    import keras

    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def prepare_tensorflow_import() -> None:
    """Arrange for :func:`_before_tensorflow` to run right before TensorFlow's first import.

    Called by ``models/__init__.py``, so it is in place before any model code imports Keras
    (which imports TensorFlow on its default backend). A no-op when TensorFlow is already loaded
    (too late) or the hook is already installed; with another Keras backend it never fires.
    """
    if "tensorflow" in sys.modules or any(isinstance(f, _TensorFlowImportHook) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _TensorFlowImportHook())


def _before_tensorflow() -> None:
    """Everything that must happen before TensorFlow's shared libraries load.

    * ``TF_CPP_MIN_LOG_LEVEL`` (only if the user has not set it): TensorFlow reads it once.
    * ``TF_NUM_INTRAOP_THREADS`` = 1 on a machine of at most :data:`SMALL_MACHINE_CORES` cores
      (only if the user has not set it; ``0`` restores TensorFlow's default): read once, when
      TensorFlow starts its thread pools.
    * curl_cffi (yfinance's HTTP client) is loaded first: TensorFlow's bundled TLS/curl symbols
      otherwise shadow libcurl-impersonate's, and every Yahoo request then fails with
      "ImpersonateError: Impersonating chrome... is not supported" (tests/flows/test_import_order.py).
      Only a process that loads both needs this order, and any process that loads both loads
      TensorFlow through here; commands that never load TensorFlow skip curl_cffi's import too.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_CPP_MIN_LOG_LEVEL)
    if usable_cores() <= SMALL_MACHINE_CORES:
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", INTRA_OP_THREADS_SMALL)
    with contextlib.suppress(ImportError):
        import curl_cffi.requests  # noqa: F401  (imported for its side effect on symbol resolution)


def tf_log_level() -> int:
    """The ``TF_CPP_MIN_LOG_LEVEL`` in force (0 when unset or not a number)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def drop_tensorflow_noise(text: str, *, level: int) -> str:
    """``text`` without the absl log lines that ``TF_CPP_MIN_LOG_LEVEL=level`` is meant to hide.

    TensorFlow 2.21 writes some records while its libraries load, before it applies the level
    (the oneDNN and CUDA-driver notices, absl's banner): the level alone does not hide them.
    Everything else in ``text`` (Python warnings, other libraries' output) is kept as it was.
    """
    kept: list[str] = []
    dropped_previous = False
    for line in text.splitlines(keepends=True):
        record = _ABSL_RECORD.match(line)
        if record:
            dropped_previous = _SEVERITY[record.group(1)] < level
        elif _ABSL_BANNER in line:
            dropped_previous = level >= 2
        elif not (dropped_previous and line.startswith(_CONTINUATIONS)):
            dropped_previous = False
        if not dropped_previous:
            kept.append(line)
    return "".join(kept)


@contextlib.contextmanager
def _native_stderr_filtered(level: int) -> Iterator[None]:
    """Capture file descriptor 2 (C++ code writes there directly) and replay it filtered."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = drop_tensorflow_noise(capture.read().decode(errors="replace"), level=level)
            if kept:
                os.write(2, kept.encode())


class _TensorFlowImportHook(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` like the normal path finder, but loads it through :class:`_QuietLoader`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _QuietLoader(spec.loader, hook=self)
        return spec


class _QuietLoader(importlib.abc.Loader):
    """Runs :func:`_before_tensorflow`, then TensorFlow's own loader with its start-up noise filtered."""

    def __init__(self, loader: importlib.abc.Loader, *, hook: _TensorFlowImportHook) -> None:
        self._loader = loader
        self._hook = hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self._hook)  # once is enough
        # from here on the module looks as if the normal loader had loaded it
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        _before_tensorflow()
        with _native_stderr_filtered(tf_log_level()):
            self._loader.exec_module(module)
