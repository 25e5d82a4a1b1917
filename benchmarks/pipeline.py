"""Benchmark section ``pipeline``: wall time of the whole notebook series, headless, on the tiny and demo profiles.

``tiny_s`` is the test suite's run (data made inside the run folder, so it includes making the data); ``demo_s`` is
what ``make run`` runs after ``olkit data`` (data under ``data_bsd/``; made first, untimed, when missing). Both run
into fresh temporary run folders, so nothing is resumed. Per-notebook seconds come along.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from olkit import paths
from olkit.pipeline import load_profile, read_state, run_series


def _timed(profile: str, runs: Path) -> tuple[float, dict[str, float]]:
    t0 = time.perf_counter()
    result = run_series(profile, run_id=profile, runs_dir=runs, log=print)
    seconds = time.perf_counter() - t0
    state = read_state(result.run)["notebooks"]
    return seconds, {k: float(v.get("seconds", 0.0)) for k, v in sorted(state.items())}


def _ensure_demo_data() -> None:
    root = paths.data_root()
    if (root / "manifest.csv").is_file() and (root / "crack" / "manifest.csv").is_file():
        return
    from olkit.data.prepare import prepare_data

    p = load_profile("demo").parameters
    print(f"making the demo data under {root} (untimed)")
    prepare_data(root=root, n_train=p["n_train"], n_new=p["n_new"], shift=p["shift"], n_crack=p["n_crack"])


def run() -> dict[str, Any]:
    """Time the tiny and the demo profile end to end; returns ``{"tiny_s", "demo_s", ...}`` (see BENCH.md)."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="olkit-bench-pipeline-") as tmp:
        tiny_s, tiny_nb = _timed("tiny", Path(tmp))
        out.update(
            tiny_s=round(tiny_s, 1), tiny_notebook_s=tiny_nb, tiny_budget_s=load_profile("tiny").budget_s
        )
        _ensure_demo_data()
        demo_s, demo_nb = _timed("demo", Path(tmp))
        out.update(
            demo_s=round(demo_s, 1), demo_notebook_s=demo_nb, demo_budget_s=load_profile("demo").budget_s
        )
    return out


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(run(), indent=2))
