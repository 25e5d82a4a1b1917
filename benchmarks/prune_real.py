"""Benchmark ``prune_real``: mask-guided pruning of the pretrained VGG16 for real BSData pitting.

The case lives in :mod:`benchmarks.prune` (:func:`benchmarks.prune.run_real`); keys as ``prune``.
"""

from __future__ import annotations

from typing import Any


def run() -> dict[str, Any]:
    """The real BSData pitting case of :mod:`benchmarks.prune`."""
    from benchmarks.prune import run_real

    return run_real()
