"""The backend helpers: TensorFlow's log level, its start-up noise, seeding, the retracing filter.

(tests/flows/cli/test_startup.py checks the real start-up output of a process.)
"""

from __future__ import annotations

import logging
import os

import keras
import numpy as np
import pytest

from models.learn.backend import drop_tensorflow_noise, seed_everything, tf_log_level

NOTICE = "I0000 00:00:1700000000.123456   42 cpu_feature_guard.cc:210] This TensorFlow binary is optimized\n"
CONTINUED = "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.\n"
WARNING = "W0000 00:00:1700000000.223456   42 cuda_driver.cc:99] failed call to cuInit\n"
ERROR = "E0000 00:00:1700000000.323456   42 cuda_executor.cc:1] no CUDA\n"
OTHER = "UserWarning: something of ours\n"


@pytest.mark.parametrize(
    ("level", "kept"),
    [
        (0, NOTICE + CONTINUED + WARNING + ERROR + OTHER),
        (1, WARNING + ERROR + OTHER),
        (2, ERROR + OTHER),
        (3, OTHER),
    ],
)
def test_records_below_the_level_go_with_their_continuation_lines(level, kept) -> None:
    assert drop_tensorflow_noise(NOTICE + CONTINUED + WARNING + ERROR + OTHER, level=level) == kept


def test_a_continuation_after_a_kept_line_is_kept() -> None:
    assert drop_tensorflow_noise(OTHER + CONTINUED, level=3) == OTHER + CONTINUED


@pytest.mark.parametrize(("value", "level"), [(None, 0), ("2", 2), ("loud", 0)])
def test_tf_log_level_reads_the_environment(monkeypatch, value, level) -> None:
    if value is None:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", value)
    assert tf_log_level() == level


def test_seed_everything_repeats_initial_weights() -> None:
    def fresh_weights() -> np.ndarray:
        layer = keras.layers.Dense(3)
        layer.build((None, 2))
        return np.asarray(layer.kernel)

    seed_everything(11)
    weights = fresh_weights()
    seed_everything(11)
    np.testing.assert_array_equal(fresh_weights(), weights)
    seed_everything(12)
    assert not np.array_equal(fresh_weights(), weights)


def test_the_retracing_notice_is_filtered_and_other_tensorflow_messages_pass(caplog) -> None:
    logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        logger.warning("5 out of the last 5 calls to <function f> triggered tf.function retracing.")
        logger.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]


@pytest.mark.parametrize(
    ("cores", "preset", "expected"),
    [(2, None, "1"), (1, None, "1"), (3, None, None), (16, None, None), (2, "0", "0"), (2, "4", "4")],
)
def test_one_thread_per_op_on_small_machines_unless_the_user_chose(monkeypatch, cores, preset, expected) -> None:
    from models.learn import backend

    monkeypatch.setattr(backend, "usable_cores", lambda: cores)
    if preset is None:
        monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    else:
        monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", preset)
    backend._before_tensorflow()
    assert os.environ.get("TF_NUM_INTRAOP_THREADS") == expected
