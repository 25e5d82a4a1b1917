"""Real surgery (Conv, BatchNorm, the next layer's inputs), zeroing as the original did, BN folding."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from olkit.prune.surgery import fold_batchnorm, mask_model, prune_model
from tests.unit.prune.helpers import random_keep, tiny_model


def test_surgery_equals_zero_masked_original_on_kept_channels() -> None:
    model = tiny_model(head=False)
    keep = random_keep(model)
    pruned = prune_model(model, keep)
    masked = mask_model(model, keep)
    x = np.random.default_rng(3).uniform(0, 255, (5, 16, 16, 3)).astype("float32")
    got = np.asarray(pruned(x))
    want = np.asarray(masked(x))[..., keep["c3"]]
    assert got.shape == (5, 4, 4, len(keep["c3"]))
    np.testing.assert_allclose(got, want, atol=1e-5)
    # the mask really matters: the unpruned model's kept channels differ
    full = np.asarray(model(x))[..., keep["c3"]]
    assert np.abs(full - got).max() > 1e-3
    assert pruned.count_params() < model.count_params()


def test_surgery_through_flatten_and_dense_equals_masked_head() -> None:
    model = tiny_model(head=True)
    keep = random_keep(model, seed=5)
    pruned = prune_model(model, keep)
    x = np.random.default_rng(4).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(pruned(x)), np.asarray(mask_model(model, keep)(x)), atol=1e-5)


def test_batchnorm_weights_are_kept_for_the_kept_channels(tmp_path) -> None:
    model = tiny_model()
    keep = random_keep(model)
    pruned = prune_model(model, keep)
    path = tmp_path / "p.keras"
    pruned.save(path)
    loaded = keras.models.load_model(path, safe_mode=True, compile=False)
    for bn, conv in (("bn1", "c1"), ("bn2", "c2")):
        want = [w[keep[conv]] for w in model.get_layer(bn).get_weights()]
        for a, b in zip(loaded.get_layer(bn).get_weights(), want):
            np.testing.assert_array_equal(a, b)
    assert loaded.get_layer("c2").get_weights()[0].shape == (3, 3, len(keep["c1"]), len(keep["c2"]))


def test_cut_depth_truncates_after_block() -> None:
    model = tiny_model()
    cut = prune_model(model, {}, depth=1)
    assert [layer.name for layer in cut.layers][-1] == "p1"
    assert cut.output_shape == (None, 8, 8, 8)
    with pytest.raises(ValueError, match="depth"):
        prune_model(model, {}, depth=3)


def test_fold_batchnorm_is_exact_and_drops_layers() -> None:
    model = tiny_model(head=False)
    pruned = prune_model(model, random_keep(model))
    folded = fold_batchnorm(pruned)
    x = np.random.default_rng(6).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(folded(x)), np.asarray(pruned(x)), atol=1e-4)
    names = [layer.name for layer in folded.layers]
    assert "bn1" not in names and "r1" not in names  # conv -> BN -> ReLU folded into c1
    assert "bn2" in names  # BN after a ReLU conv cannot be folded
    assert folded.get_layer("c1").get_config()["activation"] == "relu"
