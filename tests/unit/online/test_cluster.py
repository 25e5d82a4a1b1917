"""Embedding on a real Dask cluster (no mock): the same shards and bytes as in-process, a worker killed mid-job."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from olkit.models.conv_base import build_backbone
from olkit.online.cluster import cluster_client, embed_on
from olkit.online.embed import EmbeddingCache
from tests.unit.online.helpers import patches, write_patches

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("cluster")
    images, labels = patches(240, size=32, seed=4)
    # sorted as `olkit embed` lists a folder: the same batches give the same bytes (a batch's other images
    # change TensorFlow's rounding of each image by ~1e-7)
    paths = sorted(write_patches(folder / "images", images, labels), key=str)
    shas = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    bb = build_backbone(size=(32, 32), width=8, seed=0)
    model = bb.save(folder / "backbone.keras")
    inproc = embed_on(
        paths,
        shas,
        model,
        EmbeddingCache.for_backbone(folder / "inproc", bb),
        shard_size=8,
        batch_size=8,
        progress=False,
    )
    return {"folder": folder, "paths": paths, "shas": shas, "bb": bb, "model": model, "inproc": inproc}


def _shards(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for p in sorted(folder.glob("shard-*.npz")):
        with np.load(p) as z:
            out[p.name] = (z["sha256"].copy(), z["embeddings"].copy())
    return out


def test_local_cluster_gives_the_in_process_bytes_and_shards(job) -> None:
    cache = EmbeddingCache.for_backbone(job["folder"] / "local", job["bb"])
    res = embed_on(
        job["paths"][:64],
        job["shas"][:64],
        job["model"],
        cache,
        scheduler="local",
        workers=2,
        shard_size=8,
        batch_size=8,
        progress=False,
    )
    assert res.computed == 64 and res.embeddings.dtype == np.float32
    assert np.array_equal(res.embeddings, job["inproc"].embeddings[:64])  # the same bytes, not merely close
    mine, theirs = _shards(cache.folder), _shards(job["folder"] / "inproc")
    assert len(mine) == 8
    for name, (keys, emb) in mine.items():  # shard by shard: the same chunks, numbers and rows
        assert np.array_equal(keys, theirs[name][0]) and np.array_equal(emb, theirs[name][1])
    # a second call finds everything cached and starts no cluster
    again = embed_on(
        job["paths"][:64], job["shas"][:64], job["model"], cache, scheduler="local", progress=False
    )
    assert again.computed == 0 and again.cached == 64
    assert np.array_equal(again.embeddings, res.embeddings)


def test_a_worker_killed_mid_job_loses_no_shard_and_the_job_completes(job) -> None:
    cache = EmbeddingCache.for_backbone(job["folder"] / "killed", job["bb"])
    total = len(job["paths"]) // 8
    with cluster_client("local", workers=2) as client:
        pids = client.run(os.getpid)  # {worker address: pid}, two processes
        assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
        outcome: dict = {}

        def work() -> None:
            outcome["res"] = embed_on(
                job["paths"],
                job["shas"],
                job["model"],
                cache,
                scheduler=client,
                shard_size=8,
                batch_size=8,
                progress=False,
            )

        thread = threading.Thread(target=work)
        thread.start()
        deadline = time.monotonic() + 600
        while not list(cache.folder.glob("shard-*.npz")) and time.monotonic() < deadline:
            time.sleep(0.01)
        done = {p.name: p.stat().st_mtime_ns for p in cache.folder.glob("shard-*.npz")}
        victim = next(iter(pids.values()))
        os.kill(victim, signal.SIGKILL)
        thread.join(600)
        assert not thread.is_alive()
    assert 1 <= len(done) < total  # killed mid-job: some shards finished, most not
    res = outcome["res"]
    assert res.computed == len(job["paths"])
    shards = sorted(cache.folder.glob("shard-*.npz"))
    assert len(shards) == total and not list(cache.folder.glob(".shard-*"))  # complete, no half-written file
    for name, mtime in done.items():  # a shard finished before the kill was never rewritten
        assert (cache.folder / name).stat().st_mtime_ns == mtime
    reread = EmbeddingCache.for_backbone(cache.folder, job["bb"])
    assert len(reread) == len(job["paths"])
    assert np.array_equal(reread.get(job["shas"]), job["inproc"].embeddings)
    assert np.array_equal(res.embeddings, job["inproc"].embeddings)


def test_olkit_embed_fills_the_cache_in_process(job, tmp_path, capsys) -> None:
    from olkit.cli import main
    from olkit.online.cluster import session_cache_folder
    from olkit.online.session import OnlineSession
    from olkit.paths import RunFolder

    folder = job["folder"] / "images"
    rc = main(
        [
            "embed",
            str(job["model"]),
            str(folder),
            "--cache",
            str(tmp_path / "c"),
            "--scheduler",
            "",
            "--quiet",
            "--shard-size",
            "8",
            "--batch-size",
            "8",
        ]
    )
    assert rc == 0 and "'computed': 240" in capsys.readouterr().out
    cache = EmbeddingCache.for_backbone(tmp_path / "c", job["bb"])
    assert len(cache) == 240 and np.array_equal(cache.get(job["shas"]), job["inproc"].embeddings)
    assert main(["embed", str(job["model"]), str(tmp_path / "nothing"), "--cache", str(tmp_path / "d")]) == 2
    # notebook 4's embed_splits fills the folder the session reads
    run = RunFolder.create(tmp_path / "run")
    assert session_cache_folder(run, job["bb"]) == run.embeddings / OnlineSession._cache_dir(None, job["bb"])  # type: ignore[arg-type]
