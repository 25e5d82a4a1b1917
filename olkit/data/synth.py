"""Synthetic data: BSD-like spindle patches with pitting, and crack/pore/dirt surfaces for the pruning work.

The original online-learning paper trained on 23,717 150×150 patches of ball-screw-drive (BSD) spindles
(``data_train``, 53 % pitting) and tested the expert loop on 360 patches with new soiling and wear patterns
(``data_new``). That data cannot be downloaded, so :func:`generate_bsd` renders a stand-in with the same layout:

* :func:`render_bsd_patch` draws one ground, metallic spindle surface: thread flanks as broad bright/dark bands
  at a slight tilt, fine grinding streaks along them, a lighting gradient and hot spot, specular bands, optical
  blur and sensor noise, coloured from grey steel to the tan/brown of the BSData photographs. Pitting is a cluster
  of irregular dark pits with a textured floor, a lit rim and a shadowed edge, of varied size, count and
  contrast; harmless smudges along the grooves appear in both classes so darkness alone is not the answer.
* ``shift`` (0..2) adds the new wear and soiling patterns of ``data_new``: oil film, dust, rust stains,
  discolouration, scratches and blur. They never change the label or the mask (soiling is not pitting). With
  ``shift=0`` ``data_new`` is drawn from exactly the distribution of ``data_train``.

The crack family (:func:`render_crack_image`, :func:`generate_crack`) draws 224×224 concrete- or metal-like
surfaces with thin branching cracks, small round pores and dirt blotches, with class-valued masks as the Finicky
Transfer Learning labeler writes them: 1 Crack, 2 Pore, 3 Dirt, 4 Background. Pores and dirt appear in both
classes, so a classifier has to find the cracks, not just dark things.

Every image has its own seed, spawned from the run's seed with :class:`numpy.random.SeedSequence` and keyed by
(family, set, index), so the bytes on disk do not depend on the number of worker processes.
"""

from __future__ import annotations

import functools
import hashlib
import math
import multiprocessing as mp
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from olkit.data.io import write_manifest
from olkit.errors import DataExistsError
from olkit.types import MANIFEST_COLUMNS, ImageArray, MaskArray, PathLike

__all__ = [
    "CRACK_CLASSES",
    "SHIFT_EFFECTS",
    "generate_bsd",
    "generate_crack",
    "render_bsd_patch",
    "render_crack_image",
]

CRACK_CLASSES: dict[int, str] = {1: "Crack", 2: "Pore", 3: "Dirt", 4: "Background"}
"""Mask values of the crack family, as the FTL labeler writes them (0 is left for unlabelled pixels)."""

SHIFT_EFFECTS: tuple[str, ...] = ("oil", "dust", "rust", "discolour", "scratches", "blur")
"""The new wear and soiling patterns that appear in ``data_new`` only."""

_FAMILY_CODE = {"bsd": 1, "crack": 2}
_SET_CODE = {"data_train": 0, "data_new": 1}
# Huffman-only deflate: as small as level 1 on noisy photographs and about 30 % faster to write.
_PNG_PARAMS = [
    cv2.IMWRITE_PNG_COMPRESSION,
    1,
    cv2.IMWRITE_PNG_STRATEGY,
    cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
]

Rng = np.random.Generator


# ----------------------------------------------------------------------------------------------------------------
# small drawing helpers
# ----------------------------------------------------------------------------------------------------------------
def _smooth_noise(rng: Rng, shape: tuple[int, int], knots: tuple[int, int]) -> np.ndarray:
    """Uniform noise on a ``knots`` grid, upsampled bicubically to ``shape``: values roughly in [0, 1]."""
    kh, kw = max(2, knots[0]), max(2, knots[1])
    small = rng.random((kh, kw), dtype=np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0.05:
        return img
    return cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)


def _rotation(angle_deg: float, canvas: int, out: int) -> np.ndarray:
    """Affine matrix rotating a ``canvas`` square about its centre and cropping the central ``out`` square."""
    m = np.asarray(cv2.getRotationMatrix2D((canvas / 2.0, canvas / 2.0), angle_deg, 1.0), dtype=np.float64)
    m[:, 2] += (out - canvas) / 2.0
    return m


def _colour_lut(rng: Rng) -> np.ndarray:
    """A (256, 3) float32 RGB table from intensity to colour: shadows brown-black, highlights cream or steel."""
    tan = rng.random() < 0.75  # most BSData photographs are warm; some are grey steel
    warmth = rng.uniform(0.55, 1.0) if tan else rng.uniform(0.0, 0.25)
    grey = np.array([[18, 18, 20], [88, 88, 90], [160, 160, 160], [236, 236, 234]], np.float32)
    warm = np.array([[22, 17, 10], [92, 78, 52], [170, 152, 118], [240, 230, 205]], np.float32)
    anchors = grey + warmth * (warm - grey)
    anchors *= rng.uniform(0.9, 1.08)
    anchors += rng.normal(0.0, 2.0, size=3).astype(np.float32)  # a little per-image white balance
    x = np.linspace(0.0, 1.0, 256, dtype=np.float32)
    xs = np.array([0.0, 0.3, 0.62, 1.0], np.float32)
    return np.stack([np.interp(x, xs, anchors[:, c]) for c in range(3)], axis=1).astype(np.float32)


