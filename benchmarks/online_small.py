"""The online-learning protocol of ``benchmarks/online.py`` with the demo's trainset size (``TRAIN_NR`` 3,000).

Same synthetic data, same conv base (that of the ``online`` section), 8 draws: with a smaller trainset the classifier
is less sure of the new patterns, which is where uncertainty selection alone loses to random picks and the
``"hybrid"`` selection (uncertain or novel) is meant to help. The keys are those of the ``online`` section.
"""

from __future__ import annotations

from typing import Any

from benchmarks.online import protocol

TRAIN_NR = 3_000
DRAWS = 8


def run() -> dict[str, Any]:
    from olkit.paths import data_root

    data = data_root()
    if not (data / "data_train").is_dir():
        raise FileNotFoundError(
            f"{data}/data_train is missing: make the synthetic data with `olkit data` first"
        )
    return protocol(data, tag="online_small", draws=DRAWS, train_nr=TRAIN_NR, backbone_tag="online")
