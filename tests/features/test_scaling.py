"""FeatureScaler: fitted on training rows only, JSON state, refuses to run unfitted."""

import json

import numpy as np
import pytest

from features.scaling import FeatureScaler


def test_scaler_fits_train_only_and_round_trips_through_json():
    X = np.array([[1.0, 10.0], [3.0, 10.0], [np.nan, 10.0], [100.0, 10.0]])
    scaler = FeatureScaler(clip=3.0).fit(X[:3], ["a", "b"])
    assert scaler.mean_.tolist() == [2.0, 10.0]
    assert scaler.scale_.tolist() == [1.0, 1.0]  # constant column keeps scale 1
    z = scaler.transform(X)
    assert z.dtype == np.float32
    assert z[0, 0] == -1.0
    assert z[3, 0] == 3.0
    assert np.isnan(z[2, 0])
    again = FeatureScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(again.transform(X), z)


def test_unfitted_scaler_refuses():
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureScaler().transform(np.zeros((1, 1)))
    with pytest.raises(ValueError, match="no finite training value"):
        FeatureScaler().fit(np.full((2, 1), np.nan), ["a"])


def test_passthrough_columns_are_neither_scaled_nor_clipped_and_round_trip():
    from features.scaling import FeatureScaler

    X = np.array([[4.6, 1.0], [9.2, 3.0], [2.3, 5.0]])
    scaler = FeatureScaler(clip=1.0).fit(X, ["rel_close", "ret_1"], passthrough=["rel_close"])
    out = scaler.transform(X)
    np.testing.assert_allclose(out[:, 0], X[:, 0].astype("float32"))  # 9.2 stays, far beyond clip=1
    np.testing.assert_allclose(out[:, 1], [-1.0, 0.0, 1.0])  # (x - 3) / 1.633, clipped at 1
    state = scaler.to_dict()
    assert state["passthrough"] == ["rel_close"]
    again = FeatureScaler.from_dict(state)
    np.testing.assert_array_equal(again.transform(X), out)
    assert "passthrough" not in FeatureScaler().fit(X, ["a", "b"]).to_dict()  # old states stay as they were
    with pytest.raises(ValueError, match="passthrough names"):
        FeatureScaler().fit(X, ["a", "b"], passthrough=["c"])
