"""Measuring pruned models: FLOPs shrink, features, and the one timing path (side by side)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from olkit.models.flops import count_flops
from olkit.prune.measure import extract_features, feature_model, time_model, time_models
from olkit.prune.surgery import prune_model
from tests.unit.prune.helpers import random_keep, tiny_model


def test_flops_and_params_shrink() -> None:
    model = tiny_model()
    pruned = prune_model(model, random_keep(model))
    assert 0 < count_flops(pruned) < count_flops(model)
    c1 = model.get_layer("c1")
    assert count_flops(keras.Sequential([keras.Input((16, 16, 3)), c1])) == pytest.approx(
        2 * 16 * 16 * 9 * 3 * 8
    )


def test_features_are_the_flattened_or_pooled_last_map() -> None:
    model = tiny_model(head=False)
    images = np.random.default_rng(1).integers(0, 256, (3, 16, 16, 3)).astype(np.uint8)
    maps = np.asarray(model(images.astype("float32")))
    flat = extract_features(model, images, batch_size=2)
    np.testing.assert_allclose(flat, maps.reshape(3, -1), atol=1e-5)
    pooled = extract_features(model, images, pooling="avg")
    np.testing.assert_allclose(pooled, maps.mean(axis=(1, 2)), atol=1e-5)
    assert feature_model(model, pooling="max").output_shape == (None, 5)


def test_time_models_times_every_model_and_batch_side_by_side() -> None:
    full = tiny_model(head=False)
    pruned = prune_model(full, random_keep(full))
    times = time_models({"full": full, "pruned": pruned}, batches=(1, 8), rounds=2, repeats=2, warmup=1)
    assert set(times) == {"full", "pruned"} and all(set(t) == {1, 8} for t in times.values())
    assert all(ms > 0 for t in times.values() for ms in t.values())
    # one model at one batch size is the same path, one pass
    assert time_model(full, batch=1, repeats=2) > 0
    # a model whose BN cannot be folded into a conv (BN after a nonlinearity) is timed as it is
    odd = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(2, 3, activation="relu"),
            keras.layers.BatchNormalization(),
        ]
    )
    assert time_models({"odd": odd}, batches=(2,), rounds=1, repeats=1)["odd"][2] > 0
