"""Mask-guided (Finicky) filter pruning: scoring, real surgery, candidates, evaluation and controls.

The method of Zarski et al. (2021, doi 10.1111/mice.12755, original code MatZar01/Finicky-Transfer-Learning):
each conv filter is scored by how well its activation maps overlap hand-segmented defect masks, greedily layer by
layer through the conv stack; every layer keeps its top ``k = round((F - 1) * f)`` filters for a leave factor ``f``.

What this module adds to the original
-------------------------------------
* ``method="original"`` reproduces the original's score faithfully: the map is binarised by a plain ``uint8`` cast
  (values below 1 become 0, values above 255 wrap), the mask (``*255`` when stored as small class values, with the
  same ``uint8`` wrap) is resized bilinearly to the map, and the score is the mean over images of
  ``count_nonzero(map & mask) / count_nonzero(map | mask)`` (0 where the union is empty). Its slip: whether a filter
  counts as "on" depends on the absolute scale of its activations, so on a network whose inputs are scaled to
  ``[0, 1]`` most early maps cast to all zeros and the ranking degenerates into ties (broken by filter index).
* ``method="threshold"`` (the default, documented better binarisation): every filter gets its own threshold, the
  ``1 - p`` quantile of its activations over all scoring images, where ``p`` is the fraction of map cells the target
  class covers (network-dissection style, Bau et al. 2017). The masks are reduced to the map with area averaging
  and a cell is positive when any target pixel falls in it. This is invariant to a filter's scale and compares
  every filter at the same coverage as the mask.
* Real surgery (:func:`prune_model`): the dropped channels are removed from the Conv2D, from the BatchNormalization
  and the activation that follow it (BN weights are kept, the original lost them), and from the input of the next
  Conv2D or Dense (also through a Flatten), producing a smaller Keras model saved as ``.keras``. The original only
  zeroed filters (:func:`mask_model` reproduces that for comparison), so it got no speed from the weights.
  :func:`fold_batchnorm` folds Conv -> BN (-> ReLU) into one conv for inference.
* Candidates over leave factors and an optional cut depth (truncate after block ``k``), resumable; evaluation with
  the original's LogisticRegression grid search and an MLP on a held-out part split by source image; timing at
  batch 1 and 32; parameters and FLOPs; L1-norm and random controls at the same sizes; :func:`as_backbone` to hand
  a pruned model to the online-learning session.
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

import cv2
import numpy as np
import numpy.typing as npt
import pandas as pd

from olkit.errors import DataNotFoundError, UnprunableModelError
from olkit.types import PathLike

ScoreMethod: TypeAlias = Literal["original", "threshold"]
"""How activation maps are binarised before the IoU with the mask (see the module docstring)."""

Pooling: TypeAlias = Literal["flatten", "avg", "max"]
"""How the last feature map becomes a vector: flattened as the original, or globally pooled."""

KeepMap: TypeAlias = dict[str, npt.NDArray[np.int64]]
"""Per conv layer name, the sorted indices of the filters that stay."""

FTL_CLASSES: dict[int, str] = {1: "Crack", 2: "Pore", 3: "Dirt", 4: "Background"}
"""The original labeler's class values."""

LR_C_GRID: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5)
"""The original's LogisticRegression grid (``train_models.py``: C from 1e-3 to 1e5, cv = 4)."""

_CHANNELWISE = {
    "BatchNormalization",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Dropout",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
}
_PASSTHROUGH = {
    "MaxPooling2D",
    "AveragePooling2D",
    "ZeroPadding2D",
    "Cropping2D",
    "Rescaling",
    "Resizing",
    "CenterCrop",
    "UpSampling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "ActivityRegularization",
    "Identity",
}
_POOLS = {"MaxPooling2D", "AveragePooling2D"}
_MERGES = {"Add", "Concatenate", "Multiply", "Subtract", "Average", "Maximum", "Minimum", "Dot"}


# --------------------------------------------------------------------------------------------------------------
# topology
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvUnit:
    """One prunable conv layer and the channel-wise layers after it (BN, activation, dropout).

    Attributes
    ----------
    name : str
        The Conv2D layer's name.
    index : int
        Its position in :func:`layer_chain`.
    end : str
        The last layer of the unit: its output is the activation map that is scored.
    filters : int
        Number of filters in the full model.
    """

    name: str
    index: int
    end: str
    filters: int


def _kind(layer: Any) -> str:
    return type(layer).__name__


def _flatten_layers(model: Any) -> list[Any]:
    out: list[Any] = []
    for layer in model.layers:
        if _kind(layer) == "InputLayer":
            continue
        if hasattr(layer, "layers") and _kind(layer) in {"Sequential", "Functional", "Model"}:
            out.extend(_flatten_layers(layer))
        else:
            out.append(layer)
    return out


