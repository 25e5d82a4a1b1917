"""Plant scale: embedding in-process vs a 2-worker Dask ``LocalCluster``, and selection over a million-row pool.

Embedding: the same PNG images, the compact conv base, through :func:`olkit.online.cluster.embed_on` into fresh
caches, in this process (TensorFlow's default threads, i.e. both cores) and on a ``LocalCluster`` of two
workers whose model calls use the same intra-op threads (:func:`olkit.online.cluster.worker_env`, so the same
bytes), ``REPEATS`` times each in turn (best of each: the machine is shared); both warmed up first (traced / model loaded on the workers), so the figure is the engine's
overhead (task dispatch, a worker reading its own images, shards written by workers), not TensorFlow's start-up.

Selection: a synthetic pool of ``POOL`` x 512 float32 (clustered, :func:`olkit.online.neighbours.clustered_embeddings`)
written as memory-mapped ``.npy`` shards; a fresh subprocess opens it and selects as a user does:
:func:`olkit.online.select.novelty` of the pool against ``LABELLED`` labelled embeddings (a million rows is above
``ANN_THRESHOLD``, so the faiss IVF index: the 10 nearest labelled of every pool row), then
:func:`olkit.online.select.select` with the ``"hybrid"`` strategy (uncertain or novel) on seeded probabilities for a
batch of ``BUDGET``, then a novel-and-diverse batch (:func:`olkit.online.neighbours.select_novel`, greedy k-centre
over the most novel rows, on the same neighbours). Its peak memory is the subprocess's ``ru_maxrss``
(resource.getrusage), its time the wall time of the selection (index build included, interpreter start excluded),
split into its steps. Recall of the 10 nearest: against brute force on a seeded sample of ``RECALL_ROWS`` pool rows
(the IVF answer of a row does not depend on the other queries, so the sample's answer is the full run's).

Team: ``TEAM_EVENTS`` label events from three annotators (every image labelled by all three; each disagrees with
the truth on a seeded 15 %) in a SQLite label store (the SQL PostgreSQL runs too), then the agreement per round
(:func:`olkit.online.team.agreement`, Fleiss' kappa), the review rows (:func:`olkit.online.team.disagreements`)
and one review page's votes and resolved labels (what :class:`olkit.online.team.ReviewGrid` reads per page).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

N_IMAGES = 1024
REPEATS = 2  # embedding runs per path, in turn; the best of each is the figure
SHARD = 128
POOL = 1_000_000
DIM = 512
POOL_SHARD = 65_536
LABELLED = 2_000
RECALL_ROWS = 5_000
BUDGET = 100
TEAM_EVENTS = 10_000
REVIEW_PAGE = 48

_SELECT = r"""
import json, resource, sys, time
import numpy as np
from olkit.online import select as sel
from olkit.online.neighbours import (EmbeddingPool, exact_neighbours, pool_neighbours, recall_at_k, select_novel)
folder, ref_path, rows_path = sys.argv[1:4]
budget = int(sys.argv[4])
pool = EmbeddingPool(folder)
reference = np.load(ref_path)
p1 = np.random.default_rng(0).random(len(pool))
proba = np.stack([1 - p1, p1], axis=1)
sel.select(proba[:50], strategy="hybrid", budget=5, novelty=p1[:50])  # imports (scipy.stats) before the clock
t0 = time.perf_counter()
nb = pool_neighbours(pool, reference, k=10)  # what select.novelty does above ANN_THRESHOLD, kept for the batch
t_nb = time.perf_counter() - t0
hybrid = sel.select(proba, strategy="hybrid", budget=budget, novelty=nb.novelty)
t_rank = time.perf_counter() - t0 - t_nb
picks = select_novel(pool, reference, budget, neighbours=nb)
seconds = time.perf_counter() - t0
rows = np.load(rows_path)
t1 = time.perf_counter()
via_select = sel.novelty(pool.take(rows), reference, k=10, approximate=True)  # the user's call, same index
assert np.allclose(via_select, nb.novelty[rows], rtol=1e-5)
exact = exact_neighbours(pool.take(rows), reference, k=10)
recall = recall_at_k(pool_neighbours(pool.take(rows), reference, k=10).ids, exact.ids)
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"select_s": seconds, "neighbours_s": t_nb, "rank_s": t_rank, "diverse_s": seconds - t_nb - t_rank,
                  "peak_gb": peak_kb / 1024**2, "recall": recall, "picks": len(picks), "hybrid": len(hybrid),
                  "rows": len(pool), "exact_sample_s": exact.seconds, "threshold": sel.ANN_THRESHOLD}))
