"""Embedding throughput of the compact conv base: images/s, GFLOP/image, GFLOP/s, the best batch size.

Measured on in-memory 150x150 RGB images (``uint8``, resized already) through :func:`olkit.online.embed.embed_images`,
so the figure is the model's forward pass with olkit's input pipeline; a second figure includes PNG decoding.
Variants: batch sizes, XLA on/off; the best is reported at the top level, every variant under ``variants``. The
machine's fp32 matmul peak is measured again right after, so ``share_of_peak`` compares figures taken under the same
load (on a shared machine the peak itself moves). The peak is the better of NumPy's and TensorFlow's matmul: NumPy's
OpenBLAS runs AVX2 kernels where TensorFlow's oneDNN runs AVX-512, up to 2x apart on one CPU.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

BATCHES = (32, 64, 128)
N_IMAGES = 512


def _best_of(fn: Any, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run() -> dict[str, Any]:
    import cv2

    from olkit.models.conv_base import build_backbone
    from olkit.online.embed import embed_images

    bb = build_backbone("compact", seed=0)
    rng = np.random.default_rng(0)
    images = list(rng.integers(0, 256, (N_IMAGES, 150, 150, 3), dtype=np.uint8))
    gflop = bb.gflop_per_image
    variants = []
    for jit in (False, True):
        for batch in BATCHES:
            try:
                embed_images(
                    images[: batch * 2], bb, batch_size=batch, jit_compile=jit, progress=False
                )  # trace
                secs = _best_of(
                    lambda b=batch, j=jit: embed_images(
                        images, bb, batch_size=b, jit_compile=j, progress=False
                    )
                )
            except Exception as exc:  # XLA may be unavailable on some CPU builds
                variants.append({"batch": batch, "jit_compile": jit, "error": f"{type(exc).__name__}: {exc}"})
                continue
            ips = N_IMAGES / secs
            variants.append(
                {
                    "batch": batch,
                    "jit_compile": jit,
                    "images_per_s": round(ips, 1),
                    "gflop_per_s": round(ips * gflop, 2),
                }
            )
    ok = [v for v in variants if "images_per_s" in v]
    best = max(ok, key=lambda v: v["images_per_s"])

    with tempfile.TemporaryDirectory(prefix="olkit-bench-embed-") as tmp:
        paths = []
        for i, img in enumerate(images[:256]):
            p = Path(tmp) / f"{i:04d}.png"
            cv2.imwrite(str(p), img[:, :, ::-1])
            paths.append(p)
        embed_images(
            paths[:64], bb, batch_size=best["batch"], jit_compile=best["jit_compile"], progress=False
        )
        secs = _best_of(
            lambda: embed_images(
                paths, bb, batch_size=best["batch"], jit_compile=best["jit_compile"], progress=False
            ),
            repeats=2,
        )
    from benchmarks.run import fp32_peak_gflops

    peak = fp32_peak_gflops()  # measured now, beside the figures: a shared machine's peak moves
    return {
        "images_per_s": best["images_per_s"],
        "gflop_per_image": round(gflop, 4),
        "gflop_per_s": best["gflop_per_s"],
        "batch": best["batch"],
        "jit_compile": best["jit_compile"],
        "images_per_s_from_png": round(len(paths) / secs, 1),
        "fp32_peak_gflop_s_same_run": round(peak, 1),
        "share_of_peak": round(best["gflop_per_s"] / peak, 3),
        "model": "compact 150x150 RGB, 128-d global-average-pooled embedding",
        "params": int(bb.model.count_params()),
        "threads": {"cpu_count": os.cpu_count()},
        "variants": variants,
    }
