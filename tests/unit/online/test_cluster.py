"""Embedding on a real Dask cluster (no mock): the same shards and bytes as in-process, a worker killed mid-job."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from olkit.models.conv_base import build_backbone
from olkit.online.cluster import cluster_client, embed_on, worker_env
from olkit.online.embed import EmbeddingCache, intra_op_threads
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
    # in-process with TensorFlow's default threads (no TF_NUM_INTRAOP_THREADS): the path a user runs
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


def _embed_job(job: dict, cache: EmbeddingCache, client: Any, *, limit: int | None = None) -> Any:
    """``embed_on`` over the job's images (the first ``limit``) in shards of 8 on ``client``."""
    return embed_on(
        job["paths"][:limit],
        job["shas"][:limit],
        job["model"],
        cache,
        scheduler=client,
        shard_size=8,
        batch_size=8,
        progress=False,
    )


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
        # each worker splits a model call over as many threads as this process does (the same sums)
        assert set(client.run(intra_op_threads).values()) == {intra_op_threads()}
        outcome: dict = {}

        def work() -> None:
            outcome["res"] = _embed_job(job, cache, client)

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


def _threads_in_child(code: str, **env: str) -> int:
    full = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTRAOP_THREADS"} | env
    out = subprocess.run(
        [sys.executable, "-c", "from olkit.online.embed import intra_op_threads\n" + code],
        env=full,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_intra_op_threads_follows_tensorflows_rule_and_the_workers_get_it() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert _threads_in_child("print(intra_op_threads())") == cpus  # TensorFlow's default: the usable CPUs
    assert _threads_in_child("print(intra_op_threads())", TF_NUM_INTRAOP_THREADS="3") == 3
    code = (
        "import tensorflow as tf\n"
        "tf.config.threading.set_intra_op_parallelism_threads(5)\n"
        "print(intra_op_threads())"
    )
    assert _threads_in_child(code, TF_NUM_INTRAOP_THREADS="3") == 5  # tf.config wins over the variable
    env = worker_env()
    assert env["TF_NUM_INTRAOP_THREADS"] == str(intra_op_threads()) and env["TF_NUM_INTEROP_THREADS"] == "1"
    assert worker_env(3)["TF_NUM_INTRAOP_THREADS"] == "3"
    with pytest.raises(ValueError, match="at least 1"):
        worker_env(0)


def test_workers_on_another_thread_count_are_reported(job, caplog) -> None:
    cache = EmbeddingCache.for_backbone(job["folder"] / "other-threads", job["bb"])
    other = intra_op_threads() + 1
    with cluster_client("local", workers=1, intra_op=other) as client:
        assert set(client.run(intra_op_threads).values()) == {other}
        with caplog.at_level(logging.WARNING, logger="olkit.online.cluster"):
            res = _embed_job(job, cache, client, limit=16)
    assert res.computed == 16
    assert f"workers ran TensorFlow with [{other}] intra-op threads" in caplog.text
