"""Which refit rule makes more labels score higher: candidate fittings over draws and label budgets.

Issue 15 item 3: the ceiling and every control use the round's fitting, and that fitting must be one where more
labels never score lower on average. The warm 10-epoch MLP continuation was tuned on the compact conv base; on
the frozen pretrained VGG16 (the demo profile's ``vgg16-hed``, block4 max-pooled at 96 px) it lost accuracy.

This bench embeds a fixed pool of images once per conv base (``bench/cache/refit-<tag>-emb``, keyed by the
backbone's fingerprint, so re-runs are fast): ``POOL`` train images and every new image, on the synthetic BSD
data and on the real BSData patches (holdout/test split by source photograph). For each of ``DRAWS`` draws
(train subset of ``TRAIN`` images, holdout/test halves) and each budget in ``BUDGETS`` (random labels from the
test set, nested: the labels of a budget contain those of the smaller ones), every rule in :data:`RULES` is fitted
and measured on the holdout. A rule passes when its mean holdout accuracy over draws never drops from one budget
to the next by more than ``TOLERANCE`` (one holdout image is 1/180) and its "all" budget (the ceiling) is its best.

Figures (``online_refit``): per conv base and data set, per rule: ``acc`` (mean over draws per budget),
``monotone`` (largest drop between successive budgets of the mean curve), ``passes``, ``seconds`` (median seconds
of one fit with the largest budget, on the loaded machine).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.online import CACHE, SEED, _manifest, _splits

POOL = 2_000  # train images embedded per data set (a draw takes TRAIN of them)
TRAIN = 1_500  # train images per draw (the demo profile trains on 3,000; fewer to keep the VGG16 pool small)
DRAWS = 3
BUDGETS: tuple[int | str, ...] = (0, 10, 20, 40, 60, 120, "all")
TOLERANCE = 0.004  # a drop smaller than one holdout image of 180 counts as flat


def _pool(data: Path, *, group_col: str | None) -> pd.DataFrame:
    """Every new image and a seeded, class-stratified sample of ``POOL`` train images."""
    manifest = _manifest(data)
    return _splits(manifest, train_nr=POOL, seed=SEED + 99, group_col=group_col).assign(
        split=lambda d: np.where(d["split"] == "train", "data_train", "data_new")
    )


def _backbone(name: str, data: Path) -> Any:
    if name == "vgg16":
        from olkit.models.pretrained import pretrained_backbone

        return pretrained_backbone(layer="block4", pooling="max", input_px=96, seed=SEED)
    from benchmarks.online import _backbone as compact

    tag = "online" if data.name != "bsdata" else "online_real"
    manifest = _manifest(data)
    first = _splits(manifest, train_nr=10_000, seed=SEED, group_col="group" if tag == "online_real" else None)
    return compact(tag, first, progress=False)[0]


def embeddings(base: str, data: Path, *, group_col: str | None) -> tuple[pd.DataFrame, np.ndarray]:
    """The pool's manifest (``split`` data_train/data_new) and its embeddings under ``base``, cached."""
    from olkit.online.embed import EmbeddingCache, embed_cached

    pool = _pool(data, group_col=group_col)
    bb = _backbone(base, data)
    tag = f"refit-{base}-{'real' if group_col else 'synthetic'}"
    cache = EmbeddingCache.for_backbone(CACHE / f"{tag}-emb" / bb.fingerprint[:16], bb)
    res = embed_cached(list(pool["path"]), list(pool["sha256"]), bb, cache, progress=True)
    return pool.reset_index(drop=True), np.asarray(res.embeddings, dtype=np.float32)


def _logreg(c: float) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scaler", StandardScaler()), ("mlp", LogisticRegression(C=c, max_iter=1000))])


def _rules() -> dict[str, Callable[..., Any]]:
    """Candidate fittings: ``rule(base, x_train, y_train, x_new, y_new) -> classifier``."""
    from olkit.online.session import refit

    def warm(epochs: int, share: float, cap: float = 100.0, replay: int | None = 2_000) -> Callable[..., Any]:
        def fit(base: Any, xt: np.ndarray, yt: list[str], xn: np.ndarray, yn: list[str]) -> Any:
            if not len(yn):
                return base
            w = min(cap, share * len(xt) / len(yn))
            return refit(base, xt, yt, xn, yn, new_weight=w, epochs=epochs, replay=replay)

        return fit

    def cold(
        share: float, cap: float = 100.0, template: Callable[[], Any] | None = None
    ) -> Callable[..., Any]:
        def fit(base: Any, xt: np.ndarray, yt: list[str], xn: np.ndarray, yn: list[str]) -> Any:
            w = min(cap, share * len(xt) / max(1, len(yn)))
            return refit(
                None, xt, yt, xn, yn, new_weight=w, template=None if template is None else template()
            )

        return fit

    return {
        "warm10_share1": warm(10, 1.0),
        "warm10_share0.25": warm(10, 0.25),
        "warm10_cap10": warm(10, 1.0, cap=10.0),
        "warm3_share0.25": warm(3, 0.25),
        "warm30_share0.25": warm(30, 0.25),
        "cold_mlp_share1": cold(1.0),
        "cold_mlp_share0.25": cold(0.25),
        "logreg_c0.1_share1": cold(1.0, template=lambda: _logreg(0.1)),
        "logreg_c0.1_share0.25": cold(0.25, template=lambda: _logreg(0.1)),
        "logreg_c0.01_share0.25": cold(0.25, template=lambda: _logreg(0.01)),
    }


