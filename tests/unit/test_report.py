"""olkit.report's figures and metric records on real (tiny) sessions and candidate tables."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from olkit.paths import RunFolder
from olkit.report import (
    OnlineFigures,
    online_figures,
    plot_embedding_map,
    plot_round,
    plot_uncertainty,
    prune_figures,
    summarize,
)


@pytest.mark.slow
def test_figures_after_several_rounds_start_from_the_train_only_classifier(tmp_path: Path) -> None:
    from olkit.online.session import make_tiny_session

    session = make_tiny_session(tmp_path)
    rounds = session.run_rounds(strategy="least_confidence", step=3, until=9, random_repeats=1)
    assert len(rounds) == 3
    last = rounds[-1]
    figures = online_figures(session, last)
    # before -> after is what every label so far did, not the last round's step alone
    assert figures["holdout_acc_before"] == rounds[0].before.accuracy
    assert figures["balanced_acc_before"] == rounds[0].before.balanced_accuracy
    assert figures["round_acc_before"] == last.before.accuracy == rounds[1].after.accuracy
    assert figures["rounds"] == 3 and figures["labels_used"] == 9
    assert online_figures(session, rounds[0])["rounds"] == 1
    run = RunFolder(session.run.root)
    run.update_metrics("online", figures)
    assert f"{rounds[0].before.accuracy:.3f} -> {last.after.accuracy:.3f} with 9 labels" in str(
        summarize(run)
    )
    fig = plot_round(last, before=rounds[0].before)
    assert fig.axes[0].containers[0][0].get_height() == pytest.approx(rounds[0].before.accuracy)


@pytest.mark.slow
def test_round_records_and_figures_on_a_real_session(tmp_path: Path) -> None:
    from olkit.online.session import make_tiny_session

    session = make_tiny_session(tmp_path)
    picked = session.select(strategy="least_confidence", budget=5)
    result = session.retrain(session.simulated_labels(picked["sha256"]), random_repeats=3)
    figures = online_figures(session, result)
    assert figures["labels_used"] == 5
    assert figures["test_size"] == len(session.predictions("test")) and figures["train_size"] == 40
    assert figures["holdout_acc_before"] == result.before.accuracy
    # the random control is the mean of its draws (the first draw's metrics stay in result.random)
    draws = figures["random_acc_draws"]
    assert len(draws) == 3 and draws[0] == result.random.accuracy
    assert figures["ceiling_acc"] == result.ceiling.accuracy
    assert figures["random_acc_after"] == pytest.approx(np.mean(draws))
    from olkit.online.grid import result_html

    assert "mean of 3 draws" in result_html(result, classes=session.classes)

    run = RunFolder(session.run.root)
    run.update_metrics("online", figures)
    text = str(summarize(run))
    assert f"{figures['holdout_acc_before']:.3f} -> {figures['holdout_acc_after']:.3f} with 5 labels" in text

    fig = plot_round(result, path=run.figures / "round.png")
    from matplotlib.container import BarContainer

    bar_sets = [c for c in fig.axes[0].containers if isinstance(c, BarContainer)]
    heights = [bar.get_height() for bars in bar_sets for bar in bars]
    assert heights == pytest.approx(
        [result.before.accuracy, result.after.accuracy, figures["random_acc_after"], figures["ceiling_acc"]]
    )
    test = session.predictions("test")
    fig = plot_uncertainty(test, threshold=0.05, selected=picked["sha256"], path=run.figures / "u.png")
    counted = sum(bar.get_height() for bars in fig.axes[0].containers for bar in bars)
    assert counted == len(test)  # every test image is in the histogram, split by true class
    assert (run.figures / "round.png").stat().st_size > 0 and (run.figures / "u.png").stat().st_size > 0


def test_gap_recovered_only_when_labels_can_help() -> None:
    base = {"labels_used": 5, "test_size": 20, "random_acc_after": 0.6}
    up = OnlineFigures.from_metrics(
        "x", {**base, "holdout_acc_before": 0.6, "holdout_acc_after": 0.75, "ceiling_acc": 0.8}
    )
    assert up.gap_recovered == pytest.approx(0.75)
    none = OnlineFigures.from_metrics(
        "x", {**base, "holdout_acc_before": 0.6, "holdout_acc_after": 0.58, "ceiling_acc": 0.55}
    )
    assert none.gap_recovered is None and "recovered" not in "\n".join(none.lines())


def test_embedding_map_panels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    emb = np.concatenate([rng.normal(0, 1, (30, 8)), rng.normal(4, 1, (30, 8))])
    labels = ["0"] * 30 + ["1"] * 30
    sets = ["train", "test"] * 30
    fig = plot_embedding_map(emb, colour_by={"class": labels, "split": sets}, path=tmp_path / "map.png")
    assert len(fig.axes) == 2 and (tmp_path / "map.png").is_file()
    first = fig.axes[0].collections  # one scatter per class, separated along the first component
    xs = [c.get_offsets()[:, 0].mean() for c in first]
    assert abs(xs[0] - xs[1]) > 3
    with pytest.raises(ValueError, match="pca"):
        plot_embedding_map(emb, colour_by={"class": labels}, method="umap")


def test_prune_figures_picks_the_peers_of_the_chosen_size() -> None:
    table = pd.DataFrame(
        [
            {
                "id": "full",
                "method": "full",
                "leave_factor": 1.0,
                "depth": math.nan,
                "acc": 0.90,
                "ms_b1": 4.0,
                "ms_b32": 80.0,
                "params": 10000,
                "gflop": 1.0,
            },
            {
                "id": "m",
                "method": "mask-threshold",
                "leave_factor": 0.2,
                "depth": math.nan,
                "acc": 0.91,
                "ms_b1": 1.0,
                "ms_b32": 8.0,
                "params": 500,
                "gflop": 0.05,
            },
            {
                "id": "l",
                "method": "l1",
                "leave_factor": 0.2,
                "depth": math.nan,
                "acc": 0.85,
                "ms_b1": 1.0,
                "ms_b32": 8.1,
                "params": 500,
                "gflop": 0.05,
            },
            {
                "id": "r",
                "method": "random",
                "leave_factor": 0.2,
                "depth": math.nan,
                "acc": 0.80,
                "ms_b1": 1.0,
                "ms_b32": 7.9,
                "params": 500,
                "gflop": 0.05,
            },
            {
                "id": "r5",
                "method": "random",
                "leave_factor": 0.5,
                "depth": math.nan,
                "acc": 0.88,
                "ms_b1": 2.0,
                "ms_b32": 20.0,
                "params": 2500,
                "gflop": 0.2,
            },
        ]
    )
    figs = prune_figures(table, table.iloc[1], backbone="alexnet", rule="fastest_within")
    assert figs["speedup_b32"] == pytest.approx(10.0) and figs["acc_delta"] == pytest.approx(0.01)
    assert figs["same_size_acc"] == {"mask": 0.91, "l1": 0.85, "random": 0.80}
    assert figs["chosen"]["params"] == 500 and figs["full"]["params"] == 10000
    assert figs["chosen_name"] == "mask-threshold f=0.2"
    assert figs["params_ratio"] == pytest.approx(0.05) and figs["flop_reduction"] == pytest.approx(20.0)
    assert figs["chosen"]["leave_factor"] == 0.2 and figs["chosen"]["depth"] is None
    # sizes: f=0.2 has mask, l1 and random (mask beats both); f=0.5 has no mask candidate and does not count
    assert figs["mask_vs_controls_all_sizes"] == {
        "l1": 1,
        "random": 1,
        "ties_l1": 0,
        "ties_random": 0,
        "sizes": 1,
    }
    assert figs["mean_acc_over_sizes"]["acc"]["random"] == pytest.approx((0.80 + 0.88) / 2)
    assert prune_figures(table, table.iloc[1], reason="because")["reason"] == "because"
    assert "full model" in prune_figures(table, table.iloc[0])["chosen_name"]


def test_summary_shows_the_same_size_controls(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path / "run")
    run.update_metrics(
        "prune",
        {
            "full": {"acc": 0.7, "ms_b32": 290.0, "params": 925008},
            "chosen": {"acc": 0.68, "ms_b32": 15.0, "params": 2343},
            "same_size_acc": {"mask": 0.68, "l1": 0.45, "random": 0.45},
            "chosen_name": "mask-threshold f=0.05",
        },
    )
    text = str(summarize(run))
    assert "19.3x faster" in text and "-2.0 points" in text
    assert "same size, accuracy: mask 0.680 / l1 0.450 / random 0.450" in text
