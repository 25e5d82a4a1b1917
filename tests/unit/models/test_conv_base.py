"""Conv bases: the compact default, the original's recipe, user models, fingerprints, safe .keras round trips."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from olkit.errors import ModelMismatchError
from olkit.models.conv_base import (
    ORIGINAL_SIZE,
    Backbone,
    Preprocessing,
    TrainConfig,
    build_backbone,
    train_backbone,
)
from tests.unit.online.helpers import patches, write_patches


def test_compact_default_is_150_rgb_with_a_pooled_embedding() -> None:
    bb = build_backbone()
    assert bb.preprocessing == Preprocessing(size=(150, 150), color="rgb")
    assert bb.model.input_shape == (None, 150, 150, 3)
    assert isinstance(bb.model.get_layer("embedding"), keras.layers.GlobalAveragePooling2D)
    assert bb.embedding_dim == 128
    assert 0.05 < bb.gflop_per_image < 0.5  # small enough for two CPU cores
    assert len(bb.fingerprint) == 64


def test_original_recipe_is_built_as_published() -> None:
    bb = build_backbone("original", size=(32, 32))
    layers = {layer.name: layer for layer in bb.model.layers}
    assert bb.preprocessing.color == "grayscale" and bb.model.input_shape == (None, 32, 32)
    convs = [layers["conv1"], layers["conv2"]]
    assert all(c.filters == 128 and c.kernel_size == (3, 3) for c in convs)
    assert layers["lrelu1"].negative_slope == pytest.approx(0.2)
    assert layers["l1"].l1 == pytest.approx(1e-3)
    assert layers["latent"].units == 200 and bb.embedding_dim == 200
    assert layers["dropout"].rate == pytest.approx(0.6)
    assert layers["fc1"].units == 32 and layers["fc2"].units == 32
    assert layers["head"].units == 1 and layers["head"].activation.__name__ == "sigmoid"
    assert ORIGINAL_SIZE == (300, 300)  # the published size (a 144M-parameter latent layer: not built here)


def test_fingerprint_follows_weights_and_preprocessing(tmp_path) -> None:
    a = build_backbone(size=(32, 32), seed=0)
    b = build_backbone(size=(32, 32), seed=0)
    c = build_backbone(size=(32, 32), seed=1)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    d = Backbone(a.model, embedding_layer="embedding", preprocessing=Preprocessing(size=(32, 32), scale=1.0))
    assert d.fingerprint != a.fingerprint
    before = a.fingerprint
    w = a.model.get_layer("conv1").get_weights()
    a.model.get_layer("conv1").set_weights([w[0] + 0.01])
    assert a.fingerprint != before


def test_save_load_safe_mode_round_trip(tmp_path) -> None:
    bb = build_backbone(size=(32, 32), classes=("a", "b", "c"))
    path = bb.save(tmp_path / "bb.keras")
    back = Backbone.load(path)
    assert back.fingerprint == bb.fingerprint and back.classes == ("a", "b", "c")
    x = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    assert np.allclose(back.encoder(back.to_input(x)), bb.encoder(bb.to_input(x)), atol=1e-6)
    side = json.loads(path.with_suffix(".json").read_text())
    side["fingerprint"] = "0" * 64
    path.with_suffix(".json").write_text(json.dumps(side))
    with pytest.raises(ModelMismatchError, match="fingerprint"):
        Backbone.load(path)


def test_user_keras_model_with_named_embedding_layer(tmp_path) -> None:
    inp = keras.Input((24, 24, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.GlobalMaxPooling2D(name="feat")(x)
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x))
    model.save(tmp_path / "user.keras")
    bb = Backbone.from_keras(tmp_path / "user.keras", embedding_layer="feat")
    assert bb.preprocessing.size == (24, 24) and bb.preprocessing.color == "grayscale"
    assert bb.embedding_dim == 4 and bb.recipe == "user"
    with pytest.raises(ModelMismatchError, match="feat"):
        Backbone.from_keras(tmp_path / "user.keras", embedding_layer="nope")


@pytest.mark.slow
def test_compact_training_learns_pitting_and_saves_curves(tmp_path) -> None:
    images, labels = patches(96, size=64, seed=1)
    paths = write_patches(tmp_path / "imgs", images, labels)
    bb = build_backbone(size=(64, 64), width=8, seed=0)
    cfg = TrainConfig(epochs=15, batch_size=16, seed=0, patience=20)
    res = train_backbone(bb, paths, labels, config=cfg, curves_png=tmp_path / "c.png", progress=False)
    assert (tmp_path / "c.png").stat().st_size > 1000
    h = res.history["classifier"]
    assert len(h["loss"]) >= 1 and h["loss"][-1] < h["loss"][0]
    test_imgs, test_labels = patches(40, size=64, seed=7)
    pred = np.asarray(bb.classes)[bb.predict_proba(test_imgs).argmax(1)]
    assert np.mean(pred == np.asarray(test_labels)) >= 0.6  # chance is 0.5; 0.7 measured


@pytest.mark.slow
def test_original_recipe_trains_autoencoder_then_classifier(tmp_path) -> None:
    images, labels = patches(24, size=32, seed=2)
    bb = build_backbone("original", size=(32, 32), seed=0)
    before = bb.model.get_layer("conv1").get_weights()[0].copy()
    res = train_backbone(
        bb,
        images,
        labels,
        config=TrainConfig(epochs=1, ae_epochs=1, batch_size=8),
        curves_png=tmp_path / "o.png",
    )
    assert res.stages == ("autoencoder", "classifier")
    assert not np.allclose(bb.model.get_layer("conv1").get_weights()[0], before)
    assert (tmp_path / "o.png").is_file()
    assert Backbone.load(bb.save(tmp_path / "o.keras")).fingerprint == bb.fingerprint
