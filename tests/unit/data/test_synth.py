"""Tests of olkit.data.synth: rendering, layout, determinism, masks and never overwriting without asking."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from olkit.data.io import load_dataset
from olkit.data.synth import CRACK_CLASSES, generate_bsd, generate_crack, render_bsd_patch, render_crack_image
from olkit.errors import DataExistsError
from olkit.types import MANIFEST_COLUMNS


def _read_mask(path: str | Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert mask is not None, path
    return mask


@pytest.fixture(scope="module")
def bsd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bsd")
    generate_bsd(root, n_train=40, n_new=12, shift=1.0, seed=3, workers=1, progress=False)
    return root


# ---------------------------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shift", [0.0, 1.0, 2.0])
def test_render_bsd_patch_is_deterministic_and_well_formed(shift: float) -> None:
    for pitting in (False, True):
        a_img, a_mask = render_bsd_patch(np.random.default_rng(7), pitting=pitting, shift=shift)
        b_img, b_mask = render_bsd_patch(np.random.default_rng(7), pitting=pitting, shift=shift)
        assert a_img.shape == (150, 150, 3) and a_img.dtype == np.uint8
        assert a_mask.shape == (150, 150) and a_mask.dtype == np.uint8
        np.testing.assert_array_equal(a_img, b_img)
        np.testing.assert_array_equal(a_mask, b_mask)
        assert set(np.unique(a_mask)) <= {0, 1}
        assert bool(a_mask.any()) == pitting
        assert a_img.std() > 3  # a textured surface, not a flat fill
    other, _ = render_bsd_patch(np.random.default_rng(8), pitting=True, shift=shift)
    assert not np.array_equal(other, a_img)


def test_pits_are_darker_than_their_surroundings() -> None:
    darker = 0
    for seed in range(20):
        img, mask = render_bsd_patch(np.random.default_rng(seed), pitting=True)
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(float)
        ring = cv2.dilate(mask, np.ones((9, 9), np.uint8)) - mask
        darker += grey[mask > 0].mean() < grey[ring > 0].mean()
    assert darker >= 18


def test_shift_changes_the_image_but_not_the_mask() -> None:
    base, base_mask = render_bsd_patch(np.random.default_rng(11), pitting=True, shift=0.0)
    shifted, shifted_mask = render_bsd_patch(np.random.default_rng(11), pitting=True, shift=1.5)
    np.testing.assert_array_equal(base_mask, shifted_mask)  # soiling is never pitting
    assert np.abs(base.astype(int) - shifted.astype(int)).mean() > 2


def test_render_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="shift"):
        render_bsd_patch(np.random.default_rng(0), pitting=False, shift=2.5)
    with pytest.raises(ValueError, match="background"):
        render_crack_image(np.random.default_rng(0), background=7)


def test_render_crack_image_class_valued_mask() -> None:
    for seed in range(6):
        img, mask = render_crack_image(np.random.default_rng(seed), crack=True, n_pores=5, n_dirt=1)
        assert img.shape == (224, 224, 3) and img.dtype == np.uint8
        assert set(np.unique(mask)) <= set(CRACK_CLASSES)
        assert (mask == 1).any() and (mask == 2).any() and (mask == 4).any()
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(float)
        assert grey[mask == 1].mean() < grey[mask == 4].mean()  # cracks are dark
        _, no_crack = render_crack_image(np.random.default_rng(seed), crack=False, n_pores=5, n_dirt=1)
        assert not (no_crack == 1).any() and (no_crack == 2).any()
    _, unlabelled = render_crack_image(np.random.default_rng(0), crack=True, background=0)
    assert (unlabelled == 0).any() and not (unlabelled == 4).any()


# ---------------------------------------------------------------------------------------------------------------
# writing sets
# ---------------------------------------------------------------------------------------------------------------
def test_generate_bsd_layout_and_manifest(bsd_root: Path) -> None:
    manifest = pd.read_csv(bsd_root / "manifest.csv", dtype=str, keep_default_na=False)
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert len(manifest) == 52
    assert set(manifest["source"]) == {"synthetic"}
    assert manifest.groupby("split").size().to_dict() == {"data_train": 40, "data_new": 12}
    for row in manifest.itertuples():
        path = Path(row.path)
        assert path.is_file() and path.parent.name == row.label and path.parent.parent.name == row.split
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row.sha256
        assert row.group == path.stem
        assert Path(row.mask_path) == bsd_root / "masks" / row.split / path.name
        mask = _read_mask(row.mask_path)
        assert mask.shape == (150, 150)
        assert bool(mask.any()) == (row.label == "1")  # mask and label agree
    # the pitting share is exact up to rounding, per set
    assert (manifest[manifest.split == "data_train"].label == "1").sum() == round(40 * 0.53)
    assert (manifest[manifest.split == "data_new"].label == "1").sum() == round(12 * 0.53)
    assert not list(bsd_root.glob(".staging-*"))
    # olkit.data reads it back, the same table
    loaded = load_dataset(bsd_root, progress=False)
    assert sorted(loaded["sha256"]) == sorted(manifest["sha256"])


def test_generate_bsd_pitting_share(tmp_path: Path) -> None:
    manifest = generate_bsd(tmp_path, n_train=30, n_new=0, pitting_share=0.2, workers=1, progress=False)
    assert (manifest["label"] == "1").sum() == 6
    assert (tmp_path / "data_new" / "1").is_dir() and not list((tmp_path / "data_new").rglob("*.png"))


@pytest.mark.slow
def test_generate_bsd_bytes_depend_on_seed_only(tmp_path: Path) -> None:
    one = generate_bsd(tmp_path / "one", n_train=24, n_new=8, seed=5, workers=1, progress=False)
    two = generate_bsd(tmp_path / "two", n_train=24, n_new=8, seed=5, workers=2, progress=False)
    other = generate_bsd(tmp_path / "other", n_train=24, n_new=8, seed=6, workers=1, progress=False)
    assert list(one["sha256"]) == list(two["sha256"])  # same bytes with 1 or 2 processes
    assert list(one["label"]) == list(two["label"])
    for a, b in zip(one["mask_path"], two["mask_path"]):
        assert Path(a).read_bytes() == Path(b).read_bytes()
    assert not set(one["sha256"]) & set(other["sha256"])


def test_generate_never_overwrites_without_asking(bsd_root: Path, tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in bsd_root.rglob("*.png")}
    with pytest.raises(DataExistsError) as err:
        generate_bsd(bsd_root, n_train=4, n_new=2, workers=1, progress=False)
    message = str(err.value)
    assert (
        str(bsd_root / "data_train") in message and "--overwrite" in message and "overwrite=True" in message
    )
    assert {p: p.stat().st_mtime_ns for p in bsd_root.rglob("*.png")} == before

    # overwrite=True replaces the set completely (no stale files of the larger set remain)
    copy = tmp_path / "copy"
    generate_bsd(copy, n_train=10, n_new=4, workers=1, progress=False)
    replaced = generate_bsd(copy, n_train=4, n_new=2, seed=1, workers=1, progress=False, overwrite=True)
    assert len(list((copy / "data_train").rglob("*.png"))) == 4
    assert len(list((copy / "masks" / "data_train").glob("*.png"))) == 4
    assert len(pd.read_csv(copy / "manifest.csv")) == len(replaced) == 6


def test_generate_crack_layout_and_masks(tmp_path: Path) -> None:
    root = tmp_path / "crack"
    manifest = generate_crack(root, n=16, n_new=4, seed=2, workers=1, progress=False)
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert set(manifest["source"]) == {"crack"}
    assert (manifest[manifest.split == "data_train"].label == "1").sum() == 8
    for row in manifest.itertuples():
        img = cv2.imread(row.path, cv2.IMREAD_UNCHANGED)
        assert img.shape == (224, 224, 3)
        mask = _read_mask(row.mask_path)
        assert set(np.unique(mask)) <= {1, 2, 3, 4}
        assert bool((mask == 1).any()) == (row.label == "1")  # class 1 folder == a crack in the mask
    # pores and dirt appear in both classes, so darkness alone does not give the class away
    masks = {lab: [_read_mask(p) for p in manifest[manifest.label == lab].mask_path] for lab in ("0", "1")}
    for lab in ("0", "1"):
        assert any((m == 2).any() for m in masks[lab])
        assert any((m == 3).any() for m in masks[lab])
    assert load_dataset(root, progress=False)["source"].eq("crack").all()
