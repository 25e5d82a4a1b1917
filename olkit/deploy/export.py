"""Exports of a :class:`~olkit.deploy.fold.DeployModel`: ``.keras``, LiteRT (float32 and int8) and ONNX.

One folder per deployable model::

    model.keras             Keras 3 (TensorFlow runtime; safe-mode loadable)
    model_float32.tflite    LiteRT, float32 (TensorFlow's converter; run by ai-edge-litert with XNNPACK)
    model_int8.tflite       LiteRT, post-training int8 weights and activations, calibrated on the user's images
                            (float32 input and output, so every file takes the same input)
    model.onnx              ONNX (tf2onnx, opset 17; run by onnxruntime)
    deploy.json             classes, input, preprocessing, defect class, each file's SHA-256: what
                            ``olkit predict`` reads
    model_card.json/.md     the model card (:mod:`olkit.deploy.card`)

Every file takes float32 ``(n, h, w, c)`` with the resized image's 0..255 values and returns probabilities.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from olkit.deploy.fold import DeployModel
from olkit.files import atomic_save, atomic_write_bytes, atomic_write_json
from olkit.models.conv_base import Preprocessing
from olkit.types import PathLike

__all__ = [
    "FILES",
    "FORMATS",
    "DeployInfo",
    "export_keras",
    "export_litert",
    "export_model",
    "export_onnx",
    "formats_for",
    "read_deploy_info",
]

FILES: dict[str, str] = {
    "keras": "model.keras",
    "litert": "model_float32.tflite",
    "litert-int8": "model_int8.tflite",
    "onnx": "model.onnx",
}
"""Export format -> file name in the export folder."""
FORMATS: tuple[str, ...] = tuple(FILES)
DEPLOY_JSON = "deploy.json"
ONNX_OPSET = 17


@dataclass(frozen=True)
class DeployInfo:
    """What ``deploy.json`` says: the interface of every file in an export folder.

    Attributes
    ----------
    folder
        The export folder.
    classes
        Output columns.
    preprocessing
        Input size and colour (scale / offset are inside the models).
    defect_class
        The class ``--threshold`` applies to.
    files
        Format -> ``{"file": name, "sha256": hex}``.
    """

    folder: Path
    classes: tuple[str, ...]
    preprocessing: Preprocessing
    defect_class: str
    files: dict[str, dict[str, str]]
    doc: dict[str, Any]

    def path(self, fmt: str) -> Path:
        """The file of format ``fmt`` (raises KeyError naming the formats there are)."""
        if fmt not in self.files:
            raise KeyError(f"{self.folder} has no {fmt!r} export; it has {sorted(self.files)}")
        return self.folder / self.files[fmt]["file"]


def formats_for(runtimes: str | Sequence[str]) -> list[str]:
    """Export formats for runtime names (``"litert,onnx"``): ``keras`` always, ``litert`` gives float32 and
    int8, ``onnx`` (or ``onnxruntime``) the ONNX file; ``""`` only ``keras``."""
    names = [r.strip() for r in (runtimes.split(",") if isinstance(runtimes, str) else runtimes) if r.strip()]
    out = ["keras"]
    for name in names:
        if name == "litert":
            out += ["litert", "litert-int8"]
        elif name in ("onnx", "onnxruntime"):
            out.append("onnx")
        elif name in FORMATS:
            out.append(name)
        elif name not in ("keras", "tensorflow"):
            raise ValueError(f"unknown runtime {name!r}; choose from litert, onnx")
    return list(dict.fromkeys(out))


def default_defect_class(classes: Sequence[str]) -> str:
    """``"1"`` when it is a class (olkit's defect label), else the last class."""
    return "1" if "1" in classes else str(classes[-1])


def export_keras(deploy: DeployModel, path: PathLike) -> Path:
    """Save the Keras model (atomically)."""
    return atomic_save(Path(path), lambda tmp: deploy.model.save(tmp))


def _keras_model(model: DeployModel | Any) -> Any:
    return model.model if isinstance(model, DeployModel) else model


def export_litert(
    deploy: DeployModel | Any,
    path: PathLike,
    *,
    calibration: npt.NDArray[Any] | None = None,
    max_calibration: int = 200,
) -> Path:
    """Convert with ``tf.lite.TFLiteConverter``: float32, or full int8 when ``calibration`` images are given.

    ``deploy`` is a :class:`~olkit.deploy.fold.DeployModel` or any Keras model. ``calibration`` are resized
    images of the user's data (uint8 or float 0..255, ``(n, h, w, c)``); up to ``max_calibration`` of them give
    the activation ranges. Input and output stay float32.
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(_keras_model(deploy))
    if calibration is not None:
        cal = np.asarray(calibration, dtype=np.float32)
        if cal.ndim == 3:
            cal = cal[..., None]
        cal = cal[:max_calibration]
        if len(cal) == 0:
            raise ValueError("int8 calibration needs at least one image")

        def representative() -> Any:
            for i in range(len(cal)):
                yield [cal[i : i + 1]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its traced signature and captures
        flat = converter.convert()
    return atomic_write_bytes(Path(path), flat)


def export_onnx(deploy: DeployModel | Any, path: PathLike, *, opset: int = ONNX_OPSET) -> Path:
    """Convert with ``tf2onnx.convert.from_keras`` (batch dimension left free, input named ``images``).

    ``deploy`` is a :class:`~olkit.deploy.fold.DeployModel` or any Keras model. Keras 3's own
    ``model.export(format="onnx")`` calls tf2onnx on the TensorFlow backend as well;
    ``tf2onnx.convert.from_function`` leaves the ``Normalization`` layers' constants as graph inputs.
    """
    import keras
    import tensorflow as tf
    import tf2onnx

    model = _keras_model(deploy)
    shape = tuple(model.inputs[0].shape[1:])
    if not isinstance(
        deploy, DeployModel
    ):  # a Sequential sharing another model's layers: tf2onnx wants its own
        inp = keras.Input(shape=shape, name="images")
        model = keras.Model(inp, model(inp), name=f"{model.name}_onnx")
    spec = [tf.TensorSpec((None, *shape), tf.float32, name="images")]
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    return atomic_write_bytes(Path(path), proto.SerializeToString())


def export_model(
    deploy: DeployModel,
    out_dir: PathLike,
    *,
    formats: Sequence[str] = FORMATS,
    calibration: npt.NDArray[Any] | None = None,
    defect_class: str | None = None,
) -> DeployInfo:
    """Write every export of ``formats`` and ``deploy.json`` into ``out_dir``; returns what ``deploy.json`` says.

    Parameters
    ----------
    deploy
        The folded model (:func:`olkit.deploy.fold.fold_classifier`).
    out_dir
        The export folder (made if missing; files are replaced atomically).
    formats
        Any of ``"keras"``, ``"litert"`` (float32), ``"litert-int8"``, ``"onnx"``. ``"keras"`` is always written
        (the reference the others are checked against).
    calibration
        Resized images of the user's data for the int8 ranges (required for ``"litert-int8"``).
    defect_class
        The class ``olkit predict --threshold`` applies to (default: ``"1"`` if a class, else the last).

    Raises
    ------
    ValueError
        An unknown format, or ``"litert-int8"`` without calibration images.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown export formats {unknown}; choose from {list(FORMATS)}")
    if "litert-int8" in formats and calibration is None:
        raise ValueError("litert-int8 needs calibration images (a few hundred of the user's images)")
    todo = ["keras", *[f for f in FORMATS if f in formats and f != "keras"]]
    for fmt in todo:
        target = out / FILES[fmt]
        if fmt == "keras":
            export_keras(deploy, target)
        elif fmt == "litert":
            export_litert(deploy, target)
        elif fmt == "litert-int8":
            export_litert(deploy, target, calibration=calibration)
        else:
            export_onnx(deploy, target)
    from olkit.data.io import file_sha256

    files = {fmt: {"file": FILES[fmt], "sha256": file_sha256(out / FILES[fmt])} for fmt in todo}
    defect = defect_class if defect_class is not None else default_defect_class(deploy.classes)
    if defect not in deploy.classes:
        raise ValueError(f"defect class {defect!r} is not a class of the model ({list(deploy.classes)})")
    doc = {
        "classes": list(deploy.classes),
        "defect_class": defect,
        "input": {
            "shape": ["n", *deploy.input_shape],
            "dtype": "float32",
            "values": "the resized image's pixel values 0..255",
        },
        "preprocessing": deploy.preprocessing.to_dict(),
        "head": deploy.head,
        "source": deploy.source,
        "files": files,
    }
    atomic_write_json(out / DEPLOY_JSON, doc)
    return read_deploy_info(out)


def read_deploy_info(path: PathLike) -> DeployInfo:
    """Read ``deploy.json`` of an export folder (or of the folder a model file lies in)."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    side = folder / DEPLOY_JSON
    if not side.is_file():
        raise FileNotFoundError(
            f"{side}: no deploy.json here; export a model with olkit.deploy.export.export_model first"
        )
    doc = dict(json.loads(side.read_text(encoding="utf-8")))
    return DeployInfo(
        folder=folder,
        classes=tuple(str(c) for c in doc["classes"]),
        preprocessing=Preprocessing.from_dict(doc["preprocessing"]),
        defect_class=str(doc["defect_class"]),
        files={k: dict(v) for k, v in doc["files"].items()},
        doc=doc,
    )
