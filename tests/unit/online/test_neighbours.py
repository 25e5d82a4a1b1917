"""The on-disk embedding pool and ANN selection: recall against brute force, streaming, novel-and-diverse picks."""

from __future__ import annotations

import numpy as np
import pytest

from olkit.online.neighbours import (
    EmbeddingPool,
    clustered_embeddings,
    exact_neighbours,
    novelty,
    pool_neighbours,
    recall_at_k,
    select_novel,
)
from olkit.online.select import novelty as brute_novelty


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    reference = clustered_embeddings(1500, dim=64, centres=16, seed=1)
    pool = clustered_embeddings(3000, dim=64, centres=16, seed=1, start=10_000)
    return pool, reference


def test_pool_shards_are_memory_mapped_and_read_back(tmp_path, data) -> None:
    pool, _ = data
    store = EmbeddingPool(tmp_path / "pool", dim=64)
    for start in range(0, len(pool), 1000):
        store.append(pool[start : start + 1000], keys=[f"k{i}" for i in range(start, start + 1000)])
    assert len(store) == 3000 and len(store.shards()) == 3
    blocks = list(store.blocks())
    assert [s for s, _ in blocks] == [0, 1000, 2000]
    assert isinstance(blocks[0][1], np.memmap)
    assert np.array_equal(np.concatenate([b for _, b in blocks]), pool)
    assert np.array_equal(store.take([2999, 0, 1500]), pool[[2999, 0, 1500]])
    assert store.keys()[1500] == "k1500"
    assert EmbeddingPool(tmp_path / "pool").dim == 64  # reopened from pool.json
    with pytest.raises(ValueError, match="64-d"):
        EmbeddingPool(tmp_path / "pool", dim=32)
    with pytest.raises(IndexError):
        store.take([3000])


def test_ann_recall_of_the_k_nearest_is_at_least_95_percent(tmp_path, data) -> None:
    pool, reference = data
    store = EmbeddingPool(tmp_path / "pool", dim=64)
    for start in range(0, len(pool), 700):  # uneven shards: the stream crosses shard borders
        store.append(pool[start : start + 700])
    exact = exact_neighbours(pool, reference, k=10)
    ann = pool_neighbours(store, reference, k=10)
    assert ann.ids.shape == (3000, 10) and ann.distances.dtype == np.float32
    assert recall_at_k(ann.ids, exact.ids) >= 0.95
    # the exact answer agrees with scikit-learn's brute force (select.novelty), row by row
    assert np.allclose(exact.novelty, brute_novelty(pool, reference, k=10), rtol=1e-4)
    approx = novelty(store, reference, k=10)
    assert (approx >= exact.novelty - 1e-4).all()  # a missed neighbour can only make a row look further
    assert np.mean(np.abs(approx - exact.novelty) / exact.novelty) < 0.01
    # an array pool and a sharded pool give the same answer
    assert np.array_equal(pool_neighbours(pool, reference, k=10, block_rows=1000).ids, ann.ids)
    # recall is a real measure: one probe of many cells misses neighbours
    few = pool_neighbours(pool, reference, k=10, nlist=64, nprobe=1)
    assert recall_at_k(few.ids, exact.ids) < recall_at_k(ann.ids, exact.ids)


def test_select_novel_picks_far_rows_and_spreads_them(data) -> None:
    pool, reference = data
    rng = np.random.default_rng(5)
    far = rng.standard_normal(64).astype(np.float32) * 6  # a new pattern: 30 images in one tight cluster
    novel = far + 0.05 * rng.standard_normal((30, 64)).astype(np.float32)
    other = -far + 0.05 * rng.standard_normal((3, 64)).astype(np.float32)  # a second, smaller one
    x = np.concatenate([pool, novel, other])
    picks = select_novel(x, reference, 4)
    assert len(set(picks.tolist())) == 4
    groups = {"novel" if p < 3030 else "other" for p in picks if p >= 3000}
    assert groups == {"novel", "other"}  # both new patterns, not four of the bigger cluster
    assert sum(p >= 3000 for p in picks) == 2
    with pytest.raises(ValueError, match="non-empty"):
        pool_neighbours(pool, reference[:0])
