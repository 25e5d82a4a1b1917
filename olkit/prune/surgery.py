"""Removing filters for real (Conv, BatchNorm, the next layer's inputs), zeroing them as the original did, BN folding."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from olkit.errors import UnprunableModelError
from olkit.prune.graph import (
    CHANNELWISE,
    PASSTHROUGH,
    KeptFilters,
    block_ends,
    conv_units,
    layer_chain,
    layer_kind,
)


def zeroed_weights(model: Any, keep: Mapping[str, npt.NDArray[np.int64]]) -> dict[str, list[Any]]:
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
            if layer_kind(layer) == "BatchNormalization":
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
    zeroed = zeroed_weights(clone, keep)
    for layer in layer_chain(clone):
        if layer.name in zeroed:
            layer.set_weights(zeroed[layer.name])
    return clone


# --------------------------------------------------------------------------------------------------------------
# surgery
# --------------------------------------------------------------------------------------------------------------
def prune_model(
    model: Any,
    keep: Mapping[str, npt.NDArray[np.int64]] | KeptFilters,
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
    keep : dict or KeptFilters
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

    keep_map = keep.keep if isinstance(keep, KeptFilters) else dict(keep)
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
        kind = layer_kind(layer)
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
        elif kind in CHANNELWISE or kind in PASSTHROUGH:
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
            layer_kind(layer) == "Conv2D"
            and cfg.get("activation") == "linear"
            and nxt is not None
            and layer_kind(nxt) == "BatchNormalization"
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
            if after is not None and layer_kind(after) == "ReLU":
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
