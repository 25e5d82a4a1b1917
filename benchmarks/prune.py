"""Benchmark ``prune``: mask-guided pruning of the VGG16-like backbone, full against chosen, with controls.

Three cases, each measured in this one process, side by side:

* **crack** (the headline keys): the synthetic crack family (:func:`olkit.data.synth.render_crack_image`, crack vs no
  crack, every image its own source) classified from the features of the surface-pretrained VGG-like net
  (the stand-in for the original's ImageNet VGG16); scoring masks: class 1 (Crack) of separate images.
* **alexnet** (under ``"alexnet"``; ``OLKIT_BENCH_PRUNE_ALEXNET=0`` skips it): the original's second case,
  an AlexNet-like net trained from scratch on 2,000 crack images rendered apart from the evaluation images,
  pruned and evaluated the same way.
* **bsdata** (under ``"bsdata"``): real BSData patches (pitting vs none, CC BY-SA 4.0, Schlagenhauf et al. 2021),
  split by wear sequence / photograph; scoring masks: the authors' pitting polygons of training patches.

For each case: candidates over leave factors x cut depth (mask-guided with the per-filter threshold, plus L1-norm
and random controls at the same per-layer sizes), evaluated with the original's LogisticRegression grid search on
flattened features (and an MLP), held-out accuracy, time at batch 1 and 32. The chosen model is the fastest
mask-guided candidate whose *cross-validated* accuracy on the train part is not below the full model's (the test
part is not used to choose: :func:`olkit.prune.decide.choose`), the eligible candidates and the full model timed
again side by side (3 interleaved passes of 7 calls) by the package's one timing path; the figures are
:func:`olkit.report.prune_figures`'s.
The Pareto plots go to ``bench/prune_pareto.png``, ``bench/prune_pareto_bsdata.png`` and
``bench/prune_pareto_alexnet.png``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent.parent / "bench"
WORK = BENCH / "prune_work"
SIZE = 128  # the shipped 128 px, width-32 weights: big enough that compute, not per-op overhead, dominates
WIDTH = 32
LEAVE_FACTORS = (0.05, 0.1, 0.21, 0.3)
DEPTHS: tuple[int | None, ...] = (None, 4)
N_EVAL = 600
N_SCORE = 40
SEED = 0
ALEX_EPOCHS = 10
ALEX_TRAIN = 2000  # crack images rendered for training the AlexNet-like net, apart from the evaluation images
BSDATA_FACTORS = LEAVE_FACTORS  # the same grid (leave factors x cut depth) for the real case
# a smaller grid (no cut depth) for the AlexNet case: the bench's time budget
ALEX_FACTORS = (0.05, 0.21, 0.5)
ALEXNET = os.environ.get("OLKIT_BENCH_PRUNE_ALEXNET", "1") != "0"  # the third case; =0 skips it
QUICK = (
    os.environ.get("OLKIT_BENCH_QUICK") == "1"
)  # a smoke run of the code path: tiny grid, untrained weights
if QUICK:
    LEAVE_FACTORS, DEPTHS, N_EVAL, N_SCORE, ALEX_EPOCHS, ALEX_TRAIN = (0.1, 0.3), (None,), 120, 10, 1, 120
    SIZE, WIDTH = 64, 16
    BSDATA_FACTORS, ALEX_FACTORS = (0.1,), (0.1,)


def _resize(img: np.ndarray, *, nearest: bool = False) -> np.ndarray:
    return cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def crack_case(seed: int = SEED) -> dict[str, Any]:
    """Evaluation images (half with cracks) and a separate scoring set with class-valued masks."""
    from olkit.data import synth
    from olkit.prune.score import MaskSet

    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(N_EVAL) % 2)
    images = np.stack([_resize(synth.render_crack_image(rng, size=224, crack=bool(c))[0]) for c in labels])
    score_rng = np.random.default_rng(seed + 1000)
    pairs = [synth.render_crack_image(score_rng, size=224, crack=True) for _ in range(N_SCORE)]
    masks = MaskSet(
        np.stack([_resize(p[0]) for p in pairs]),
        np.stack([_resize(p[1], nearest=True) for p in pairs]),
        tuple(f"score_{i}.png" for i in range(N_SCORE)),
    )
    return {"images": images, "labels": labels, "groups": np.arange(N_EVAL), "masks": masks, "target": 1}


def _bsdata_root() -> Path:
    from olkit.paths import bsdata_source, data_root

    root = data_root() / "bsdata"
    if (root / "manifest.csv").is_file():
        return root
    cache = WORK / "bsdata_import"
    if not (cache / "manifest.csv").is_file():
        from olkit.data.bsdata import import_bsdata

        import_bsdata(bsdata_source(), cache, workers=1, progress=False)
    return cache


def bsdata_case(seed: int = SEED) -> dict[str, Any]:
    """Balanced real pitting / no-pitting patches grouped by wear sequence; scoring masks from the train part."""
    from olkit.data.io import grouped_split, load_image
    from olkit.prune.score import MaskSet

    manifest = pd.read_csv(_bsdata_root() / "manifest.csv")
    manifest = manifest[manifest["split"] == "data_train"]
    rng = np.random.default_rng(seed)
    parts = [
        manifest[manifest["label"].astype(str) == c].sample(N_EVAL // 2, random_state=seed)
        for c in ("0", "1")
    ]
    chosen = pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    images, masks = [], []
    for _, row in chosen.iterrows():
        images.append(_resize(load_image(row["path"], size=None, mode="rgb")))
        m = (
            load_image(row["mask_path"], size=None, mode="mask")
            if isinstance(row["mask_path"], str)
            else None
        )
        masks.append(
            _resize((m > 0).astype(np.uint8), nearest=True)
            if m is not None
            else np.zeros((SIZE, SIZE), np.uint8)
        )
    images_a, masks_a = np.stack(images), np.stack(masks)
    labels = chosen["label"].astype(int).to_numpy()
    groups = chosen["group"].astype(str).to_numpy()
    train, _ = grouped_split(labels, groups, seed=seed)
    pos = [i for i in train if labels[i] == 1 and masks_a[i].any()]
    pick = rng.choice(pos, size=min(N_SCORE, len(pos)), replace=False)
    score = MaskSet(images_a[pick], masks_a[pick], tuple(str(i) for i in pick))
    return {"images": images_a, "labels": labels, "groups": groups, "masks": score, "target": 1}


def alexnet_from_scratch(seed: int = SEED) -> Any:
    """The original's second case: an AlexNet-like net trained from scratch on the target defect.

    It trains on ``ALEX_TRAIN`` crack images rendered apart from the evaluation images (their own seed), as the
    original trained its AlexNet on a crack data set before pruning it; none of the evaluation images is seen.
    """
    from olkit.data import synth
    from olkit.models import zoo

    rng = np.random.default_rng(seed + 2000)
    labels = rng.permutation(np.arange(ALEX_TRAIN) % 2)
    images = np.stack([_resize(synth.render_crack_image(rng, size=224, crack=bool(c))[0]) for c in labels])
    model = zoo.build_alexnet_like(size=SIZE, width=32)
    zoo.train_from_scratch(model, images, labels, epochs=ALEX_EPOCHS, seed=seed)
    return model


def run_case(
    name: str,
    case: dict[str, Any],
    model: Any,
    *,
    leave_factors: tuple[float, ...] = LEAVE_FACTORS,
    depths: tuple[int | None, ...] = DEPTHS,
    work: Path = WORK,
    figures_dir: Path = BENCH,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Candidates, evaluation, the package's decision (with its side-by-side timing), figures and Pareto plot.

    Everything measured here is a package call: :func:`olkit.prune.candidates.evaluate_candidates`,
    :func:`olkit.prune.decide.choose` (which re-times the eligible candidates beside the full model through
    :func:`olkit.prune.measure.time_models`) and :func:`olkit.report.prune_figures`; the bench adds only where it
    ran and how long it took.
    """
    from olkit.prune import decide
    from olkit.prune.candidates import CandidateGrid, build_candidates, evaluate_candidates
    from olkit.report import prune_figures

    out = work / name
    grid = CandidateGrid(
        leave_factors=leave_factors,
        depths=depths,
        methods=("threshold",),
        controls=("l1", "random"),
        target_class=case["target"],
        seed=SEED,
    )
    t0 = time.perf_counter()
    cands = build_candidates(model, case["masks"], out / "candidates", grid=grid, progress=False)
    t_cand = time.perf_counter() - t0
    res = evaluate_candidates(
        cands,
        case["images"],
        case["labels"],
        groups=case["groups"],
        pooling="flatten",
        repeats=3,
        seed=SEED,
        out_csv=out / "evaluation.csv",
        progress=False,
    )
    t_eval = time.perf_counter() - t0 - t_cand
    # the fastest mask-guided candidate whose cross-validated train accuracy is not below the full model's (the
    # test part is not used to choose); it and the full model are timed side by side: the headline times
    chosen, reason, res = decide.choose(
        res, rule="fastest_within", eps=0.0, acc_col="cv_acc", rounds=3, repeats=7
    )
    t_choose = time.perf_counter() - t0 - t_cand - t_eval
    plot_path = figures_dir / ("prune_pareto.png" if name == "crack" else f"prune_pareto_{name}.png")
    decide.pareto_plot(res, plot_path, chosen=str(chosen["id"]), title=f"mask-guided pruning, {name}")
    decide.decision_table(res).to_csv(out / "table.csv", index=False)
    figures = prune_figures(
        res, chosen, backbone=f"{model.name} on {name}", rule="fastest_within (cv_acc, eps 0)", reason=reason
    )
    try:
        png = str(plot_path.relative_to(BENCH.parent))
    except ValueError:
        png = str(plot_path)
    summary = {
        **figures,
        "n_eval": len(case["labels"]),
        "n_score_masks": len(case["masks"]),
        "pareto_png": png,
        "case_seconds": {
            "candidates": round(t_cand, 1),
            "evaluation": round(t_eval, 1),
            "decision": round(t_choose, 1),
        },
    }
    return summary, res