def _apply_lut(intensity: np.ndarray, lut: np.ndarray) -> np.ndarray:
    idx = cv2.convertScaleAbs(np.maximum(intensity, 0.0), alpha=255.0)  # rounding, saturating float -> uint8
    return cv2.LUT(cv2.merge([idx, idx, idx]), lut.reshape(1, 256, 3))


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates divided by ``size`` and centred: (yy, xx) in [-0.5, 0.5)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def _paste(dst: np.ndarray, src: np.ndarray, y0: int, x0: int, op: Callable[..., Any] = np.maximum) -> None:
    """Combine ``src`` into ``dst`` at (y0, x0) with ``op``, clipping at the borders."""
    h, w = src.shape[:2]
    ya, xa = max(0, y0), max(0, x0)
    yb, xb = min(dst.shape[0], y0 + h), min(dst.shape[1], x0 + w)
    if ya >= yb or xa >= xb:
        return
    sub = src[ya - y0 : yb - y0, xa - x0 : xb - x0]
    dst[ya:yb, xa:xb] = op(dst[ya:yb, xa:xb], sub)


def _blob(rng: Rng, rx: float, ry: float, angle: float, roughness: float) -> tuple[np.ndarray, np.ndarray]:
    """An irregular blob in a local box: (depth field in [0, 1] float32, boolean footprint)."""
    half = math.ceil(max(rx, ry) * 1.5) + 3
    size = 2 * half + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    c, s = math.cos(angle), math.sin(angle)
    u = (xx * c + yy * s) / max(rx, 0.8)
    v = (-xx * s + yy * c) / max(ry, 0.8)
    env = 1.0 - np.sqrt(u * u + v * v)
    coarse = _smooth_noise(rng, (size, size), (5, 5)) - 0.5
    fine = _smooth_noise(rng, (size, size), (max(3, size // 3), max(3, size // 3))) - 0.5
    field = env + roughness * (0.9 * coarse + 0.45 * fine)
    foot = field > 0.0
    if not foot.any():
        foot[half, half] = True
    depth = np.clip(field * 2.5, 0.0, 1.0) * foot
    return depth.astype(np.float32), foot


# ----------------------------------------------------------------------------------------------------------------
# BSD family
# ----------------------------------------------------------------------------------------------------------------
def _spindle_intensity(rng: Rng, size: int) -> tuple[np.ndarray, float]:
    """Grey-level spindle surface in [0, 1] (thread bands, grinding streaks, lighting) and the groove angle."""
    scale = size / 150.0
    canvas = int(size * 1.32) + 4
    v = np.arange(canvas, dtype=np.float32)

    period = rng.uniform(70.0, 190.0) * scale
    phase = rng.uniform(0.0, 2 * math.pi)
    profile = 0.56 + rng.uniform(0.06, 0.2) * np.sin(2 * math.pi * v / period + phase)
    root_w = rng.uniform(3.0, 13.0) * scale  # the thread root: a dark band; beside it the lit flank
    root_d = rng.uniform(0.12, 0.42)
    hi_w = rng.uniform(4.0, 16.0) * scale
    hi_h = rng.uniform(0.04, 0.3)
    hi_off = rng.uniform(0.2, 0.45) * period
    first = rng.uniform(-period, 0.0)
    for k in range(int(canvas / period) + 3):
        centre = first + k * period
        profile -= root_d * np.exp(-0.5 * ((v - centre) / root_w) ** 2)
        profile += hi_h * np.exp(-0.5 * ((v - centre - hi_off) / hi_w) ** 2)
    knots = np.linspace(0, canvas, 9, dtype=np.float32)
    profile += np.interp(v, knots, rng.normal(0.0, 0.05, knots.size)).astype(np.float32)
    fine = _blur(rng.standard_normal((1, canvas)).astype(np.float32), rng.uniform(0.6, 1.6))[0]
    profile += rng.uniform(0.015, 0.05) * fine / (fine.std() + 1e-6)

    streak_len = rng.uniform(12.0, 45.0) * scale
    streaks = _smooth_noise(rng, (canvas, canvas), (canvas // 3, max(3, int(canvas / streak_len))))
    intensity = profile[:, None] + rng.uniform(0.02, 0.07) * (streaks - 0.5)

    angle = float(np.clip(rng.normal(0.0, 6.0), -16.0, 16.0))
    m = _rotation(angle, canvas, size)
    intensity = cv2.warpAffine(
        intensity, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )

    yy, xx = _grid(size)
    gain = 1.0 + rng.normal(0.0, 0.12) * xx + rng.normal(0.0, 0.12) * yy
    intensity = np.asarray(intensity, dtype=np.float32) * gain
    if rng.random() < 0.55:  # a diffuse hot spot of the ring light
        cy, cx = rng.uniform(-0.3, 0.3, 2)
        sig = rng.uniform(0.2, 0.55)
        intensity += rng.uniform(0.05, 0.22) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sig * sig))
    return intensity, angle


def _smudges(rng: Rng, intensity: np.ndarray, angle: float) -> None:
    """Harmless elongated dark marks along the grooves (in both classes), smooth and without a rim."""
    size = intensity.shape[0]
    layer = np.zeros_like(intensity)
    for _ in range(int(rng.integers(1, 4))):
        centre = (float(rng.uniform(0, size)), float(rng.uniform(0, size)))
        axes = (float(rng.uniform(8, 40) * size / 150), float(rng.uniform(1.0, 4.0) * size / 150))
        cv2.ellipse(layer, (centre, (2 * axes[0], 2 * axes[1]), -angle), float(rng.uniform(0.4, 1.0)), -1)
    intensity -= rng.uniform(0.04, 0.16) * _blur(layer, rng.uniform(1.5, 3.0) * size / 150)


def _pits(rng: Rng, intensity: np.ndarray, angle: float) -> np.ndarray:
    """Draw a cluster of pits into ``intensity`` (in place) and return their 0/1 footprint."""
    size = intensity.shape[0]
    scale = size / 150.0
    depth = np.zeros_like(intensity)
    mask = np.zeros(intensity.shape, np.uint8)
    n_main = int(rng.choice([1, 1, 1, 2, 2, 3, 4]))
    rad = math.radians(-angle)
    margin = 0.12 * size
    for _ in range(n_main):
        r = float(np.clip(math.exp(rng.normal(math.log(12.0), 0.75)), 3.0, 60.0)) * scale
        aspect = rng.uniform(1.0, 2.4)
        rx, ry = r, r / aspect
        theta = rad + rng.normal(0.0, 0.35)
        cy, cx = (int(c) for c in rng.uniform(margin, size - margin, 2))
        d, foot = _blob(rng, rx, ry, theta, roughness=rng.uniform(0.5, 1.1))
        d *= rng.uniform(0.6, 1.0)
        half = d.shape[0] // 2
        _paste(depth, d, cy - half, cx - half)
        _paste(mask, foot.astype(np.uint8), cy - half, cx - half)
        for _ in range(int(rng.integers(0, 5))):  # satellites: small pits beside the main one
            rs = rng.uniform(1.2, 3.5) * scale
            oy, ox = rng.normal(0.0, 1.3 * r, 2)
            ds, fs = _blob(rng, rs * rng.uniform(1.0, 1.8), rs, theta, roughness=0.6)
            hs = ds.shape[0] // 2
            _paste(depth, ds * rng.uniform(0.5, 1.0), int(cy + oy) - hs, int(cx + ox) - hs)
            _paste(mask, fs.astype(np.uint8), int(cy + oy) - hs, int(cx + ox) - hs)
    # the mask is what is visibly pitted: the footprint where the pit is at least a little deep
    visible = (mask > 0) & (depth > 0.12)
    if not visible.any():
        visible[np.unravel_index(int(np.argmax(depth)), depth.shape)] = True
    mask = visible.astype(np.uint8)
    contrast = rng.uniform(0.4, 0.9)
    floor = _smooth_noise(rng, (size, size), (size // 4, size // 4))  # flaky, uneven pit floor
    soft = _blur(depth, 0.7 * scale)
    shading = _blur(depth, 1.6 * scale)
    gy, gx = np.gradient(shading)
    light = rng.uniform(0.0, 2 * math.pi)
    relief = gx * math.cos(light) + gy * math.sin(light)
    ring = np.clip(_blur(mask.astype(np.float32), 2.2 * scale) - mask, 0.0, 1.0)
    intensity *= 1.0 - np.clip(contrast * soft * (0.3 + 0.95 * floor), 0.0, 0.95)
    intensity += rng.uniform(0.6, 2.0) * relief + rng.uniform(0.0, 0.35) * ring
    return mask


def _shift_effects(
    rng: Rng, rgb: np.ndarray, shift: float, angle: float
) -> tuple[np.ndarray, float, list[str]]:
    """Apply a random subset of the new wear/soiling patterns; returns (rgb, extra blur sigma, effect names)."""
    size = rgb.shape[0]
    scale = size / 150.0
    p = min(0.8, 0.3 * shift)
    chosen = [e for e in SHIFT_EFFECTS if rng.random() < p]
    if not chosen:
        chosen = [SHIFT_EFFECTS[int(rng.integers(len(SHIFT_EFFECTS)))]]
    strength = min(shift, 2.0)
    extra_blur = 0.0
    for effect in chosen:
        a = strength * rng.uniform(0.5, 1.0)
        if effect == "oil":
            field = _smooth_noise(rng, (size, size), (5, 3))  # films spread along the grooves
            m = _blur(np.clip((field - rng.uniform(0.4, 0.65)) * 6.0, 0.0, 1.0), 3.0 * scale)
            amber = np.array([70, 55, 25], np.float32) * rng.uniform(0.6, 1.2)
            alpha = np.clip(0.4 * a, 0.0, 0.8) * m
            rgb = rgb * (1.0 - alpha[..., None]) + amber * alpha[..., None]
            gloss = _smooth_noise(rng, (size, size), (6, 2))  # a glossy sheen inside the film
            rgb += (55.0 * a * m * np.clip(gloss - 0.6, 0.0, 1.0))[..., None]
        elif effect == "dust":
            layer = np.zeros((size, size), np.float32)
            shade = np.zeros((size, size), np.float32)
            for _ in range(int(rng.poisson(35 * a))):
                c = (int(rng.integers(size)), int(rng.integers(size)))
                radius = int(max(1, round(rng.uniform(0.5, 2.2) * scale)))
                cv2.circle(layer, c, radius, 1.0, -1, cv2.LINE_AA)
                cv2.circle(shade, c, radius, float(rng.choice([-1.0, 1.0])), -1, cv2.LINE_AA)
            for _ in range(int(rng.integers(0, 3))):  # fibres
                pts = np.cumsum(rng.normal(0, 5 * scale, (6, 2)), axis=0) + rng.uniform(0, size, 2)
                cv2.polylines(shade, [pts.astype(np.int32)], False, -0.8, 1, cv2.LINE_AA)
                cv2.polylines(layer, [pts.astype(np.int32)], False, 1.0, 1, cv2.LINE_AA)
            rgb += (np.clip(0.45 * a, 0.0, 0.9) * 110.0 * shade * np.abs(layer))[..., None]
        elif effect == "rust":
            field = _smooth_noise(rng, (size, size), (5, 5))
            grain = _smooth_noise(rng, (size, size), (size // 4, size // 4))
            m = np.clip((field - rng.uniform(0.5, 0.72)) * 6.0, 0.0, 1.0) * (0.4 + 0.6 * grain)
            rust = np.array([128, 58, 22], np.float32) * rng.uniform(0.7, 1.15)
            alpha = np.clip(0.45 * a, 0.0, 0.85) * m
            rgb = rgb * (1.0 - alpha[..., None]) + rust * alpha[..., None]
        elif effect == "discolour":
            tint = np.array(
                [
                    [0.82, 0.92, 1.18],  # bluish heat tint
                    [1.12, 1.02, 0.78],  # yellowed
                    [1.05, 0.88, 1.05],  # purple temper colour
                    [0.92, 1.05, 0.95],  # greenish tarnish
                ],
                np.float32,
            )[int(rng.integers(4))]
            rgb = rgb * (1.0 + np.clip(0.6 * a, 0.0, 1.0) * (tint - 1.0))
            mean = rgb.mean()
            rgb = mean + (rgb - mean) * (1.0 - np.clip(0.22 * a, 0.0, 0.45)) + rng.normal(0, 12 * a)
        elif effect == "scratches":
            layer = np.zeros((size, size), np.float32)
            for _ in range(int(rng.integers(1, 3 + int(3 * a)))):
                th = math.radians(-angle + rng.uniform(20.0, 160.0))
                length = rng.uniform(0.3, 1.2) * size
                mid = rng.uniform(0, size, 2)
                d = np.array([math.cos(th), math.sin(th)]) * length / 2
                p0, p1 = (mid - d).astype(np.int32), (mid + d).astype(np.int32)
                cv2.line(
                    layer,
                    tuple(map(int, p0)),
                    tuple(map(int, p1)),
                    float(rng.choice([-1.0, 1.0])),
                    1,
                    cv2.LINE_AA,
                )
            rgb += (np.clip(0.5 * a, 0.0, 1.0) * 80.0 * layer)[..., None]
        elif effect == "blur":
            extra_blur = float(rng.uniform(0.6, 1.4) * a * scale)
    return rgb, extra_blur, chosen


def render_bsd_patch(
    rng: Rng, *, pitting: bool, shift: float = 0.0, size: int = 150
) -> tuple[ImageArray, MaskArray]:
    """Render one BSD-like spindle patch.

    Parameters
    ----------
    rng
        The generator that decides everything about this patch (one per image for reproducibility).
    pitting
        Draw a cluster of pits (label 1); otherwise the surface is pitting-free (label 0).
    shift
        Strength of the new wear and soiling patterns of ``data_new`` in [0, 2] (:data:`SHIFT_EFFECTS`);
        0 draws from the ``data_train`` distribution.
    size
        Side length in pixels (the original's patches are 150).

    Returns
    -------
    image, mask
        ``(size, size, 3)`` RGB ``uint8`` and ``(size, size)`` ``uint8`` mask, 1 on pitting, 0 elsewhere; the
        mask is non-empty exactly when ``pitting`` is true.
    """
    if not 0.0 <= shift <= 2.0:
        raise ValueError(f"shift must lie in [0, 2], got {shift}")
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    intensity, angle = _spindle_intensity(rng, size)
    if rng.random() < 0.45:
        _smudges(rng, intensity, angle)
    mask = _pits(rng, intensity, angle) if pitting else np.zeros((size, size), np.uint8)
    rgb = _apply_lut(intensity, _colour_lut(rng))
    sigma = rng.uniform(0.6, 1.3) * size / 150
    if shift > 0:
        rgb, extra, _ = _shift_effects(rng, rgb, shift, angle)
        sigma = math.hypot(sigma, extra)
    rgb = _blur(rgb, sigma)
    return _sensor(rng, rgb, rng.uniform(1.0, 3.2)), mask


def _sensor(rng: Rng, rgb: np.ndarray, sd: float) -> ImageArray:
    """Add sensor noise (luminance at full, colour at half resolution, as cameras and JPEG have it) -> uint8."""
    size_y, size_x = rgb.shape[:2]
    lum = rng.standard_normal((size_y, size_x), dtype=np.float32) * sd
    half = rng.standard_normal(((size_y + 1) // 2, (size_x + 1) // 2, 3), dtype=np.float32) * (0.5 * sd)
    chroma = cv2.resize(half, (size_x, size_y), interpolation=cv2.INTER_NEAREST)
    noisy = rgb + chroma + lum[..., None]
    # convertScaleAbs rounds and saturates to uint8 (the abs is a no-op after the clip at 0)
    return np.asarray(cv2.convertScaleAbs(np.maximum(noisy, 0.0, out=noisy)), dtype=np.uint8)


# ----------------------------------------------------------------------------------------------------------------
# crack family
# ----------------------------------------------------------------------------------------------------------------
def _crack_surface(rng: Rng, size: int) -> np.ndarray:
    """Grey level in [0, 1]: concrete (mottled, aggregate grains) or brushed metal."""
    if rng.random() < 0.65:
        base = rng.uniform(0.45, 0.7)
        img = np.full((size, size), base, np.float32)
        for knots, amp in ((4, 0.08), (16, 0.06), (size // 3, 0.05)):
            img += amp * (_smooth_noise(rng, (size, size), (knots, knots)) - 0.5) * 2
        grains = np.zeros((size, size), np.float32)
        for _ in range(int(rng.integers(40, 160))):
            c = (int(rng.integers(size)), int(rng.integers(size)))
            axes = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            cv2.ellipse(grains, c, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(-1, 1)), -1)
        img += 0.06 * _blur(grains, 0.7)
    else:
        img, _ = _spindle_intensity(rng, size)
        img = 0.35 + 0.5 * img
    return img


def _crack_paths(rng: Rng, size: int) -> list[tuple[np.ndarray, int]]:
    """Polylines (points, width) of one crack with branches, as a random walk with persistence."""
    out: list[tuple[np.ndarray, int]] = []
    start = rng.uniform(0.1 * size, 0.9 * size, 2)
    heading = rng.uniform(0, 2 * math.pi)
    width = int(rng.choice([1, 1, 2, 2, 3]))
    stack = [(start, heading, width, int(rng.integers(25, 70)))]
    while stack and len(out) < 8:
        p, h, w, steps = stack.pop()
        main = h
        pts = [p.copy()]
        for _ in range(steps):
            h += rng.normal(0.0, 0.22) + 0.25 * (main - h)  # jagged, but keeps its course
            p = p + rng.uniform(2.5, 5.0) * np.array([math.cos(h), math.sin(h)])
            pts.append(p.copy())
            if w >= 1 and rng.random() < 0.035 and len(stack) + len(out) < 7:
                stack.append(
                    (p.copy(), h + rng.choice([-1, 1]) * rng.uniform(0.4, 1.1), max(1, w - 1), steps // 2)
                )
            if not (-10 < p[0] < size + 10 and -10 < p[1] < size + 10):
                break
        out.append((np.round(np.array(pts)).astype(np.int32), w))
    return out


def render_crack_image(
    rng: Rng,
    *,
    size: int = 224,
    crack: bool = True,
    n_pores: int | None = None,
    n_dirt: int | None = None,
    shift: float = 0.0,
    background: int = 4,
) -> tuple[ImageArray, MaskArray]:
    """Render one concrete/metal surface with cracks, pores and dirt, and its class-valued mask.

    Parameters
    ----------
    rng
        The generator that decides everything about this image.
    size
        Side length in pixels (224, the input of the pruning backbones).
    crack
        Draw one to three branching cracks (the image's class is then 1).
    n_pores, n_dirt
        How many pores / dirt blotches; random (in both classes alike) when None.
    shift
        New lighting, tint and focus blur in [0, 2] (the crack family's ``data_new``); labels are unaffected.
    background
        Mask value of pixels in no annotated class: 4 ("Background" as the FTL labeler writes it) for fully
        annotated masks, or 0 for "unlabelled".

    Returns
    -------
    image, mask
        ``(size, size, 3)`` RGB ``uint8`` and ``(size, size)`` ``uint8`` with 1 Crack, 2 Pore, 3 Dirt and
        ``background`` elsewhere (:data:`CRACK_CLASSES`); later drawn classes win where they overlap
        (dirt, then pores, then cracks).
    """
    if background not in (0, 4):
        raise ValueError(f"background must be 4 (Background) or 0 (unlabelled), got {background}")
    img = _crack_surface(rng, size)
    mask = np.full((size, size), background, np.uint8)
    scale = size / 224.0

    n_dirt = int(rng.choice([0, 0, 1, 1, 2, 3])) if n_dirt is None else n_dirt
    for _ in range(n_dirt):
        r = rng.uniform(8, 30) * scale
        d, _ = _blob(rng, r * rng.uniform(1, 1.8), r, rng.uniform(0, math.pi), roughness=0.7)
        half = d.shape[0] // 2
        cy, cx = (int(c) for c in rng.uniform(0, size, 2))
        layer = np.zeros_like(img)
        _paste(layer, _blur(d, 2.0), cy - half, cx - half)
        img -= rng.uniform(0.12, 0.3) * layer
        mask[layer > 0.25] = 3  # what is visibly soiled

    n_pores = int(rng.poisson(4.0)) if n_pores is None else n_pores
    pores = np.zeros_like(img)
    rim = np.zeros_like(img)
    for _ in range(n_pores):
        c = (int(rng.integers(size)), int(rng.integers(size)))
        radius = max(1, int(rng.uniform(1.5, 5.5) * scale + 0.5))
        cv2.circle(pores, c, radius, 1.0, -1, cv2.LINE_AA)
        off = (c[0] + 1, c[1] + 1)
        cv2.circle(rim, off, radius + 1, 1.0, 1, cv2.LINE_AA)
        cv2.circle(mask, c, radius, 2, -1)
    img = img * (1.0 - rng.uniform(0.45, 0.75) * _blur(pores, 0.6)) + 0.08 * rim * (1 - pores)

    if crack:
        layer = np.zeros_like(img)
        for _ in range(int(rng.choice([1, 1, 2, 3]))):
            for pts, w in _crack_paths(rng, size):
                w_px = max(1, round(w * scale))
                cv2.polylines(layer, [pts], False, 1.0, w_px, cv2.LINE_AA)
                cv2.polylines(mask, [pts], False, 1, w_px)
        img = img * (1.0 - rng.uniform(0.5, 0.85) * _blur(layer, 0.5))

    tone = rng.uniform(0.0, 0.35)
    grey = np.array([[15, 15, 16], [128, 127, 124], [240, 238, 232]], np.float32)
    warm = np.array([[20, 16, 12], [135, 122, 102], [240, 230, 210]], np.float32)
    anchors = grey + tone * (warm - grey)
    x = np.linspace(0, 1, 256, dtype=np.float32)
    lut = np.stack([np.interp(x, [0.0, 0.5, 1.0], anchors[:, c]) for c in range(3)], axis=1).astype(
        np.float32
    )
    rgb = _apply_lut(img, lut)
    sigma = rng.uniform(0.3, 0.8)
    if shift > 0:
        a = min(shift, 2.0) * rng.uniform(0.5, 1.0)
        yy, xx = _grid(size)
        gain = 1.0 + 0.4 * a * (rng.normal() * xx + rng.normal() * yy)
        tint = 1.0 + 0.15 * a * rng.normal(0.0, 1.0, 3).astype(np.float32)
        rgb = rgb * gain[..., None] * tint
        sigma = math.hypot(sigma, rng.uniform(0.3, 1.0) * a)
    rgb = _blur(rgb, sigma)
    return _sensor(rng, rgb, rng.uniform(1.0, 3.0)), mask


# ----------------------------------------------------------------------------------------------------------------
# writing sets to disk
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    family: str
    set_name: str
    index: int
    label: int
    name: str
    image_out: str  # where the worker writes (staging)
    mask_out: str
    seed: int
    shift: float
    size: int


def _image_seed(seed: int, family: str, set_name: str, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy=seed, spawn_key=(_FAMILY_CODE[family], _SET_CODE[set_name], index))


def _labels(seed: int, family: str, set_name: str, n: int, share: float) -> np.ndarray:
    """Exactly ``round(n * share)`` ones, in a seeded random order."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"the class share must lie in [0, 1], got {share}")
    rng = np.random.default_rng(
        np.random.SeedSequence(entropy=seed, spawn_key=(_FAMILY_CODE[family], _SET_CODE[set_name]))
    )
    labels = np.zeros(n, np.int64)
    labels[: int(n * share + 0.5)] = 1  # rounded half up
    return rng.permutation(labels)


def _render_job(job: _Job) -> tuple[ImageArray, MaskArray]:
    rng = np.random.default_rng(_image_seed(job.seed, job.family, job.set_name, job.index))
    if job.family == "bsd":
        return render_bsd_patch(rng, pitting=bool(job.label), shift=job.shift, size=job.size)
    return render_crack_image(rng, crack=bool(job.label), shift=job.shift, size=job.size)


def _run_chunk(jobs: Sequence[_Job]) -> list[tuple[str, int, str]]:
    """Render and write a chunk of images; returns (set, index, sha256) per image."""
    out = []
    for job in jobs:
        rgb, mask = _render_job(job)
        ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), _PNG_PARAMS)
        ok_m, png_m = cv2.imencode(".png", mask, _PNG_PARAMS)
        if not (ok and ok_m):  # pragma: no cover - cv2 fails only on a broken install
            raise RuntimeError(f"PNG encoding failed for {job.name}")
        data = png.tobytes()
        Path(job.image_out).write_bytes(data)
        Path(job.mask_out).write_bytes(png_m.tobytes())
        out.append((job.set_name, job.index, hashlib.sha256(data).hexdigest()))
    return out


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would only contend


def _chunks(items: Sequence[_Job], size: int) -> Iterator[Sequence[_Job]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _pool_context() -> Any:
    """``spawn``: fresh workers that share no locks or thread pools with the caller (OpenCV, OpenBLAS and
    TensorFlow threads make ``fork`` hang). A script calling the generator needs the usual
    ``if __name__ == "__main__":`` guard; notebooks and ``olkit data`` need nothing."""
    return mp.get_context("spawn")


def _existing(root: Path, sets: Sequence[str]) -> list[Path]:
    found = [root / s for s in sets if (root / s).exists()]
    found += [root / "masks" / s for s in sets if (root / "masks" / s).exists()]
    if (root / "manifest.csv").exists():
        found.append(root / "manifest.csv")
    return found


def _generate(
    root: PathLike,
    *,
    family: str,
    sizes: dict[str, int],
    shares: dict[str, float],
    shifts: dict[str, float],
    image_size: int,
    seed: int,
    workers: int,
    overwrite: bool,
    progress: bool,
    source: str,
    command: str,
) -> pd.DataFrame:
    root = Path(root).resolve()
    sets = list(sizes)  # a set of size 0 is written as empty class folders, so the layout stays complete
    existing = _existing(root, list(sizes))
    if existing and not overwrite:
        listing = ", ".join(str(p) for p in existing)
        raise DataExistsError(
            f"{family} data already exists under {root} ({listing}); it is kept. To replace it, pass "
            f"overwrite=True ({command} --overwrite) or delete those paths first."
        )
    staging = root / f".staging-{uuid.uuid4().hex[:8]}"
    jobs: list[_Job] = []
    final: dict[tuple[str, int], tuple[Path, Path, int, str]] = {}
    for set_name in sets:
        n = sizes[set_name]
        labels = _labels(seed, family, set_name, n, shares[set_name])
        width = max(5, len(str(n - 1)))
        prefix = set_name.removeprefix("data_")
        for cls in ("0", "1"):
            (staging / set_name / cls).mkdir(parents=True, exist_ok=True)
        (staging / "masks" / set_name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            name = f"{prefix}_{i:0{width}d}"
            label = int(labels[i])
            rel_img = Path(set_name) / str(label) / f"{name}.png"
            rel_mask = Path("masks") / set_name / f"{name}.png"
            jobs.append(
                _Job(
                    family=family,
                    set_name=set_name,
                    index=i,
                    label=label,
                    name=name,
                    image_out=str(staging / rel_img),
                    mask_out=str(staging / rel_mask),
                    seed=seed,
                    shift=shifts[set_name],
                    size=image_size,
                )
            )
            final[(set_name, i)] = (root / rel_img, root / rel_mask, label, name)

    from tqdm.auto import tqdm

    digests: dict[tuple[str, int], str] = {}
    chunk = 64
    bar = tqdm(total=len(jobs), desc=f"rendering {family}", unit="img", disable=not progress)
    t0 = time.perf_counter()
    try:
        if workers <= 1:
            for part in _chunks(jobs, chunk):
                for set_name, index, digest in _run_chunk(part):
                    digests[(set_name, index)] = digest
                bar.update(len(part))
        else:
            with _pool_context().Pool(processes=workers, initializer=_init_worker) as pool:
                for result in pool.imap_unordered(_run_chunk, list(_chunks(jobs, chunk))):
                    for set_name, index, digest in result:
                        digests[(set_name, index)] = digest
                    bar.update(len(result))
        bar.close()
        elapsed = time.perf_counter() - t0
        for path in existing:  # only reached with overwrite=True
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        (root / "masks").mkdir(parents=True, exist_ok=True)
        for set_name in sets:
            os.replace(staging / set_name, root / set_name)
            os.replace(staging / "masks" / set_name, root / "masks" / set_name)
    finally:
        bar.close()
        shutil.rmtree(staging, ignore_errors=True)

    rows = []
    for (set_name, i), (img_path, mask_path, label, name) in sorted(
        final.items(), key=lambda kv: (sets.index(kv[0][0]), kv[0][1])
    ):
        rows.append(
            {
                "path": img_path.as_posix(),
                "sha256": digests[(set_name, i)],
                "label": str(label),
                "split": set_name,
                "source": source,
                "width": image_size,
                "height": image_size,
                "mask_path": mask_path.as_posix(),
                "group": name,
            }
        )
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    write_manifest(manifest, root / "manifest.csv", overwrite=True)
    manifest.attrs["images_per_s"] = len(jobs) / elapsed if elapsed > 0 else float("inf")
    manifest.attrs["seconds"] = elapsed
    return manifest


def generate_bsd(
    root: PathLike,
    *,
    n_train: int = 23717,
    n_new: int = 360,
    shift: float = 1.0,
    pitting_share: float = 0.53,
    seed: int = 0,
    workers: int = 2,
    overwrite: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Write the synthetic BSD family in the original's layout and return its manifest.

    Writes ``root/data_train/<0|1>/train_NNNNN.png``, ``root/data_new/<0|1>/new_NNNNN.png``, the 0/1 masks at
    ``root/masks/<set>/<name>.png`` and ``root/manifest.csv`` (:data:`olkit.types.MANIFEST_COLUMNS`,
    ``source="synthetic"``, ``group`` the image name). Images are rendered into a staging folder and moved into
    place only when all are written, so an interrupted run leaves nothing half-made.

    Parameters
    ----------
    root
        The data root (``data_bsd``).
    n_train, n_new
        Sizes of ``data_train`` and ``data_new`` (the original's 23,717 and 360); 0 writes a set's empty class folders.
    shift
        Strength of the new wear and soiling patterns in ``data_new``, 0..2 (0: same distribution as data_train).
    pitting_share
        Share of pitting patches in both sets (exact up to rounding).
    seed
        Seed of the whole family; the bytes written depend on it only, never on ``workers``.
    workers
        Processes rendering in parallel (1 renders in this process).
    overwrite
        Replace existing sets; without it an existing set raises :class:`olkit.errors.DataExistsError`.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    pandas.DataFrame
        The manifest; ``attrs["images_per_s"]`` holds the rendering+writing rate.
    """
    if not 0.0 <= shift <= 2.0:
        raise ValueError(f"shift must lie in [0, 2], got {shift}")
    return _generate(
        root,
        family="bsd",
        sizes={"data_train": n_train, "data_new": n_new},
        shares={"data_train": pitting_share, "data_new": pitting_share},
        shifts={"data_train": 0.0, "data_new": shift},
        image_size=150,
        seed=seed,
        workers=workers,
        overwrite=overwrite,
        progress=progress,
        source="synthetic",
        command="olkit data",
    )


def generate_crack(
    root: PathLike,
    *,
    n: int = 1200,
    n_new: int = 200,
    crack_share: float = 0.5,
    shift: float = 1.0,
    seed: int = 0,
    size: int = 224,
    workers: int = 2,
    overwrite: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Write the crack family (``data_bsd/crack``) in the same layout as the BSD family.

    Class folders: ``1`` when the image holds a crack, ``0`` otherwise; pores and dirt appear in both. Masks are
    class-valued (:data:`CRACK_CLASSES`: 1 Crack, 2 Pore, 3 Dirt, 4 Background). ``data_new`` shows the same
    objects under new lighting, tint and focus blur (strength ``shift``); ``n_new=0`` leaves it empty.

    Parameters
    ----------
    root
        The crack family's root (``data_bsd/crack``).
    n, n_new
        Sizes of ``data_train`` and ``data_new``.
    crack_share
        Share of images with cracks.
    shift
        Strength of the ``data_new`` conditions, 0..2.
    seed, size, workers, overwrite, progress
        As for :func:`generate_bsd`; ``size`` is the side length (224).

    Returns
    -------
    pandas.DataFrame
        The manifest (``source="crack"``).
    """
    if not 0.0 <= shift <= 2.0:
        raise ValueError(f"shift must lie in [0, 2], got {shift}")
    return _generate(
        root,
        family="crack",
        sizes={"data_train": n, "data_new": n_new},
        shares={"data_train": crack_share, "data_new": crack_share},
        shifts={"data_train": 0.0, "data_new": shift},
        image_size=size,
        seed=seed,
        workers=workers,
        overwrite=overwrite,
        progress=progress,
        source="crack",
        command="olkit data",
    )
