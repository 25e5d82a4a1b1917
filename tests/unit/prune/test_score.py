"""Mask-guided scores (the original's uint8-cast IoU and the per-filter threshold), greedy selection, controls."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from olkit.prune.score import (
    contrast_scores,
    iou_original,
    l1_selection,
    layer_scores,
    leave_count,
    load_mask_set,
    random_selection,
    score_filters,
    top_filters,
)
from olkit.prune.surgery import mask_model, prune_model
from tests.unit.prune.helpers import crack_case, handmade_model, tiny_model


def test_top_filters_is_the_originals_rule() -> None:
    # k = round((F - 1) * f): F=5, f=0.5 -> 2; ties are broken towards the higher index as sorted() of tuples does
    assert top_filters([0.0, 0.0, 0.0, 0.0, 0.0], 0.5).tolist() == [3, 4]
    assert top_filters([0.9, 0.1, 0.5, 0.7, 0.2], 0.5).tolist() == [0, 3]
    assert leave_count(64, 0.21) == round(63 * 0.21)
    assert leave_count(8, 0.01) == 1  # never an empty layer
    assert leave_count(64, 0.05, min_filters=16) == 16 and leave_count(8, 0.05, min_filters=16) == 8
    assert leave_count(64, 0.5, min_filters=16) == round(63 * 0.5)  # the floor only lifts small layers
    assert top_filters([0.9, 0.1, 0.5, 0.7, 0.2], 0.01, min_filters=3).tolist() == [0, 2, 3]


def test_contrast_is_scale_free_and_ranks_the_filter_that_fires_inside_the_mask() -> None:
    rng = np.random.default_rng(0)
    masks = np.zeros((3, 8, 8), bool)
    masks[:, 2:4, 2:4] = True
    maps = rng.uniform(0, 1, (3, 8, 8, 3))
    maps[..., 1] += 2.0 * masks  # fires on the defect
    maps[..., 2] = 0.0  # dead
    s = contrast_scores(maps, masks)
    assert int(np.argmax(s)) == 1 and s[1] > 1.0 and np.isneginf(s[2])
    scaled = maps.copy()
    scaled[..., 1] *= 1000.0
    np.testing.assert_allclose(contrast_scores(scaled, masks)[:2], s[:2])
    np.testing.assert_allclose(layer_scores(maps, masks, method="contrast"), s)


def test_original_iou_uses_uint8_cast_and_bitwise_ops() -> None:
    act = np.array([[0.5, 1.5], [300.0, 2.0]], np.float32)  # casts to 0, 1, 44 (wrap), 2
    seg = np.array([[255, 255], [0, 0]], np.uint8)
    # nonzero(act & seg): (0,1): 1&255 -> 1 ; (0,0): 0 -> 0  => 1 ; union: (0,0) 255, (0,1), (1,0) 44, (1,1) 2 => 4
    assert iou_original(act, seg) == pytest.approx(1 / 4)
    assert iou_original(np.zeros((2, 2)), np.zeros((2, 2), np.uint8)) == 0.0


@pytest.mark.parametrize("method", ["threshold", "original", "contrast"])
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


def test_min_filters_keeps_a_floor_in_every_layer() -> None:
    sel = score_filters(tiny_model(head=False), crack_case(), leave_factor=0.01, min_filters=3)
    assert [len(sel.keep[n]) for n in ("c1", "c2", "c3")] == [3, 3, 3]


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
