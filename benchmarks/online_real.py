"""The online-learning protocol of ``benchmarks/online.py`` on the real BSData patches (``data_bsd/bsdata``).

BSData (Schlagenhauf and Landwehr 2021, CC BY-SA 4.0; see ``data_bsd/bsdata/ATTRIBUTION.md``) patches are cut from
a few dozen photographs, so holdout and test are split by source photograph (``group``): patches of one photograph
never sit on both sides. The keys are those of the ``online`` section.
"""

from __future__ import annotations

from typing import Any

from benchmarks.online import protocol


def run() -> dict[str, Any]:
    from olkit.paths import data_root

    data = data_root() / "bsdata"
    if not (data / "data_train").is_dir():
        raise FileNotFoundError(f"{data}/data_train is missing: import BSData with `olkit data` first")
    return protocol(data, tag="online_real", group_col="group")
