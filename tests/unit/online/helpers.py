"""Tiny seeded BSD-like patches for the online-learning tests (olkit.data.synth's renderer, written to tmp_path)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from olkit.data.synth import render_bsd_patch


def patches(
    n: int, *, size: int = 48, shift: float = 0.0, seed: int = 0
) -> tuple[list[np.ndarray], list[str]]:
    """``n`` RGB patches alternating no pitting ("0") and pitting ("1")."""
    images, labels = [], []
    for i in range(n):
        img, _ = render_bsd_patch(
            np.random.default_rng([seed, i]), pitting=bool(i % 2), shift=shift, size=size
        )
        images.append(img)
        labels.append(str(i % 2))
    return images, labels


def write_patches(folder: Path, images: list[np.ndarray], labels: list[str]) -> list[Path]:
    """PNG files ``folder/<label>/img_NNNN.png``."""
    paths = []
    for i, (img, lab) in enumerate(zip(images, labels)):
        path = folder / lab / f"img_{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths
