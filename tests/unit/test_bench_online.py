"""A smoke run of one online-bench draw on a tiny real session: its figures are the package's online_figures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_one_draw_reports_the_package_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import online as bench
    from olkit.online.session import make_tiny_session

    tiny = make_tiny_session(tmp_path / "tiny", n_train=40, n_new=24)
    manifest = tiny.splits.copy()
    manifest["split"] = manifest["split"].map(
        {"train": "data_train", "holdout": "data_new", "test": "data_new"}
    )
    monkeypatch.setattr(bench, "CACHE", tmp_path / "cache")  # where the bench keeps its run folder
    out = bench._one_split(
        manifest, tiny.backbone, {}, tag="smoke", split_seed=0, group_col=None, progress=False, extras=False
    )
    for key in ("train_size", "test_size", "holdout_size", "holdout_acc_before", "holdout_acc_after",
                "labels_used", "random_acc_after", "ceiling_acc", "round_seconds"):  # fmt: skip
        assert key in out
    assert out["train_size"] == 40 and out["holdout_size"] + out["test_size"] == 24
    assert out["labels_used"] == out["test_size"] // 3
    assert (
        out["holdout_bal_acc_after"] == out["balanced_acc_after"]
    )  # the bench's name for the package's figure
    assert len(out["random_acc_draws"]) == bench.RANDOM_REPEATS
    assert all(0.0 <= out[f"acc_after_{s}"] <= 1.0 for s in bench.COMPARED)


@pytest.mark.slow
def test_one_curve_draw_extends_the_random_control_to_every_test_label(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks import online_curve as bench
    from olkit.online.session import make_tiny_session

    tiny = make_tiny_session(tmp_path / "tiny", n_train=40, n_new=24)
    manifest = tiny.splits.copy()
    manifest["split"] = manifest["split"].map(
        {"train": "data_train", "holdout": "data_new", "test": "data_new"}
    )
    monkeypatch.setattr(bench, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(bench, "STRATEGIES", ("hybrid",))
    monkeypatch.setattr(bench, "STEP", 2)
    monkeypatch.setattr(bench, "EXTEND_STEP", 3)
    row = bench._one_draw(manifest, tiny.backbone, tag="smoke", seed=0, group_col=None, progress=False)
    n_test = row["sizes"]["test"]
    assert row["labels"] == [0, 2, 4] and n_test == 12  # rounds up to a third of the test set
    assert row["random_ext_labels"] == [6, 9, 12]  # then the random control on, up to every test label
    assert len(row["random_ext_acc"]) == 3 and all(0.0 <= a <= 1.0 for a in row["random_ext_acc"])
    assert row["random_ext_acc"][-1] == pytest.approx(row["ceiling"])  # every test label is the ceiling
    # the strategy goes on from its own labels on the same grid, up to every test label
    assert row["ext_labels"]["hybrid"] == [0, 2, 4, 6, 9, 12]
    assert row["ext_acc"]["hybrid"][:3] == row["acc"]["hybrid"]
    assert row["ext_acc"]["hybrid"][-1] == pytest.approx(row["ceiling"])
    assert bench._draw_to95(row, "hybrid") in row["ext_labels"]["hybrid"]


def test_mean_curves_share_the_label_counts_of_draws_with_different_test_sizes() -> None:
    from benchmarks import online_curve as bench

    def row(n_test: int, shift: float) -> dict[str, object]:
        until = n_test // 3
        labels = [0, *range(10, until, 10), until]
        ext = bench._extend_grid(until, n_test)
        acc = [0.5 + shift + n / 1000 for n in labels]
        return {
            "sizes": {"test": n_test}, "before": acc[0], "ceiling": 0.9 + shift, "labels": labels,
            "acc": {"random": acc}, "random_ext_labels": ext, "random_ext_acc": [0.6 + shift] * len(ext),
            "ext_labels": {"hybrid": [*labels, *ext]},
            "ext_acc": {"hybrid": [*acc, *[0.9 + shift] * len(ext)]},
        }  # fmt: skip

    rows = [row(186, 0.0), row(174, 0.02)]  # a third is 62 and 58: their rounds end apart
    assert bench._extend_grid(62, 186)[:2] == [80, 100] and bench._extend_grid(58, 174)[:2] == [60, 80]
    labels, acc = bench._mean_full_curves(rows, ["random", "hybrid"])
    # the counts both measured (60: one's round, the other's grid), then every test label at the mean test size
    assert labels == [0, 10, 20, 30, 40, 50, 60, 80, 100, 120, 140, 160, 180]
    assert acc["random"][1] == pytest.approx(0.51 + 0.01)  # the mean of the two draws at 10 labels
    assert acc["hybrid"][7] == pytest.approx(0.91) and acc["random"][-1] == pytest.approx(0.61)
    assert bench._draw_to95(rows[0], "hybrid") == 80 and bench._draw_to95(rows[0], "random") is None


def test_real_curve_pool_is_the_online_real_pool_or_a_stratified_part_of_it() -> None:
    import numpy as np
    import pandas as pd

    from benchmarks import online_curve_real as bench
    from benchmarks.online_real import POOL, _pool

    rng = np.random.default_rng(1)
    labels = np.where(rng.random(3000) < 0.6, "0", "1")
    manifest = pd.DataFrame(
        {"path": [f"t{i}.png" for i in range(3000)] + [f"n{i}.png" for i in range(40)],
         "label": [*labels, *(["0", "1"] * 20)], "split": ["data_train"] * 3000 + ["data_new"] * 40}
    )  # fmt: skip
    full = bench.real_pool(manifest)
    assert full.equals(_pool(manifest)) and (full["split"] == "data_train").sum() == POOL
    part = bench.real_pool(manifest, size=50)
    train = part[part["split"] == "data_train"]
    assert len(train) == 50 and set(train["path"]) <= set(full["path"])  # drawn from the pool
    assert (
        abs((train["label"] == "0").mean() - (full["label"][full["split"] == "data_train"] == "0").mean())
        < 0.03
    )
    assert (part["split"] == "data_new").sum() == 40  # holdout and test images untouched
    assert part.equals(bench.real_pool(manifest, size=50))  # seeded
