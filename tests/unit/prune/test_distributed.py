"""Pruning-candidate evaluation on a real 2-worker Dask ``LocalCluster``: the same figures as in-process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from olkit.prune.candidates import CandidateGrid, build_candidates, evaluate_candidates
from olkit.prune.distributed import evaluate_on
from tests.unit.prune.helpers import crack_case, tiny_model

TIMINGS = ("ms_b1", "ms_b32")


def _sample() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 40
    labels = np.arange(n) % 2
    images = np.full((n, 16, 16, 3), 190, np.uint8)
    for i in np.flatnonzero(labels):
        c = int(rng.integers(2, 13))
        images[i, :, c : c + 2] = 20
    images = np.clip(images.astype(int) + rng.integers(-30, 30, images.shape), 0, 255).astype(np.uint8)
    return images, labels, np.arange(n) // 2


@pytest.mark.slow
def test_candidates_evaluated_as_dask_tasks_give_the_in_process_figures(tmp_path) -> None:
    model = tiny_model(head=False)
    grid = CandidateGrid(leave_factors=(0.3, 0.6), controls=("l1", "random"))
    table = build_candidates(model, crack_case(), tmp_path, grid=grid, progress=False)
    images, labels, groups = _sample()
    opts = {"groups": groups, "repeats": 1, "classifiers": ("logreg", "mlp"), "seed": 0}
    here = evaluate_candidates(table, images, labels, progress=False, **opts)
    there = evaluate_on(table, images, labels, scheduler="local", workers=2, progress=False, **opts)
    assert len(table) == 7 and there["id"].tolist() == here["id"].tolist()
    assert list(there.columns) == list(here.columns) and there.attrs["eval_seconds"] > 0
    figures = [c for c in here.columns if c not in TIMINGS]
    pd.testing.assert_frame_equal(there[figures], here[figures], check_exact=False, rtol=1e-6)
    assert (there["ms_b32"] > 0).all()  # timed on the workers
    assert there["acc"].nunique() > 1  # the candidates really differ: the comparison can fail
    assert there.loc[there["method"] == "full", "params_ratio"].iloc[0] == 1.0
    with pytest.raises(ValueError, match="out_csv"):
        evaluate_on(table, images, labels, out_csv=tmp_path / "x.csv")
