"""The one parameter and FLOP count of olkit (conv bases, pruned candidates, the benches).

Convention
----------
FLOPs are ``2 x`` the multiply-adds of one sample through the convolution and dense layers; bias adds,
activations, normalisation and pooling are not counted (bias adds are a rounding error beside the products:
``1 / (2 * k * k * c_in)`` of a conv layer's FLOPs). The unit is FLOPs as a plain float: callers that print
GFLOP divide by ``1e9``. Nested sub-models are counted layer by layer; layers of any other kind count 0.

Per layer, with ``(oh, ow)`` the output size, ``k = kh * kw`` the kernel area and ``c_in`` / ``c_out`` the
channels:

* ``Conv2D``: ``2 * oh * ow * c_out * k * c_in / groups``
* ``DepthwiseConv2D``: ``2 * oh * ow * c_out * k`` (``c_out = c_in * depth_multiplier``)
* ``SeparableConv2D``: ``2 * oh * ow * c_in * depth_multiplier * (k + c_out)`` (depthwise then 1x1)
* ``Conv2DTranspose``: ``2 * ih * iw * c_in * k * c_out`` (every input pixel scatters one kernel)
* ``Dense``: ``2 * (product of the input's non-batch dimensions) * units``
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["CONVENTION", "count_flops", "count_params"]

CONVENTION: str = "2 x multiply-adds of conv and dense layers, no bias adds"
"""The convention of :func:`count_flops`, written beside stored counts (a stored count of another one is redone)."""


def count_params(model: Any) -> int:
    """All parameters of ``model``, trainable and not (batch-norm statistics included)."""
    return int(model.count_params())


def _leaf_layers(model: Any) -> Iterator[Any]:
    for layer in model.layers:
        if hasattr(layer, "layers") and type(layer).__name__ in {"Sequential", "Functional", "Model"}:
            yield from _leaf_layers(layer)
        else:
            yield layer


def _layer_flops(layer: Any) -> float:
    from keras import layers

    # subclasses first: DepthwiseConv2D and Conv2DTranspose derive from the conv base classes
    if isinstance(layer, layers.Conv2DTranspose):
        kh, kw = layer.kernel_size
        h, w, cin = layer.input.shape[1:4]
        return 2.0 * h * w * cin * kh * kw * layer.filters
    if isinstance(layer, layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        oh, ow, oc = layer.output.shape[1:4]
        return 2.0 * oh * ow * oc * kh * kw
    if isinstance(layer, layers.SeparableConv2D):
        kh, kw = layer.kernel_size
        cin = layer.input.shape[-1]
        oh, ow, oc = layer.output.shape[1:4]
        return 2.0 * oh * ow * cin * layer.depth_multiplier * (kh * kw + oc)
    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        cin = layer.input.shape[-1] // max(int(layer.groups), 1)
        oh, ow, oc = layer.output.shape[1:4]
        return 2.0 * oh * ow * oc * kh * kw * cin
    if isinstance(layer, layers.Dense):
        return 2.0 * float(np.prod(layer.input.shape[1:])) * layer.units
    return 0.0


def count_flops(model: Any) -> float:
    """FLOPs of one sample through ``model``: 2 x the multiply-adds of its conv and dense layers, no bias adds.

    Parameters
    ----------
    model : keras.Model
        A built model (Sequential or functional; nested sub-models are expanded).

    Returns
    -------
    float
        FLOPs (not GFLOP: divide by ``1e9`` to print GFLOP). See the module docstring for the per-layer formulas.
    """
    return float(sum(_layer_flops(layer) for layer in _leaf_layers(model)))
