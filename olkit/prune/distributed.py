"""Pruning-candidate evaluation as Dask tasks: one task per candidate, the same figures as in-process.

:func:`evaluate_on` runs :func:`olkit.prune.candidates.evaluate_candidates` (the one per-candidate evaluation:
features, the classifiers on the grouped split, timings, sizes) on a one-row table per task, on the cluster
:func:`olkit.online.cluster.cluster_client` opens (``""`` in-process, ``"local"`` a ``LocalCluster``, an address,
or a ``distributed.Client``). The evaluation images are sent to every worker once (``Client.scatter(...,
broadcast=True)``) and stay there for all its tasks; each task loads its own candidate model once, from the path in
the table (shared storage for a real cluster, as for the embedding cache). Candidates are independent, so the
accuracy figures are those of the in-process run; the timings (``ms_b1``, ``ms_b32``) are measured on a worker
with one TensorFlow thread, next to the other workers' tasks: compare candidates by them only within one run, and
let :func:`olkit.prune.decide.choose` re-time the finalists side by side as it does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from olkit.online.cluster import cluster_client
from olkit.prune.candidates import RECOVERED_SUFFIX, evaluate_candidates
from olkit.types import PathLike

__all__ = ["evaluate_on"]


def _evaluate_one(row: pd.DataFrame, images: Any, labels: Any, options: dict[str, Any]) -> pd.DataFrame:
    """One task: :func:`evaluate_candidates` of a one-row table (``images`` arrive once per worker)."""
    return evaluate_candidates(row, images, labels, progress=False, out_csv=None, **options)


def evaluate_on(
    candidates: pd.DataFrame | PathLike,
    images: npt.NDArray[Any],
    labels: Sequence[Any] | npt.NDArray[Any],
    *,
    scheduler: Any = "local",
    workers: int = 2,
    progress: bool = True,
    **options: Any,
) -> pd.DataFrame:
    """Evaluate every candidate as one Dask task and return :func:`evaluate_candidates`'s table.

    Parameters
    ----------
    candidates
        The candidates table (or the folder holding ``candidates.csv``), as for :func:`evaluate_candidates`.
    images, labels
        The evaluation sample, sent to each worker once.
    scheduler
        ``""`` runs :func:`evaluate_candidates` in this process; ``"local"`` a ``LocalCluster`` of ``workers``
        one-thread processes; an address; or a ``distributed.Client``.
    workers
        Processes of a ``"local"`` cluster.
    progress
        A tqdm bar over finished candidates.
    **options
        Passed to :func:`evaluate_candidates` (``groups``, ``pooling``, ``classifiers``, ``seed``, ``repeats``,
        ``recover_epochs``, ...; not ``out_csv``: a task's rows come back to this process).

    Returns
    -------
    pandas.DataFrame
        One row per candidate in the table's order (recovered candidates after the others, as in-process), with
        ``params_ratio`` against the table's ``"full"`` row and ``eval_seconds`` of the whole job in ``attrs``.
    """
    if "out_csv" in options:
        raise ValueError(
            "evaluate_on returns the table; write it yourself (out_csv is for the in-process path)"
        )
    table = (
        pd.read_csv(f"{candidates}/candidates.csv")
        if not isinstance(candidates, pd.DataFrame)
        else candidates
    )
    t0 = time.perf_counter()
    if not scheduler:
        result = evaluate_candidates(table, images, labels, progress=progress, **options)
        result.attrs["eval_seconds"] = time.perf_counter() - t0
        return result
    from distributed import as_completed
    from tqdm.auto import tqdm

    y = np.asarray(labels)
    parts: dict[int, pd.DataFrame] = {}
    with cluster_client(scheduler, workers=workers) as client:
        shared = client.scatter(np.asarray(images), broadcast=True)
        futures = {
            client.submit(
                _evaluate_one,
                table.iloc[[i]].reset_index(drop=True),
                shared,
                y,
                dict(options),
                key=f"olkit-prune-eval-{i:04d}-{time.time_ns()}",
                retries=2,
                pure=False,
            ): i
            for i in range(len(table))
        }
        with tqdm(total=len(futures), desc="evaluating", unit="candidate", disable=not progress) as bar:
            for fut in as_completed(list(futures)):
                parts[futures[fut]] = fut.result()
                bar.update(1)
    rows = pd.concat([parts[i] for i in range(len(table))], ignore_index=True)
    recovered = rows["method"].astype(str).str.endswith(RECOVERED_SUFFIX)
    result = pd.concat([rows[~recovered], rows[recovered]], ignore_index=True)
    result = result.drop(columns=[c for c in ("params_ratio",) if c in result.columns])
    full = result[result["method"] == "full"]
    if len(full):  # as evaluate_candidates does over the whole table
        result["params_ratio"] = result["params"] / float(full["params"].iloc[0])
    result.attrs["eval_seconds"] = time.perf_counter() - t0
    return result
