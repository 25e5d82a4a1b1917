"""Choosing one pruned candidate: the original's decision function (as a fit), time-aware rules, the Pareto plot.

The original paper ranks its pruned models with a decision function whose formula was published as an image that
is lost; a least-squares fit on the original's own results table gives ``D ≈ 2.02 + 1.04·F1 − 0.79·(params /
params of the full model)`` (:func:`fitted_d`; it is a fit, not the authors' formula). Speed is what pruning is for,
so two rules use measured time directly: :func:`best_under_latency` (best accuracy whose time is within a budget)
and :func:`fastest_within` (the fastest model within ``eps`` of the best accuracy). :func:`pareto_plot` draws
accuracy against time with the Pareto front and the chosen model marked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from olkit.types import PathLike

D_FIT: tuple[float, float, float] = (2.02, 1.04, -0.79)
"""Intercept, F1 weight and parameter-ratio weight of the fitted decision function (a fit, see module doc)."""


def fitted_d(f1: Any, params: Any, params_full: float) -> Any:
    """The fitted decision value ``D ≈ 2.02 + 1.04·F1 − 0.79·(params / params_full)``; higher is better.

    Works on scalars and arrays/Series alike. Labelled a *fit*: it was regressed on the original's results table
    because the published formula is lost.
    """
    a, b, c = D_FIT
    return a + b * np.asarray(f1, dtype=float) + c * np.asarray(params, dtype=float) / float(params_full)


def _check(table: pd.DataFrame, *cols: str) -> None:
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise KeyError(
            f"candidate table lacks columns {missing}; evaluate it with olkit.prune.candidates.evaluate_candidates"
        )
    if table.empty:
        raise ValueError("the candidate table is empty")


def add_decision(table: pd.DataFrame, *, f1_col: str = "f1") -> pd.DataFrame:
    """A copy of ``table`` with a ``d_fit`` column (params relative to the ``method == "full"`` row, or the max)."""
    _check(table, f1_col, "params")
    full = (
        table.loc[table["method"] == "full", "params"]
        if "method" in table.columns
        else pd.Series([], dtype=float)
    )
    params_full = float(full.iloc[0]) if len(full) else float(table["params"].max())
    out = table.copy()
    out["d_fit"] = fitted_d(out[f1_col], out["params"], params_full)
    return out


def best_by_d(table: pd.DataFrame, *, f1_col: str = "f1") -> pd.Series:
    """The row with the highest fitted ``D``."""
    scored = add_decision(table, f1_col=f1_col)
    return scored.loc[scored["d_fit"].idxmax()]


def best_under_latency(
    table: pd.DataFrame, budget_ms: float, *, time_col: str = "ms_b32", acc_col: str = "acc"
) -> pd.Series:
    """The most accurate row whose ``time_col`` is at most ``budget_ms`` (ties: the faster one).

    Raises
    ------
    ValueError
        If no candidate meets the budget (the message names the fastest time there is).
    """
    _check(table, time_col, acc_col)
    ok = table[table[time_col] <= budget_ms]
    if ok.empty:
        raise ValueError(
            f"no candidate runs within {budget_ms:.3g} ms ({time_col}); the fastest takes "
            f"{table[time_col].min():.3g} ms: raise the budget or add smaller leave factors / cut depths"
        )
    return ok.sort_values([acc_col, time_col], ascending=[False, True]).iloc[0]


def fastest_within(
    table: pd.DataFrame,
    eps: float = 0.0,
    *,
    time_col: str = "ms_b32",
    acc_col: str = "acc",
    reference: float | None = None,
) -> pd.Series:
    """The fastest row whose accuracy is at least ``reference - eps`` (default reference: the best accuracy).

    Pass the full model's accuracy as ``reference`` with ``eps=0`` for "fastest not below the full model".
    """
    _check(table, time_col, acc_col)
    ref = float(table[acc_col].max()) if reference is None else float(reference)
    ok = table[table[acc_col] >= ref - eps - 1e-12]
    if ok.empty:
        raise ValueError(f"no candidate reaches accuracy {ref - eps:.4f}; raise eps")
    return ok.sort_values([time_col, acc_col], ascending=[True, False]).iloc[0]


def pareto_front(table: pd.DataFrame, *, time_col: str = "ms_b32", acc_col: str = "acc") -> pd.DataFrame:
    """Rows not dominated by another (no other row both at least as fast and at least as accurate, one strictly)."""
    _check(table, time_col, acc_col)
    t = table[time_col].to_numpy(float)
    a = table[acc_col].to_numpy(float)
    keep = []
    for i in range(len(table)):
        dominated = np.any((t <= t[i]) & (a >= a[i]) & ((t < t[i]) | (a > a[i])))
        keep.append(not dominated)
    return table[np.array(keep)].sort_values(time_col)


def decision_table(table: pd.DataFrame, *, f1_col: str = "f1", time_col: str = "ms_b32") -> pd.DataFrame:
    """The table users read: method, f, depth, accuracy, F1, AUC, times, params (and ratio), GFLOP, fitted D,
    speed-up against the full model, Pareto membership; sorted by time."""
    out = add_decision(table, f1_col=f1_col)
    full = out[out["method"] == "full"] if "method" in out.columns else out.iloc[:0]
    if len(full) and time_col in out.columns:
        out["speedup"] = float(full[time_col].iloc[0]) / out[time_col]
    if time_col in out.columns and "acc" in out.columns:
        front = pareto_front(out, time_col=time_col)
        out["pareto"] = out.index.isin(front.index)
    cols = [
        c
        for c in (
            "id",
            "method",
            "leave_factor",
            "depth",
            "acc",
            "f1",
            "auc",
            "acc_mlp",
            "ms_b1",
            "ms_b32",
            "speedup",
            "params",
            "params_ratio",
            "gflop",
            "d_fit",
            "pareto",
        )
        if c in out.columns
    ]
    return out[cols].sort_values(time_col if time_col in out.columns else cols[0]).reset_index(drop=True)


def pareto_plot(
    table: pd.DataFrame,
    path: PathLike | None = None,
    *,
    chosen: pd.Series | str | None = None,
    time_col: str = "ms_b32",
    acc_col: str = "acc",
    title: str | None = None,
) -> Any:
    """Accuracy against time (log scale), one colour per method, the Pareto front drawn, the chosen model marked.

    Parameters
    ----------
    table : DataFrame
        Evaluated candidates (``method``, ``time_col``, ``acc_col``; ``id`` for ``chosen`` by name).
    path : path, optional
        Where to save the PNG.
    chosen : row or id, optional
        The candidate to mark with a star.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    _check(table, time_col, acc_col)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    methods = list(table["method"].unique()) if "method" in table.columns else ["all"]
    for method in methods:
        part = table[table["method"] == method] if "method" in table.columns else table
        marker = "s" if method == "full" else "o"
        ax.scatter(
            part[time_col],
            part[acc_col],
            label=method,
            marker=marker,
            alpha=0.8,
            s=40 if method != "full" else 70,
        )
    front = pareto_front(table, time_col=time_col, acc_col=acc_col)
    ax.plot(front[time_col], front[acc_col], "k--", lw=1, alpha=0.6, label="Pareto front")
    if chosen is not None:
        row = table.loc[table["id"] == chosen].iloc[0] if isinstance(chosen, str) else chosen
        ax.scatter(
            [row[time_col]],
            [row[acc_col]],
            marker="*",
            s=300,
            c="red",
            edgecolors="k",
            zorder=5,
            label=f"chosen: {row.get('id', '')}",
        )
    ax.set_xscale("log")
    ax.set_xlabel(f"time per batch [{time_col}, ms, log scale]")
    ax.set_ylabel(f"accuracy [{acc_col}]")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig
