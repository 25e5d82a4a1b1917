"""The layer graph of a sequential conv net: conv units, the layer chain, block ends (what pruning can cut)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from olkit.errors import UnprunableModelError

KeepMap: TypeAlias = dict[str, npt.NDArray[np.int64]]
"""Per conv layer name, the sorted indices of the filters that stay."""


CHANNELWISE: frozenset[str] = frozenset(
    {
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
)
"""Layers that act channel by channel after a conv (they follow its kept channels and belong to its unit)."""


PASSTHROUGH: frozenset[str] = frozenset(
    {
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
)
"""Layers without per-channel weights that keep the channel axis as it is (pruning passes through them)."""


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


def layer_kind(layer: Any) -> str:
    """The layer's class name (``"Conv2D"``, ``"BatchNormalization"``...): what the pruning stages dispatch on."""
    return type(layer).__name__


def flatten_layers(model: Any) -> list[Any]:
    """Every layer of ``model`` in order, nested Sequential/Functional sub-models expanded, input layers left out."""
    out: list[Any] = []
    for layer in model.layers:
        if layer_kind(layer) == "InputLayer":
            continue
        if hasattr(layer, "layers") and layer_kind(layer) in {"Sequential", "Functional", "Model"}:
            out.extend(flatten_layers(layer))
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
    layers = flatten_layers(model)
    previous = None
    for layer in layers:
        kind = layer_kind(layer)
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
            if producer is not previous and layer_kind(producer) != "InputLayer" and producer in layers:
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
        if layer_kind(layer) != "Conv2D":
            continue
        end = i
        while end + 1 < len(layers) and layer_kind(layers[end + 1]) in CHANNELWISE:
            end += 1
        units.append(ConvUnit(layer.name, i, layers[end].name, int(layer.filters)))
    if not units:
        raise UnprunableModelError(f"model {model.name!r} has no Conv2D layer to prune.")
    return units


def block_ends(model: Any) -> list[str]:
    """Names of the layers that end a block (the pooling layers): cut depth ``k`` truncates after the k-th."""
    return [layer.name for layer in layer_chain(model) if layer_kind(layer) in _POOLS]


@dataclass(frozen=True)
class KeptFilters:
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
