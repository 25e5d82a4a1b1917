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


@pytest.mark.parametrize("mode", ["caffe", "torch", "tf"])
def test_preprocessing_modes_match_keras_applications(mode: str) -> None:
    from keras.applications import imagenet_utils

    x = np.random.default_rng(0).integers(0, 256, (3, 8, 9, 3), dtype=np.uint8)
    pp = Preprocessing(size=(8, 9), mode=mode)  # type: ignore[arg-type]
    ref = imagenet_utils.preprocess_input(x.astype(np.float32), mode=mode, data_format="channels_last")
    np.testing.assert_allclose(pp.apply(x), ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.asarray(pp.apply_tf(x)), ref, rtol=1e-5, atol=1e-4)


def test_explicit_mean_std_and_validation() -> None:
    x = np.random.default_rng(1).integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
    pp = Preprocessing(size=(4, 4), mode="meanstd", scale=1.0, mean=(10.0, 20.0, 30.0), std=(2.0, 4.0, 5.0))
    want = (x.astype(np.float32) - np.array([10, 20, 30], np.float32)) / np.array([2, 4, 5], np.float32)
    np.testing.assert_allclose(pp.apply(x), want, rtol=1e-6)
    with pytest.raises(ValueError, match="needs mean"):
        Preprocessing(mode="meanstd")
    with pytest.raises(ValueError, match="2 values"):
        Preprocessing(mode="meanstd", mean=(0.0, 1.0))
    with pytest.raises(ValueError, match="RGB"):
        Preprocessing(mode="caffe", color="grayscale")
    with pytest.raises(ValueError, match="unknown preprocessing mode"):
        Preprocessing(mode="imagenet")  # type: ignore[arg-type]


def test_preprocessing_dict_is_backward_compatible_and_in_the_fingerprint() -> None:
    old = {
        "size": [32, 32],
        "color": "rgb",
        "scale": 1 / 255,
        "offset": 0.0,
    }  # a sidecar written before the modes
    assert Preprocessing.from_dict(old) == Preprocessing(size=(32, 32))
    assert Preprocessing(size=(32, 32)).to_dict() == old  # so saved fingerprints do not change
    for pp in (
        Preprocessing(size=(32, 32), mode="torch"),
        Preprocessing(size=(32, 32), mode="meanstd", mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2)),
    ):
        assert Preprocessing.from_dict(json.loads(json.dumps(pp.to_dict()))) == pp
    a = build_backbone(size=(32, 32))
    fps = {
        Backbone(
            a.model, embedding_layer="embedding", preprocessing=Preprocessing(size=(32, 32), mode=m)
        ).fingerprint
        for m in ("scale", "caffe", "torch", "tf")
    }
    assert len(fps) == 4


def test_user_model_keras_and_legacy_h5_with_a_mode(tmp_path) -> None:
    from olkit.online.embed import embed_images

    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inp)
    emb = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(2, activation="softmax", name="head")(emb)
    model = keras.Model(inp, out)
    model.save(tmp_path / "user.h5")  # Keras 3 writes the legacy HDF5 format for .h5
    model.save(tmp_path / "user.keras")
    pp = Preprocessing(size=(16, 16), mode="caffe")
    imgs = np.random.default_rng(2).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    want = np.asarray(keras.Model(inp, emb)(pp.apply(imgs)))
    for name in ("user.h5", "user.keras"):
        bb = Backbone.from_keras(tmp_path / name, embedding_layer="pool", preprocessing=pp)
        np.testing.assert_allclose(
            embed_images(list(imgs), bb, progress=False).embeddings, want, rtol=1e-5, atol=1e-5
        )
    (tmp_path / "user.onnx").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"legacy \.h5"):
        Backbone.from_keras(tmp_path / "user.onnx", embedding_layer="pool")
