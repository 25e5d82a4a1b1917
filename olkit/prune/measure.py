"""Measuring a model: feature extraction and the one timing path (parameters and FLOPs: :mod:`olkit.models.flops`)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from olkit.errors import UnprunableModelError
from olkit.prune.graph import _flatten_layers, _kind, layer_chain
from olkit.prune.score import _as_model_input
from olkit.prune.surgery import fold_batchnorm

Pooling: TypeAlias = Literal["flatten", "avg", "max"]
"""How the last feature map becomes a vector: flattened as the original, or globally pooled."""


# --------------------------------------------------------------------------------------------------------------
# features and time
# --------------------------------------------------------------------------------------------------------------
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
