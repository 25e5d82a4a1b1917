"""Embedding extraction and its sharded cache: determinism, class separation, resume after a kill, refusal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import olkit.online.embed as embed_mod
from olkit.errors import CacheMismatchError
from olkit.models.conv_base import Backbone, TrainConfig, build_backbone, train_backbone
from olkit.online.embed import EmbeddingCache, embed_cached, embed_images
from tests.unit.online.helpers import patches, write_patches


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[list[Path], list[str], list[str]]:
    images, labels = patches(40, size=32, seed=3)
    paths = write_patches(tmp_path_factory.mktemp("emb"), images, labels)
    import hashlib

    shas = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    return paths, labels, shas


def test_embeddings_are_deterministic_and_independent_of_batching(files) -> None:
    paths, _, _ = files
    bb = build_backbone(size=(32, 32), width=8, seed=0)
    a = embed_images(paths, bb, batch_size=16, progress=False)
    b = embed_images(paths, bb, batch_size=16, progress=False)
    c = embed_images(paths, bb, batch_size=7, progress=False)
    assert a.embeddings.shape == (40, 32) and a.embeddings.dtype == np.float32
    assert np.array_equal(a.embeddings, b.embeddings)
    assert np.allclose(a.embeddings, c.embeddings, atol=1e-5)
    arrays = embed_images(
        [bb.prepare([p])[0] for p in paths[:5]], bb, progress=False
    )  # arrays as well as paths
    assert np.allclose(arrays.embeddings, a.embeddings[:5], atol=1e-6)
    assert a.images_per_s > 0 and a.gflop_per_s > 0 and a.summary()["batch"] == 16
    # no augmentation, no dropout: the encoder in inference mode gives the same as a plain call
    direct = np.asarray(bb.encoder(bb.to_input(bb.prepare(paths[:4])), training=False))
    assert np.allclose(direct, a.embeddings[:4], atol=1e-5)


@pytest.mark.slow
def test_trained_embeddings_separate_the_classes(tmp_path) -> None:
    images, labels = patches(96, size=48, seed=1)
    bb = build_backbone(size=(48, 48), width=8, seed=0)
    train_backbone(
        bb, images, labels, config=TrainConfig(epochs=12, batch_size=16, patience=20), progress=False
    )
    test_images, test_labels = patches(60, size=48, seed=9)
    emb = embed_images(test_images, bb, progress=False).embeddings
    y = np.asarray(test_labels)
    # nearest class centroid, centroids from one half, accuracy on the other
    fit, ev = np.arange(0, 60, 2), np.arange(1, 60, 2)
    centroids = np.stack([emb[fit][y[fit] == c].mean(0) for c in ("0", "1")])
    dist = ((emb[ev][:, None, :] - centroids[None]) ** 2).sum(-1)
    acc = np.mean(np.asarray(["0", "1"])[dist.argmin(1)] == y[ev])
    assert acc > 0.7


def test_cache_returns_cached_rows_and_refuses_another_model(tmp_path, files) -> None:
    paths, _, shas = files
    bb = build_backbone(size=(32, 32), width=8, seed=0)
    cache = EmbeddingCache.for_backbone(tmp_path / "cache", bb)
    first = embed_cached(paths, shas, bb, cache, shard_size=16, progress=False)
    assert first.computed == 40 and first.cached == 0 and len(cache.shards()) == 3
    again = embed_cached(paths, shas, bb, EmbeddingCache.for_backbone(tmp_path / "cache", bb), progress=False)
    assert again.computed == 0 and again.cached == 40
    assert np.array_equal(first.embeddings, again.embeddings)
    other = build_backbone(size=(32, 32), width=8, seed=1)
    with pytest.raises(CacheMismatchError) as err:
        EmbeddingCache.for_backbone(tmp_path / "cache", other)
    assert bb.fingerprint in str(err.value) and other.fingerprint in str(err.value)
    with pytest.raises(CacheMismatchError):
        embed_cached(paths, shas, other, cache, progress=False)


def test_interrupted_extraction_resumes(tmp_path, files, monkeypatch) -> None:
    paths, _, shas = files
    bb = build_backbone(size=(32, 32), width=8, seed=0)
    calls = {"n": 0}
    real = embed_mod.embed_images

    def dies_on_third_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(embed_mod, "embed_images", dies_on_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        embed_cached(
            paths, shas, bb, EmbeddingCache.for_backbone(tmp_path / "c", bb), shard_size=8, progress=False
        )
    monkeypatch.setattr(embed_mod, "embed_images", real)
    cache = EmbeddingCache.for_backbone(tmp_path / "c", bb)
    assert len(cache) == 16 and not list((tmp_path / "c").glob(".shard-*"))
    res = embed_cached(paths, shas, bb, cache, shard_size=8, progress=False)
    assert res.computed == 24 and res.cached == 16
    full = embed_images(paths, bb, progress=False).embeddings
    assert np.allclose(res.embeddings, full, atol=1e-5)


@pytest.mark.slow
def test_sigkilled_extraction_resumes(tmp_path, files) -> None:
    paths, _, shas = files
    bb = build_backbone(size=(32, 32), width=8, seed=0)
    bb.save(tmp_path / "bb.keras")
    many = [str(p) for p in paths] * 10  # 400 images, distinct keys so every one is computed
    keys = [f"{s[:60]}{i:04d}" for i, s in enumerate(shas * 10)]
    (tmp_path / "job.py").write_text(
        textwrap.dedent(
            f"""
            import json, time
            from olkit.models.conv_base import Backbone
            from olkit.online import embed
            paths, keys = json.load(open({str(tmp_path / "job.json")!r}))
            bb = Backbone.load({str(tmp_path / "bb.keras")!r})
            real = embed.embed_images
            def slow(*a, **k):
                time.sleep(0.3)
                return real(*a, **k)
            embed.embed_images = slow
            cache = embed.EmbeddingCache.for_backbone({str(tmp_path / "cache")!r}, bb)
            embed.embed_cached(paths, keys, bb, cache, shard_size=10, progress=False)
            """
        )
    )
    import json

    (tmp_path / "job.json").write_text(json.dumps([many, keys]))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "job.py")], env=env)
    deadline = time.monotonic() + 240
    while len(list((tmp_path / "cache").glob("shard-*.npz"))) < 3:
        assert proc.poll() is None, "the extraction ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cache = EmbeddingCache.for_backbone(tmp_path / "cache", Backbone.load(tmp_path / "bb.keras"))
    done = len(cache)
    assert 30 <= done < 400 and done % 10 == 0  # only whole shards survive
    res = embed_cached(many, keys, bb, cache, shard_size=50, progress=False)
    assert res.cached == done and res.computed == 400 - done
    assert np.allclose(res.embeddings[:40], embed_images(paths, bb, progress=False).embeddings, atol=1e-5)
