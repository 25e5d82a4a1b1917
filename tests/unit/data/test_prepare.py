"""Tests of olkit.data.prepare: the fast features, THE SHIFT TEST, synthetic-to-real plumbing and prepare_data."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from olkit.data.prepare import DataSummary, patch_features, prepare_data, shift_effect, synth_to_real
from olkit.data.synth import generate_bsd, render_bsd_patch


@pytest.fixture(scope="module")
def shifted_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred generated patches with strong new patterns in data_new."""
    root = tmp_path_factory.mktemp("shifted")
    generate_bsd(root, n_train=400, n_new=240, shift=1.5, seed=0, workers=2, progress=False)
    return root


def test_patch_features_fixed_length_and_deterministic() -> None:
    rng = np.random.default_rng(0)
    small = np.stack([render_bsd_patch(rng, pitting=i % 2 == 1)[0] for i in range(4)])
    big = np.stack([cv2.resize(img, (224, 224)) for img in small])
    f_small, f_big = patch_features(small), patch_features(big)
    assert f_small.shape[0] == 4 and f_small.shape == f_big.shape and f_small.dtype == np.float32
    assert np.isfinite(f_small).all()
    np.testing.assert_array_equal(f_small, patch_features(small))
    with pytest.raises(ValueError, match="RGB"):
        patch_features(small[..., 0])


@pytest.mark.slow
def test_shift_is_real_drop_then_regain(shifted_root: Path) -> None:
    """Trained on data_train, the classifier loses accuracy on data_new and regains part of it once half of
    data_new is labelled. Margins: over seeds 0-5 the drop was 0.24-0.29 and the regain 0.04-0.10."""
    fig = shift_effect(shifted_root, n_fit=300, n_holdout=100, repeats=4, seed=0)
    assert fig["train_acc"] > 0.75  # the classifier works in distribution
    assert fig["drop"] >= 0.12
    assert fig["regain"] >= 0.015
    assert fig["new_acc_after"] < fig["train_acc"]  # labels help, they do not erase the shift
    assert fig["n_new_labelled"] == 120 and fig["n_new"] == 240


@pytest.mark.slow
def test_no_shift_means_no_drop(tmp_path: Path) -> None:
    """Control: with shift=0, data_new is drawn like data_train, and the classifier keeps its accuracy."""
    generate_bsd(tmp_path, n_train=400, n_new=200, shift=0.0, seed=0, workers=2, progress=False)
    fig = shift_effect(tmp_path, n_fit=300, n_holdout=100, repeats=1, seed=0)
    assert abs(fig["drop"]) < 0.1  # seeds 0-3 at shift=1.5 dropped by 0.24 or more


@pytest.mark.slow
def test_synth_to_real_scores_a_second_set(shifted_root: Path, tmp_path: Path) -> None:
    """Plumbing of the synthetic-to-real figure, with a clean synthetic set standing in for the real patches."""
    stand_in = tmp_path / "stand_in"
    generate_bsd(stand_in, n_train=60, n_new=20, shift=0.0, seed=9, workers=1, progress=False)
    fig = synth_to_real(shifted_root, stand_in, n_fit=300, seed=0)
    assert fig["n_real"] == 80 and fig["n_synthetic_fit"] == 300
    assert fig["acc"] > 0.7 and fig["balanced_acc"] > 0.7
    assert 0.4 < fig["real_pitting_share"] < 0.65
    assert np.isfinite(fig["real_to_real_acc"])


@pytest.mark.slow
def test_prepare_data_makes_keeps_and_summarises(tmp_path: Path) -> None:
    root = tmp_path / "data_bsd"
    missing = tmp_path / "no_bsdata"
    summary = prepare_data(
        root=root, n_train=120, n_new=40, shift=1.0, n_crack=12, seed=1, bsdata=missing, progress=False
    )
    assert isinstance(summary, DataSummary)
    fams = {f.name: f for f in summary.families}
    assert fams["synthetic BSD"].status == "made"
    assert fams["synthetic BSD"].counts["data_train"] == {"0": 56, "1": 64}
    assert sum(fams["synthetic BSD"].counts["data_new"].values()) == 40
    assert (
        fams["crack family"].status == "made"
        and sum(fams["crack family"].counts["data_train"].values()) == 12
    )
    assert (root / "crack" / "data_new").is_dir()
    assert (
        fams["real BSData patches"].status.startswith("missing")
        and str(missing) in fams["real BSData patches"].status
    )
    assert summary.synth_to_real is None and summary.shift is not None
    text = str(summary)
    for needle in (
        "data_train",
        "data_new",
        "class 1 share",
        "shift figure",
        "drop",
        "regain",
        "contact sheet",
    ):
        assert needle in text
    assert str(missing) in text
    assert summary.contact_sheet == root / "contact_sheet.png"
    sheet = cv2.imread(str(summary.contact_sheet))
    assert sheet is not None and sheet.shape[0] > 400  # six rows: synthetic x 2 sets x 2 classes, crack x 2
    cached = json.loads((root / "data_summary.json").read_text())
    assert cached["shift"]["train_acc"] == summary.shift["train_acc"]

    # a second call keeps everything and reuses the measured figures
    before = sorted(p.stat().st_mtime_ns for p in (root / "data_train").rglob("*.png"))
    again = prepare_data(root=root, n_train=999, n_new=1, n_crack=12, seed=1, bsdata=missing, progress=False)
    assert {f.name: f.status.split(" ")[0] for f in again.families}["synthetic BSD"] == "kept"
    assert sorted(p.stat().st_mtime_ns for p in (root / "data_train").rglob("*.png")) == before
    assert again.shift == summary.shift