def layer_chain(model: Any) -> list[Any]:
    """The model's layers as one linear chain (nested Sequential/Functional sub-models are expanded).

    Raises
    ------
    UnprunableModelError
        For merges (residual ``Add``, ``Concatenate``...), layers with several inputs, grouped, depthwise or
        separable convolutions and channels-first data; the message names the layer.
    """
    layers = _flatten_layers(model)
    previous = None
    for layer in layers:
        kind = _kind(layer)
        if kind in _MERGES:
            raise UnprunableModelError(
                f"layer {layer.name!r} ({kind}) merges branches (e.g. a residual add); mask-guided filter pruning "
                "needs a plain chain of layers. Prune a VGG/AlexNet-like model or cut the model before this layer."
            )
        if kind in {"DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "Conv1D", "Conv3D"}:
            raise UnprunableModelError(
                f"layer {layer.name!r} ({kind}) is not a plain Conv2D; its channels cannot be removed one "
                "by one. Cut the model before this layer."
            )
        if kind == "Conv2D" and int(getattr(layer, "groups", 1)) != 1:
            raise UnprunableModelError(
                f"layer {layer.name!r} is a grouped convolution (groups={layer.groups}); removing single "
                "channels would break its groups. Cut the model before this layer."
            )
        if getattr(layer, "data_format", "channels_last") == "channels_first":
            raise UnprunableModelError(
                f"layer {layer.name!r} uses channels_first; rebuild the model channels_last to prune it."
            )
        try:
            inp = layer.input
        except (
            AttributeError,
            ValueError,
        ):  # a Sequential layer built without a graph: a chain by definition
            inp = None
        if isinstance(inp, list | tuple) and len(inp) > 1:
            raise UnprunableModelError(
                f"layer {layer.name!r} ({kind}) takes {len(inp)} inputs; mask-guided pruning needs a chain."
            )
        if previous is not None and inp is not None and hasattr(inp, "_keras_history"):
            producer = inp._keras_history.operation
            if producer is not previous and _kind(producer) != "InputLayer" and producer in layers:
                raise UnprunableModelError(
                    f"layer {layer.name!r} ({kind}) reads from {producer.name!r}, not from the layer before it "
                    f"({previous.name!r}); mask-guided pruning needs a plain chain."
                )
        previous = layer
    return layers


def conv_units(model: Any) -> list[ConvUnit]:
    """The prunable conv units of ``model`` in order (see :class:`ConvUnit`)."""
    layers = layer_chain(model)
    units = []
    for i, layer in enumerate(layers):
        if _kind(layer) != "Conv2D":
            continue
        end = i
        while end + 1 < len(layers) and _kind(layers[end + 1]) in _CHANNELWISE:
            end += 1
        units.append(ConvUnit(layer.name, i, layers[end].name, int(layer.filters)))
    if not units:
        raise UnprunableModelError(f"model {model.name!r} has no Conv2D layer to prune.")
    return units


def block_ends(model: Any) -> list[str]:
    """Names of the layers that end a block (the pooling layers): cut depth ``k`` truncates after the k-th."""
    return [layer.name for layer in layer_chain(model) if _kind(layer) in _POOLS]


# --------------------------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------------------------
def _uint8_cast(x: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """numpy's float-to-uint8 ``astype`` on x86 (truncate toward zero, keep the low byte), made deterministic."""
    return (np.trunc(np.nan_to_num(x)).astype(np.int64) & 0xFF).astype(np.uint8)


def _original_mask(mask: npt.NDArray[Any], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """The original's mask handling: ``*255`` (uint8 wrap) when its maximum is below 127, bilinear resize."""
    seg = mask.astype(np.uint8)
    if seg.max() < 127:
        seg = (seg.astype(np.int64) * 255 & 0xFF).astype(np.uint8)
    return np.asarray(cv2.resize(seg, (size[1], size[0])), dtype=np.uint8)


def iou_original(act: npt.NDArray[Any], seg: npt.NDArray[np.uint8]) -> float:
    """The original's ``IoU_compute``: bitwise AND/OR of the uint8-cast map and the 0..255 mask, nonzero counts."""
    image = _uint8_cast(act)
    union = np.count_nonzero(image | seg)
    if union <= 0:
        return 0.0
    return float(np.count_nonzero(image & seg) / union)


def _area_masks(masks: npt.NDArray[np.bool_], size: tuple[int, int]) -> npt.NDArray[np.bool_]:
    out = np.empty((len(masks), *size), dtype=bool)
    for i, m in enumerate(masks):
        out[i] = cv2.resize(m.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_AREA) > 0
    return out


def layer_scores(
    maps: npt.NDArray[np.floating[Any]],
    masks: npt.NDArray[np.bool_],
    *,
    method: ScoreMethod = "threshold",
) -> npt.NDArray[np.float64]:
    """Mean IoU over images of every filter's binarised map with the mask.

    Parameters
    ----------
    maps : array ``(n, h, w, filters)``
        Activation maps of one conv unit on the scoring images.
    masks : bool array ``(n, H, W)``
        Where the scored class is, at image resolution.
    method : {"threshold", "original"}
        ``"original"``: uint8 cast, bilinear mask resize, the original's bitwise IoU.
        ``"threshold"``: per-filter quantile threshold at the masks' coverage, area-reduced masks.

    Returns
    -------
    array ``(filters,)``
    """
    n, h, w, f = maps.shape
    if len(masks) != n:
        raise ValueError(f"{n} activation maps but {len(masks)} masks")
    scores = np.zeros(f, dtype=np.float64)
    if method == "original":
        for i in range(n):
            seg = _original_mask(masks[i].astype(np.uint8), (h, w))
            for j in range(f):
                scores[j] += iou_original(maps[i, :, :, j], seg)
        return scores / max(n, 1)
    if method != "threshold":
        raise ValueError(f"unknown scoring method {method!r}; use 'threshold' or 'original'")
    small = _area_masks(masks, (h, w))
    coverage = float(small.mean())
    if coverage <= 0:
        return scores
    flat = maps.reshape(-1, f)
    thresholds = np.quantile(flat, 1.0 - coverage, axis=0)
    on = maps > thresholds[None, None, None, :]
    # ties at the threshold (e.g. many exact zeros after a ReLU) are "off"; a dead filter scores 0
    m = small[..., None]
    inter = np.logical_and(on, m).sum(axis=(1, 2)).astype(np.float64)
    union = np.logical_or(on, m).sum(axis=(1, 2)).astype(np.float64)
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return iou.mean(axis=0)


def leave_count(filters: int, leave_factor: float) -> int:
    """The original's ``k = round((F - 1) * f)`` (Python's round), at least 1 so that a layer never vanishes."""
    return max(1, min(filters, round((filters - 1) * leave_factor)))


def top_filters(scores: Sequence[float] | npt.NDArray[Any], leave_factor: float) -> npt.NDArray[np.int64]:
    """The original's ``above_average_filters``: sort by (score, index), take the ``k`` last, return sorted.

    Ties are broken as the original breaks them: the higher index wins.
    """
    values = [float(s) for s in scores]
    order = [i for _, i in sorted(zip(values, range(len(values))))]
    order.reverse()
    return np.array(sorted(order[: leave_count(len(values), leave_factor)]), dtype=np.int64)


@dataclass(frozen=True)
class MaskSet:
    """Images and their class-valued masks for scoring (the original's ``Images/`` + ``Segmented/``).

    Attributes
    ----------
    images : uint8 array ``(n, H, W, 3)``
        RGB images, already at the model's input size.
    masks : uint8 array ``(n, H, W)``
        Class values (1 Crack, 2 Pore, 3 Dirt, 4 Background, 0 nothing) at the same size.
    names : tuple of str
        File names (the pairing key).
    """

    images: npt.NDArray[np.uint8]
    masks: npt.NDArray[np.uint8]
    names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.images)

    def class_masks(self, classes: int | Iterable[int]) -> npt.NDArray[np.bool_]:
        """Boolean masks of the given class value(s)."""
        values = [classes] if isinstance(classes, int) else list(classes)
        return np.isin(self.masks, values)


def load_mask_set(
    images_dir: PathLike, segmented_dir: PathLike, *, size: int | tuple[int, int] | None = None
) -> MaskSet:
    """Pair ``Images/<name>`` with ``Segmented/<name>`` as the original's ``load_data`` does and load them.

    Images are read as RGB; both are resized to ``size`` (masks with nearest neighbour) when given.
    """
    images_dir, segmented_dir = Path(images_dir), Path(segmented_dir)
    if not images_dir.is_dir() or not segmented_dir.is_dir():
        raise DataNotFoundError(
            f"no mask set at {images_dir} / {segmented_dir}; label images with olkit.masks.MaskLabeler or "
            "import masks with olkit.masks.import_mask_folder"
        )
    exts = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
    segs = {p.name: p for p in segmented_dir.iterdir() if p.suffix.lower() in exts}
    segs_by_stem = {p.stem: p for p in segs.values()}
    images, masks, names = [], [], []
    for path in sorted(p for p in images_dir.iterdir() if p.suffix.lower() in exts):
        seg = segs.get(path.name) or segs_by_stem.get(path.stem)
        if seg is None:
            continue
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        msk = cv2.imread(str(seg), cv2.IMREAD_UNCHANGED)
        if img is None or msk is None:
            continue
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        if msk.ndim == 3:
            msk = msk[..., 0]
        if size is not None:
            hw = (size, size) if isinstance(size, int) else size
            img = cv2.resize(img, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
            msk = cv2.resize(msk, (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST)
        images.append(img)
        masks.append(msk.astype(np.uint8))
        names.append(path.name)
    if not images:
        raise DataNotFoundError(f"no image in {images_dir} has a mask of the same name in {segmented_dir}")
    return MaskSet(np.stack(images), np.stack(masks), tuple(names))


@dataclass(frozen=True)
class Selection:
    """The filters a pruning method keeps, per conv layer.

    Attributes
    ----------
    keep : dict
        Layer name -> sorted kept filter indices.
    scores : dict
        Layer name -> score of every filter (empty for controls).
    method : str
        ``"mask-threshold"``, ``"mask-original"``, ``"l1"`` or ``"random"``.
    leave_factor : float
    """

    keep: KeepMap
    scores: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    method: str = "mask-threshold"
    leave_factor: float = 1.0

    def sizes(self) -> dict[str, int]:
        """Kept filters per layer."""
        return {k: len(v) for k, v in self.keep.items()}


def _zeroed_weights(model: Any, keep: Mapping[str, npt.NDArray[np.int64]]) -> dict[str, list[Any]]:
    """Weights of every layer with the dropped filters zeroed (conv kernel + bias, BN beta + moving mean)."""
    out: dict[str, list[Any]] = {}
    layers = layer_chain(model)
    units = {u.name: u for u in conv_units(model)}
    by_name = {layer.name: i for i, layer in enumerate(layers)}
    for name, kept in keep.items():
        unit = units[name]
        drop = np.setdiff1d(np.arange(unit.filters), kept)
        conv = layers[unit.index]
        weights = [w.copy() for w in conv.get_weights()]
        weights[0][..., drop] = 0.0
        if conv.use_bias:
            weights[1][drop] = 0.0
        out[conv.name] = weights
        for layer in layers[unit.index + 1 : by_name[unit.end] + 1]:
            if _kind(layer) == "BatchNormalization":
                bn = [w.copy() for w in layer.get_weights()]
                names = [v.path.split("/")[-1] for v in layer.weights]
                for w, vname in zip(bn, names):
                    if vname in {"beta", "moving_mean"}:
                        w[drop] = 0.0
                out[layer.name] = bn
    return out


def mask_model(model: Any, keep: Mapping[str, npt.NDArray[np.int64]]) -> Any:
    """A copy of ``model`` with the dropped filters zeroed rather than removed: the original's pruning.

    Conv kernels and biases of dropped filters are set to 0 and the following BatchNormalization's beta and moving
    mean too, so the channel is exactly 0 after a ReLU-like activation; the model keeps its size and speed.
    """
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    zeroed = _zeroed_weights(clone, keep)
    for layer in layer_chain(clone):
        if layer.name in zeroed:
            layer.set_weights(zeroed[layer.name])
    return clone


def _as_model_input(images: npt.NDArray[Any], preprocess: Callable[[Any], Any] | None) -> npt.NDArray[Any]:
    x = images.astype(np.float32)
    return np.asarray(preprocess(x)) if preprocess is not None else x


def _progress(iterable: Iterable[Any], *, enabled: bool, **kwargs: Any) -> Iterable[Any]:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


class _UnitProbe:
    """A clone of the model whose weights are re-zeroed per selection, with one extractor per conv unit."""

    def __init__(self, model: Any) -> None:
        import keras

        self.model = model
        self.units = conv_units(model)
        self.clone = keras.models.clone_model(model)
        self.full_weights = model.get_weights()
        self.clone.set_weights(self.full_weights)
        chain = {layer.name: layer for layer in layer_chain(self.clone)}
        inp = self.clone.inputs[0] if getattr(self.clone, "inputs", None) else None
        if inp is None:
            raise UnprunableModelError(
                f"model {model.name!r} has no defined input; build it with keras.Input"
            )
        self.extractors = {u.name: keras.Model(inp, chain[u.end].output) for u in self.units}
        self._originals = {
            layer.name: [w.copy() for w in layer.get_weights()] for layer in layer_chain(self.clone)
        }

    def reset(self) -> None:
        for layer in layer_chain(self.clone):
            if self._originals[layer.name]:
                layer.set_weights(self._originals[layer.name])

    def apply(self, keep: Mapping[str, npt.NDArray[np.int64]]) -> None:
        zeroed = _zeroed_weights(self.clone, keep)
        for layer in layer_chain(self.clone):
            if layer.name in zeroed:
                layer.set_weights(zeroed[layer.name])

    def maps(self, unit: str, x: npt.NDArray[Any], batch_size: int = 16) -> npt.NDArray[np.float32]:
        ext = self.extractors[unit]
        return np.concatenate(
            [np.asarray(ext(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
        )


def score_filters(
    model: Any,
    masks: MaskSet,
    *,
    leave_factor: float,
    method: ScoreMethod = "threshold",
    target_class: int | Sequence[int] = 1,
    background_class: int | Sequence[int] | None = None,
    background: MaskSet | None = None,
    preprocess: Callable[[Any], Any] | None = None,
    progress: bool = False,
    _probe: _UnitProbe | None = None,
) -> Selection:
    """Greedy mask-guided selection through the conv layers, as the original's ``make_fussy_models.py``.

    Layer by layer, the activation maps of the current conv unit are computed with every earlier layer already
    pruned (dropped filters zeroed, which equals removing them), scored against the target-class masks, and the
    top ``k = round((F - 1) * f)`` filters are kept.

    Parameters
    ----------
    model : keras.Model
        A chain of layers (see :func:`layer_chain`) taking raw RGB images (0..255) unless ``preprocess`` is given.
    masks : MaskSet
        Scoring images with class-valued masks at the model's input size.
    leave_factor : float
        ``f`` in ``k = round((F - 1) * f)``.
    method : {"threshold", "original"}
        Binarisation (see :func:`layer_scores`).
    target_class : int or sequence of int
        Class value(s) the kept filters should respond to (1 = Crack).
    background_class : int or sequence, optional
        The VGG16 variant of the original: also keep the top-k filters for this class (4 = Background) and take the
        union. Scored on ``background`` when given, else on ``masks``.
    background : MaskSet, optional
        Separate background images (the original's ``Images/Background``).
    preprocess : callable, optional
        Applied to the float images before the model (when the model has no preprocessing layers).
    progress : bool
        Show a tqdm bar over the layers.
    """
    probe = _probe or _UnitProbe(model)
    probe.reset()
    x = _as_model_input(masks.images, preprocess)
    target = masks.class_masks(target_class)
    bg_x, bg_masks = None, None
    if background_class is not None:
        bg_set = background if background is not None else masks
        bg_x = _as_model_input(bg_set.images, preprocess) if background is not None else x
        bg_masks = bg_set.class_masks(background_class)
    keep: KeepMap = {}
    scores: dict[str, npt.NDArray[np.float64]] = {}
    for unit in _progress(probe.units, enabled=progress, desc=f"scoring f={leave_factor:.3g}", leave=False):
        probe.apply(keep)
        maps = probe.maps(unit.name, x)
        s = layer_scores(maps, target, method=method)
        kept = top_filters(s, leave_factor)
        if bg_masks is not None and bg_x is not None:
            bg_maps = maps if bg_x is x else probe.maps(unit.name, bg_x)
            kept = np.union1d(kept, top_filters(layer_scores(bg_maps, bg_masks, method=method), leave_factor))
        keep[unit.name] = kept.astype(np.int64)
        scores[unit.name] = s
    probe.reset()
    return Selection(keep, scores, f"mask-{method}", float(leave_factor))


def l1_selection(model: Any, sizes: Mapping[str, int]) -> Selection:
    """Control: per layer keep the filters with the largest L1 norm of their kernel, as many as ``sizes`` says."""
    keep: KeepMap = {}
    chain = {layer.name: layer for layer in layer_chain(model)}
    for name, k in sizes.items():
        kernel = chain[name].get_weights()[0]
        norms = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
        keep[name] = np.sort(np.argsort(-norms, kind="stable")[:k]).astype(np.int64)
    return Selection(keep, {}, "l1", float("nan"))


def random_selection(model: Any, sizes: Mapping[str, int], *, seed: int = 0) -> Selection:
    """Control: per layer keep ``sizes[name]`` filters drawn at random (seeded)."""
    rng = np.random.default_rng(seed)
    units = {u.name: u for u in conv_units(model)}
    keep = {
        name: np.sort(rng.choice(units[name].filters, size=k, replace=False)).astype(np.int64)
        for name, k in sizes.items()
    }
    return Selection(keep, {}, "random", float("nan"))


# --------------------------------------------------------------------------------------------------------------
# surgery
# --------------------------------------------------------------------------------------------------------------
def prune_model(
    model: Any,
    keep: Mapping[str, npt.NDArray[np.int64]] | Selection,
    *,
    depth: int | None = None,
    name: str | None = None,
) -> Any:
    """Remove the dropped channels for real and return a smaller model (a ``keras.Sequential``).

    Channels are removed from each Conv2D's kernel and bias, from the following BatchNormalization (its four
    weights are kept for the remaining channels), and from the input axis of the next Conv2D, or of the next Dense
    (through a Flatten or a global pooling). Layer names and every other setting are kept.

    Parameters
    ----------
    model : keras.Model
        A chain of layers (see :func:`layer_chain`).
    keep : dict or Selection
        Conv layer name -> kept filter indices; layers not named keep every filter.
    depth : int, optional
        Truncate after the ``depth``-th block (pooling layer); None keeps every layer.
    name : str, optional
        The new model's name.

    Returns
    -------
    keras.Sequential
    """
    import keras

    keep_map = keep.keep if isinstance(keep, Selection) else dict(keep)
    layers = layer_chain(model)
    conv_names = {u.name for u in conv_units(model)}
    unknown = set(keep_map) - conv_names
    if unknown:
        raise ValueError(f"not Conv2D layers of {model.name!r}: {sorted(unknown)}")
    if depth is not None:
        ends = block_ends(model)
        if not 1 <= depth <= len(ends):
            raise ValueError(f"depth must be 1..{len(ends)} (the model's pooling layers), not {depth}")
        stop = next(i for i, layer in enumerate(layers) if layer.name == ends[depth - 1])
        layers = layers[: stop + 1]
    input_shape = tuple(model.input_shape[1:])
    new_layers: list[Any] = []
    new_weights: list[list[Any]] = []
    cur: npt.NDArray[np.int64] | None = None  # kept indices along the last axis of the current tensor
    for layer in layers:
        kind = _kind(layer)
        cfg = layer.get_config()
        weights = layer.get_weights()
        if kind == "Conv2D":
            out_keep = np.asarray(keep_map.get(layer.name, np.arange(layer.filters)), dtype=np.int64)
            kernel = weights[0] if cur is None else weights[0][:, :, cur, :]
            weights = [kernel[..., out_keep]] + ([weights[1][out_keep]] if layer.use_bias else [])
            cfg["filters"] = len(out_keep)
            cur = out_keep if len(out_keep) < layer.filters else None
        elif kind == "BatchNormalization":
            axis = cfg.get("axis", -1)
            axis = axis[0] if isinstance(axis, list | tuple) else axis
            if cur is not None:
                if axis not in (-1, 3):
                    raise UnprunableModelError(f"layer {layer.name!r} normalises axis {axis}, not channels")
                weights = [w[cur] for w in weights]
        elif kind == "Dense":
            if cur is not None:
                weights = [weights[0][cur, :], *weights[1:]]
            cur = None
        elif kind == "Flatten":
            shape = tuple(layer.input.shape[1:])
            if cur is not None:
                h, w, c = shape
                grid = np.arange(h * w * c).reshape(h, w, c)
                cur = grid[:, :, cur].reshape(-1).astype(np.int64)
        elif kind in _CHANNELWISE or kind in _PASSTHROUGH:
            if weights and cur is not None:
                raise UnprunableModelError(
                    f"layer {layer.name!r} ({kind}) has per-channel weights olkit cannot cut"
                )
        elif kind == "Reshape" and cur is None:
            pass
        else:
            if cur is not None or weights:
                raise UnprunableModelError(
                    f"layer {layer.name!r} ({kind}) is not one mask-guided pruning knows how to cut; "
                    "cut the model before it."
                )
        new = type(layer).from_config(cfg)
        new_layers.append(new)
        new_weights.append(weights)
    pruned = keras.Sequential(
        [keras.Input(shape=input_shape), *new_layers], name=name or f"{model.name}_pruned"
    )
    for new, weights in zip(new_layers, new_weights):
        if weights:
            new.set_weights(weights)
    return pruned


def fold_batchnorm(model: Any, *, name: str | None = None) -> Any:
    """An inference copy of ``model`` with every Conv2D -> BatchNormalization (-> ReLU) folded into one Conv2D.

    ``W' = W * g``, ``b' = (b - mean) * g + beta`` with ``g = gamma / sqrt(var + eps)``; a ReLU right after the BN
    becomes the conv's activation. Where the BN follows a nonlinearity (conv with ReLU, then BN) nothing is folded.
    Outputs equal the original's up to float rounding; fewer ops run per image, which matters once pruning has
    made the convolutions tiny and the per-op cost at high resolution dominates.
    """
    import keras

    layers = layer_chain(model)
    new_layers: list[Any] = []
    new_weights: list[list[Any]] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        cfg = layer.get_config()
        weights = layer.get_weights()
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if (
            _kind(layer) == "Conv2D"
            and cfg.get("activation") == "linear"
            and nxt is not None
            and _kind(nxt) == "BatchNormalization"
            and nxt.get_config().get("axis") in (-1, 3, [-1], [3])
        ):
            bn_cfg = nxt.get_config()
            bn = {v.path.split("/")[-1]: w for v, w in zip(nxt.weights, nxt.get_weights())}
            g = bn.get("gamma", np.ones_like(bn["moving_variance"])) / np.sqrt(
                bn["moving_variance"] + bn_cfg["epsilon"]
            )
            beta = bn.get("beta", np.zeros_like(g))
            kernel = weights[0] * g
            bias = weights[1] if layer.use_bias else np.zeros_like(g)
            cfg["use_bias"] = True
            weights = [kernel.astype(np.float32), ((bias - bn["moving_mean"]) * g + beta).astype(np.float32)]
            i += 2
            after = layers[i] if i < len(layers) else None
            if after is not None and _kind(after) == "ReLU":
                rc = after.get_config()
                if not rc.get("max_value") and not rc.get("negative_slope") and not rc.get("threshold"):
                    cfg["activation"] = "relu"
                    i += 1
        else:
            i += 1
        new_layers.append(type(layer).from_config(cfg))
        new_weights.append(weights)
    folded = keras.Sequential(
        [keras.Input(shape=tuple(model.input_shape[1:])), *new_layers], name=name or f"{model.name}_folded"
    )
    for new, weights in zip(new_layers, new_weights):
        if weights:
            new.set_weights(weights)
    return folded


# --------------------------------------------------------------------------------------------------------------
# size, FLOPs, time, features
# --------------------------------------------------------------------------------------------------------------
def count_params(model: Any) -> int:
    """All parameters (trainable and not, BN statistics included)."""
    return int(model.count_params())


def count_flops(model: Any) -> float:
    """Forward GFLOP per image of the Conv2D and Dense layers (2 flops per multiply-add, bias adds counted)."""
    flops = 0
    for layer in layer_chain(model):
        kind = _kind(layer)
        if kind == "Conv2D":
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            c_in = layer.input.shape[-1]
            flops += 2 * h * w * kh * kw * c_in * c_out + (h * w * c_out if layer.use_bias else 0)
        elif kind == "Dense":
            d_in = layer.input.shape[-1]
            flops += 2 * d_in * layer.units + (layer.units if layer.use_bias else 0)
    return float(flops) / 1e9


def feature_model(model: Any, *, pooling: Pooling = "flatten") -> Any:
    """``model`` followed by a Flatten (the original) or a global average/max pooling, when its output is a map."""
    import keras

    if len(model.output_shape) != 4:
        return model
    head = {
        "flatten": keras.layers.Flatten,
        "avg": keras.layers.GlobalAveragePooling2D,
        "max": keras.layers.GlobalMaxPooling2D,
    }[pooling](name=f"features_{pooling}")
    # one flat chain sharing the layers (and weights) of ``model``: no nested model in the saved file
    return keras.Sequential(
        [keras.Input(shape=model.input_shape[1:]), *layer_chain(model), head], name=f"{model.name}_{pooling}"
    )


def extract_features(
    model: Any,
    images: npt.NDArray[Any],
    *,
    pooling: Pooling = "flatten",
    batch_size: int = 32,
    preprocess: Callable[[Any], Any] | None = None,
) -> npt.NDArray[np.float32]:
    """Feature vectors ``(n, d)`` of ``images`` (raw RGB) through ``model`` and the pooling head."""
    fm = feature_model(model, pooling=pooling)
    out = [
        np.asarray(fm(_as_model_input(images[i : i + batch_size], preprocess), training=False))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(out).astype(np.float32)


def time_model(
    model: Any,
    *,
    batch: int,
    repeats: int = 7,
    warmup: int = 2,
    pooling: Pooling = "flatten",
    fold_bn: bool = True,
) -> float:
    """Median milliseconds of one forward pass of a batch (model + pooling head), after warm-up calls.

    The model runs as a compiled ``tf.function`` on a fixed random uint8-range input, so the figure is the
    network's compute, not Python or ``predict`` overhead. With ``fold_bn`` (default) the model is timed as it
    would be deployed, with its Conv -> BatchNormalization pairs folded (:func:`fold_batchnorm`, exact up to
    rounding); a model whose layers cannot be chained that way is timed as it is.
    """
    import tensorflow as tf

    if fold_bn and any(_kind(layer) == "BatchNormalization" for layer in _flatten_layers(model)):
        try:
            model = fold_batchnorm(model)
        except UnprunableModelError:
            pass
    fm = feature_model(model, pooling=pooling)
    x = tf.constant(
        np.random.default_rng(0).uniform(0, 255, (batch, *model.input_shape[1:])).astype(np.float32)
    )
    fn = tf.function(lambda t: fm(t, training=False), reduce_retracing=True)
    gc.collect()  # not inside the timed calls
    for _ in range(max(1, warmup)):
        fn(x).numpy()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x).numpy()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000.0)


def retime_candidates(
    table: pd.DataFrame,
    *,
    batches: Sequence[int] = (1, 32),
    rounds: int = 3,
    repeats: int = 5,
    pooling: Pooling = "flatten",
) -> pd.DataFrame:
    """Time the candidates of ``table`` again, side by side, and return a copy with ``ms_b<batch>`` replaced.

    Every model is loaded once and timed in ``rounds`` interleaved passes over the candidates (each pass the median
    of ``repeats`` calls, :func:`time_model`); the new figure is the median over the passes. Times taken one
    candidate at a time during an evaluation drift with whatever else the machine does; a choice of "the
    fastest" among close candidates should rest on times taken this way.
    """
    import keras

    models = {
        str(row["id"]): keras.models.load_model(row["path"], safe_mode=True, compile=False)
        for _, row in table.iterrows()
    }
    times: dict[tuple[str, int], list[float]] = {(cid, b): [] for cid in models for b in batches}
    for _ in range(max(1, rounds)):
        for cid, model in models.items():
            for b in batches:
                times[(cid, b)].append(time_model(model, batch=b, repeats=repeats, pooling=pooling))
    out = table.copy()
    for b in batches:
        out[f"ms_b{b}"] = [float(np.median(times[(str(cid), b)])) for cid in out["id"]]
    return out


# --------------------------------------------------------------------------------------------------------------
# classifiers and metrics
# --------------------------------------------------------------------------------------------------------------
def make_logreg(*, seed: int = 0, n_jobs: int | None = 1) -> Any:
    """The original's classifier: LogisticRegression in GridSearchCV over C = 1e-3..1e5, cv = 4.

    ``max_iter`` is 2000 as in the original's ``train_models.py``. One deviation: the features are standardised
    first (the original fed raw features), so that lbfgs converges and the same C grid means the same thing for
    candidates whose features differ in scale.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return GridSearchCV(
        pipe,
        {"logisticregression__C": list(LR_C_GRID)},
        cv=StratifiedKFold(4, shuffle=True, random_state=seed),
        n_jobs=n_jobs,
    )


def make_mlp(*, seed: int = 0) -> Any:
    """A small MLP (one hidden layer of 64, early stopping) on standardised features."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=(64,),
            alpha=1e-3,
            max_iter=400,
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=20,
            random_state=seed,
        ),
    )


def group_split(
    labels: Sequence[Any] | npt.NDArray[Any],
    groups: Sequence[Any] | npt.NDArray[Any] | None,
    *,
    test_size: float = 0.25,
    seed: int = 0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Train/test indices with no group (source image, wear sequence) on both sides.

    Tries a few seeded group shuffles and keeps the first whose test part holds every class; with no groups
    every image is its own group.
    """
    from sklearn.model_selection import GroupShuffleSplit

    y = np.asarray(labels)
    g = np.asarray(groups) if groups is not None else np.arange(len(y))
    best = None
    for attempt in range(20):
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed + attempt)
        train, test = next(splitter.split(np.zeros(len(y)), y, g))
        if len(np.unique(y[test])) == len(np.unique(y)) and len(np.unique(y[train])) == len(np.unique(y)):
            return train.astype(np.int64), test.astype(np.int64)
        best = best or (train, test)
    assert best is not None
    return best[0].astype(np.int64), best[1].astype(np.int64)


def classify_features(
    features: npt.NDArray[Any],
    labels: Sequence[Any] | npt.NDArray[Any],
    train: npt.NDArray[np.int64],
    test: npt.NDArray[np.int64],
    *,
    classifier: Literal["logreg", "mlp"] = "logreg",
    seed: int = 0,
) -> dict[str, float]:
    """Fit on ``train``, return accuracy, (macro) F1 and AUC on ``test``.

    The grid-searched logistic regression also returns ``cv_acc``, its best cross-validated accuracy on the train
    part: a figure to choose a candidate by without looking at the test part.
    """
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    y = np.asarray(labels)
    clf = make_logreg(seed=seed) if classifier == "logreg" else make_mlp(seed=seed)
    clf.fit(features[train], y[train])
    pred = clf.predict(features[test])
    proba = clf.predict_proba(features[test])
    classes = list(clf.classes_)
    try:
        if len(classes) == 2:
            auc = roc_auc_score(y[test] == classes[1], proba[:, 1])
        else:
            auc = roc_auc_score(y[test], proba, multi_class="ovr", labels=classes)
    except ValueError:
        auc = float("nan")
    average = "binary" if len(classes) == 2 else "macro"
    pos = classes[1] if len(classes) == 2 else 1
    out = {
        "acc": float(accuracy_score(y[test], pred)),
        "f1": float(f1_score(y[test], pred, average=average, pos_label=pos)),
        "auc": float(auc),
    }
    if hasattr(
        clf, "best_score_"
    ):  # the grid search's cross-validated accuracy on the train part: choose by it
        out["cv_acc"] = float(clf.best_score_)
    return out


# --------------------------------------------------------------------------------------------------------------
# candidates
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CandidateGrid:
    """What :func:`build_candidates` makes.

    Attributes
    ----------
    leave_factors : tuple of float
        ``f`` values (the original swept 0.01..1.00 in steps of 0.01).
    depths : tuple of int or None
        Cut depths (blocks kept); None = the whole model. The original never cut.
    methods : tuple of str
        Mask scoring methods: "threshold", "original".
    controls : tuple of str
        "l1" and/or "random", made at the sizes of the first method's candidates (depth None and every depth).
    target_class, background_class
        See :func:`score_filters`.
    seed : int
        For the random control.
    """

    leave_factors: tuple[float, ...] = (0.05, 0.1, 0.15, 0.21, 0.3, 0.5, 0.75, 1.0)
    depths: tuple[int | None, ...] = (None,)
    methods: tuple[ScoreMethod, ...] = ("threshold",)
    controls: tuple[str, ...] = ("l1", "random")
    target_class: int | tuple[int, ...] = 1
    background_class: int | tuple[int, ...] | None = None
    seed: int = 0


def _candidate_id(method: str, f: float, depth: int | None) -> str:
    return f"{method}_f{f:.3f}_d{depth if depth is not None else 'all'}"


def _atomic_save_model(model: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _atomic_write_json(doc: dict[str, Any], path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, default=float)
    os.replace(tmp, path)


def _read_complete(path: Path, source: str) -> dict[str, Any] | None:
    """The sidecar of a finished candidate made from the same model, masks and grid, else None (redo it)."""
    side = path.with_suffix(".json")
    if not (path.is_file() and side.is_file()):
        return None
    try:
        doc = dict(json.loads(side.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
    return doc if doc.get("complete") and doc.get("source") == source else None


def _digest(*parts: Any) -> str:
    """SHA-256 (first 16 hex) over arrays and JSON-able values: what a cached result was made from."""
    import hashlib

    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            arr = np.ascontiguousarray(part)
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(arr.tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def build_candidates(
    model: Any,
    masks: MaskSet,
    out_dir: PathLike,
    *,
    grid: CandidateGrid | None = None,
    background: MaskSet | None = None,
    preprocess: Callable[[Any], Any] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Make (or complete) every pruned candidate of ``grid`` under ``out_dir`` and return their table.

    Each candidate is ``<id>.keras`` (written to a temporary file and renamed) plus ``<id>.json`` written last with
    ``"complete": true`` and a digest of the model's weights, the masks and the grid's classes; a rerun skips
    complete candidates with the same digest and redoes any other, so an interrupted run resumes and a changed
    model or mask set never reuses stale candidates.
    The full model is saved as ``full.keras``. The table (also ``candidates.csv``) has one row per candidate:
    ``id, method, leave_factor, depth, params, gflop, path`` plus ``kept`` (filters kept per layer, JSON).
    """
    grid = grid or CandidateGrid()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    source = _digest(
        *model.get_weights(),
        model.to_json(),
        masks.images,
        masks.masks,
        [grid.target_class, grid.background_class, grid.seed],
        *([background.images, background.masks] if background is not None else []),
    )
    full_path = out / "full.keras"
    if _read_complete(full_path, source) is None:
        _atomic_save_model(model, full_path)
        _atomic_write_json(
            {
                "id": "full",
                "method": "full",
                "leave_factor": 1.0,
                "depth": None,
                "params": count_params(model),
                "gflop": count_flops(model),
                "kept": {u.name: u.filters for u in conv_units(model)},
                "source": source,
                "complete": True,
            },
            full_path.with_suffix(".json"),
        )
    rows.append({**json.loads(full_path.with_suffix(".json").read_text()), "path": str(full_path)})
    probe: _UnitProbe | None = None
    n_ctrl = len(grid.controls)
    total = len(grid.leave_factors) * len(grid.depths) * (len(grid.methods) + n_ctrl)
    bar = _progress(range(total), enabled=progress, desc="candidates")
    bar_it = iter(bar)
    for f in grid.leave_factors:
        for m_i, method in enumerate(grid.methods):
            selection: Selection | None = None
            todo = []
            for depth in grid.depths:
                jobs = [(f"mask-{method}", depth)]
                if m_i == 0:
                    jobs += [(c, depth) for c in grid.controls]
                todo.extend(jobs)
            for kind, depth in todo:
                cid = _candidate_id(kind, f, depth)
                path = out / f"{cid}.keras"
                doc = _read_complete(path, source)
                if doc is None:
                    if selection is None:
                        probe = probe or _UnitProbe(model)
                        selection = score_filters(
                            model,
                            masks,
                            leave_factor=f,
                            method=method,
                            target_class=grid.target_class,
                            background_class=grid.background_class,
                            background=background,
                            preprocess=preprocess,
                            _probe=probe,
                        )
                    if kind == "l1":
                        sel = l1_selection(model, selection.sizes())
                    elif kind == "random":
                        sel = random_selection(model, selection.sizes(), seed=grid.seed + round(f * 1000))
                    else:
                        sel = selection
                    pruned = prune_model(model, sel, depth=depth, name=cid.replace(".", "_"))
                    _atomic_save_model(pruned, path)
                    doc = {
                        "id": cid,
                        "method": kind,
                        "leave_factor": float(f),
                        "depth": depth,
                        "params": count_params(pruned),
                        "gflop": count_flops(pruned),
                        "kept": {k: len(v) for k, v in sel.keep.items()},
                        "keep": {k: v.tolist() for k, v in sel.keep.items()},
                        "source": source,
                        "complete": True,
                    }
                    _atomic_write_json(doc, path.with_suffix(".json"))
                rows.append({**doc, "path": str(path)})
                next(bar_it, None)
    if hasattr(bar, "close"):
        bar.close()
    table = pd.DataFrame(rows)
    table = table.drop(columns=["keep", "complete"], errors="ignore")
    table["kept"] = table["kept"].map(json.dumps)
    table.to_csv(out / "candidates.csv", index=False)
    return table


def evaluate_candidates(
    candidates: pd.DataFrame | PathLike,
    images: npt.NDArray[Any],
    labels: Sequence[Any] | npt.NDArray[Any],
    *,
    groups: Sequence[Any] | npt.NDArray[Any] | None = None,
    pooling: Pooling = "flatten",
    classifiers: Sequence[Literal["logreg", "mlp"]] = ("logreg", "mlp"),
    test_size: float = 0.25,
    seed: int = 0,
    time_batches: Sequence[int] = (1, 32),
    repeats: int = 5,
    preprocess: Callable[[Any], Any] | None = None,
    out_csv: PathLike | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Evaluate every candidate the same way and return the table of figures.

    For each candidate: features of ``images`` (flattened as the original, or pooled), the original's
    LogisticRegression grid search and an MLP trained on a train part and scored on a held-out part split by
    ``groups`` (source image), time at batch 1 and 32 (``ms_b1``, ``ms_b32``: median of ``repeats`` after warm-up),
    parameters and GFLOP. Columns ``acc``, ``f1``, ``auc`` (and ``cv_acc``: cross-validated on the train part, to
    choose by) are those of the first classifier; every classifier also has ``acc_<name>``, ``f1_<name>``,
    ``auc_<name>``. With ``out_csv``, rows already evaluated there (same candidate id and digest, same images,
    labels and settings) are reused, so an interrupted evaluation resumes.
    """
    import keras

    table = (
        pd.read_csv(Path(candidates) / "candidates.csv")
        if not isinstance(candidates, pd.DataFrame)
        else candidates
    )
    y = np.asarray(labels)
    train, test = group_split(y, groups, test_size=test_size, seed=seed)
    eval_key = _digest(
        np.asarray(images),
        y,
        np.asarray(groups) if groups is not None else None,
        [pooling, list(classifiers), test_size, seed, list(time_batches)],
    )
    done: dict[str, dict[str, Any]] = {}
    if out_csv is not None and Path(out_csv).is_file():
        prev = pd.read_csv(out_csv)
        if "eval_key" in prev.columns:
            done = {
                f"{r['id']}:{r.get('source', '')}": dict(r)
                for _, r in prev.iterrows()
                if r["eval_key"] == eval_key
            }
    rows = []
    for _, row in _progress(list(table.iterrows()), enabled=progress, desc="evaluating"):
        cid = str(row["id"])
        key = f"{cid}:{row.get('source', '')}"
        if key in done:
            rows.append(done[key])
            continue
        model = keras.models.load_model(row["path"], safe_mode=True, compile=False)
        rec: dict[str, Any] = dict(row)
        # timed first: right after a scikit-learn fit, its BLAS threads still spin and slow TensorFlow down
        for b in time_batches:
            rec[f"ms_b{b}"] = time_model(model, batch=b, repeats=repeats, pooling=pooling)
        feats = extract_features(model, images, pooling=pooling, preprocess=preprocess)
        for i, clf in enumerate(classifiers):
            metrics = classify_features(feats, y, train, test, classifier=clf, seed=seed)
            for k, v in metrics.items():
                rec[f"{k}_{clf}"] = v
                if i == 0:
                    rec[k] = v
        rec["feature_dim"] = int(feats.shape[1])
        rec["n_train"], rec["n_test"] = len(train), len(test)
        rec["eval_key"] = eval_key
        rows.append(rec)
        if out_csv is not None:
            pd.DataFrame(rows).to_csv(out_csv, index=False)
    result = pd.DataFrame(rows)
    full = result[result["method"] == "full"]
    if len(full):
        result["params_ratio"] = result["params"] / float(full["params"].iloc[0])
    if out_csv is not None:
        result.to_csv(out_csv, index=False)
    return result


def as_backbone(
    model: Any | PathLike,
    *,
    pooling: Pooling = "avg",
    scale: float = 1.0,
    offset: float = 0.0,
    recipe: str = "pruned",
) -> Any:
    """Turn a (pruned) conv model into an :class:`olkit.backbone.Backbone` for the online-learning session.

    The pooling head is appended so the backbone's embedding layer yields one vector per image (global average by
    default: a flattened map ties the embedding to the input size). ``scale``/``offset`` map the uint8 pixels to
    the model's input; the default (1, 0) feeds raw 0..255 as the zoo's models expect (they rescale inside).
    """
    import keras

    from olkit.backbone import Backbone, Preprocessing

    net: Any = (
        model if hasattr(model, "layers") else keras.models.load_model(model, safe_mode=True, compile=False)
    )
    fm = feature_model(net, pooling=pooling) if len(net.output_shape) == 4 else net
    # rebuilt from its config, so that weight paths read as after a save/load and the fingerprint survives one
    fresh = type(fm).from_config(fm.get_config())
    fresh.set_weights(fm.get_weights())
    fm = fresh
    h, w = (int(d) for d in net.input_shape[1:3])
    # the zoo's models rescale inside (raw 0..255 in); a user model without a Rescaling layer may need other values
    preprocessing = Preprocessing(size=(h, w), color="rgb", scale=scale, offset=offset)
    return Backbone(fm, embedding_layer=fm.layers[-1].name, preprocessing=preprocessing, recipe=recipe)
