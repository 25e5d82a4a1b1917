"""Tiny models and mask sets the pruning tests share (seeded, built in milliseconds)."""

from __future__ import annotations

import keras
import numpy as np

from olkit.prune.graph import conv_units
from olkit.prune.score import MaskSet


def tiny_model(*, seed: int = 0, size: int = 16, head: bool = True) -> keras.Model:
    """Conv-BN-ReLU-pool x2 (+ flatten-dense head) with random BN statistics, so BN matters."""
    keras.utils.set_random_seed(seed)
    layers = [
        keras.Input((size, size, 3)),
        keras.layers.Rescaling(1 / 255.0, name="rescale"),
        keras.layers.Conv2D(8, 3, padding="same", name="c1"),
        keras.layers.BatchNormalization(name="bn1"),
        keras.layers.ReLU(name="r1"),
        keras.layers.MaxPooling2D(2, name="p1"),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c2"),
        keras.layers.BatchNormalization(name="bn2"),
        keras.layers.MaxPooling2D(2, name="p2"),
        keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="c3"),
    ]
    if head:
        layers += [keras.layers.Flatten(name="flat"), keras.layers.Dense(3, name="dense")]
    model = keras.Sequential(layers, name="tiny")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 2, g.shape).astype("float32"),
                    rng.normal(0, 0.5, b.shape).astype("float32"),
                    rng.normal(0, 0.2, m.shape).astype("float32"),
                    rng.uniform(0.5, 2, v.shape).astype("float32"),
                ]
            )
    return model


def random_keep(model: keras.Model, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        u.name: np.sort(rng.choice(u.filters, size=max(1, u.filters // 2), replace=False))
        for u in conv_units(model)
    }


def crack_case(n: int = 6, size: int = 16, seed: int = 0) -> MaskSet:
    """Bright surfaces with a dark vertical line; mask 1 on the line, 4 elsewhere."""
    rng = np.random.default_rng(seed)
    images = np.full((n, size, size, 3), 200, np.uint8)
    masks = np.full((n, size, size), 4, np.uint8)
    for i in range(n):
        c = int(rng.integers(3, size - 3))
        images[i, :, c : c + 2] = 30
        masks[i, :, c : c + 2] = 1
    images = np.clip(images.astype(int) + rng.integers(-5, 6, images.shape), 0, 255).astype(np.uint8)
    return MaskSet(images, masks, tuple(f"{i}.png" for i in range(n)))


def handmade_model() -> keras.Model:
    """One 1x1 conv on raw pixels: filter 2 fires on dark pixels, the others on bright or everything."""
    model = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 1, activation="relu", name="c")]
    )
    kernel = np.zeros((1, 1, 3, 4), np.float32)
    bias = np.zeros(4, np.float32)
    kernel[..., 0] = 1 / 3  # bright pixels
    kernel[..., 1], bias[1] = 0.0, 50.0  # everything
    kernel[..., 2], bias[2] = -1 / 3, 120.0  # dark pixels -> the crack
    kernel[..., 3], bias[3] = 1 / 3, -150.0  # very bright
    model.get_layer("c").set_weights([kernel, bias])
    return model
