"""A smoke run of the pruning bench's case on tiny inputs: it measures through the package and reports its figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from olkit.prune.score import MaskSet


def line_case(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bright surfaces, half of them with a dark vertical line; masks 1 on the line."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = np.full((n, size, size, 3), 190, np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    for i in np.flatnonzero(labels):
        c = int(rng.integers(2, size - 4))
        images[i, :, c : c + 3] = 30
        masks[i, :, c : c + 3] = 1
    noise = rng.integers(-8, 9, images.shape)
    return np.clip(images.astype(int) + noise, 0, 255).astype(np.uint8), labels, masks


@pytest.mark.slow
def test_run_case_reports_the_package_figures(tmp_path: Path) -> None:
    from benchmarks import prune as bench
    from olkit.models import zoo

    images, labels, _ = line_case(48, 32, seed=0)
    score_images, score_labels, score_masks = line_case(12, 32, seed=1)
    pos = score_labels == 1
    case = {
        "images": images,
        "labels": labels,
        "groups": np.arange(len(labels)),
        "masks": MaskSet(score_images[pos], score_masks[pos], tuple(str(i) for i in np.flatnonzero(pos))),
        "target": 1,
    }
    model = zoo.build_vgg_like(size=32, width=4, weights=None)
    # the original's layer rule: the bench's floor of 16 filters would keep every filter of this width-4 net
    summary, res = bench.run_case(
        "smoke",
        case,
        model,
        leave_factors=(0.3,),
        depths=(None,),
        work=tmp_path,
        figures_dir=tmp_path,
        min_filters=1,
    )
    # the BENCH.md keys, from olkit.report.prune_figures
    for key in ("acc", "ms_b1", "ms_b32", "params", "gflop"):
        assert key in summary["full"] and key in summary["chosen"]
    assert summary["speedup_b32"] > 0
    assert summary["chosen"]["params"] <= summary["full"]["params"]
    assert summary["reason"] and summary["chosen_id"] in set(res["id"])
    # the headline times are the side-by-side ones that decide.choose wrote into the table
    full = res[res["method"] == "full"].iloc[0]
    # the chosen size's controls beside it; this tiny net's times are within noise of each other, so the decision
    # may keep the full model, which has no controls of its size
    pruned_choice = summary["chosen_id"] != str(full["id"])
    assert summary["same_size_acc"].keys() >= ({"mask", "l1", "random"} if pruned_choice else {"mask"})
    assert summary["full"]["ms_b32"] == float(full["ms_b32"])
    assert (tmp_path / "prune_pareto_smoke.png").stat().st_size > 1000
    assert (tmp_path / "smoke" / "table.csv").is_file()
    # the front: every candidate with its mean accuracy over the draws, and mask-guided against the controls
    assert len(summary["front"]) == len(res) and all(r["n_draws"] == bench.DRAWS for r in summary["front"])
    assert {f"mask-{m}" for m in bench.METHODS} == set(summary["mask_above_controls"])
    assert all(v["sizes"] == 1 for v in summary["mask_above_controls"].values())
    json.dumps(summary, default=float)  # what the bench writes
