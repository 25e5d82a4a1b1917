"""Embedding extraction as Dask tasks: the same cache, fingerprints and bytes as :func:`~olkit.online.embed.embed_cached`.

:func:`embed_on` takes the images, their sha256s, a backbone (a saved ``.keras`` file or a :class:`Backbone`) and an
:class:`~olkit.online.embed.EmbeddingCache`, and a ``scheduler``:

- ``""``: in-process, exactly :func:`~olkit.online.embed.embed_cached`;
- ``"local"``: a :class:`distributed.LocalCluster` of ``workers`` processes started for the job, one task at a
  time each;
- an address (``tcp://10.0.0.5:8786``): an existing ``dask.distributed`` cluster, whose workers must read the
  images, the model file and the cache folder at the same paths (shared storage, see ``docs/SCALE.md``).

The missing images are cut into the chunks the in-process path would make (``shard_size`` each, in the same order,
embedded in batches of ``batch_size``); each chunk is one task whose worker loads the model once (a per-process
cache keyed by model path and fingerprint, checked against the fingerprint the job expects), embeds the chunk and
writes it as one shard, atomically (:func:`olkit.files.atomic_writer`), under a number fixed when the job was cut.
A killed worker therefore loses at most the chunk it was computing: the scheduler reruns that task on another
worker, which writes the same shard with the same bytes; a finished shard is never rewritten by another task.
Same bytes: a worker runs TensorFlow with one inter-op thread and the intra-op thread count of the process that
started the job (:func:`~olkit.online.embed.intra_op_threads`, TensorFlow's default there: the CPUs it may use), so
every model call splits its sums as an in-process call does and a ``"local"`` cluster writes the in-process bytes.
oneDNN's reductions may depend on that count (differences of about 1e-7 otherwise). A worker reports the count it
ran with; :func:`embed_on` logs a warning when it is not the caller's (an external cluster started otherwise).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from olkit.errors import CacheMismatchError
from olkit.files import atomic_writer
from olkit.models.conv_base import Backbone
from olkit.online.embed import (
    EmbeddingCache,
    EmbedResult,
    embed_cached,
    embed_images,
    intra_op_threads,
)
from olkit.types import ImageArray, PathLike, Sha256

__all__ = [
    "WORKER_ENV",
    "cluster_client",
    "embed_on",
    "embed_splits",
    "load_backbone_once",
    "session_cache_folder",
    "worker_env",
]

log = logging.getLogger(__name__)

WORKER_ENV: dict[str, str] = {
    "TF_NUM_INTEROP_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
"""Environment of every worker a ``"local"`` cluster starts, beside the intra-op count of :func:`worker_env`."""


def worker_env(intra_op: int | None = None) -> dict[str, str]:
    """The environment of a ``"local"`` cluster's workers: :data:`WORKER_ENV` and ``TF_NUM_INTRAOP_THREADS``.

    Parameters
    ----------
    intra_op
        Intra-op threads per model call; default :func:`~olkit.online.embed.intra_op_threads` of this process,
        the count an in-process embedding uses here, which makes the workers' bytes the in-process ones.
    """
    threads = intra_op_threads() if intra_op is None else int(intra_op)
    if threads < 1:
        raise ValueError(f"intra_op must be at least 1, got {threads}")
    return {**WORKER_ENV, "TF_NUM_INTRAOP_THREADS": str(threads)}


MODEL_FILE = "model.keras"
"""Where :func:`embed_on` saves a :class:`Backbone` given as an object (in the cache folder, which workers read)."""

_MODELS: dict[tuple[str, str], Backbone] = {}
_MODELS_LOCK = threading.Lock()


def load_backbone_once(path: PathLike, fingerprint: str) -> Backbone:
    """The backbone saved at ``path``, loaded once per process and kept (keyed by resolved path and fingerprint).

    Raises :class:`olkit.errors.CacheMismatchError` when the file holds another model than ``fingerprint`` (it was
    replaced after the job started).
    """
    key = (str(Path(path).resolve()), fingerprint)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _pin_tf_threads()
            bb = Backbone.load(path)
            if bb.fingerprint != fingerprint:
                raise CacheMismatchError(
                    f"{path}: holds model {bb.fingerprint[:16]}, the job embeds with {fingerprint[:16]}; the file "
                    "changed after the job started"
                )
            _MODELS.clear()  # one model per worker: a new job with a new model frees the old one
            _MODELS[key] = bb
        return _MODELS[key]


def _pin_tf_threads() -> None:
    """Pin TensorFlow to the thread counts of the environment (:func:`worker_env`) when the process asked for
    them (before TF's first op; later calls are ignored by TensorFlow and skipped here)."""
    import tensorflow as tf

    intra = os.environ.get("TF_NUM_INTRAOP_THREADS")
    inter = os.environ.get("TF_NUM_INTEROP_THREADS")
    try:
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(int(intra))
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(int(inter))
    except RuntimeError:  # TensorFlow already initialised in this process
        pass


def _embed_chunk(
    model_path: str,
    fingerprint: str,
    images: Sequence[PathLike | ImageArray],
    sha256s: Sequence[Sha256],
    shard_path: str,
    batch_size: int,
    jit_compile: bool,
) -> dict[str, Any]:
    """One task: embed ``images`` and write them as the shard ``shard_path`` (atomic; skipped when it exists)."""
    path = Path(shard_path)
    if path.is_file():  # written by an earlier try of this task that died after the rename
        return {"shard": path.name, "images": len(sha256s), "computed": 0, "pid": os.getpid()}
    bb = load_backbone_once(model_path, fingerprint)
    res = embed_images(images, bb, batch_size=batch_size, jit_compile=jit_compile, progress=False)
    with atomic_writer(path, mode="wb") as fh:
        np.savez(fh, sha256=np.array(list(sha256s), dtype="U64"), embeddings=res.embeddings)
    return {
        "shard": path.name,
        "images": len(sha256s),
        "computed": len(sha256s),
        "pid": os.getpid(),
        "intra_op": intra_op_threads(),
    }


@contextmanager
def cluster_client(scheduler: Any, *, workers: int = 2, intra_op: int | None = None) -> Iterator[Any]:
    """A :class:`distributed.Client` for ``scheduler``: ``"local"`` starts a :class:`~distributed.LocalCluster` of
    ``workers`` processes running one task at a time, each model call on ``intra_op`` threads (default: this
    process's count, :func:`worker_env`), closed on exit; an address connects to that scheduler; a ``Client`` is
    used as it is (left open)."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler == "local":
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,  # not the nanny's routine "killing" notes at close
                env=worker_env(intra_op),
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    if not isinstance(scheduler, str) or not scheduler:
        raise ValueError(
            f"scheduler must be '', 'local', an address or a distributed.Client, got {scheduler!r}"
        )
    with Client(scheduler) as client:
        yield client


def _model_file(backbone: Backbone | PathLike, cache: EmbeddingCache) -> tuple[Path, str]:
    """The model file workers load, and its fingerprint (a :class:`Backbone` object is saved in the cache folder)."""
    if isinstance(backbone, Backbone):
        path = cache.folder / MODEL_FILE
        if not path.is_file():
            backbone.save(path)
        return path.resolve(), backbone.fingerprint
    path = Path(backbone).resolve()
    import json

    side = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    return path, str(side["fingerprint"])


def embed_on(
    images: Sequence[PathLike | ImageArray],
    sha256s: Sequence[Sha256],
    backbone: Backbone | PathLike,
    cache: EmbeddingCache,
    *,
    scheduler: Any = "",
    workers: int = 2,
    batch_size: int = 64,
    shard_size: int = 512,
    jit_compile: bool = False,
    progress: bool = True,
) -> EmbedResult:
    """Embeddings of ``images`` (identified by ``sha256s``), computing only those missing from ``cache``, in-process
    or on a Dask cluster; the result and the shards written are the same bytes either way.

    Parameters
    ----------
    images, sha256s
        Paths (which every worker must be able to read) or arrays, and their content hashes.
    backbone
        A saved backbone (``.keras`` with its ``.json`` sidecar) or a :class:`Backbone` (saved as
        ``cache.folder/model.keras`` for the workers when ``scheduler`` is not ``""``).
    cache
        The embedding cache of that model (its folder on storage every worker shares).
    scheduler
        ``""`` in-process; ``"local"`` a ``LocalCluster`` of ``workers`` processes; a scheduler address; or a
        ``distributed.Client``.
    workers
        Processes of a ``"local"`` cluster (one task at a time each, with this process's intra-op threads).
    batch_size, shard_size, jit_compile
        As in :func:`~olkit.online.embed.embed_cached`: a task is one shard of ``shard_size`` images.
    progress
        A tqdm bar over finished shards.

    Returns
    -------
    EmbedResult
        Embeddings in input order; ``seconds`` is the wall time of the job (cluster) or of the forward passes
        (in-process), so ``images_per_s`` is the throughput a user sees.
    """
    if not scheduler:
        bb = backbone if isinstance(backbone, Backbone) else Backbone.load(backbone)
        return embed_cached(
            images,
            sha256s,
            bb,
            cache,
            batch_size=batch_size,
            shard_size=shard_size,
            jit_compile=jit_compile,
            progress=progress,
        )
    from distributed import as_completed
    from tqdm.auto import tqdm

    if len(images) != len(sha256s):
        raise ValueError(f"{len(images)} images but {len(sha256s)} sha256s")
    model_path, fingerprint = _model_file(backbone, cache)
    if fingerprint != cache.fingerprint:
        raise CacheMismatchError(
            f"{cache.folder}: cache of model {cache.fingerprint}, {model_path} is {fingerprint}; "
            "open the cache with EmbeddingCache.for_backbone(folder, backbone)"
        )
    todo: dict[Sha256, int] = {}
    for i in cache.missing(list(sha256s)):
        todo.setdefault(sha256s[i], i)
    order = list(todo.values())
    existing = cache.shards()
    first = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0
    imgs = [str(im) if isinstance(im, (str, os.PathLike)) else im for im in images]
    t0 = time.perf_counter()
    if order:
        with cluster_client(scheduler, workers=workers) as client:
            futures = []
            for number, start in enumerate(range(0, len(order), shard_size)):
                chunk = order[start : start + shard_size]
                futures.append(
                    client.submit(
                        _embed_chunk,
                        str(model_path),
                        fingerprint,
                        [imgs[i] for i in chunk],
                        [sha256s[i] for i in chunk],
                        str(cache.folder / f"shard-{first + number:06d}.npz"),
                        batch_size,
                        jit_compile,
                        key=f"olkit-embed-{fingerprint[:12]}-{first + number:06d}-{time.time_ns()}",
                        retries=2,
                        pure=False,
                    )
                )
            threads: set[int] = set()
            with tqdm(total=len(order), desc="embedding", unit="img", disable=not progress) as bar:
                for fut in as_completed(futures):
                    done = fut.result()
                    bar.update(int(done["images"]))
                    if done.get("intra_op"):
                        threads.add(int(done["intra_op"]))
        mine = intra_op_threads()
        if threads - {mine}:
            log.warning(
                "workers ran TensorFlow with %s intra-op threads, this process uses %d: the embeddings may differ "
                "from in-process ones in the last bits (start the workers with TF_NUM_INTRAOP_THREADS=%d)",
                sorted(threads),
                mine,
                mine,
            )
        cache._index = None  # the workers wrote the shards: the caller's cache re-reads its folder
    seconds = time.perf_counter() - t0
    return EmbedResult(
        cache.get(list(sha256s)),
        computed=len(order),
        cached=len(sha256s) - len(order),
        seconds=seconds,
        gflop_per_image=cache_gflop(backbone),
        batch_size=batch_size,
    )


def cache_gflop(backbone: Backbone | PathLike) -> float:
    """GFLOP per image of ``backbone`` (read from the sidecar for a file, so the driver never loads TensorFlow)."""
    if isinstance(backbone, Backbone):
        return backbone.gflop_per_image
    import json

    side = json.loads(Path(backbone).with_suffix(".json").read_text(encoding="utf-8"))
    return float(side.get("gflop_per_image", float("nan")))


def session_cache_folder(run: Any, backbone: Backbone) -> Path:
    """The embedding cache folder :class:`olkit.online.session.OnlineSession` uses in ``run`` for ``backbone``."""
    return Path(run.embeddings) / f"{backbone.recipe}-{backbone.fingerprint[:16]}"


def embed_splits(
    run: Any,
    splits: Any,
    backbone: Backbone,
    *,
    scheduler: Any = "",
    workers: int = 2,
    progress: bool = True,
) -> EmbedResult | None:
    """Fill the run's embedding cache for the train, holdout and test rows of ``splits`` on ``scheduler``, so that
    :meth:`OnlineSession.create <olkit.online.session.OnlineSession.create>` then finds every embedding cached.
    ``scheduler=""`` does nothing (the session embeds in-process as before) and returns ``None``; the backbone must
    be saved at ``run.backbone`` (workers load that file)."""
    if not scheduler:
        return None
    rows = splits[splits["split"].isin(["train", "holdout", "test"])]
    cache = EmbeddingCache.for_backbone(session_cache_folder(run, backbone), backbone)
    return embed_on(
        [str(p) for p in rows["path"]],
        [str(s) for s in rows["sha256"]],
        run.backbone,
        cache,
        scheduler=scheduler,
        workers=workers,
        progress=progress,
    )
