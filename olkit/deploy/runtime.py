"""One small session per runtime, so prediction and timing run every export the same way.

=============  =====================  ===========================================================================
runtime        file                   engine
=============  =====================  ===========================================================================
tensorflow     ``model.keras``        Keras model in a ``tf.function`` (oneDNN), input signature with a free batch
litert         ``model_*.tflite``     ``ai_edge_litert.interpreter.Interpreter`` (XNNPACK delegate), one
                                      interpreter per batch size
onnxruntime    ``model.onnx``         ``onnxruntime.InferenceSession``, CPU provider, all graph optimisations
=============  =====================  ===========================================================================

:func:`time_runtimes` times several models on several runtimes side by side, at each batch size and thread count:
TensorFlow fixes its thread pools when it starts, so each thread count runs in a fresh child process
(``python -m olkit.deploy.runtime``), where every model and runtime is timed in interleaved rounds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from olkit.types import PathLike

__all__ = [
    "RUNTIMES",
    "LiteRTSession",
    "ONNXSession",
    "RuntimeSession",
    "TFSession",
    "open_session",
    "retime_on_runtime",
    "runtime_of",
    "time_runtimes",
    "time_session",
]

RUNTIMES: tuple[str, ...] = ("tensorflow", "litert", "onnxruntime")


class RuntimeSession(Protocol):
    """What every runtime offers: its name and ``run(float32 batch) -> probabilities``."""

    runtime: str
    path: Path

    def run(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...


def runtime_of(path: PathLike) -> str:
    """The runtime that runs a file, by its suffix."""
    suffix = Path(path).suffix
    found = {".keras": "tensorflow", ".tflite": "litert", ".onnx": "onnxruntime"}.get(suffix)
    if found is None:
        raise ValueError(f"{path}: not a model file olkit runs (.keras, .tflite, .onnx)")
    return found


class TFSession:
    """A ``.keras`` model in a compiled ``tf.function``. ``threads`` only takes effect before TensorFlow starts."""

    runtime = "tensorflow"

    def __init__(self, path: PathLike, *, threads: int | None = None) -> None:
        import keras
        import tensorflow as tf

        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(int(threads))
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:  # TensorFlow is running already: its pools stay as they are
                pass
        self.path = Path(path)
        self.model = keras.models.load_model(self.path, safe_mode=True, compile=False)
        shape = tuple(self.model.inputs[0].shape[1:])
        model = self.model
        self._fn = tf.function(
            lambda t: model(t, training=False),
            input_signature=[tf.TensorSpec((None, *shape), tf.float32)],
        )

    def run(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.asarray(self._fn(np.asarray(x, dtype=np.float32)))


def _litert_interpreter() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the fallback: TensorFlow's own (deprecated) interpreter
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


class LiteRTSession:
    """A ``.tflite`` model in LiteRT's interpreter (XNNPACK), ``threads`` CPU threads."""

    runtime = "litert"

    def __init__(self, path: PathLike, *, threads: int | None = None) -> None:
        self.path = Path(path)
        self.threads = int(threads) if threads else None
        self._interp: dict[int, Any] = {}
        self._cls = _litert_interpreter()

    def _for(self, n: int) -> Any:
        if n not in self._interp:
            it = self._cls(model_path=str(self.path), num_threads=self.threads)
            inp = it.get_input_details()[0]
            it.resize_tensor_input(inp["index"], [n, *inp["shape"][1:]], strict=False)
            it.allocate_tensors()
            self._interp[n] = it
        return self._interp[n]

    def run(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        it = self._for(len(x))
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        return np.array(it.get_tensor(it.get_output_details()[0]["index"]))


class ONNXSession:
    """A ``.onnx`` model in onnxruntime (CPU), ``threads`` intra-op threads."""

    runtime = "onnxruntime"

    def __init__(self, path: PathLike, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        self._sess = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self._input = self._sess.get_inputs()[0].name

    def run(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.asarray(self._sess.run(None, {self._input: np.asarray(x, dtype=np.float32)})[0])


def open_session(path: PathLike, *, threads: int | None = None) -> RuntimeSession:
    """The session for a model file (by suffix: ``.keras``, ``.tflite``, ``.onnx``)."""
    runtime = runtime_of(path)
    if runtime == "tensorflow":
        return TFSession(path, threads=threads)
    if runtime == "litert":
        return LiteRTSession(path, threads=threads)
    return ONNXSession(path, threads=threads)


def time_session(
    session: RuntimeSession,
    input_shape: Sequence[int],
    *,
    batch: int,
    repeats: int = 20,
    warmup: int = 3,
) -> float:
    """Median milliseconds of ``session.run`` on a fixed random 0..255 batch, after ``warmup`` calls."""
    x = np.random.default_rng(0).uniform(0, 255, (batch, *input_shape)).astype(np.float32)
    for _ in range(max(1, warmup)):
        session.run(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        session.run(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000.0)


def _time_here(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Time every (model, runtime) of ``spec`` at every batch, in interleaved rounds, in this process."""
    threads = int(spec["threads"])
    sessions = {}
    shapes = spec.get("shapes", {})
    for label, files in spec["models"].items():
        for runtime, path in files.items():
            sess = open_session(path, threads=threads)
            shape = tuple(shapes[label]) if label in shapes else _input_shape(path)
            sessions[(label, runtime)] = (sess, shape)
    times: dict[tuple[str, str, int], list[float]] = {}
    for _ in range(int(spec["rounds"])):
        for (label, runtime), (sess, shape) in sessions.items():
            for b in spec["batches"]:
                ms = time_session(sess, shape, batch=int(b), repeats=int(spec["repeats"]))
                times.setdefault((label, runtime, int(b)), []).append(ms)
    return [
        {"model": label, "runtime": runtime, "threads": threads, "batch": b, "ms": float(np.median(v))}
        for (label, runtime, b), v in times.items()
    ]


def _input_shape(path: PathLike) -> tuple[int, ...]:
    from olkit.deploy.export import read_deploy_info

    info = read_deploy_info(path)
    h, w = info.preprocessing.size
    return (int(h), int(w), info.preprocessing.channels)


def time_runtimes(
    models: Mapping[str, Mapping[str, PathLike]],
    *,
    batches: Sequence[int] = (1, 32),
    threads: Sequence[int] = (1, 2),
    repeats: int = 20,
    rounds: int = 3,
    isolate: bool = True,
    timeout_s: float = 1800.0,
    shapes: Mapping[str, Sequence[int]] | None = None,
) -> pd.DataFrame:
    """Latency of every model on every runtime, side by side, at each batch size and thread count.

    Parameters
    ----------
    models
        Label (e.g. ``"full"``, ``"chosen"``) -> runtime name -> model file in an export folder
        (``{"tensorflow": ".../model.keras", "litert": ".../model_float32.tflite", ...}``).
    batches, threads
        Batch sizes and CPU thread counts.
    repeats, rounds
        Each figure is the median over ``rounds`` interleaved passes of the median of ``repeats`` calls.
    shapes
        Label -> input shape ``(h, w, c)`` for files without a ``deploy.json`` beside them.
    isolate
        Run each thread count in a fresh child process (TensorFlow's thread count is fixed at its start);
        ``False`` times in this process (TensorFlow then keeps its pools: its thread count is not controlled).

    Returns
    -------
    DataFrame
        ``model, runtime, threads, batch, ms``.
    """
    rows: list[dict[str, Any]] = []
    for n in threads:
        spec = {
            "models": {k: {r: str(p) for r, p in v.items()} for k, v in models.items()},
            "batches": [int(b) for b in batches],
            "threads": int(n),
            "repeats": int(repeats),
            "rounds": int(rounds),
            "shapes": {k: [int(d) for d in v] for k, v in (shapes or {}).items()},
        }
        if not isolate:
            rows.extend(_time_here(spec))
            continue
        proc = subprocess.run(
            [sys.executable, "-m", "olkit.deploy.runtime", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("OLKIT_TIMES ")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(
                f"timing child for {n} thread(s) failed (exit {proc.returncode}): {proc.stderr[-2000:]}"
            )
        rows.extend(json.loads(lines[-1][len("OLKIT_TIMES ") :]))
    return pd.DataFrame(rows, columns=["model", "runtime", "threads", "batch", "ms"])


def retime_on_runtime(
    table: pd.DataFrame,
    *,
    runtime: str,
    batches: Sequence[int] = (1, 32),
    rounds: int = 3,
    repeats: int = 5,
    threads: int | None = None,
    pooling: str | None = None,
) -> pd.DataFrame:
    """:func:`olkit.prune.measure.retime_candidates` on another runtime: each candidate of ``table`` (its conv
    model and the pooling head, as the evaluation timed it) is converted for ``runtime`` (``"litert"``: float32
    LiteRT, ``"onnxruntime"``: ONNX) in a temporary folder and timed there, side by side; returns a copy with
    ``ms_b<batch>`` replaced. ``"tensorflow"`` is ``retime_candidates`` itself. ``pooling`` defaults to the
    one the table was evaluated with."""
    import tempfile

    import keras

    from olkit.deploy.export import export_litert, export_onnx
    from olkit.prune.measure import feature_model, retime_candidates, table_pooling

    pooling = pooling or table_pooling(table)
    if runtime == "tensorflow":
        return retime_candidates(table, batches=batches, rounds=rounds, repeats=repeats, pooling=pooling)  # type: ignore[arg-type]
    if runtime not in ("litert", "onnxruntime"):
        raise ValueError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    with tempfile.TemporaryDirectory(prefix="olkit-retime-") as tmp:
        files: dict[str, dict[str, str]] = {}
        shapes: dict[str, tuple[int, ...]] = {}
        for i, (_, row) in enumerate(table.iterrows()):
            net = keras.models.load_model(row["path"], safe_mode=True, compile=False)
            fm = feature_model(net, pooling=pooling)  # type: ignore[arg-type]
            target = Path(tmp) / f"m{i}{'.tflite' if runtime == 'litert' else '.onnx'}"
            (export_litert if runtime == "litert" else export_onnx)(fm, target)
            files[str(row["id"])] = {runtime: str(target)}
            shapes[str(row["id"])] = tuple(int(d) for d in fm.inputs[0].shape[1:])
        times = time_runtimes(
            files,
            batches=batches,
            threads=(threads or 2,),
            repeats=repeats,
            rounds=rounds,
            isolate=False,
            shapes=shapes,
        )
    out = table.copy()
    for b in batches:
        sel = times[times["batch"] == int(b)].set_index("model")["ms"]
        out[f"ms_b{b}"] = [float(sel[str(cid)]) for cid in out["id"]]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Child entry point of :func:`time_runtimes`: one JSON spec in, one ``OLKIT_TIMES <json>`` line out."""
    args = list(sys.argv[1:] if argv is None else argv)
    spec = json.loads(args[0])
    threads = int(spec["threads"])
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    print("OLKIT_TIMES " + json.dumps(_time_here(spec)), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
