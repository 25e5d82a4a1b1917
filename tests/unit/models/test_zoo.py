"""Backbones to prune: VGG16-like layout, shipped surface weights, AlexNet-like, user models."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from olkit.errors import UnprunableModelError
from olkit.models import zoo
from olkit.prune.graph import block_ends, conv_units


def test_vgg_like_has_vgg16s_layout_scaled() -> None:
    model = zoo.build_vgg_like(size=32, width=8, weights=None)
    units = conv_units(model)
    assert len(units) == 13
    assert [u.filters for u in units] == [8, 8, 16, 16, 32, 32, 32, 64, 64, 64, 64, 64, 64]
    assert len(block_ends(model)) == 5
    assert model.output_shape == (None, 1, 1, 64)
    assert units[0].end == "block1_conv1_relu"  # conv -> BN -> ReLU scored after the ReLU
    plain = zoo.build_vgg_like(size=32, width=8, weights=None, batch_norm=False)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in plain.layers)
    with pytest.raises(ValueError, match="multiple of 32"):
        zoo.build_vgg_like(size=40, weights=None)


@pytest.mark.slow
def test_shipped_surface_weights_load_and_are_documented() -> None:
    shipped = zoo.shipped_surface_weights()
    assert (64, 16) in shipped  # the demo's backbone
    total = 0
    for size, width in shipped:
        path = zoo.surface_weights_path(size, width)
        meta = json.loads(path.with_suffix("").with_suffix(".json").read_text())
        assert meta["recipe"].startswith("python -m olkit.models.zoo pretrain")
        assert f"--size {size} --width {width}" in meta["recipe"]
        total += path.stat().st_size
    assert total < 20 * 2**20  # the budget for shipped weights
    model = zoo.build_vgg_like(size=64, width=16, weights="surface")
    fresh = zoo.build_vgg_like(size=64, width=16, weights=None)
    k1 = model.get_layer("block1_conv1").get_weights()[0]
    assert not np.allclose(k1, fresh.get_layer("block1_conv1").get_weights()[0])
    with pytest.raises(ValueError, match=r"pretrain your own .*--size 96 --width 16"):
        zoo.build_vgg_like(size=96, width=16, weights="surface")


def test_surface_set_is_broad_and_seeded() -> None:
    x1, y1 = zoo.surface_set(n_per_class=2, size=32, seed=3, extras=False)
    x2, _y2 = zoo.surface_set(n_per_class=2, size=32, seed=3, extras=False)
    assert x1.shape == (2 * len(zoo.SURFACE_CLASSES), 32, 32, 3) and x1.dtype == np.uint8
    assert set(y1) == set(zoo.SURFACE_CLASSES)
    np.testing.assert_array_equal(x1, x2)
    crack = x1[list(y1).index("crack")]
    plain = x1[list(y1).index("plain")]
    assert crack.min() < plain.min()  # the crack draws a dark line


@pytest.mark.slow
def test_alexnet_like_trains_from_scratch_and_keeps_bn() -> None:
    model = zoo.build_alexnet_like(size=32, width=4)
    units = conv_units(model)
    assert len(units) == 5 and all(u.end.startswith("bn") for u in units)
    rng = np.random.default_rng(0)
    x = np.full((24, 32, 32, 3), 200, np.uint8)
    y = np.arange(24) % 2
    for i in np.flatnonzero(y):
        x[i, :, int(rng.integers(4, 28))] = 20
    before = [w.copy() for w in model.get_weights()]
    hist = zoo.train_from_scratch(model, x, y, epochs=1, batch_size=8, augment=False)
    assert hist["classes"] == [0, 1] and len(hist["loss"]) == 1
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_user_model_loads_and_unprunable_topologies_name_the_layer(tmp_path) -> None:
    ok = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, name="c1"),
            keras.layers.Flatten(name="f"),
            keras.layers.Dense(2, name="head"),
        ]
    )
    ok.save(tmp_path / "ok.keras")
    model = zoo.load_user_model(tmp_path / "ok.keras", layer="c1")
    assert model.output_shape == (None, 14, 14, 4)

    inp = keras.Input((16, 16, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="stem")(inp)
    b = keras.layers.Conv2D(4, 3, padding="same", name="branch")(a)
    res = keras.Model(inp, keras.layers.Add(name="block_add")([a, b]))
    res.save(tmp_path / "res.keras")
    with pytest.raises(UnprunableModelError, match="block_add"):
        zoo.load_user_model(tmp_path / "res.keras")

    dw = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.DepthwiseConv2D(3, name="dw_conv")])
    dw.save(tmp_path / "dw.keras")
    with pytest.raises(UnprunableModelError, match="dw_conv"):
        zoo.load_user_model(tmp_path / "dw.keras")


def test_online_conv_base_names_build_their_representation() -> None:
    from olkit.models.zoo import CONV_BASES, online_conv_base

    assert {"vgg16-hed", "vgg16-hed-finetuned", "compact", "original"} <= set(CONV_BASES)
    frozen, setup = online_conv_base("vgg16-hed", layer="block3", pooling="avg", image_size=32)
    assert setup["trained"] is False and frozen.embedding_dim == 256 and frozen.classes == ()
    compact, _ = online_conv_base("compact", classes=["0", "1"], image_size=64, width=8)
    assert compact.recipe == "compact" and compact.classes == ("0", "1")
    with pytest.raises(ValueError, match="labels"):
        online_conv_base("vgg16-hed-finetuned")
    with pytest.raises(ValueError, match="unknown conv base"):
        online_conv_base("resnet")
