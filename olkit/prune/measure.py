"""Measuring a model: feature extraction and the one timing path (parameters and FLOPs: :mod:`olkit.models.flops`)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeAlias, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from olkit.errors import UnprunableModelError
from olkit.prune.graph import flatten_layers, layer_chain, layer_kind
from olkit.prune.score import model_input
from olkit.prune.surgery import fold_batchnorm

Pooling: TypeAlias = Literal["flatten", "avg", "max"]
"""How the last feature map becomes a vector: flattened as the original, or globally pooled."""

POOLINGS: tuple[Pooling, ...] = get_args(Pooling)


# --------------------------------------------------------------------------------------------------------------
# features and time
# --------------------------------------------------------------------------------------------------------------
def table_pooling(table: pd.DataFrame) -> Pooling:
    """The pooling an evaluated candidate table's features were made with (its ``pooling`` column, written by
    :func:`olkit.prune.candidates.evaluate_candidates`); ``"flatten"`` for a table from before that column."""
    if "pooling" in table.columns:
        for value in table["pooling"]:
            if isinstance(value, str) and value in POOLINGS:
                return value  # type: ignore[return-value]
    return "flatten"


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
        np.asarray(fm(model_input(images[i : i + batch_size], preprocess), training=False))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(out).astype(np.float32)


def time_models(
    models: Mapping[str, Any],
    *,
    batches: Sequence[int] = (1, 32),
    rounds: int = 3,
    repeats: int = 5,
    warmup: int = 2,
    pooling: Pooling = "flatten",
    fold_bn: bool = True,
) -> dict[str, dict[int, float]]:
    """The one timing path: median milliseconds of one forward pass per model and batch size, side by side.

    Every model (with its pooling head) runs as a compiled ``tf.function`` on a fixed random uint8-range input, so
    the figure is the network's compute, not Python or ``predict`` overhead. With ``fold_bn`` (default) a model is
    timed as it would be deployed, its Conv -> BatchNormalization pairs folded (:func:`fold_batchnorm`, exact up
    to rounding); a model whose layers cannot be chained that way is timed as it is. The models are timed in
    ``rounds`` interleaved passes (each pass: every model, every batch size, ``warmup`` calls and then the median
    of ``repeats`` timed calls), and the figure is the median over the passes: whatever else the machine does
    meanwhile slows every model alike, so a choice among close candidates rests on comparable times.

    Parameters
    ----------
    models : mapping
        Name -> Keras model taking raw RGB images.
    batches : sequence of int
        Batch sizes to time.
    rounds, repeats, warmup : int
        Interleaved passes; timed calls per pass (their median); untimed calls before them.
    pooling : {"flatten", "avg", "max"}
        The head appended to a model whose output is a map (see :func:`feature_model`).
    fold_bn : bool
        Fold batch normalisation into the convolutions first.

    Returns
    -------
    dict
        Name -> batch size -> milliseconds.
    """
    import tensorflow as tf

    prepared: dict[str, tuple[Any, dict[int, Any]]] = {}
    for name, model in models.items():
        if fold_bn and any(layer_kind(layer) == "BatchNormalization" for layer in flatten_layers(model)):
            try:
                model = fold_batchnorm(model)
            except UnprunableModelError:
                pass
        fm = feature_model(model, pooling=pooling)
        inputs = {
            b: tf.constant(
                np.random.default_rng(0).uniform(0, 255, (b, *model.input_shape[1:])).astype(np.float32)
            )
            for b in batches
        }
        fn = tf.function(lambda t, fm=fm: fm(t, training=False), reduce_retracing=True)
        prepared[str(name)] = (fn, inputs)
    times: dict[str, dict[int, list[float]]] = {name: {b: [] for b in batches} for name in prepared}
    for _ in range(max(1, rounds)):
        for name, (fn, inputs) in prepared.items():
            for b in batches:
                x = inputs[b]
                gc.collect()  # not inside the timed calls
                for _ in range(max(1, warmup)):
                    fn(x).numpy()
                calls = []
                for _ in range(max(1, repeats)):
                    t0 = time.perf_counter()
                    fn(x).numpy()
                    calls.append(time.perf_counter() - t0)
                times[name][b].append(float(np.median(calls) * 1000.0))
    return {name: {b: float(np.median(v)) for b, v in per.items()} for name, per in times.items()}


def time_model(
    model: Any,
    *,
    batch: int,
    repeats: int = 7,
    warmup: int = 2,
    pooling: Pooling = "flatten",
    fold_bn: bool = True,
) -> float:
    """Median milliseconds of one forward pass of one model at one batch size: :func:`time_models`, one pass."""
    return time_models(
        {"model": model},
        batches=(batch,),
        rounds=1,
        repeats=repeats,
        warmup=warmup,
        pooling=pooling,
        fold_bn=fold_bn,
    )["model"][batch]


def retime_candidates(
    table: pd.DataFrame,
    *,
    batches: Sequence[int] = (1, 32),
    rounds: int = 3,
    repeats: int = 5,
    pooling: Pooling | None = None,
) -> pd.DataFrame:
    """Time the candidates of ``table`` again, side by side, and return a copy with ``ms_b<batch>`` replaced.

    ``pooling`` defaults to the one the table was evaluated with (:func:`table_pooling`).

    Every model is loaded once and timed with :func:`time_models` (``rounds`` interleaved passes of ``repeats``
    calls). Times taken one candidate at a time during an evaluation drift with whatever else the machine does; a
    choice of "the fastest" among close candidates should rest on times taken this way.
    """
    import keras

    models = {
        str(row["id"]): keras.models.load_model(row["path"], safe_mode=True, compile=False)
        for _, row in table.iterrows()
    }
    pool = pooling or table_pooling(table)
    times = time_models(models, batches=batches, rounds=rounds, repeats=repeats, pooling=pool)
    out = table.copy()
    for b in batches:
        out[f"ms_b{b}"] = [times[str(cid)][b] for cid in out["id"]]
    return out
