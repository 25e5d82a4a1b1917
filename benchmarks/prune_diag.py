"""Diagnostic of the pruning bench's cases: scoring (threshold, contrast, original) x layer floor x pooling.

``PYTHONPATH=. python benchmarks/prune_diag.py bsdata|crack 0.05[,0.1] [--nofull]`` with the bench's env knobs
(``OLKIT_BENCH_PRUNE_PX``, ``_N_EVAL``, ``_N_SCORE``): for each leave factor, the mask-guided selections with the
original's per-layer rule (``uniform``) and with a floor of 16 filters (``floor16``), the L1 control and three
random draws at the same sizes, each classified (logistic regression grid) on flattened, average- and max-pooled
features over 5 grouped splits; one JSON line per selection in ``bench/prune_work/diag_<case>.jsonl``.
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np

CASE = sys.argv[1] if len(sys.argv) > 1 else "bsdata"
FACTORS = [float(f) for f in (sys.argv[2] if len(sys.argv) > 2 else "0.05").split(",")]
SPLITS = 5

from benchmarks import prune as bp  # noqa: E402

OUT = str(bp.WORK / f"diag_{CASE}.jsonl")
from olkit.classify import classify_features  # noqa: E402
from olkit.data.io import grouped_split  # noqa: E402
from olkit.models import zoo  # noqa: E402
from olkit.models.flops import count_flops  # noqa: E402
from olkit.prune.score import UnitProbe, l1_selection, layer_scores, leave_count, model_input  # noqa: E402
from olkit.prune.surgery import prune_model  # noqa: E402

t0 = time.time()
case = bp.bsdata_case() if CASE == "bsdata" else bp.crack_case()
model = zoo.build_vgg16_hed(size=bp.SIZE)
probe = UnitProbe(model)
units = probe.units
xs = model_input(case["masks"].images, None)
target = case["masks"].class_masks(1)
labels, groups = case["labels"], case["groups"]
splits = [grouped_split(labels, groups, seed=s) for s in range(SPLITS)]
print("case", len(labels), "masks", len(xs), "coverage", target.mean(), time.time() - t0, flush=True)


def score(kind, maps):
    if kind == "threshold":
        return layer_scores(maps, target, method="threshold")
    if kind == "original":
        return layer_scores(maps, target, method="original")
    if kind == "contrast":
        return layer_scores(maps, target, method="contrast")
    raise ValueError(kind)


def kfun(rule, f, filters, idx):
    k = leave_count(filters, f)
    if rule == "uniform":
        return k
    if rule.startswith("floor"):  # at least N filters per layer
        return min(filters, max(k, int(rule[5:])))
    raise ValueError(rule)


def topk(s, k):
    s = np.asarray(s, np.float64)
    order = sorted(range(len(s)), key=lambda i: (s[i], i), reverse=True)
    return np.array(sorted(order[:k]), np.int64)


from olkit.prune.score import GreedyMaps  # noqa: E402


def greedy(kind, rule, f):
    probe.reset()
    keep = {}
    gm = GreedyMaps(probe, xs)
    for i, u in enumerate(units):
        probe.apply(keep)
        maps = gm.maps(u)
        keep[u.name] = topk(score(kind, maps), kfun(rule, f, u.filters, i))
    probe.reset()
    return keep


def evaluate(name, keep, extra, pools=("flatten", "avg", "max")):
    t = time.time()
    net = prune_model(model, keep) if keep is not None else model
    cache = str(bp.WORK / f"maps_{CASE}_{len(labels)}_{name}.npy")
    if keep is None and os.path.exists(cache):
        maps = np.load(cache)
    else:
        maps = np.concatenate(
            [
                np.asarray(net(case["images"][i : i + 32].astype(np.float32), training=False))
                for i in range(0, len(labels), 32)
            ]
        )
        if keep is None:
            np.save(cache, maps)
    t_feat = time.time() - t
    feats = {"flatten": maps.reshape(len(maps), -1), "avg": maps.mean((1, 2)), "max": maps.max((1, 2))}
    feats = {k: v for k, v in feats.items() if k in pools}
    rec = {"name": name, **extra, "gflop": count_flops(net) / 1e9, "t_feat": round(t_feat, 1)}
    for pool, F in feats.items():
        accs, cvs = [], []
        for tr, te in splits:
            m = classify_features(F, labels, tr, te, classifier="logreg", seed=0)
            accs.append(m["acc"])
            cvs.append(m["cv_acc"])
        rec[pool] = round(float(np.mean(accs)), 4)
        rec[pool + "_sd"] = round(float(np.std(accs, ddof=1)), 4)
        rec[pool + "_cv"] = round(float(np.mean(cvs)), 4)
    rec["t"] = round(time.time() - t, 1)
    print(json.dumps(rec), flush=True)
    with open(OUT, "a") as fh:
        fh.write(json.dumps(rec) + "\n")


if "--nofull" not in sys.argv:
    evaluate("full", None, {}, pools=("avg", "max"))
for f in FACTORS:
    for rule in ("uniform", "floor16"):
        base = None
        for kind in ("threshold", "contrast", "original"):
            if kind == "original" and rule != "uniform":
                continue
            keep = greedy(kind, rule, f)
            base = base or keep
            evaluate(f"mask-{kind}", keep, {"f": f, "rule": rule})
        sizes = {k: len(v) for k, v in base.items()}
        evaluate("l1", l1_selection(model, sizes).keep, {"f": f, "rule": rule})
        for seed in range(3):
            rng = np.random.default_rng(seed + 7)
            keep = {u.name: np.sort(rng.choice(u.filters, size=sizes[u.name], replace=False)) for u in units}
            evaluate(f"random{seed}", keep, {"f": f, "rule": rule})
if "--nofull" not in sys.argv:
    evaluate("full", None, {"pool": "flatten"}, pools=("flatten",))
print("done", time.time() - t0)
