"""The layer graph: conv units, block ends, and the models mask-guided pruning refuses (naming the layer)."""

from __future__ import annotations

import keras
import pytest

from olkit.errors import UnprunableModelError
from olkit.prune.graph import block_ends, conv_units, layer_chain
from olkit.prune.surgery import prune_model
from tests.unit.prune.helpers import tiny_model


def test_residual_add_is_refused_naming_the_layer() -> None:
    inp = keras.Input((16, 16, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="ca")(inp)
    b = keras.layers.Conv2D(4, 3, padding="same", name="cb")(a)
    out = keras.layers.Add(name="residual_add")([a, b])
    model = keras.Model(inp, out)
    with pytest.raises(UnprunableModelError, match="residual_add"):
        conv_units(model)


def test_grouped_conv_is_refused_naming_the_layer() -> None:
    model = keras.Sequential(
        [keras.Input((8, 8, 4)), keras.layers.Conv2D(4, 3, groups=2, name="grouped_conv")]
    )
    with pytest.raises(UnprunableModelError, match="grouped_conv"):
        layer_chain(model)
    with pytest.raises(UnprunableModelError, match="grouped_conv"):  # and so does every stage built on it
        prune_model(model, {})


def test_conv_units_end_after_their_channelwise_layers_and_blocks_end_at_pools() -> None:
    model = tiny_model()
    units = conv_units(model)
    assert [(u.name, u.end, u.filters) for u in units] == [("c1", "r1", 8), ("c2", "bn2", 6), ("c3", "c3", 5)]
    assert block_ends(model) == ["p1", "p2"]
    assert [layer.name for layer in layer_chain(model)][:3] == ["rescale", "c1", "bn1"]