def run() -> dict[str, Any]:
    """Both cases; the crack figures at the top level (BENCH.md keys), BSData under ``"bsdata"``."""
    import keras

    from olkit.models import zoo
    from olkit.models.flops import count_params

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    t0 = time.perf_counter()
    keras.utils.set_random_seed(SEED)
    WORK.mkdir(parents=True, exist_ok=True)
    model = zoo.build_vgg_like(size=SIZE, width=WIDTH, weights=None if QUICK else "surface")
    crack_data = crack_case()
    crack, _ = run_case("crack", crack_data, model)
    out: dict[str, Any] = dict(crack)
    try:
        if not ALEXNET:
            raise RuntimeError(
                "skipped: OLKIT_BENCH_PRUNE_ALEXNET=0 (unset it to run the AlexNet-from-scratch case)"
            )
        t_alex = time.perf_counter()
        alex = alexnet_from_scratch()
        t_alex = time.perf_counter() - t_alex
        out["alexnet"], _ = run_case("alexnet", crack_data, alex, leave_factors=ALEX_FACTORS, depths=(None,))
        out["alexnet"]["train_seconds"] = round(t_alex, 1)
        out["alexnet"]["train_images"] = ALEX_TRAIN
    except Exception as exc:
        out["alexnet"] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        out["bsdata"], _ = run_case(
            "bsdata", bsdata_case(), model, leave_factors=BSDATA_FACTORS, depths=DEPTHS
        )
    except Exception as exc:  # the crack figures stand on their own
        out["bsdata"] = {"error": f"{type(exc).__name__}: {exc}"}
    out["backbone"] = {
        "model": f"VGG16-like (13 conv, BN, widths {WIDTH}..{8 * WIDTH}), surface-pretrained (olkit/models/weights)",
        "timing": "olkit.prune.measure.time_models: tf.function, BN folded into the convs (as deployed), "
        "median of repeats, full and eligible candidates interleaved side by side",
        "input": SIZE,
        "params": count_params(model),
    }
    out["grid"] = {
        "leave_factors": list(LEAVE_FACTORS),
        "depths": [d for d in DEPTHS],
        "scoring": "threshold",
    }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    (BENCH / "prune.json").write_text(json.dumps(out, indent=2, default=float))
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, default=float))
