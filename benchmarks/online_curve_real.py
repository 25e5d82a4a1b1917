"""The learning curves of ``benchmarks/online_curve.py`` on the real BSData patches (``data_bsd/bsdata``).

BSData (Schlagenhauf and Landwehr 2021, CC BY-SA 4.0; see ``data_bsd/bsdata/ATTRIBUTION.md``): holdout and test are
split by source photograph (``group``), as in ``benchmarks/online_real.py``. The conv base is the compact one trained
on the train images (``bench/cache/online_real-backbone.keras``, the recipe of ``benchmarks/online.py``), named in
``representation``. The keys are those of the ``online_curve`` section.
"""

from __future__ import annotations

from typing import Any

from benchmarks.online_curve import protocol


def run() -> dict[str, Any]:
    from olkit.paths import data_root

    data = data_root() / "bsdata"
    if not (data / "data_train").is_dir():
        raise FileNotFoundError(f"{data}/data_train is missing: import BSData with `olkit data` first")
    return protocol(data, tag="online_real_curve", group_col="group")


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
