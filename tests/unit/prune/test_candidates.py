"""Candidates over leave factors and depths: resumable building, evaluation, the evaluation sample, hand-over."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from olkit.data.io import grouped_split
from olkit.prune import decide
from olkit.prune.candidates import (
    CandidateGrid,
    as_backbone,
    build_candidates,
    evaluate_candidates,
    evaluation_sample,
)
from olkit.prune.measure import retime_candidates, table_pooling
from olkit.prune.surgery import prune_model
from tests.unit.prune.helpers import crack_case, random_keep, tiny_model


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
    # the pooling is part of the table: the re-timing and the export read it back
    pooled = evaluate_candidates(
        table,
        images,
        labels,
        groups=groups,
        repeats=1,
        pooling="max",
        classifiers=("logreg",),
        progress=False,
    )
    assert table_pooling(pooled) == "max" and table_pooling(res) == "flatten"
    assert (pooled["feature_dim"] < res["feature_dim"]).all()  # one value per kept filter, not per position
    assert table_pooling(res.drop(columns="pooling")) == "flatten"  # a table from before the column


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


def test_draws_average_over_grouped_splits(tmp_path) -> None:
    model = tiny_model(head=False)
    table = build_candidates(
        model, crack_case(), tmp_path, grid=CandidateGrid(leave_factors=(0.5,), controls=()), progress=False
    )
    rng = np.random.default_rng(1)
    n = 40
    labels = np.arange(n) % 2
    images = np.clip(rng.normal(150, 40, (n, 16, 16, 3)), 0, 255).astype(np.uint8)  # noise: draws differ
    for i in np.flatnonzero(labels):
        images[i, :, 7:9] = 20
    one = evaluate_candidates(table, images, labels, repeats=1, classifiers=("logreg",), progress=False)
    three = evaluate_candidates(
        table, images, labels, repeats=1, classifiers=("logreg",), progress=False, draws=3
    )
    for (_, a), (_, b) in zip(one.iterrows(), three.iterrows()):
        accs = json.loads(b["acc_draws"])
        assert b["n_draws"] == 3 and len(accs) == 3
        assert accs[0] == pytest.approx(a["acc"], abs=1e-4)  # the first draw is the single evaluation's split
        assert b["acc"] == pytest.approx(np.mean(accs), abs=1e-3)
        assert b["acc_ci95"] >= 0 and b["acc_sd"] == pytest.approx(np.std(accs, ddof=1), abs=1e-3)