def evaluate_rules(
    base: str,
    data: Path,
    *,
    group_col: str | None,
    rules: list[str] | None = None,
    draws: int = DRAWS,
    draw_ids: list[int] | None = None,
) -> dict[str, Any]:
    """Every rule over ``draws`` draws and the budgets: mean holdout accuracy per budget, drops, seconds."""
    from olkit.classify import fit_classifier, make_classifier
    from olkit.data.io import make_online_splits

    df, x = embeddings(base, data, group_col=group_col)
    every = _rules()
    names = rules or list(every)
    acc: dict[str, list[list[float]]] = {r: [] for r in names}
    secs: dict[str, list[float]] = {r: [] for r in names}
    labels_at: list[int] = []
    for k in draw_ids if draw_ids is not None else range(draws):
        sp = make_online_splits(df, train_nr=TRAIN, seed=SEED + k, group_col=group_col)
        pos = {s: i for i, s in enumerate(df["sha256"])}
        part = {p: sp[sp["split"] == p] for p in ("train", "holdout", "test")}
        xs = {p: x[[pos[s] for s in part[p]["sha256"]]] for p in part}
        ys = {p: [str(v) for v in part[p]["label"]] for p in part}
        order = np.random.default_rng([SEED, 7, k]).permutation(len(ys["test"]))
        budgets = [len(order) if b == "all" else int(b) for b in BUDGETS]
        labels_at = budgets
        mlp = fit_classifier(make_classifier(seed=SEED + k), xs["train"], ys["train"])
        for r in names:
            curve = []
            for b in budgets:
                pick = order[:b]
                t0 = time.perf_counter()
                clf = every[r](mlp, xs["train"], ys["train"], xs["test"][pick], [ys["test"][i] for i in pick])
                if b == budgets[-1]:
                    secs[r].append(time.perf_counter() - t0)
                pred = np.asarray(clf.predict(xs["holdout"])).astype(str)
                curve.append(float(np.mean(pred == np.asarray(ys["holdout"]))))
            acc[r].append(curve)
            print(json.dumps({"base": base, "data": data.name, "draw": k, "rule": r,
                              "acc": [round(a, 3) for a in curve]}), flush=True)  # fmt: skip
    out: dict[str, Any] = {"labels": labels_at, "rules": {}}
    for r in names:
        mean = np.mean(acc[r], axis=0)
        drops = np.maximum(0.0, -np.diff(mean))
        out["rules"][r] = {
            "acc": [round(float(a), 4) for a in mean],
            "largest_drop": round(float(drops.max()), 4),
            "passes": bool(drops.max() <= TOLERANCE and mean[-1] >= mean.max() - TOLERANCE),
            "seconds_all": round(float(np.median(secs[r])), 2),
            "per_draw": [[round(a, 4) for a in c] for c in acc[r]],
        }
    return out


if __name__ == "__main__":
    import sys

    from olkit.paths import data_root

    base = sys.argv[1] if len(sys.argv) > 1 else "vgg16"
    only = [r for r in sys.argv[2].split(",") if r] or None if len(sys.argv) > 2 else None
    which = sys.argv[3] if len(sys.argv) > 3 else "both"
    for data, group in ((data_root(), None), (data_root() / "bsdata", "group")):
        if which != "both" and which != ("real" if group else "synthetic"):
            continue
        if only == ["embed"]:
            df, x = embeddings(base, data, group_col=group)
            print(json.dumps({"base": base, "data": str(data), "n": len(df), "dim": x.shape[1]}))
            continue
        ids = [int(v) for v in sys.argv[4].split(",")] if len(sys.argv) > 4 else None
        res = evaluate_rules(base, data, group_col=group, rules=only, draw_ids=ids)
        print(json.dumps({"base": base, "data": data.name, **res}), flush=True)
