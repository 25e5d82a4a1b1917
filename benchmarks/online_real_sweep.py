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

``python -m benchmarks.online_real_sweep [px ...] [--mlp] [--names a,b] [--part=-x]`` prints one JSON object
and writes ``bench/cache/online_real_sweep<part>.json``; ``--merge`` puts every part into ``bench/results.json``
as the ``"online_real_sweep"`` section; ``--mlp-rows`` runs :data:`MLP_ROWS` with the session's MLP only, ``--synthetic`` the same on the synthetic patches at 96 px.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.online import CACHE, DRAWS

MLP_ROWS = ("block4_max", "block4_avg+block4_max")  # measured with the session's MLP too
PROBE_C = 0.01  # the linear probe's inverse regularisation (online_real.choose_layer's)

SINGLE = tuple(f"block{b}_{p}" for b in (3, 4, 5) for p in ("avg", "max", "gem"))
CONCAT = (
    ("block3_max", "block4_max"),
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


def _probe(c: float = PROBE_C) -> Any:
    """The linear probe: standardised features and an L2 logistic regression (one C, lbfgs)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))


def evaluate(df: pd.DataFrame, x: np.ndarray, *, draws: int = DRAWS, mlp: bool = False) -> dict[str, Any]:
    """Before / random third / ceiling / before with EM prior adjustment, mean over ``draws``.

    ``mlp``: the session's MLP (:func:`olkit.classify.make_classifier`) and its warm refit
    (:func:`olkit.online.session.refit`); otherwise the linear probe (:func:`_probe`), refitted from scratch on
    train ∪ new labels with each new label weighted as the session weights it
    (:func:`olkit.online.session.new_label_weight`)."""
    from sklearn.metrics import balanced_accuracy_score

    from olkit.classify import adjust_proba, estimate_priors, fit_classifier, make_classifier
    from olkit.data.io import make_online_splits
    from olkit.online.session import new_label_weight, refit

    keys = ("before", "random", "ceiling", "before_em", "bal_before", "bal_before_em", "bal_ceiling")
    rows: dict[str, list[float]] = {k: [] for k in keys}
    pos = pd.Series(np.arange(len(df)), index=df["sha256"].to_numpy())
    for seed in range(draws):
        sp = make_online_splits(df, train_nr=None, seed=seed, group_col="group")
        idx = {s: pos[sp.loc[sp["split"] == s, "sha256"]].to_numpy() for s in ("train", "holdout", "test")}
        lab = {s: sp.loc[sp["split"] == s, "label"].astype(str).to_numpy() for s in idx}
        xt, yt, xh, yh = x[idx["train"]], lab["train"], x[idx["holdout"]], lab["holdout"]
        clf = fit_classifier(make_classifier(seed=seed), xt, yt) if mlp else _probe().fit(xt, yt)
        classes = np.asarray([str(c) for c in clf.classes_])
        p_h = clf.predict_proba(xh)
        rows["before"].append(float(np.mean(classes[p_h.argmax(1)] == yh)))
        rows["bal_before"].append(float(balanced_accuracy_score(yh, classes[p_h.argmax(1)])))
        train_priors = np.array([np.mean(yt == c) for c in classes])
        q = estimate_priors(clf.predict_proba(x[idx["test"]]), train_priors)
        pred_em = classes[adjust_proba(p_h, train_priors, q).argmax(1)]
        rows["before_em"].append(float(np.mean(pred_em == yh)))
        rows["bal_before_em"].append(float(balanced_accuracy_score(yh, pred_em)))
        third = np.random.default_rng(seed).permutation(len(idx["test"]))[: len(idx["test"]) // 3]
        for key, pick in (("random", third), ("ceiling", np.arange(len(idx["test"])))):
            xn, yn = x[idx["test"][pick]], lab["test"][pick]
            if mlp:
                r = refit(clf, xt, yt, xn, yn)
            else:
                w = np.concatenate([np.ones(len(yt)), np.full(len(yn), new_label_weight(len(yn), len(yt)))])
                r = _probe().fit(np.concatenate([xt, xn]), [*yt, *yn], logisticregression__sample_weight=w)
            pred = r.predict(xh)
            rows[key].append(float(np.mean(pred == yh)))
            if key == "ceiling":
                rows["bal_ceiling"].append(float(balanced_accuracy_score(yh, pred)))
    return {k: round(float(np.mean(v)), 4) for k, v in rows.items()} | {
        "ceiling_draws": [round(v, 4) for v in rows["ceiling"]],
        "classifier": "mlp" if mlp else f"logreg C={PROBE_C}",
    }


def finetuned(px: int = 150) -> tuple[np.ndarray, dict[str, Any]]:
    """The fine-tuned representation on the pool (the recipe of ``online_real``: block 5 and a head on a
    class-balanced subset of the train pool, from the cached block-4 maps): its block-5 max-pooled embedding of
    every pool image and the record (seconds: training here; the trunk's share from the extraction)."""
    from benchmarks import online_real as o
    from benchmarks.online import SEED
    from olkit.data.io import load_dataset
    from olkit.models.pretrained import balanced_subset, finetune_on_features, pretrained_backbone
    from olkit.paths import data_root

    df = o._pool(load_dataset(data_root() / "bsdata", progress=False))
    train = (df["split"] == "data_train").to_numpy()
    classes = sorted(df.loc[train, "label"].astype(str).unique())
    bb = pretrained_backbone(layer="block5", pooling="max", input_px=px, classes=classes, seed=SEED)
    f = o._features(bb, df)
    pos = np.flatnonzero(train)
    sub = pos[balanced_subset(list(df.loc[train, "label"].astype(str)), o.FT_IMAGES, seed=SEED)]
    rec = finetune_on_features(bb, f["maps"][sub], list(df["label"].astype(str).iloc[sub]), cut=o.CUT,
                               head_epochs=o.FT_HEAD_EPOCHS, epochs=o.FT_EPOCHS, learning_rate=o.FT_LR,
                               seed=SEED)  # fmt: skip
    emb = o._top_embed(bb, f["maps"])
    trunk_s = float(f["trunk_s"])
    return emb, {"images": len(sub), "train_s": round(rec["seconds"], 1),
                 "trunk_share_s": round(trunk_s * len(sub) / len(df), 1), "trunk_all_s": round(trunk_s, 1),
                 "head_acc": rec["head"]["accuracy"][-1], "top_acc": rec["top"]["accuracy"][-1]}  # fmt: skip


def run(
    sizes: tuple[int, ...] = (150, 96, 128),
    *,
    mlp: bool = False,
    names: tuple[str, ...] = (),
    tuned: bool = True,
    part: str = "",
) -> dict[str, Any]:
    """Every candidate at 150 px with the linear probe, whitening of the best, the fine-tuned embedding; the
    three best kinds at the other sizes; with ``mlp``, the default, the best and the fine-tuned with the MLP.
    ``names`` limits the candidates (in that order), ``tuned=False`` leaves out the fine-tuned one, and ``part``
    names the output file (``online_real_sweep<part>.json``), so that parts can run side by side."""
    out: dict[str, Any] = {"draws": DRAWS, "protocol": (__doc__ or "").split("\n\n")[1].replace("\n", " ")}
    path = CACHE / f"online_real_sweep{part}.json"

    def save() -> None:
        path.write_text(json.dumps(out, indent=1))

    keep: dict[str, np.ndarray] = {}
    for px in sizes:
        t0 = time.perf_counter()
        df, f = pools(px)
        cands = {k: f[k] for k in SINGLE} | {
            "+".join(c): np.concatenate([f[k] for k in c], 1) for c in CONCAT
        }
        if names:
            cands = {k: cands[k] for k in names if k in cands}
        if px != 150:  # the other sizes: the best kinds at 150 px only
            best = out.get("best_150", [])
            cands = {k: v for k, v in cands.items() if k in best}
        res: dict[str, Any] = {}
        out[f"px{px}"] = res
        # at 150 px the current default and the fine-tuned first (the rest may not fit a busy machine's time)
        if px == 150 and "block4_max" in cands:
            res["block4_max"] = evaluate(df, cands["block4_max"])
            print(px, "block4_max", res["block4_max"], flush=True)
        if px == 150 and tuned:
            t1 = time.perf_counter()
            emb, rec = finetuned(px)
            out["finetuned"] = rec | {"wall_s": round(time.perf_counter() - t1, 1)}
            res["finetuned/block5_max"] = evaluate(df, emb)
            print(px, "finetuned", rec, res["finetuned/block5_max"], flush=True)
            keep["finetuned"] = emb
            save()
        for name, x in cands.items():
            if name not in res:
                res[name] = evaluate(df, x)
                print(px, name, res[name], flush=True)
                save()
        if px == 150:
            ranked = sorted(
                (k for k in res if "/" not in k), key=lambda k: -(res[k]["ceiling"] + res[k]["random"])
            )
            out["best_150"] = ranked[:3]
            train = (df["split"] == "data_train").to_numpy()
            for kind in ("white256", "sqrt"):
                key = f"{ranked[0]}/{kind}"
                res[key] = evaluate(df, transform(cands[ranked[0]], train, kind))
                print(px, key, res[key], flush=True)
                save()
            keep |= {k: cands[k] for k in ("block4_max", ranked[0]) if k in cands}
        out[f"px{px}_s"] = round(time.perf_counter() - t0, 1)
        save()
    if mlp and keep:
        df, _ = pools(150)
        out["mlp150"] = {}
        for name, x in keep.items():
            out["mlp150"][name] = evaluate(df, x, mlp=True)
            print("mlp", name, out["mlp150"][name], flush=True)
            save()
    return out


def mlp_rows(px: int = 150) -> dict[str, Any]:
    """:data:`MLP_ROWS` with the session's MLP and refit (part ``-mlp``)."""
    df, f = pools(px)
    out: dict[str, Any] = {}
    for name in MLP_ROWS:
        out[name] = evaluate(df, np.concatenate([f[k] for k in name.split("+")], 1), mlp=True)
        print("mlp", name, out[name], flush=True)
        (CACHE / "online_real_sweep-mlp.json").write_text(json.dumps({f"mlp{px}": out}, indent=1))
    return out


def synthetic_check(px: int = 96, pool: int = 600) -> dict[str, Any]:
    """:data:`MLP_ROWS` on the synthetic patches (``data_root()``) at the demo's ``px``, a seeded, class-stratified
    ``pool`` of data_train and all of data_new, with the session's MLP (part ``-synth96``): does a pooling chosen
    on photographs keep the demo's figures?"""
    from benchmarks.online import SEED
    from olkit.data.io import load_dataset
    from olkit.models.pretrained import pretrained_backbone
    from olkit.paths import data_root

    m = load_dataset(data_root(), progress=False)
    tr = m[m["split"] == "data_train"]
    rng = np.random.default_rng(SEED)
    keep = [
        g.iloc[np.sort(rng.permutation(len(g))[: round(pool * len(g) / len(tr))])]
        for _, g in tr.groupby("label")
    ]
    df = pd.concat([*keep, m[m["split"] == "data_new"]]).reset_index(drop=True)
    bb = pretrained_backbone(layer="block4", pooling="avgmax", input_px=px)
    paths = list(df["path"])
    emb = np.concatenate(
        [np.asarray(bb.encoder(bb.to_input(bb.prepare(paths[s : s + 32])))) for s in range(0, len(paths), 32)]
    )
    parts = {"block4_max": emb[:, 512:], "block4_avg+block4_max": emb}
    out: dict[str, Any] = {"pool": len(df), "px": px}
    for name in MLP_ROWS:
        out[name] = evaluate(df, parts[name], mlp=True)
        print("synthetic", name, out[name], flush=True)
        (CACHE / f"online_real_sweep-synth{px}.json").write_text(
            json.dumps({f"synthetic{px}": out}, indent=1)
        )
    return out


def merge() -> dict[str, Any]:
    """The parts written by :func:`run` (``bench/cache/online_real_sweep*.json``) as one ``"online_real_sweep"``
    section of ``bench/results.json`` (other sections kept): per input size, every candidate's figures."""
    from benchmarks.run import RESULTS, merge_results

    section: dict[str, Any] = {"parts": []}
    for part in sorted(CACHE.glob("online_real_sweep*.json")):
        doc = json.loads(part.read_text())
        section["parts"].append(part.name)
        for key, value in doc.items():
            if isinstance(value, dict) and key.startswith(("px", "mlp")):
                section.setdefault(key, {}).update(value)
            elif key not in section:
                section[key] = value
    # the representation table in the online_real keys (after: the hybrid third, not run here)
    reps: dict[str, Any] = {}
    rows = [(f"vgg16-hed-frozen {k}", "mlp", section.get("mlp150", {}).get(k), 0.0) for k in MLP_ROWS]
    ft = section.get("px150", {}).get("finetuned/block5_max")
    rec = section.get("finetuned", {})
    rows.append(("vgg16-hed-finetuned", "probe", ft, rec.get("train_s", 0.0) + rec.get("trunk_share_s", 0.0)))
    for name, clf, r, setup_s in rows:
        if r:
            reps[name] = {"before": r["before"], "after": None, "random": r["random"], "ceiling": r["ceiling"],
                          "bal_before": r["bal_before"], "bal_ceiling": r["bal_ceiling"],
                          "classifier": clf, "setup_s": round(setup_s, 1)}  # fmt: skip
    section["representations"] = reps
    merge_results(RESULTS, {"online_real_sweep": section})
    return section


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(prog="python -m benchmarks.online_real_sweep")
    ap.add_argument("sizes", nargs="*", type=int, default=[150, 96, 128])
    ap.add_argument(
        "--mlp", action="store_true", help="also the session's MLP on the default, best, fine-tuned"
    )
    ap.add_argument("--names", default="", help="comma-separated candidates, e.g. block4_max,block5_gem")
    ap.add_argument("--no-finetuned", action="store_true")
    ap.add_argument("--part", default="")
    ap.add_argument("--mlp-rows", action="store_true", help="only MLP_ROWS with the session's MLP, then stop")
    ap.add_argument(
        "--synthetic", action="store_true", help="only MLP_ROWS on the synthetic patches at 96 px"
    )
    ap.add_argument("--merge", action="store_true", help="merge the parts into bench/results.json and stop")
    a = ap.parse_args()
    if a.synthetic:
        print(json.dumps(synthetic_check(), indent=1))
        raise SystemExit(0)
    if a.mlp_rows:
        print(json.dumps(mlp_rows(), indent=1))
        raise SystemExit(0)
    if a.merge:
        print(json.dumps(merge(), indent=1))
        raise SystemExit(0)
    names = tuple(n for n in a.names.split(",") if n)
    res = run(tuple(a.sizes), mlp=a.mlp, names=names, tuned=not a.no_finetuned, part=a.part)
    print(json.dumps(res, indent=1))