"""


def _images(folder: Path) -> tuple[list[str], list[str]]:
    import cv2

    from olkit.data.synth import render_bsd_patch

    paths, shas = [], []
    for i in range(N_IMAGES):
        img, _ = render_bsd_patch(np.random.default_rng([7, i]), pitting=bool(i % 2), shift=0.0, size=150)
        p = folder / f"{i:05d}.png"
        cv2.imwrite(str(p), img[:, :, ::-1])
        paths.append(str(p))
        shas.append(hashlib.sha256(p.read_bytes()).hexdigest())
    return paths, shas


def _embedding(tmp: Path) -> dict[str, Any]:
    from olkit.models.conv_base import build_backbone
    from olkit.online.cluster import cluster_client, embed_on
    from olkit.online.embed import EmbeddingCache, intra_op_threads

    (tmp / "img").mkdir()
    paths, shas = _images(tmp / "img")
    bb = build_backbone("compact", seed=0)
    model = bb.save(tmp / "backbone.keras")
    warm = 2 * SHARD

    def cache(name: str) -> EmbeddingCache:
        return EmbeddingCache.for_backbone(tmp / name, bb)

    embed_on(paths[:warm], shas[:warm], model, cache("warm-in"), shard_size=SHARD, progress=False)
    inproc_s: list[float] = []
    cluster_s: list[float] = []
    t0 = time.perf_counter()
    with cluster_client("local", workers=2) as client:
        start_s = time.perf_counter() - t0
        worker_threads = sorted(set(client.run(intra_op_threads).values()))
        embed_on(
            paths[:warm],
            shas[:warm],
            model,
            cache("warm-cl"),
            scheduler=client,
            shard_size=SHARD,
            progress=False,
        )  # each worker loads the model
        for rep in range(REPEATS):  # in turn, so a change in the machine's load hits both paths alike
            inproc = embed_on(paths, shas, model, cache(f"inproc{rep}"), shard_size=SHARD, progress=False)
            inproc_s.append(inproc.seconds)
            clus = embed_on(
                paths, shas, model, cache(f"cluster{rep}"), scheduler=client, shard_size=SHARD, progress=False
            )
            cluster_s.append(clus.seconds)
    same = bool(np.array_equal(inproc.embeddings, clus.embeddings))
    return {
        "inprocess_images_per_s": round(N_IMAGES / min(inproc_s), 1),
        "inprocess_forward_s": round(min(inproc_s), 2),
        "cluster_images_per_s": round(N_IMAGES / min(cluster_s), 1),
        "cluster_job_s": round(min(cluster_s), 2),
        "cluster_start_s": round(start_s, 1),
        "cluster_vs_inprocess": round(min(inproc_s) / min(cluster_s), 3),
        "embed_runs_s": {
            "inprocess": [round(x, 2) for x in inproc_s],
            "cluster": [round(x, 2) for x in cluster_s],
        },
        "workers": 2,
        "intra_op_threads": {"inprocess": intra_op_threads(), "workers": worker_threads},
        "embed_images": N_IMAGES,
        "embed_shard": SHARD,
        "embed_same_bytes": same,
        "embed_max_abs_diff": float(np.abs(inproc.embeddings - clus.embeddings).max()),
        "embed_model": "compact 150x150 RGB (PNG files), 128-d",
    }


def _selection(tmp: Path) -> dict[str, Any]:
    from olkit.online.neighbours import EmbeddingPool, clustered_embeddings

    pool = EmbeddingPool(tmp / "pool", dim=DIM)
    t0 = time.perf_counter()
    for start in range(0, POOL, POOL_SHARD):
        pool.append(clustered_embeddings(min(POOL_SHARD, POOL - start), dim=DIM, seed=3, start=start))
    write_s = time.perf_counter() - t0
    np.save(tmp / "ref.npy", clustered_embeddings(LABELLED, dim=DIM, seed=3, start=POOL + 1))
    np.save(tmp / "rows.npy", np.sort(np.random.default_rng(0).choice(POOL, RECALL_ROWS, replace=False)))
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _SELECT,
            str(pool.folder),
            str(tmp / "ref.npy"),
            str(tmp / "rows.npy"),
            str(BUDGET),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    per_row_exact = r["exact_sample_s"] / RECALL_ROWS
    return {
        "pool_size": int(r["rows"]),
        "pool_dim": DIM,
        "labelled": LABELLED,
        "select_s": round(r["select_s"], 1),
        "neighbours_s": round(r["neighbours_s"], 1),
        "select_rank_s": round(r["rank_s"], 2),
        "select_diverse_s": round(r["diverse_s"], 2),
        "ann_threshold": int(r["threshold"]),
        "select_peak_gb": round(r["peak_gb"], 2),
        "ann_recall": round(r["recall"], 4),
        "exact_estimate_s": round(per_row_exact * POOL, 1),
        "pool_write_s": round(write_s, 1),
        "pool_format": "memory-mapped float32 .npy shards of 65,536 rows (EmbeddingPool)",
        "index": "faiss IndexIVFFlat over the labelled embeddings, k=10, default probes",
        "select_strategy": "hybrid (least confidence + novelty ranks) and a novel-and-diverse batch",
    }


def _team(tmp: Path) -> dict[str, Any]:
    from olkit.online.labels import LabelStore
    from olkit.online.team import agreement, disagreements

    n_images = -(-TEAM_EVENTS // 3)
    rng = np.random.default_rng(0)
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n_images)]
    truth = rng.integers(0, 2, n_images)
    store = LabelStore(tmp / "team.sqlite", resolve="majority")
    for who in ("anna", "bob", "carl"):
        wrong = rng.random(n_images) < 0.15
        votes = np.where(wrong, 1 - truth, truth).astype(str)
        store.add_many([(s, v, f"/plant/{s[:8]}.png") for s, v in zip(shas, votes)], annotator=who, round=0)
    events = len(store.events())
    t0 = time.perf_counter()
    table = agreement(store)
    t_agree = time.perf_counter() - t0
    rows = disagreements(store)
    t_rows = time.perf_counter() - t0 - t_agree
    page = list(rows["sha256"][:REVIEW_PAGE])
    page_votes = store.votes(sha256s=page)
    resolved = store.labels(page)
    seconds = time.perf_counter() - t0
    store.close()
    assert len(page_votes) == 3 * len(page) and len(resolved) == len(page)
    return {
        "agreement_s": round(seconds, 3),
        "agreement_only_s": round(t_agree, 3),
        "review_rows_s": round(t_rows, 3),
        "review_page_s": round(seconds - t_agree - t_rows, 3),
        "team_events": events,
        "team_annotators": 3,
        "team_kappa": round(float(table["kappa"].iloc[0]), 3),
        "team_kappa_method": str(table["method"].iloc[0]),
        "team_disagreements": len(rows),
        "team_store": "SQLite file (the same SQL as PostgreSQL)",
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="olkit-bench-scale-") as tmp:
        figures = _embedding(Path(tmp))
    with tempfile.TemporaryDirectory(prefix="olkit-bench-scale-pool-") as tmp:
        figures.update(_selection(Path(tmp)))
    with tempfile.TemporaryDirectory(prefix="olkit-bench-scale-team-") as tmp:
        figures.update(_team(Path(tmp)))
    figures["load_average_1m"] = round(os.getloadavg()[0], 1)
    return figures
