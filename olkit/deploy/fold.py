"""One deployable model: a conv base and its scikit-learn classifier folded into a single Keras model.

olkit's two-part pipeline is a Keras conv base (features) and a scikit-learn classifier on top
(:mod:`olkit.classify`: ``VarianceThreshold`` + ``StandardScaler`` + the grid-searched ``LogisticRegression`` of the
pruning evaluation, or ``StandardScaler`` + ``MLPClassifier`` of the online session). :func:`fold_classifier` rewrites
the classifier as Keras layers after the base: a feature selector (the variance floor) becomes zero rows of the first
``Dense`` layer, the scaler two ``Normalization`` layers (the mean subtracted in
two float32 parts, then divided by the scale; kept apart from the first Dense layer: folding it into the weights
would subtract large, nearly equal float32 numbers where a feature barely varies), every weight matrix a ``Dense`` layer with the same activation, and the
output a softmax over the classes (a binary logistic output ``σ(z)`` is ``softmax([0, z])``, so two columns in
the classes' order). The preprocessing is inside too (``x * scale + offset`` of the base's
:class:`~olkit.models.conv_base.Preprocessing`), so the model takes the resized image's raw 0..255 values as
float32 ``(n, height, width, channels)`` and returns class probabilities ``(n, n_classes)``.

:func:`from_prune` makes one from a pruning run's ``prune/chosen.keras`` (the classifier fitted as the evaluation
fits it, on the user's labelled images); :func:`from_session` from an online session's current conv base and
classifier (the one the expert's labels just retrained).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from olkit.errors import ModelMismatchError, UnprunableModelError
from olkit.models.conv_base import Preprocessing
from olkit.prune.measure import Pooling
from olkit.types import PathLike

__all__ = [
    "DeployModel",
    "fit_head",
    "fold_classifier",
    "fragile_features",
    "from_prune",
    "from_session",
    "head_layers",
    "pipeline_proba",
]

_ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_SELECTORS = frozenset(
    {"VarianceFloor", "VarianceThreshold", "SelectKBest", "SelectPercentile", "SelectFromModel"}
)
"""scikit-learn feature selectors folded as zero rows of the first Dense layer (their ``get_support``)."""


@dataclass(frozen=True)
class DeployModel:
    """A Keras model ``raw pixels -> class probabilities`` and what a line needs to feed it.

    Attributes
    ----------
    model
        Keras model: float32 ``(n, h, w, c)`` with the resized image's 0..255 values in, probabilities out.
    classes
        Class names in the output's column order.
    preprocessing
        How an image file becomes the input: read with :func:`olkit.data.io.load_image` at ``size`` in RGB (or
        grayscale); ``scale`` / ``offset`` are already applied inside the model.
    head
        The classifier folded in, in words (e.g. ``"StandardScaler + LogisticRegression(C=10)"``).
    source
        What it was made from (conv base file and fingerprint, classifier, pooling).
    """

    model: Any
    classes: tuple[str, ...]
    preprocessing: Preprocessing
    head: str
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        h, w = self.preprocessing.size
        return (int(h), int(w), self.preprocessing.channels)

    def weights_digest(self) -> str:
        """SHA-256 over every weight array of the model (the in-memory fingerprint)."""
        from olkit.models.conv_base import model_weights_digest

        return model_weights_digest(self.model)

    def predict_proba(self, images: npt.NDArray[Any], *, batch_size: int = 64) -> npt.NDArray[np.float32]:
        """Probabilities of a ``(n, h, w, c)`` batch of resized images (uint8 or float 0..255) in TensorFlow."""
        x = np.asarray(images, dtype=np.float32)
        if x.ndim == 3:
            x = x[..., None]
        parts = [
            np.asarray(self.model(x[i : i + batch_size], training=False))
            for i in range(0, len(x), batch_size)
        ]
        if not parts:
            return np.zeros((0, len(self.classes)), np.float32)
        return np.concatenate(parts).astype(np.float32)


# --------------------------------------------------------------------------------------------------------------
# the classifier as Keras layers
# --------------------------------------------------------------------------------------------------------------
def _unwrap(classifier: Any) -> list[tuple[str, Any]]:
    """The steps of a fitted classifier: a GridSearchCV's best estimator, a Pipeline's steps, or the estimator."""
    est = getattr(classifier, "best_estimator_", classifier)
    steps = getattr(est, "steps", None)
    return list(steps) if steps is not None else [(type(est).__name__.lower(), est)]


def _n_features_in(steps: list[tuple[str, Any]]) -> int:
    """The feature count the first step of a fitted classifier was fitted on."""
    first = steps[0][1]
    n = getattr(first, "n_features_in_", None)
    if n is None:
        n = first.coefs_[0].shape[0] if hasattr(first, "coefs_") else np.asarray(first.coef_).shape[1]
    return int(n)


def _describe(steps: list[tuple[str, Any]]) -> str:
    parts = []
    for _, est in steps:
        name = type(est).__name__
        if name in ("VarianceThreshold", "VarianceFloor"):
            kept = int(np.sum(est.get_support()))
            floor = f"rel. std {est.rel_std:g}" if name == "VarianceFloor" else f"{est.threshold:g}"
            parts.append(f"{name}({floor}: {kept} of {est.n_features_in_} features)")
        elif name == "LogisticRegression":
            parts.append(f"LogisticRegression(C={est.C:g})")
        elif name == "MLPClassifier":
            parts.append(f"MLPClassifier({tuple(est.hidden_layer_sizes)}, {est.activation})")
        else:
            parts.append(name)
    return " + ".join(parts)


def head_layers(classifier: Any, *, prefix: str = "head") -> tuple[list[Any], tuple[str, ...], str]:
    """Keras layers computing ``classifier.predict_proba`` from the feature vector.

    Parameters
    ----------
    classifier
        A fitted ``Pipeline`` of feature selectors (``VarianceThreshold``, ``SelectKBest``...: the dropped columns
        get zero rows in the first ``Dense`` layer), ``StandardScaler`` steps and a final ``LogisticRegression``
        or ``MLPClassifier`` (binary or multi-class), or a ``GridSearchCV`` over one (its ``best_estimator_``),
        or the bare estimator.
    prefix
        Layer name prefix.

    Returns
    -------
    layers : list
        Keras layers, to apply in order; the last one is the softmax named ``probabilities``.
    classes : tuple of str
        The classifier's ``classes_`` as strings (the output's column order).
    description : str
        The folded steps in words.

    Raises
    ------
    ModelMismatchError
        A step olkit cannot fold (the message names it).
    """
    import keras

    steps = _unwrap(classifier)
    *pre, (_, final) = steps
    layers: list[Any] = []
    n_in = _n_features_in(steps)
    cols = np.arange(n_in)  # the input columns the current step sees (a selector drops some)
    inv_scale: np.ndarray | None = None
    scalers = [i for i, (_, est) in enumerate(pre) if type(est).__name__ == "StandardScaler"]
    for i, (name, est) in enumerate(pre):
        if hasattr(est, "get_support") and type(est).__name__ in _SELECTORS:
            # (a VarianceFloor that keeps nothing passes one column of zeros on: with no kept column, the
            # scaler's and the first layer's one entry for it broadcast to nothing, and 0 contributes 0)
            cols = cols[np.asarray(est.get_support(indices=True), np.int64)]
            continue
        if type(est).__name__ != "StandardScaler":
            raise ModelMismatchError(
                f"cannot fold pipeline step {name!r} ({type(est).__name__}); olkit folds feature selectors "
                f"({', '.join(sorted(_SELECTORS))}), StandardScaler steps and a final LogisticRegression or "
                "MLPClassifier"
            )
        k = len(cols)
        mean = np.zeros(n_in, np.float64)  # dropped columns: centred by 0, scaled by 1 (their weights are 0)
        scale = np.ones(n_in, np.float64)
        mean[cols] = np.asarray(est.mean_ if est.with_mean else np.zeros(k), np.float64)
        scale[cols] = np.asarray(est.scale_ if est.with_std else np.ones(k), np.float64)
        if i != scalers[-1]:  # an inner scaler (rare): one Normalization layer
            layers.append(
                keras.layers.Normalization(
                    axis=-1,
                    mean=mean.astype(np.float32),
                    variance=(scale**2).astype(np.float32),
                    name=f"{prefix}_scale{i}",
                )
            )
            continue
        # the last scaler: the mean subtracted in two float32 parts (hi + lo; x - hi is exact where x is near
        # the mean, one float32 mean would lose mean * 6e-8 / scale), the division by the scale folded into the
        # first Dense layer's rows (a product: no cancellation, and no epsilon clamp of a tiny scale)
        hi = mean.astype(np.float32)
        lo = (mean - hi.astype(np.float64)).astype(np.float32)
        for part, vals in (("hi", hi), ("lo", lo)):
            layers.append(
                keras.layers.Normalization(
                    axis=-1, mean=vals, variance=np.ones_like(vals), name=f"{prefix}_center{i}_{part}"
                )
            )
        inv_scale = 1.0 / scale
    kind = type(final).__name__
    classes = tuple(str(c) for c in final.classes_)
    mats: list[tuple[np.ndarray, np.ndarray, str]] = []
    if kind == "LogisticRegression":
        mats.append((np.asarray(final.coef_, np.float64).T, np.asarray(final.intercept_, np.float64), "out"))
    elif kind == "MLPClassifier":
        act = _ACTIVATIONS.get(final.activation)
        if act is None:
            raise ModelMismatchError(f"MLPClassifier activation {final.activation!r} cannot be folded")
        n = len(final.coefs_)
        for j, (w, b) in enumerate(zip(final.coefs_, final.intercepts_)):
            mats.append((np.asarray(w, np.float64), np.asarray(b, np.float64), act if j < n - 1 else "out"))
        if final.out_activation_ not in ("logistic", "softmax"):
            raise ModelMismatchError(f"MLPClassifier output {final.out_activation_!r} cannot be folded")
    else:
        raise ModelMismatchError(
            f"cannot fold a {kind}; olkit folds LogisticRegression and MLPClassifier (in a Pipeline or GridSearchCV)"
        )
    # the first weight matrix over every input column: the rows of the kept columns (divided by the scale),
    # zero rows for the columns a selector dropped (x * 0 is exactly 0: the selection, without a gather op)
    w0, b0, a0 = mats[0]
    full = np.zeros((n_in, w0.shape[1]), np.float64)
    full[cols] = w0
    mats[0] = (full * (inv_scale[:, None] if inv_scale is not None else 1.0), b0, a0)
    for j, (w, b, act) in enumerate(mats):
        if act == "out" and w.shape[1] == 1 and len(classes) == 2:
            # σ(z) = softmax([0, z])[1]: two columns, the classes' order, one softmax for every head
            w = np.concatenate([np.zeros_like(w), w], axis=1)
            b = np.concatenate([np.zeros_like(b), b])
        dense = keras.layers.Dense(
            w.shape[1], activation=None if act == "out" else act, name=f"{prefix}_dense{j}"
        )
        dense.build((None, w.shape[0]))
        dense.set_weights([w.astype(np.float32), b.astype(np.float32)])
        layers.append(dense)
    layers.append(keras.layers.Softmax(name="probabilities"))
    return layers, classes, _describe(steps)


def fragile_features(classifier: Any, *, rel: float = 1e-5) -> tuple[int, int]:
    """``(fragile, total)``: features whose scaler std is below ``rel`` times their mean's magnitude.

    Such a feature is constant up to float32 rounding, yet the scaler divides by its std: the pipeline's output then
    follows the rounding of whatever computed the features, and no export can agree with it to 1e-4.
    """
    for _, est in _unwrap(classifier):
        if type(est).__name__ == "StandardScaler" and getattr(est, "with_std", False):
            scale = np.asarray(est.scale_, np.float64)
            mean = np.abs(np.asarray(est.mean_, np.float64)) if est.with_mean else np.ones_like(scale)
            return int(np.sum(scale < rel * np.maximum(mean, 1e-30))), len(scale)
    return 0, 0


def _fold_bn(base: Any) -> Any:
    """``base`` with Conv -> BatchNorm pairs folded (exact up to rounding), or as it is where it is no chain."""
    from olkit.prune.graph import flatten_layers, layer_kind
    from olkit.prune.surgery import fold_batchnorm

    if not any(layer_kind(layer) == "BatchNormalization" for layer in flatten_layers(base)):
        return base
    try:
        return fold_batchnorm(base, name=f"{base.name}_bnfolded")
    except (UnprunableModelError, ValueError, KeyError):
        return base


def _preprocess_layer(pp: Preprocessing, x: Any) -> Any:
    """``pp``'s value mapping as a layer: a ``Rescaling`` for one scale and offset, else a 1x1 convolution whose
    kernel holds the per-channel factors on the (flipped, for BGR) diagonal: exact, every other term is 0."""
    import keras

    flip, mul, add = pp.affine()
    if not flip and np.all(mul == mul[0]) and np.all(add == add[0]):
        if float(mul[0]) == 1.0 and float(add[0]) == 0.0:
            return x
        return keras.layers.Rescaling(float(mul[0]), float(add[0]), name="preprocess")(x)
    c = len(mul)
    kernel = np.zeros((1, 1, c, c), np.float32)
    for j in range(c):
        kernel[0, 0, c - 1 - j if flip else j, j] = mul[j]
    conv = keras.layers.Conv2D(c, 1, name="preprocess")
    conv.build((None, None, None, c))
    conv.set_weights([kernel, add.astype(np.float32)])
    return conv(x)


def fold_classifier(
    base: Any,
    classifier: Any,
    *,
    preprocessing: Preprocessing | None = None,
    pooling: Pooling = "flatten",
    fold_bn: bool = False,
    source: dict[str, Any] | None = None,
    name: str = "olkit_deploy",
) -> DeployModel:
    """One Keras model: preprocessing, ``base``, pooling (when ``base`` ends in a feature map) and the classifier.

    Parameters
    ----------
    base
        Keras model whose output (a map, pooled by ``pooling``, or a vector) is what ``classifier`` was fitted on.
    classifier
        A fitted scikit-learn classifier (see :func:`head_layers`).
    preprocessing
        Input size, colour, and the value mapping applied inside (every mode of
        :class:`~olkit.models.conv_base.Preprocessing`); default: the base's input size, RGB, scale 1 (the zoo's
        models rescale inside).
    pooling
        ``"flatten"`` (the pruning evaluation's default), ``"avg"`` or ``"max"``: as the features were made.
    fold_bn
        Fold Conv -> BatchNorm pairs into the Keras convs (exact up to rounding, faster in TensorFlow). Off by
        default: the features of a conv base often vary little around a large mean, the scaler divides by that
        small spread, and the rounding of a folded conv then moves the probabilities by more than 1e-4. LiteRT's
        converter and onnxruntime fold batch norm on their own.
    source
        Recorded as :attr:`DeployModel.source`.
    name
        The Keras model's name.
    """
    import keras

    shape = tuple(base.inputs[0].shape)
    if preprocessing is None:
        preprocessing = Preprocessing(size=(int(shape[1]), int(shape[2])), color="rgb", scale=1.0, offset=0.0)
    h, w = preprocessing.size
    c = preprocessing.channels
    net = _fold_bn(base) if fold_bn else base
    inp = keras.Input(shape=(h, w, c), dtype="float32", name="images")
    x = inp
    x = _preprocess_layer(preprocessing, x)
    if len(shape) == 3:  # the original's grayscale models take (n, h, w)
        x = keras.layers.Reshape((h, w), name="drop_channel")(x)
    x = net(x)
    if len(x.shape) == 4:
        x = {
            "flatten": keras.layers.Flatten,
            "avg": keras.layers.GlobalAveragePooling2D,
            "max": keras.layers.GlobalMaxPooling2D,
        }[pooling](name=f"features_{pooling}")(x)
    elif len(x.shape) > 2:
        x = keras.layers.Flatten(name="features_flatten")(x)
    layers, classes, description = head_layers(classifier)
    for layer in layers:
        x = layer(x)
    model = keras.Model(inp, x, name=name)
    return DeployModel(
        model=model,
        classes=classes,
        preprocessing=preprocessing,
        head=description,
        source={
            **(source or {}),
            "pooling": pooling,
            "bn_folded": net is not base,
            "fragile_features": list(fragile_features(classifier)),
        },
    )


# --------------------------------------------------------------------------------------------------------------
# the two-part pipeline, and deployable models made from a run
# --------------------------------------------------------------------------------------------------------------
def fit_head(
    base: Any,
    images: npt.NDArray[Any],
    labels: Sequence[Any] | npt.NDArray[Any],
    *,
    train: npt.NDArray[np.int64] | None = None,
    classifier: Literal["logreg", "mlp"] = "logreg",
    pooling: Pooling = "flatten",
    seed: int = 0,
) -> Any:
    """Fit the pruning evaluation's classifier on ``base``'s features, as
    :func:`olkit.prune.candidates.evaluate_candidates` does (same features, same estimator, same seed).

    ``train`` selects the rows to fit on (default: all). Labels are used as strings.
    """
    from olkit.classify import make_logreg, make_mlp
    from olkit.prune.measure import extract_features

    y = np.asarray([str(v) for v in labels])
    idx = np.arange(len(y)) if train is None else np.asarray(train)
    feats = extract_features(base, np.asarray(images)[idx], pooling=pooling)
    clf = make_logreg(seed=seed) if classifier == "logreg" else make_mlp(seed=seed)
    clf.fit(feats, y[idx])
    return clf


def pipeline_proba(
    base: Any, classifier: Any, images: npt.NDArray[Any], *, pooling: Pooling = "flatten"
) -> npt.NDArray[np.float64]:
    """The two-part pipeline's probabilities: ``base``'s features, then ``classifier.predict_proba``."""
    from olkit.prune.measure import extract_features

    return np.asarray(classifier.predict_proba(extract_features(base, np.asarray(images), pooling=pooling)))


def _file_digest(path: Path) -> str:
    from olkit.data.io import file_sha256

    return file_sha256(path)


def load_base(model: Any | PathLike) -> tuple[Any, Path | None]:
    """A conv model and the ``.keras`` file it came from: ``model`` itself (no file) or the file loaded in safe
    mode."""
    import keras

    if hasattr(model, "layers"):
        return model, None
    path = Path(model)  # type: ignore[arg-type]
    return keras.models.load_model(path, safe_mode=True, compile=False), path


def from_prune(
    model: Any | PathLike,
    images: npt.NDArray[Any],
    labels: Sequence[Any] | npt.NDArray[Any],
    *,
    train: npt.NDArray[np.int64] | None = None,
    classifier: Literal["logreg", "mlp"] = "logreg",
    pooling: Pooling = "flatten",
    seed: int = 0,
    source_file: PathLike | None = None,
) -> tuple[DeployModel, Any]:
    """A deployable model from a pruned conv model (e.g. a run's ``prune/chosen.keras``) and labelled images.

    The classifier is fitted on ``images[train]`` exactly as the evaluation fitted it (:func:`fit_head`), then
    folded in. Returns the model and the fitted scikit-learn classifier (the notebook's second part). ``model`` is
    the conv model or its ``.keras`` file; a model already loaded from a file names it in ``source_file``, so
    that the card records the file and its digest without loading it again.
    """
    base, path = load_base(model)
    if source_file is not None:
        path = Path(source_file)
    clf = fit_head(base, images, labels, train=train, classifier=classifier, pooling=pooling, seed=seed)
    source: dict[str, Any] = {"kind": "prune", "classifier": classifier, "seed": seed}
    if path is not None:
        source.update(base_file=str(path), base_sha256=_file_digest(path))
    source["n_train"] = int(len(labels) if train is None else len(train))
    return fold_classifier(base, clf, pooling=pooling, source=source, name=f"{base.name}_deploy"), clf


def from_session(session: Any, *, fold_bn: bool = False) -> DeployModel:
    """A deployable model from an :class:`olkit.online.session.OnlineSession`: its current conv base (the
    encoder and its preprocessing) and its current classifier (the one retrained with the expert's labels)."""
    bb = session.backbone
    source = {
        "kind": "online",
        "backbone_fingerprint": bb.fingerprint,
        "recipe": bb.recipe,
        "round": int(session.round),
        "run": str(session.run.root),
    }
    return fold_classifier(
        bb.encoder,
        session.classifier,
        preprocessing=bb.preprocessing,
        pooling="flatten",
        fold_bn=fold_bn,
        source=source,
        name="online_deploy",
    )
