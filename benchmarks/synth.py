"""Benchmark: synthetic BSD generator throughput, rendering and PNG writing included (target: 200 images/s on 2 cores).

``images_per_s`` is wall-clock with two worker processes (the default of ``olkit data``); on a machine shared with
other jobs it understates the generator, so ``images_per_cpu_s`` (images per second of CPU time of one worker,
single process) is reported beside it: two idle cores give about twice that.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import numpy as np

from olkit.data.synth import _PNG_PARAMS, generate_bsd, render_bsd_patch


def run(n: int = 2000, workers: int = 2) -> dict[str, Any]:
    """Generate ``n`` data_train patches (and 0 data_new) into a temporary folder; return the rates."""
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        manifest = generate_bsd(tmp, n_train=n, n_new=0, workers=workers, progress=False)
        wall = time.perf_counter() - t0
    cv2.setNumThreads(1)
    m = 300
    c0 = time.process_time()
    for i in range(m):
        img, mask = render_bsd_patch(np.random.default_rng(i), pitting=i % 2 == 1)
        cv2.imencode(".png", img, _PNG_PARAMS)
        cv2.imencode(".png", mask, _PNG_PARAMS)
    cpu = time.process_time() - c0
    return {
        "images": len(manifest),
        "workers": workers,
        "images_per_s": round(len(manifest) / wall, 1),
        "images_per_s_in_workers": round(float(manifest.attrs["images_per_s"]), 1),
        "images_per_cpu_s": round(m / cpu, 1),
    }
