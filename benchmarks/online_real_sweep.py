"""Which VGG16 embedding for the real BSData patches: block, pooling, input size, whitening, prior shift.

A cheaper stand-in for the full protocol of ``benchmarks/online_real.py`` (same pool, same draws, same
classifier and refit), to compare many embeddings: per draw (holdout/test halves of data_new split by
photograph, seeds 0..4) the session's MLP (:func:`olkit.classify.make_classifier`) is fitted on the train pool
(``before``), then refitted the session's way (:func:`olkit.online.session.refit`) with a random third of the test
labels (``random``) and with every test label (``ceiling``); ``before_em`` is ``before`` with the probabilities
adjusted to the test priors estimated by EM on the unlabelled test set (:func:`olkit.classify.estimate_priors`,
Saerens et al. 2002). Selection strategies are not run here: the full protocol measures them for the chosen
embedding. The pooled features come from ``benchmarks/online_real._features`` (blocks 1-4 once per input size,
cached in ``bench/cache``).

``python -m benchmarks.online_real_sweep [px ...]`` prints one JSON object and writes
``bench/cache/online_real_sweep.json``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.online import CACHE, DRAWS

SINGLE = tuple(f"block{b}_{p}" for b in (3, 4, 5) for p in ("avg", "max", "gem"))
CONCAT = (
    ("block3_max", "block4_max"),
    ("block3_avg", "block4_avg"),
    ("block4_avg", "block4_max"),
    ("block4_max", "block5_max"),
    ("block3_avg", "block4_avg", "block5_avg"),
)


def pools(px: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The pool's rows and every pooled feature at ``px`` (extracted and cached when missing)."""
    from benchmarks import online_real as o
    from benchmarks.online import SEED
    from olkit.data.io import load_dataset
    from olkit.models.pretrained import pretrained_backbone
    from olkit.paths import data_root

    df = o._pool(load_dataset(data_root() / "bsdata", progress=False))
    path = CACHE / f"h2-pools-{px}.npz"
    if path.is_file():
        with np.load(path) as z:
            if np.array_equal(z["sha256"], df["sha256"].to_numpy().astype("U64")):
                return df, {k: z[k] for k in z.files if k != "sha256"}
    classes = sorted(df[df.split == "data_train"]["label"].astype(str).unique())
    bb = pretrained_backbone(layer="block5", pooling="avg", input_px=px, classes=classes, seed=SEED)
    f = o._features(bb, df, progress=True)
    f |= o._block5_pools(bb, f["maps"])
    feats = {k: v for k, v in f.items() if k not in ("maps", "trunk_s")}
    np.savez(path, sha256=df["sha256"].to_numpy().astype("U64"), **feats)
    return df, feats


def transform(x: np.ndarray, train: np.ndarray, kind: str) -> np.ndarray:
    """``"none"``, ``"pca128"``/``"pca256"`` (PCA fitted on the train rows) or ``"white256"`` (PCA whitening), or
    ``"sqrt"`` (signed square root then L2 normalisation, the usual power normalisation of pooled CNN features)."""
    from sklearn.decomposition import PCA

    if kind == "none":
        return x
    if kind == "sqrt":
        y = np.sign(x) * np.sqrt(np.abs(x))
        return y / (np.linalg.norm(y, axis=1, keepdims=True) + 1e-9)
    n = int(kind[-3:])
    pca = PCA(n_components=min(n, x.shape[1]), whiten=kind.startswith("white"), random_state=0)
    pca.fit(x[train])
    return np.asarray(pca.transform(x), np.float32)


def evaluate(df: pd.DataFrame, x: np.ndarray, *, draws: int = DRAWS) -> dict[str, Any]:
    """Before / random third / ceiling / before with EM prior adjustment, mean over ``draws``."""
    from olkit.classify import adjust_proba, estimate_priors, fit_classifier, make_classifier
    from olkit.data.io import make_online_splits
    from olkit.online.session import refit

    rows: dict[str, list[float]] = {k: [] for k in ("before", "random", "ceiling", "before_em", "bal_before")}
    pos = pd.Series(np.arange(len(df)), index=df["sha256"].to_numpy())
    for seed in range(draws):
        sp = make_online_splits(df, train_nr=None, seed=seed, group_col="group")
        idx = {s: pos[sp.loc[sp["split"] == s, "sha256"]].to_numpy() for s in ("train", "holdout", "test")}
        lab = {s: sp.loc[sp["split"] == s, "label"].astype(str).to_numpy() for s in idx}
        clf = fit_classifier(make_classifier(seed=seed), x[idx["train"]], lab["train"])
        classes = [str(c) for c in clf.classes_]
        p_h = clf.predict_proba(x[idx["holdout"]])
        rows["before"].append(float(np.mean(np.asarray(classes)[p_h.argmax(1)] == lab["holdout"])))
        from sklearn.metrics import balanced_accuracy_score

        rows["bal_before"].append(
            float(balanced_accuracy_score(lab["holdout"], np.asarray(classes)[p_h.argmax(1)]))
        )
        train_priors = np.array([np.mean(lab["train"] == c) for c in classes])
        q = estimate_priors(clf.predict_proba(x[idx["test"]]), train_priors)
        p_adj = adjust_proba(p_h, train_priors, q)
        rows["before_em"].append(float(np.mean(np.asarray(classes)[p_adj.argmax(1)] == lab["holdout"])))
        rng = np.random.default_rng(seed)
        third = rng.permutation(len(idx["test"]))[: len(idx["test"]) // 3]
        for key, pick in (("random", third), ("ceiling", np.arange(len(idx["test"])))):
            r = refit(clf, x[idx["train"]], lab["train"], x[idx["test"][pick]], lab["test"][pick])
            rows[key].append(float(np.mean(r.predict(x[idx["holdout"]]) == lab["holdout"])))
    return {k: round(float(np.mean(v)), 4) for k, v in rows.items()} | {
        "ceiling_draws": [round(v, 4) for v in rows["ceiling"]]
    }


def run(sizes: tuple[int, ...] = (150, 96, 128)) -> dict[str, Any]:
    out: dict[str, Any] = {"draws": DRAWS, "protocol": __doc__.split("\n\n")[1].replace("\n", " ")}
    for px in sizes:
        t0 = time.perf_counter()
        df, f = pools(px)
        cands = {k: f[k] for k in SINGLE} | {
            "+".join(c): np.concatenate([f[k] for k in c], 1) for c in CONCAT
        }
        if px != 150:  # the other sizes: the best kinds at 150 px only
            best = out.get("best_150", [])
            cands = {k: v for k, v in cands.items() if k in best}
        res = {}
        for name, x in cands.items():
            res[name] = evaluate(df, x)
            print(px, name, res[name], flush=True)
        out[f"px{px}"] = res
        if px == 150:
            ranked = sorted(res, key=lambda k: -(res[k]["ceiling"] + res[k]["random"]))
            out["best_150"] = ranked[:3]
            train = (df["split"] == "data_train").to_numpy()
            for name in ranked[:2]:
                x = cands[name]
                for kind in ("sqrt", "pca128", "white256"):
                    key = f"{name}/{kind}"
                    res[key] = evaluate(df, transform(x, train, kind))
                    print(px, key, res[key], flush=True)
        out[f"px{px}_s"] = round(time.perf_counter() - t0, 1)
        (CACHE / "online_real_sweep.json").write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    sizes = tuple(int(a) for a in sys.argv[1:]) or (150, 96, 128)
    print(json.dumps(run(sizes), indent=1))
