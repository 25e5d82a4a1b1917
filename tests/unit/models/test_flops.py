"""The one FLOP and parameter count, checked against arithmetic written out by hand."""

from __future__ import annotations

import keras
import pytest

from olkit.models.flops import count_flops, count_params


def test_conv_and_dense_are_two_flops_per_multiply_add_without_bias() -> None:
    inp = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inp)  # 10 x 10 outputs x 4 filters, 3 x 3 x 3 products each
    x = keras.layers.MaxPooling2D(2)(x)  # 5 x 5 x 4, not counted
    x = keras.layers.Conv2D(6, 3, padding="valid", use_bias=False)(x)  # 3 x 3 x 6 outputs, 3 x 3 x 4 products
    x = keras.layers.Flatten()(x)  # 54 values
    out = keras.layers.Dense(5)(x)
    model = keras.Model(inp, out)
    conv1 = 10 * 10 * 4 * (3 * 3 * 3)
    conv2 = 3 * 3 * 6 * (3 * 3 * 4)
    dense = 54 * 5
    assert count_flops(model) == 2.0 * (conv1 + conv2 + dense)
    assert isinstance(count_flops(model), float)
    # parameters: kernels plus biases (conv2 has none)
    assert count_params(model) == (3 * 3 * 3 * 4 + 4) + (3 * 3 * 4 * 6) + (54 * 5 + 5)


def test_grouped_depthwise_separable_and_transposed_convs() -> None:
    inp = keras.Input((8, 8, 4))
    grouped = keras.Model(inp, keras.layers.Conv2D(6, 3, padding="same", groups=2)(inp))
    assert count_flops(grouped) == 2.0 * 8 * 8 * 6 * 9 * 2  # each filter sees 4 / 2 channels
    depthwise = keras.Model(inp, keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(inp))
    assert count_flops(depthwise) == 2.0 * 8 * 8 * 8 * 9  # 8 output channels, one 3 x 3 kernel each
    separable = keras.Model(inp, keras.layers.SeparableConv2D(5, 3, padding="same")(inp))
    assert count_flops(separable) == 2.0 * 8 * 8 * (4 * 9 + 4 * 5)  # depthwise, then 1 x 1 from 4 to 5
    transposed = keras.Model(inp, keras.layers.Conv2DTranspose(3, 2, strides=2)(inp))
    assert count_flops(transposed) == 2.0 * 8 * 8 * 4 * 4 * 3  # each input pixel scatters a 2 x 2 x 3 kernel


def test_nested_models_are_counted_and_dense_on_sequences_counts_every_step() -> None:
    inner = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 1)], name="inner")
    outer = keras.Sequential([keras.Input((6, 6, 2)), inner, keras.layers.Dense(4)])
    # the 1 x 1 conv: 36 pixels x 3 filters x 2 products; the dense acts on each of 36 pixels: 3 -> 4
    assert count_flops(outer) == pytest.approx(2.0 * (36 * 3 * 2 + 36 * 3 * 4))
