"""A pool of a million embeddings on disk, and novelty / k-nearest-labelled selection over it with an ANN index.

Storage: :class:`EmbeddingPool` keeps the pool as memory-mapped ``.npy`` shards (``pool-000000.npy``, float32,
``shard_rows`` rows each) with their keys beside them (``pool-000000.keys.npy``, the sha256s). Why ``.npy`` rather
than Zarr or Parquet: a ``.npy`` shard is a header and the raw C-ordered float32 rows, so ``np.load(mmap_mode="r")``
hands faiss and NumPy an ordinary array without a copy or a decode, the operating system pages it in and out (a
million x 512 float32, 2 GB, never has to sit in one process's memory), and NumPy is all it needs. Zarr would add a
dependency and compress chunks of float embeddings that hardly compress (CPU for nothing); Parquet stores columns,
so a row of 512 floats is 512 column reads or a list column that is decoded row by row. Each shard is written once,
atomically (:func:`olkit.files.atomic_save`), so the pool grows by appending shards, as the embedding cache does.

Selection: :func:`pool_neighbours` builds a faiss IVF index (``IndexIVFFlat``, inner lists scanned exactly) over
the *labelled* embeddings (thousands, in memory) and streams the pool through it shard by shard: for every pool row
the ``k`` nearest labelled rows and their distances, in ``(n, k)`` float32 / int32 arrays (a million x 10: 80 MB).
:func:`novelty` (the mean distance to the ``k`` nearest labelled, as :func:`olkit.online.select.novelty`) and
:func:`select_novel` (the most novel rows, spread apart by a greedy farthest-point pass over the top candidates)
build on it. :func:`exact_neighbours` is the brute-force answer the recall is checked against.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from olkit.files import atomic_save, atomic_write_json
from olkit.types import FloatArray, PathLike

__all__ = [
    "EmbeddingPool",
    "Neighbours",
    "clustered_embeddings",
    "exact_neighbours",
    "ivf_index",
    "novelty",
    "pool_neighbours",
    "recall_at_k",
    "select_novel",
]

POOL_META = "pool.json"


class EmbeddingPool:
    """Embeddings stored as memory-mapped float32 ``.npy`` shards under ``folder`` (see the module docstring).

    Parameters
    ----------
    folder
        The pool folder (made if missing); ``pool.json`` records the width.
    dim
        Embedding width; required for a new pool, checked against an existing one.
    """

    def __init__(self, folder: PathLike, *, dim: int | None = None) -> None:
        self.folder = Path(folder)
        meta = self.folder / POOL_META
        if meta.is_file():
            self.dim = int(json.loads(meta.read_text(encoding="utf-8"))["dim"])
            if dim is not None and int(dim) != self.dim:
                raise ValueError(f"{self.folder}: pool of {self.dim}-d embeddings, not {dim}-d")
        else:
            if dim is None:
                raise ValueError(f"{self.folder}: no pool here yet; give dim= to make one")
            self.dim = int(dim)
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(meta, {"dim": self.dim, "dtype": "float32", "format": "npy shards"})

    def shards(self) -> list[Path]:
        return sorted(p for p in self.folder.glob("pool-*.npy") if not p.name.endswith(".keys.npy"))

    def append(self, embeddings: FloatArray, keys: Sequence[str] | None = None) -> Path:
        """Write ``embeddings`` (and their ``keys``, e.g. sha256s) as the next shard; returns its path."""
        emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[1] != self.dim:
            raise ValueError(f"expected (n, {self.dim}) embeddings, got {emb.shape}")
        existing = self.shards()
        number = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0
        path = self.folder / f"pool-{number:06d}.npy"
        if keys is not None:
            if len(keys) != len(emb):
                raise ValueError(f"{len(keys)} keys for {len(emb)} rows")
            k = np.array(list(keys), dtype="U64")
            atomic_save(path.with_name(f"pool-{number:06d}.keys.npy"), lambda p: np.save(p, k))
        atomic_save(path, lambda p: np.save(p, emb))
        return path

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, memory-mapped shard)`` for each shard in order; drop each block before the next to keep
        the resident memory to one shard."""
        start = 0
        for shard in self.shards():
            block = np.load(shard, mmap_mode="r")
            yield start, block
            start += len(block)

    def __len__(self) -> int:
        return sum(len(np.load(shard, mmap_mode="r")) for shard in self.shards())  # headers only

    def take(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """The embeddings of pool ``rows`` (any order), read shard by shard."""
        want = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(want), self.dim), dtype=np.float32)
        found = np.zeros(len(want), dtype=bool)
        for start, block in self.blocks():
            inside = (want >= start) & (want < start + len(block))
            if inside.any():
                out[inside] = block[want[inside] - start]
                found |= inside
        if not found.all():
            raise IndexError(f"rows {want[~found][:5].tolist()} are beyond the pool's {len(self)} rows")
        return out

    def keys(self) -> np.ndarray:
        """The keys of every row, in order (``""`` for shards written without keys)."""
        out = []
        for shard in self.shards():
            kp = shard.with_name(shard.stem + ".keys.npy")
            out.append(
                np.load(kp) if kp.is_file() else np.full(len(np.load(shard, mmap_mode="r")), "", "U64")
            )
        return np.concatenate(out) if out else np.array([], dtype="U64")


