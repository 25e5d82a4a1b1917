"""Mask-guided pruning: scoring (original and threshold), real surgery, candidates, evaluation, controls."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest

from olkit.data.io import grouped_split
from olkit.errors import UnprunableModelError
from olkit.models.flops import count_flops
from olkit.prune import decide
from olkit.prune.candidates import (
    CandidateGrid,
    as_backbone,
    build_candidates,
    evaluate_candidates,
    evaluation_sample,
)
from olkit.prune.graph import conv_units
from olkit.prune.measure import retime_candidates
from olkit.prune.score import (
    MaskSet,
    iou_original,
    l1_selection,
    layer_scores,
    leave_count,
    load_mask_set,
    random_selection,
    score_filters,
    top_filters,
)
from olkit.prune.surgery import fold_batchnorm, mask_model, prune_model


def tiny_model(*, seed: int = 0, size: int = 16, head: bool = True) -> keras.Model:
    """Conv-BN-ReLU-pool x2 (+ flatten-dense head) with random BN statistics, so BN matters."""
    keras.utils.set_random_seed(seed)
    layers = [
        keras.Input((size, size, 3)),
        keras.layers.Rescaling(1 / 255.0, name="rescale"),
        keras.layers.Conv2D(8, 3, padding="same", name="c1"),
        keras.layers.BatchNormalization(name="bn1"),
        keras.layers.ReLU(name="r1"),
        keras.layers.MaxPooling2D(2, name="p1"),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c2"),
        keras.layers.BatchNormalization(name="bn2"),
        keras.layers.MaxPooling2D(2, name="p2"),
        keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="c3"),
    ]
    if head:
        layers += [keras.layers.Flatten(name="flat"), keras.layers.Dense(3, name="dense")]
    model = keras.Sequential(layers, name="tiny")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 2, g.shape).astype("float32"),
                    rng.normal(0, 0.5, b.shape).astype("float32"),
                    rng.normal(0, 0.2, m.shape).astype("float32"),
                    rng.uniform(0.5, 2, v.shape).astype("float32"),
                ]
            )
    return model


def random_keep(model: keras.Model, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        u.name: np.sort(rng.choice(u.filters, size=max(1, u.filters // 2), replace=False))
        for u in conv_units(model)
    }


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


def test_residual_add_is_refused_naming_the_layer() -> None:
    inp = keras.Input((16, 16, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="ca")(inp)
    b = keras.layers.Conv2D(4, 3, padding="same", name="cb")(a)
    out = keras.layers.Add(name="residual_add")([a, b])
    model = keras.Model(inp, out)
    with pytest.raises(UnprunableModelError, match="residual_add"):
        conv_units(model)


def test_grouped_conv_is_refused_naming_the_layer() -> None:
    model = keras.Sequential(
        [keras.Input((8, 8, 4)), keras.layers.Conv2D(4, 3, groups=2, name="grouped_conv")]
    )
    with pytest.raises(UnprunableModelError, match="grouped_conv"):
        prune_model(model, {})


def test_top_filters_is_the_originals_rule() -> None:
    # k = round((F - 1) * f): F=5, f=0.5 -> 2; ties are broken towards the higher index as sorted() of tuples does
    assert top_filters([0.0, 0.0, 0.0, 0.0, 0.0], 0.5).tolist() == [3, 4]
    assert top_filters([0.9, 0.1, 0.5, 0.7, 0.2], 0.5).tolist() == [0, 3]
    assert leave_count(64, 0.21) == round(63 * 0.21)
    assert leave_count(8, 0.01) == 1  # never an empty layer


def test_original_iou_uses_uint8_cast_and_bitwise_ops() -> None:
    act = np.array([[0.5, 1.5], [300.0, 2.0]], np.float32)  # casts to 0, 1, 44 (wrap), 2
    seg = np.array([[255, 255], [0, 0]], np.uint8)
    # nonzero(act & seg): (0,1): 1&255 -> 1 ; (0,0): 0 -> 0  => 1 ; union: (0,0) 255, (0,1), (1,0) 44, (1,1) 2 => 4
    assert iou_original(act, seg) == pytest.approx(1 / 4)
    assert iou_original(np.zeros((2, 2)), np.zeros((2, 2), np.uint8)) == 0.0


def crack_case(n: int = 6, size: int = 16, seed: int = 0) -> MaskSet:
    """Bright surfaces with a dark vertical line; mask 1 on the line, 4 elsewhere."""
    rng = np.random.default_rng(seed)
    images = np.full((n, size, size, 3), 200, np.uint8)
    masks = np.full((n, size, size), 4, np.uint8)
    for i in range(n):
        c = int(rng.integers(3, size - 3))
        images[i, :, c : c + 2] = 30
        masks[i, :, c : c + 2] = 1
    images = np.clip(images.astype(int) + rng.integers(-5, 6, images.shape), 0, 255).astype(np.uint8)
    return MaskSet(images, masks, tuple(f"{i}.png" for i in range(n)))


def handmade_model() -> keras.Model:
    """One 1x1 conv on raw pixels: filter 2 fires on dark pixels, the others on bright or everything."""
    model = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 1, activation="relu", name="c")]
    )
    kernel = np.zeros((1, 1, 3, 4), np.float32)
    bias = np.zeros(4, np.float32)
    kernel[..., 0] = 1 / 3  # bright pixels
    kernel[..., 1], bias[1] = 0.0, 50.0  # everything
    kernel[..., 2], bias[2] = -1 / 3, 120.0  # dark pixels -> the crack
    kernel[..., 3], bias[3] = 1 / 3, -150.0  # very bright
    model.get_layer("c").set_weights([kernel, bias])
    return model


@pytest.mark.parametrize("method", ["threshold", "original"])
def test_scoring_picks_the_filter_that_responds_to_the_mask(method: str) -> None:
    sel = score_filters(handmade_model(), crack_case(), leave_factor=0.34, method=method)
    assert sel.keep["c"].tolist() == [2]
    assert int(np.argmax(sel.scores["c"])) == 2


def test_background_union_adds_the_background_filters() -> None:
    sel = score_filters(
        handmade_model(), crack_case(), leave_factor=0.34, method="threshold", background_class=4
    )
    assert 2 in sel.keep["c"].tolist() and len(sel.keep["c"]) == 2


def test_greedy_scoring_sees_earlier_layers_pruned() -> None:
    model = tiny_model(head=False)
    masks = crack_case()
    sel = score_filters(model, masks, leave_factor=0.5)
    assert [len(sel.keep[n]) for n in ("c1", "c2", "c3")] == [4, 2, 2]
    # the scores of c2 equal those computed by hand on the c1-pruned model
    masked = mask_model(model, {"c1": sel.keep["c1"]})
    maps = keras.Model(masked.inputs, masked.get_layer("bn2").output)(masks.images.astype("float32"))
    np.testing.assert_allclose(
        sel.scores["c2"], layer_scores(np.asarray(maps), masks.class_masks(1)), atol=1e-9
    )


def test_controls_have_the_same_sizes() -> None:
    model = tiny_model()
    sizes = {"c1": 3, "c2": 2, "c3": 1}
    l1 = l1_selection(model, sizes)
    rnd = random_selection(model, sizes, seed=0)
    assert l1.sizes() == sizes == rnd.sizes()
    norms = np.abs(model.get_layer("c1").get_weights()[0]).sum(axis=(0, 1, 2))
    assert set(l1.keep["c1"].tolist()) == set(np.argsort(-norms)[:3].tolist())
    p1, p2 = prune_model(model, l1), prune_model(model, rnd)
    assert p1.count_params() == p2.count_params()


def test_flops_and_params_shrink() -> None:
    model = tiny_model()
    pruned = prune_model(model, random_keep(model))
    assert 0 < count_flops(pruned) < count_flops(model)
    c1 = model.get_layer("c1")
    assert count_flops(keras.Sequential([keras.Input((16, 16, 3)), c1])) == pytest.approx(
        2 * 16 * 16 * 9 * 3 * 8
    )


@pytest.mark.slow
def test_candidates_are_resumable(tmp_path) -> None:
    model = tiny_model(head=False)
    grid = CandidateGrid(leave_factors=(0.3, 0.7), depths=(None, 1), controls=("l1",))
    table = build_candidates(model, crack_case(), tmp_path, grid=grid, progress=False)
    assert len(table) == 1 + 2 * 2 * 2
    assert set(table["method"]) == {"full", "mask-threshold", "l1"}
    same = table[(table["leave_factor"] == 0.3) & (table["depth"].isna())]
    assert same.set_index("method").loc[["mask-threshold", "l1"], "params"].nunique() == 1
    files = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.keras")}
    # an interrupted candidate: its sidecar never got written; another one is gone entirely
    victim = tmp_path / "l1_f0.700_dall.json"
    victim.unlink()
    (tmp_path / "mask-threshold_f0.300_d1.keras").unlink()
    (tmp_path / "mask-threshold_f0.300_d1.json").unlink()
    again = build_candidates(model, crack_case(), tmp_path, grid=grid, progress=False)
    assert len(again) == len(table)
    redone = {p.name for p in tmp_path.glob("*.keras") if files.get(p.name) != p.stat().st_mtime_ns}
    assert redone == {"l1_f0.700_dall.keras", "mask-threshold_f0.300_d1.keras"}
    assert json.loads(victim.read_text())["complete"] is True
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind
    assert (tmp_path / "candidates.csv").is_file()
    assert os.path.getsize(tmp_path / "full.keras") > 0
    # another model (or other masks) never reuses stale candidates
    other = build_candidates(
        tiny_model(seed=7, head=False), crack_case(), tmp_path, grid=grid, progress=False
    )
    assert other["source"].nunique() == 1 and other["source"].iloc[0] != again["source"].iloc[0]


@pytest.mark.slow
def test_evaluation_splits_by_group_and_reports_figures(tmp_path) -> None:
    model = tiny_model(head=False)
    grid = CandidateGrid(leave_factors=(0.5,), controls=())
    table = build_candidates(model, crack_case(), tmp_path, grid=grid, progress=False)
    rng = np.random.default_rng(0)
    n = 40
    labels = np.arange(n) % 2
    images = np.full((n, 16, 16, 3), 190, np.uint8)
    for i in np.flatnonzero(labels):
        c = int(rng.integers(2, 13))
        images[i, :, c : c + 2] = 20
    groups = np.arange(n) // 2  # pairs share a source image
    train, test = grouped_split(labels, groups, seed=0)
    assert not set(groups[train]) & set(groups[test])
    res = evaluate_candidates(
        table, images, labels, groups=groups, repeats=1, out_csv=tmp_path / "eval.csv", progress=False
    )
    for col in ("acc", "f1", "auc", "acc_mlp", "ms_b1", "ms_b32", "params", "gflop", "params_ratio"):
        assert col in res.columns
    assert res["acc"].between(0, 1).all() and (res["ms_b32"] > 0).all()
    assert res.loc[res["method"] == "full", "acc"].iloc[0] >= 0.75  # dark lines are easy
    again = evaluate_candidates(
        table, images, labels, groups=groups, repeats=1, out_csv=tmp_path / "eval.csv", progress=False
    )
    assert again["ms_b32"].tolist() == res["ms_b32"].tolist()  # reused, not re-measured
    retimed = retime_candidates(res, batches=(4,), rounds=2, repeats=1)
    assert (retimed["ms_b4"] > 0).all() and retimed["ms_b32"].tolist() == res["ms_b32"].tolist()
    assert retimed["id"].tolist() == res["id"].tolist() and "ms_b4" not in res.columns  # a copy
    # the decision re-times what it compares (beside the full model) and hands the new times back
    row, why, out = decide.choose(res, batches=(32,), rounds=1, repeats=1, acc_col="acc", eps=1.0)
    assert (out["ms_b32"] > 0).all() and row["ms_b32"] == out.loc[row.name, "ms_b32"]
    assert res["ms_b32"].tolist() == again["ms_b32"].tolist()  # the caller's table is left as it was
    assert row["method"] in {"full", "mask-threshold"} and why


def test_evaluation_sample_reads_each_class_and_splits_by_group(tmp_path) -> None:
    import cv2
    import pandas as pd

    rows = []
    for i in range(24):
        label = "1" if i % 3 == 0 else "0"  # 8 of class 1, 16 of class 0
        path = tmp_path / f"{i}.png"
        cv2.imwrite(str(path), np.full((20, 20, 3), 40 if label == "1" else 200, np.uint8))
        rows.append({"path": str(path), "label": label, "group": f"g{i // 2}"})
    rows.append({"path": str(tmp_path / "missing.png"), "label": "0", "group": "gx"})
    manifest = pd.DataFrame(rows)
    ev = evaluation_sample(manifest, n_eval=12, size=16, seed=0)
    assert ev.images.shape[1:] == (16, 16, 3) and len(ev.images) == len(ev) == len(ev.groups)
    counts = dict(zip(*np.unique(ev.labels, return_counts=True)))
    assert counts["1"] == 6 and counts["0"] in (5, 6)  # 12 / 2 per class; the unreadable one left out
    assert not set(ev.groups[ev.train]) & set(ev.groups[ev.test])
    train, test = grouped_split(ev.labels, ev.groups, seed=0)  # the split evaluate_candidates makes
    assert ev.train.tolist() == train.tolist() and ev.test.tolist() == test.tolist()
    assert "evaluation images" in ev.summary()


def test_load_mask_set_pairs_by_name(tmp_path) -> None:
    import cv2

    (tmp_path / "Images").mkdir()
    (tmp_path / "Segmented").mkdir()
    for name in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(tmp_path / "Images" / name), np.full((20, 20, 3), 100, np.uint8))
    for name in ("a.png", "c.png"):
        cv2.imwrite(str(tmp_path / "Segmented" / name), np.full((20, 20), 1, np.uint8))
    ms = load_mask_set(tmp_path / "Images", tmp_path / "Segmented", size=16)
    assert ms.names == ("a.png", "c.png")
    assert ms.images.shape == (2, 16, 16, 3) and ms.masks.shape == (2, 16, 16)


def test_as_backbone_serves_the_online_session(tmp_path) -> None:
    from olkit.models.conv_base import Backbone

    model = tiny_model(head=False)
    pruned = prune_model(model, random_keep(model))
    bb = as_backbone(pruned)
    assert isinstance(bb, Backbone)
    assert bb.embedding_dim == len(random_keep(model)["c3"])
    images = [np.full((16, 16, 3), v, np.uint8) for v in (10, 200)]
    emb = np.asarray(bb.encoder(bb.to_input(bb.prepare(images))))
    want = np.asarray(pruned(np.stack(images).astype("float32"))).mean(axis=(1, 2))
    np.testing.assert_allclose(emb, want, atol=1e-5)
    path = bb.save(tmp_path / "bb.keras")
    assert Backbone.load(path).fingerprint == bb.fingerprint


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
