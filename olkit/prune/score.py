"""Mask-guided filter scores (the original's uint8-cast IoU, per-filter thresholds, or contrast) and the kept filters."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import cv2
import numpy as np
import numpy.typing as npt

from olkit.data.io import load_image
from olkit.errors import DataNotFoundError, ImageReadError, UnprunableModelError
from olkit.prune.graph import ConvUnit, KeepMap, KeptFilters, conv_units, layer_chain
from olkit.prune.surgery import zeroed_weights
from olkit.types import FTL_CLASSES as FTL_CLASSES  # the one definition; re-exported for old imports
from olkit.types import PathLike

ScoreMethod: TypeAlias = Literal["original", "threshold", "contrast"]
"""How activation maps are binarised before the IoU with the mask (see the module docstring)."""


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


def contrast_scores(
    maps: npt.NDArray[np.floating[Any]], masks: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """Every filter's standardised contrast: (mean inside the mask - mean outside) / its standard deviation.

    The masks are area-reduced to the map (a cell's weight is the fraction of it the defect covers), the means and
    the standard deviation are taken over every cell of every scoring image. A filter that fires more on the
    defect than on the surface around it scores above 0, whatever the scale of its activations; a filter that never
    varies (dead after a ReLU) scores ``-inf`` and is kept last.
    """
    n, h, w, f = maps.shape
    if len(masks) != n:
        raise ValueError(f"{n} activation maps but {len(masks)} masks")
    cover = np.empty((n, h, w), dtype=np.float64)
    for i, m in enumerate(masks):
        cover[i] = cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    flat = maps.reshape(-1, f).astype(np.float64)
    inside = cover.reshape(-1)
    if inside.sum() <= 0:
        return np.zeros(f, dtype=np.float64)
    outside = 1.0 - inside
    mu_in = inside @ flat / inside.sum()
    mu_out = outside @ flat / max(float(outside.sum()), 1e-12)
    sd = flat.std(axis=0)
    live = sd > 1e-12
    return np.where(live, (mu_in - mu_out) / np.where(live, sd, 1.0), -np.inf)


def layer_scores(
    maps: npt.NDArray[np.floating[Any]],
    masks: npt.NDArray[np.bool_],
    *,
    method: ScoreMethod = "threshold",
) -> npt.NDArray[np.float64]:
    """Every filter's score against the mask: mean IoU of its binarised maps, or its contrast.

    Parameters
    ----------
    maps : array ``(n, h, w, filters)``
        Activation maps of one conv unit on the scoring images.
    masks : bool array ``(n, H, W)``
        Where the scored class is, at image resolution.
    method : {"threshold", "original", "contrast"}
        ``"original"``: uint8 cast, bilinear mask resize, the original's bitwise IoU.
        ``"threshold"``: per-filter quantile threshold at the masks' coverage, area-reduced masks.
        ``"contrast"``: no binarisation, :func:`contrast_scores`.

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
    if method == "contrast":
        return contrast_scores(maps, masks)
    if method != "threshold":
        raise ValueError(f"unknown scoring method {method!r}; use 'threshold', 'contrast' or 'original'")
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


def leave_count(filters: int, leave_factor: float, *, min_filters: int = 1) -> int:
    """The original's ``k = round((F - 1) * f)`` (Python's round), at least ``min_filters`` (and at least 1, so that a
    layer never vanishes; never more than ``filters``)."""
    return min(filters, max(1, min_filters, round((filters - 1) * leave_factor)))


def top_filters(
    scores: Sequence[float] | npt.NDArray[Any], leave_factor: float, *, min_filters: int = 1
) -> npt.NDArray[np.int64]:
    """The original's ``above_average_filters``: sort by (score, index), take the ``k`` last, return sorted.

    Ties are broken as the original breaks them: the higher index wins. ``k`` is :func:`leave_count`'s.
    """
    values = [float(s) for s in scores]
    order = [i for _, i in sorted(zip(values, range(len(values))))]
    order.reverse()
    k = leave_count(len(values), leave_factor, min_filters=min_filters)
    return np.array(sorted(order[:k]), dtype=np.int64)


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
            f"no mask set at {images_dir} / {segmented_dir}; label images with olkit.prune.masks.MaskLabeler or "
            "import masks with olkit.prune.masks.import_mask_folder"
        )
    exts = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
    segs = {p.name: p for p in segmented_dir.iterdir() if p.suffix.lower() in exts}
    segs_by_stem = {p.stem: p for p in segs.values()}
    images, masks, names = [], [], []
    for path in sorted(p for p in images_dir.iterdir() if p.suffix.lower() in exts):
        seg = segs.get(path.name) or segs_by_stem.get(path.stem)
        if seg is None:
            continue
        hw = None if size is None else (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        try:
            img = load_image(path, size=hw, mode="rgb")
            msk = load_image(seg, size=hw, mode="mask")
        except ImageReadError:
            continue
        images.append(img)
        masks.append(msk.astype(np.uint8))
        names.append(path.name)
    if not images:
        raise DataNotFoundError(f"no image in {images_dir} has a mask of the same name in {segmented_dir}")
    return MaskSet(np.stack(images), np.stack(masks), tuple(names))


def model_input(images: npt.NDArray[Any], preprocess: Callable[[Any], Any] | None) -> npt.NDArray[Any]:
    """``images`` as float32 model input, through ``preprocess`` when given (raw 0..255 otherwise)."""
    x = images.astype(np.float32)
    return np.asarray(preprocess(x)) if preprocess is not None else x


def progress_bar(iterable: Iterable[Any], *, enabled: bool, **kwargs: Any) -> Iterable[Any]:
    """A tqdm bar over ``iterable`` (``kwargs`` go to tqdm) when ``enabled``, else ``iterable`` itself."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


class UnitProbe:
    """A clone of the model whose weights are re-zeroed per selection, with one extractor per conv unit.

    Built once per model and shared by every leave factor's scoring (:func:`score_filters`), so the clone and
    its extractors are made once.
    """

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
        """Restore the full model's weights in the clone."""
        for layer in layer_chain(self.clone):
            if self._originals[layer.name]:
                layer.set_weights(self._originals[layer.name])

    def apply(self, keep: Mapping[str, npt.NDArray[np.int64]]) -> None:
        """Zero the dropped filters of ``keep`` in the clone (the others keep their current weights)."""
        zeroed = zeroed_weights(self.clone, keep)
        for layer in layer_chain(self.clone):
            if layer.name in zeroed:
                layer.set_weights(zeroed[layer.name])

    def maps(self, unit: str, x: npt.NDArray[Any], batch_size: int = 16) -> npt.NDArray[np.float32]:
        """Activation maps at the end of conv unit ``unit`` for model input ``x``."""
        ext = self.extractors[unit]
        return np.concatenate(
            [np.asarray(ext(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
        )

    def run(self, start: int, stop: int, x: list[Any]) -> list[Any]:
        """The clone's chain layers ``start .. stop - 1`` (current weights) applied to every batch of ``x``."""
        layers = layer_chain(self.clone)[start:stop]
        out = []
        for batch in x:
            for layer in layers:
                batch = layer(batch, training=False)
            out.append(batch)
        return out


class GreedyMaps:
    """The activation maps of the greedy selection, each unit's computed from the previous unit's input.

    :func:`score_filters` zeroes a unit's dropped filters once it is scored, so every later map depends on the
    decisions before it; recomputing from the image at every unit costs about half the network per unit (seven
    full passes for VGG16's 13 convs). This keeps the input of the last unit's conv (already computed with every
    earlier unit pruned): the maps of unit ``i`` need only the layers from unit ``i - 1``'s conv to unit ``i``'s
    end, which gives the same maps as :meth:`UnitProbe.maps` on the zeroed clone.
    """

    def __init__(self, probe: UnitProbe, x: npt.NDArray[Any], batch_size: int = 16) -> None:
        self.probe = probe
        self.base = [x[i : i + batch_size] for i in range(0, len(x), batch_size)]
        self.start = 0  # the chain index ``base`` enters at
        self.ends = {layer.name: i for i, layer in enumerate(layer_chain(probe.clone))}

    def maps(self, unit: ConvUnit) -> npt.NDArray[np.float32]:
        """Maps at the end of ``unit`` with the clone's current (zeroed) weights; call in unit order."""
        mid = self.probe.run(self.start, unit.index, self.base)
        maps = self.probe.run(unit.index, self.ends[unit.end] + 1, mid)
        self.base, self.start = mid, unit.index
        return np.concatenate([np.asarray(m) for m in maps]).astype(np.float32)


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
    min_filters: int = 1,
    progress: bool = False,
    _probe: UnitProbe | None = None,
) -> KeptFilters:
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
    method : {"threshold", "original", "contrast"}
        How a filter's maps are scored against the masks (see :func:`layer_scores`).
    target_class : int or sequence of int
        Class value(s) the kept filters should respond to (1 = Crack).
    background_class : int or sequence, optional
        The VGG16 variant of the original: also keep the top-k filters for this class (4 = Background) and take the
        union. Scored on ``background`` when given, else on ``masks``.
    background : MaskSet, optional
        Separate background images (the original's ``Images/Background``).
    preprocess : callable, optional
        Applied to the float images before the model (when the model has no preprocessing layers).
    min_filters : int
        Every layer keeps at least this many filters (1: the original's rule alone). At small ``f`` the original's
        rule leaves the first layers of VGG16 3 of their 64 filters: every later layer then sees the image through
        three channels, whichever they are.
    progress : bool
        Show a tqdm bar over the layers.
    """
    probe = _probe or UnitProbe(model)
    probe.reset()
    x = model_input(masks.images, preprocess)
    target = masks.class_masks(target_class)
    bg_x, bg_masks = None, None
    if background_class is not None:
        bg_set = background if background is not None else masks
        bg_x = model_input(bg_set.images, preprocess) if background is not None else x
        bg_masks = bg_set.class_masks(background_class)
    keep: KeepMap = {}
    scores: dict[str, npt.NDArray[np.float64]] = {}
    fg = GreedyMaps(probe, x)
    bg = GreedyMaps(probe, bg_x) if bg_x is not None and bg_x is not x else None
    for unit in progress_bar(
        probe.units, enabled=progress, desc=f"scoring f={leave_factor:.3g}", leave=False
    ):
        probe.apply(keep)
        maps = fg.maps(unit)
        s = layer_scores(maps, target, method=method)
        kept = top_filters(s, leave_factor, min_filters=min_filters)
        if bg_masks is not None and bg_x is not None:
            bg_maps = maps if bg is None else bg.maps(unit)
            bg_s = layer_scores(bg_maps, bg_masks, method=method)
            kept = np.union1d(kept, top_filters(bg_s, leave_factor, min_filters=min_filters))
        keep[unit.name] = kept.astype(np.int64)
        scores[unit.name] = s
    probe.reset()
    return KeptFilters(keep, scores, f"mask-{method}", float(leave_factor))


def l1_selection(model: Any, sizes: Mapping[str, int]) -> KeptFilters:
    """Control: per layer keep the filters with the largest L1 norm of their kernel, as many as ``sizes`` says."""
    keep: KeepMap = {}
    chain = {layer.name: layer for layer in layer_chain(model)}
    for name, k in sizes.items():
        kernel = chain[name].get_weights()[0]
        norms = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
        keep[name] = np.sort(np.argsort(-norms, kind="stable")[:k]).astype(np.int64)
    return KeptFilters(keep, {}, "l1", float("nan"))


def random_selection(model: Any, sizes: Mapping[str, int], *, seed: int = 0) -> KeptFilters:
    """Control: per layer keep ``sizes[name]`` filters drawn at random (seeded)."""
    rng = np.random.default_rng(seed)
    units = {u.name: u for u in conv_units(model)}
    keep = {
        name: np.sort(rng.choice(units[name].filters, size=k, replace=False)).astype(np.int64)
        for name, k in sizes.items()
    }
    return KeptFilters(keep, {}, "random", float("nan"))