@dataclass(frozen=True)
class Neighbours:
    """The ``k`` nearest labelled rows of every pool row: Euclidean ``distances`` and ``ids`` (rows of the labelled
    array), both ``(n, k)``, nearest first; ``seconds`` of the search (index built included)."""

    distances: np.ndarray
    ids: np.ndarray
    seconds: float

    @property
    def novelty(self) -> np.ndarray:
        """Mean distance to the ``k`` nearest labelled rows (as :func:`olkit.online.select.novelty`)."""
        return np.asarray(self.distances.mean(axis=1))


def _faiss() -> Any:
    import faiss

    threads = os.environ.get("OLKIT_FAISS_THREADS")
    if threads:
        faiss.omp_set_num_threads(int(threads))
    return faiss


def _as_f32(x: Any) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _blocks_of(pool: EmbeddingPool | FloatArray, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
    if isinstance(pool, EmbeddingPool):
        yield from pool.blocks()
        return
    arr = np.asarray(pool)
    for start in range(0, len(arr), block_rows):
        yield start, arr[start : start + block_rows]


def _pool_len(pool: EmbeddingPool | FloatArray) -> int:
    return len(pool)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a new float32 array; zero rows stay zero)."""
    return np.asarray(x / (np.linalg.norm(x, axis=1, keepdims=True) + np.float32(1e-12)), dtype=np.float32)


def ivf_index(
    reference: FloatArray, *, nlist: int | None = None, nprobe: int | None = None, seed: int = 0
) -> Any:
    """A faiss ``IndexIVFFlat`` (L2) over ``reference``: ``nlist`` coarse cells (default ``4 sqrt(n)``, at most
    ``n / 39``, at least 1), ``nprobe`` of them scanned per query (default ``max(3, nlist // 16)``). The cells are
    k-means on the reference.

    The probes set the cost: faiss scans each probed cell row by row, so on the bench pool (2,000 labelled,
    51 cells, 65,536 queries of 512-d, an idle core) one probe took 0.5 s at recall@10 0.957, two 1.1 s at 0.997,
    three 1.8 s at 0.9995. Three is the default because two fall to 0.93 on a pool whose clusters are split over
    more cells (the 16-centre pool of ``tests/unit/online/test_neighbours.py``); pass ``nprobe=2`` where a
    recall check on the data allows it."""
    faiss = _faiss()
    ref = _as_f32(reference)
    n, d = ref.shape
    nlist = int(nlist or max(1, min(int(4 * np.sqrt(n)), n // 39 or 1)))
    quantizer = faiss.IndexFlatL2(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_L2)
    index.cp.seed = seed
    index.train(ref)
    index.add(ref)
    index.nprobe = int(nprobe or max(3, nlist // 16))
    return index


def pool_neighbours(
    pool: EmbeddingPool | FloatArray,
    reference: FloatArray,
    *,
    k: int = 10,
    nlist: int | None = None,
    nprobe: int | None = None,
    block_rows: int = 65_536,
    seed: int = 0,
    unit: bool = False,
) -> Neighbours:
    """The ``k`` nearest rows of ``reference`` (the labelled embeddings) for every row of ``pool``, approximately.

    The pool is streamed a shard (or ``block_rows`` rows of an array) at a time through a faiss IVF index over the
    reference (:func:`ivf_index`), so memory holds the index, one block and the ``(n, k)`` answers. Rows of the
    reference with no neighbour found (fewer than ``k`` in the probed cells) get the distance ``inf`` and id -1;
    with ``k`` at most the reference size and the default probes this does not happen in practice. ``unit=True``
    measures between L2-normalised rows (the reference and each block, normalised as they are read).
    """
    import time

    ref = _as_f32(reference)
    if ref.ndim != 2 or len(ref) == 0:
        raise ValueError(f"reference must be a non-empty 2-d array, got {ref.shape}")
    if unit:
        ref = _unit_rows(ref)
    k = min(int(k), len(ref))
    t0 = time.perf_counter()
    index = ivf_index(ref, nlist=nlist, nprobe=nprobe, seed=seed)
    n = _pool_len(pool)
    dist = np.empty((n, k), dtype=np.float32)
    ids = np.empty((n, k), dtype=np.int32)
    for start, block in _blocks_of(pool, block_rows):
        if block.shape[1] != ref.shape[1]:
            raise ValueError(f"pool rows are {block.shape[1]}-d, the reference {ref.shape[1]}-d")
        for s in range(0, len(block), block_rows):
            q = _as_f32(block[s : s + block_rows])
            d2, i = index.search(_unit_rows(q) if unit else q, k)
            dist[start + s : start + s + len(q)] = np.sqrt(np.maximum(d2, 0), dtype=np.float32)
            ids[start + s : start + s + len(q)] = i
        del block
    missing = ids < 0
    if missing.any():
        dist[missing] = np.inf
    return Neighbours(dist, ids, time.perf_counter() - t0)


def exact_neighbours(pool: EmbeddingPool | FloatArray, reference: FloatArray, *, k: int = 10) -> Neighbours:
    """The exact ``k`` nearest rows of ``reference`` for every pool row (faiss ``IndexFlatL2``, brute force)."""
    import time

    faiss = _faiss()
    ref = _as_f32(reference)
    k = min(int(k), len(ref))
    t0 = time.perf_counter()
    index = faiss.IndexFlatL2(ref.shape[1])
    index.add(ref)
    n = _pool_len(pool)
    dist = np.empty((n, k), dtype=np.float32)
    ids = np.empty((n, k), dtype=np.int32)
    for start, block in _blocks_of(pool, 65_536):
        d2, i = index.search(_as_f32(block), k)
        dist[start : start + len(block)] = np.sqrt(np.maximum(d2, 0))
        ids[start : start + len(block)] = i
    return Neighbours(dist, ids, time.perf_counter() - t0)


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each row's exact ``k`` nearest ids that the approximate answer found (recall@k)."""
    a, e = np.asarray(approx), np.asarray(exact)
    if a.shape != e.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {e.shape}")
    hits = sum(len(set(r) & set(s)) for r, s in zip(a.tolist(), e.tolist()))
    return hits / e.size if e.size else float("nan")


def novelty(
    x: EmbeddingPool | FloatArray, reference: FloatArray, *, k: int = 10, nprobe: int | None = None
) -> np.ndarray:
    """Mean Euclidean distance from each pool row to its ``k`` nearest labelled rows, through the ANN index.

    The drop-in for :func:`olkit.online.select.novelty` (same arguments and meaning) when the pool is large.
    """
    return pool_neighbours(x, reference, k=k, nprobe=nprobe).novelty


def select_novel(
    pool: EmbeddingPool | FloatArray,
    reference: FloatArray,
    budget: int,
    *,
    k: int = 10,
    candidates: int = 20,
    neighbours: Neighbours | None = None,
    unit: bool = False,
) -> np.ndarray:
    """Rows of ``pool`` to label next: novel (far from everything labelled) and diverse (apart from each other).

    The ``candidates * budget`` most novel rows are taken, then ``budget`` of them by greedy farthest-point
    selection (each pick the candidate furthest from the labelled rows and the picks so far, starting from the most
    novel), so a tight cluster of novel images gives one pick, not the whole batch. Returns pool row numbers in
    pick order. With ``k=1`` this is greedy k-centre (CoreSet) over the candidates; ``unit=True`` measures between
    L2-normalised rows (as :func:`pool_neighbours`).
    """
    nb = neighbours or pool_neighbours(pool, reference, k=k, unit=unit)
    nov = nb.novelty
    budget = min(int(budget), len(nov))
    if budget <= 0:
        return np.array([], dtype=np.int64)
    m = min(len(nov), max(budget, int(candidates) * budget))
    top = np.argpartition(-nov, m - 1)[:m]
    top = top[np.argsort(-nov[top], kind="stable")]
    cand = pool.take(top) if isinstance(pool, EmbeddingPool) else _as_f32(np.asarray(pool)[top])
    if unit:
        cand = _unit_rows(cand)
    gap = nov[top].astype(np.float64)  # distance to the labelled set, approximately (mean of k nearest)
    picks = [0]
    gap = np.minimum(gap, np.linalg.norm(cand - cand[0], axis=1))
    for _ in range(1, budget):
        j = int(np.argmax(gap))
        picks.append(j)
        gap = np.minimum(gap, np.linalg.norm(cand - cand[j], axis=1))
    return np.asarray(top[picks], dtype=np.int64)


def clustered_embeddings(
    n: int, *, dim: int = 512, centres: int = 64, spread: float = 0.35, seed: int = 0, start: int = 0
) -> np.ndarray:
    """``n`` synthetic float32 embeddings around ``centres`` seeded cluster centres (unit-variance centres, each
    row a centre plus isotropic noise of scale ``spread``): the shape of real image embeddings (a few classes and
    patterns), for benchmarks and tests. Rows ``start .. start + n`` of one seeded sequence, so a pool can be
    written block by block and never held whole."""
    centre = np.random.default_rng([seed, 0]).standard_normal((centres, dim), dtype=np.float32)
    rng = np.random.default_rng([seed, 1, start])
    which = rng.integers(0, centres, n)
    noise = rng.standard_normal((n, dim), dtype=np.float32)
    noise *= np.float32(spread)
    noise += centre[which]
    return noise
