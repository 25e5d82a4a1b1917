"""Batched, deterministic embedding extraction and a resumable, sharded cache keyed by model x image.

:func:`embed_images` is a pure function over a list of images (paths or arrays): no augmentation, inference mode,
a prefetching ``tf.data`` input pipeline, a compiled forward pass. It can run anywhere a backbone file and the images
can be read (a notebook, a worker of a cluster engine).

:class:`EmbeddingCache` stores embeddings under one folder for one model fingerprint, in shards of a few hundred rows
(``shard-000000.npz``), each written atomically; :func:`embed_cached` extracts only what is missing and writes a shard
after every chunk, so an extraction that is killed resumes where it stopped. A folder made by another model is
refused with both fingerprints (:class:`olkit.errors.CacheMismatchError`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from olkit.errors import CacheMismatchError
from olkit.files import atomic_write_json, atomic_writer
from olkit.models.conv_base import Backbone
from olkit.types import FloatArray, ImageArray, PathLike, Sha256

__all__ = ["EmbedResult", "EmbeddingCache", "embed_cached", "embed_images", "intra_op_threads"]

META = "meta.json"


@dataclass(frozen=True)
class EmbedResult:
    """Embeddings ``(n, d)`` float32 in input order, with the throughput of the images actually computed."""

    embeddings: FloatArray
    computed: int
    cached: int
    seconds: float
    gflop_per_image: float
    batch_size: int

    @property
    def images_per_s(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else float("nan")

    @property
    def gflop_per_s(self) -> float:
        return self.images_per_s * self.gflop_per_image

    def summary(self) -> dict[str, float | int]:
        return {
            "computed": self.computed,
            "cached": self.cached,
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.images_per_s, 2) if self.computed else 0.0,
            "gflop_per_image": round(self.gflop_per_image, 5),
            "gflop_per_s": round(self.gflop_per_s, 2) if self.computed else 0.0,
            "batch": self.batch_size,
        }


def intra_op_threads() -> int:
    """The intra-op threads TensorFlow gives one model call in this process: one convolution's or matmul's work
    is split over that many threads, and oneDNN's sums may depend on the split.

    TensorFlow's own rule, read without starting it: the count set with ``tf.config.threading`` when TensorFlow
    is loaded, else ``TF_NUM_INTRAOP_THREADS``, else the CPUs this process may run on
    (``os.sched_getaffinity``). The workers of :func:`olkit.online.cluster.cluster_client` run with this count,
    so on one machine a cluster's embeddings are the in-process bytes.

    Returns
    -------
    int
        Threads per op, at least 1.
    """
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "config"):
        configured = int(tf.config.threading.get_intra_op_parallelism_threads())
        if configured > 0:
            return configured
    env = os.environ.get("TF_NUM_INTRAOP_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity call (macOS): all CPUs
        return os.cpu_count() or 1


def _forward(backbone: Backbone, jit_compile: bool) -> Any:
    """A compiled ``uint8 batch -> embeddings`` function, kept on the backbone (one trace per batch shape)."""
    import tensorflow as tf

    key = (jit_compile, id(backbone.encoder))
    cache = backbone.__dict__.setdefault("_forward_cache", {})
    if key in cache:
        return cache[key]
    cache.clear()
    encoder = backbone.encoder
    pp = backbone.preprocessing
    rank3 = len(backbone.model.inputs[0].shape) == 3

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def fn(batch: Any) -> Any:
        x = pp.apply_tf(batch)
        if rank3:
            x = x[..., 0]
        out = encoder(x, training=False)
        return tf.reshape(out, (tf.shape(out)[0], -1))

    cache[key] = fn
    return fn


def embed_images(
    images: Sequence[PathLike | ImageArray],
    backbone: Backbone,
    *,
    batch_size: int = 64,
    jit_compile: bool = False,
    progress: bool = True,
    desc: str = "embedding",
) -> EmbedResult:
    """Embed ``images`` (paths or RGB ``uint8`` arrays) with ``backbone``'s encoder.

    Deterministic: no augmentation, inference mode (BatchNorm moving statistics, no dropout), the same
    preprocessing as :attr:`Backbone.preprocessing`. Loading and resizing run in a ``tf.data`` pipeline that
    prefetches the next batch while the current one is computed.

    Parameters
    ----------
    images
        Paths (read with :func:`olkit.data.io.load_image`) or arrays.
    backbone
        The model; its encoder output is flattened to ``(n, d)``.
    batch_size
        Images per forward pass.
    jit_compile
        Compile the forward pass with XLA (measure first: on CPU oneDNN is often as fast).
    progress
        A tqdm bar over images.
    """
    import tensorflow as tf
    from tqdm.auto import tqdm

    n = len(images)
    dim = backbone.embedding_dim
    out = np.empty((n, dim), dtype=np.float32)
    if n == 0:
        return EmbedResult(out, 0, 0, 0.0, backbone.gflop_per_image, batch_size)
    pp = backbone.preprocessing
    fn = _forward(backbone, jit_compile)

    def batches() -> Any:
        for start in range(0, n, batch_size):
            yield backbone.prepare(images[start : start + batch_size])

    ds = tf.data.Dataset.from_generator(
        batches, output_signature=tf.TensorSpec((None, *pp.size, pp.channels), tf.uint8)
    ).prefetch(2)
    t0 = time.perf_counter()
    pos = 0
    with tqdm(total=n, desc=desc, unit="img", disable=not progress, leave=False) as bar:
        for batch in ds:
            emb = fn(batch).numpy()
            out[pos : pos + len(emb)] = emb
            pos += len(emb)
            bar.update(len(emb))
    seconds = time.perf_counter() - t0
    return EmbedResult(out, n, 0, seconds, backbone.gflop_per_image, batch_size)


class EmbeddingCache:
    """Embeddings of one model, keyed by image sha256, in atomically written shards under ``folder``.

    Parameters
    ----------
    folder
        The cache folder (made if missing). Its ``meta.json`` names the model fingerprint.
    fingerprint
        :attr:`olkit.models.conv_base.Backbone.fingerprint` of the model whose embeddings go here. A folder made by
        another model raises :class:`olkit.errors.CacheMismatchError` naming both fingerprints.
    dim
        Embedding size (checked against the folder's).
    describe
        Extra facts stored in ``meta.json`` (recipe, embedding layer...).
    """

    def __init__(
        self, folder: PathLike, *, fingerprint: str, dim: int, describe: dict[str, Any] | None = None
    ) -> None:
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        self.dim = int(dim)
        meta_path = self.folder / META
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("fingerprint") != fingerprint:
                raise CacheMismatchError(
                    f"{self.folder}: this embedding cache was made by model {meta.get('fingerprint')}, "
                    f"not by the model in use ({fingerprint}); use another cache folder for this model, or delete "
                    f"{self.folder} to recompute"
                )
            if int(meta.get("dim", dim)) != self.dim:
                raise CacheMismatchError(
                    f"{self.folder}: cache holds {meta.get('dim')}-d embeddings, the model gives {dim}-d "
                    f"(fingerprints {meta.get('fingerprint')} / {fingerprint}); delete the folder to recompute"
                )
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            doc = {"fingerprint": fingerprint, "dim": self.dim, **(describe or {})}
            atomic_write_json(meta_path, doc)
        self._index: dict[Sha256, np.ndarray] | None = None

    @classmethod
    def for_backbone(cls, folder: PathLike, backbone: Backbone) -> EmbeddingCache:
        """The cache in ``folder`` for ``backbone`` (fingerprint, dimension and description from the model)."""
        return cls(
            folder,
            fingerprint=backbone.fingerprint,
            dim=backbone.embedding_dim,
            describe={"recipe": backbone.recipe, "embedding_layer": backbone.embedding_layer},
        )

    # -- reading -----------------------------------------------------------------------------------------------
    def shards(self) -> list[Path]:
        return sorted(self.folder.glob("shard-*.npz"))

    def _load(self) -> dict[Sha256, np.ndarray]:
        if self._index is None:
            index: dict[Sha256, np.ndarray] = {}
            for shard in self.shards():
                with np.load(shard, allow_pickle=False) as z:
                    keys, emb = z["sha256"], z["embeddings"]
                for k, row in zip(keys.tolist(), emb):
                    index[str(k)] = row
            self._index = index
        return self._index

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, sha: object) -> bool:
        return sha in self._load()

    def missing(self, sha256s: Sequence[Sha256]) -> list[int]:
        """Positions of ``sha256s`` not in the cache yet."""
        index = self._load()
        return [i for i, s in enumerate(sha256s) if s not in index]

    def get(self, sha256s: Sequence[Sha256]) -> FloatArray:
        """Embeddings of ``sha256s`` in order; a ``KeyError`` names the first one missing."""
        index = self._load()
        out = np.empty((len(sha256s), self.dim), dtype=np.float32)
        for i, s in enumerate(sha256s):
            try:
                out[i] = index[s]
            except KeyError:
                raise KeyError(
                    f"{s} is not in the embedding cache {self.folder} (run embed_cached first)"
                ) from None
        return out

    # -- writing -----------------------------------------------------------------------------------------------
    def add(self, sha256s: Sequence[Sha256], embeddings: FloatArray) -> Path:
        """Write one shard atomically and return its path."""
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.shape != (len(sha256s), self.dim):
            raise ValueError(f"expected embeddings of shape {(len(sha256s), self.dim)}, got {emb.shape}")
        existing = self.shards()
        number = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0
        path = self.folder / f"shard-{number:06d}.npz"
        with atomic_writer(path, mode="wb") as fh:
            np.savez(fh, sha256=np.array(list(sha256s), dtype="U64"), embeddings=emb)
        index = self._load()
        for s, row in zip(sha256s, emb):
            index[s] = row
        return path


def embed_cached(
    images: Sequence[PathLike | ImageArray],
    sha256s: Sequence[Sha256],
    backbone: Backbone,
    cache: EmbeddingCache,
    *,
    batch_size: int = 64,
    shard_size: int = 512,
    jit_compile: bool = False,
    progress: bool = True,
) -> EmbedResult:
    """Embeddings of ``images`` (identified by ``sha256s``), computing only those missing from ``cache``.

    Missing images are embedded in chunks of ``shard_size``; each chunk is written as a shard before the next
    starts, so a killed run loses at most one chunk. Duplicated sha256s are computed once.
    """
    from tqdm.auto import tqdm

    if len(images) != len(sha256s):
        raise ValueError(f"{len(images)} images but {len(sha256s)} sha256s")
    if cache.fingerprint != backbone.fingerprint:
        raise CacheMismatchError(
            f"{cache.folder}: cache of model {cache.fingerprint}, backbone is {backbone.fingerprint}; "
            "open the cache with EmbeddingCache.for_backbone(folder, backbone)"
        )
    todo: dict[Sha256, int] = {}
    for i in cache.missing(list(sha256s)):
        todo.setdefault(sha256s[i], i)
    order = list(todo.values())
    seconds = 0.0
    with tqdm(total=len(order), desc="embedding", unit="img", disable=not progress or not order) as bar:
        for start in range(0, len(order), shard_size):
            chunk = order[start : start + shard_size]
            res = embed_images(
                [images[i] for i in chunk],
                backbone,
                batch_size=batch_size,
                jit_compile=jit_compile,
                progress=False,
            )
            cache.add([sha256s[i] for i in chunk], res.embeddings)
            seconds += res.seconds
            bar.update(len(chunk))
    return EmbedResult(
        cache.get(list(sha256s)),
        computed=len(order),
        cached=len(sha256s) - len(order),
        seconds=seconds,
        gflop_per_image=backbone.gflop_per_image,
        batch_size=batch_size,
    )
