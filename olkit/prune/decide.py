"""Choosing one pruned candidate: the original's decision function (as a fit), time-aware rules, the Pareto plot.

The original paper ranks its pruned models with a decision function whose formula was published as an image that
is lost; a least-squares fit on the original's own results table gives ``D ≈ 2.02 + 1.04·F1 − 0.79·(params /
params of the full model)`` (:func:`decision_value`; it is a fit, not the authors' formula). Speed is what pruning
is for, so two rules use measured time directly: :func:`best_under_latency` (best accuracy whose time is within a
budget) and :func:`fastest_within` (the fastest model within ``eps`` of a reference accuracy). :func:`choose` is
the one decision the notebooks and the bench make: it applies one of the three rules to the full model and the
mask-pruned candidates, re-times the candidates the rule compares side by side first
(:func:`olkit.prune.measure.retime_candidates`), and says in a sentence why it chose what it chose.
:func:`pareto_plot` draws accuracy against time with the Pareto front and the chosen model marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeAlias

import numpy as np
import pandas as pd

from olkit.types import PathLike

DECISION_FIT: tuple[float, float, float] = (2.02, 1.04, -0.79)
"""Intercept, F1 weight and parameter-ratio weight of the fitted decision function (a fit, see module doc)."""

Rule: TypeAlias = Literal["fastest_within", "best_under_latency", "decision"]
"""The rules of :func:`choose`."""


def decision_value(f1: Any, params: Any, params_full: float) -> Any:
    """The fitted decision value ``D ≈ 2.02 + 1.04·F1 − 0.79·(params / params_full)``; higher is better.

    Works on scalars and arrays/Series alike. Labelled a *fit*: it was regressed on the original's results table
    because the published formula is lost.
    """
    a, b, c = DECISION_FIT
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
    """A copy of ``table`` with a ``decision_value`` column (params relative to the ``method == "full"`` row, or
    the max)."""
    _check(table, f1_col, "params")
    full = (
        table.loc[table["method"] == "full", "params"]
        if "method" in table.columns
        else pd.Series([], dtype=float)
    )
    params_full = float(full.iloc[0]) if len(full) else float(table["params"].max())
    out = table.copy()
    out["decision_value"] = decision_value(out[f1_col], out["params"], params_full)
    return out


def best_by_decision(table: pd.DataFrame, *, f1_col: str = "f1") -> pd.Series:
    """The row with the highest fitted decision value ``D`` (:func:`decision_value`)."""
    scored = add_decision(table, f1_col=f1_col)
    return scored.loc[scored["decision_value"].idxmax()]


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


class Choice(NamedTuple):
    """What :func:`choose` returns: the chosen row, why, and the table with the re-timed rows' new times."""

    row: pd.Series
    reason: str
    table: pd.DataFrame


def _label(row: pd.Series) -> str:
    return "the full model" if str(row.get("method")) == "full" else str(row["id"])


def choose(
    table: pd.DataFrame,
    *,
    rule: Rule = "fastest_within",
    eps: float = 0.0,
    budget_ms: float | None = None,
    acc_col: str = "cv_acc",
    f1_col: str = "f1",
    time_col: str = "ms_b32",
    methods: Sequence[str] | None = None,
    retime: bool = True,
    batches: Sequence[int] = (1, 32),
    rounds: int = 3,
    repeats: int = 5,
    runtime: str = "tensorflow",
) -> Choice:
    """The one decision: choose a model among the full one and the mask-pruned candidates, and say why.

    Rules
    -----
    ``"fastest_within"`` (default)
        The fastest model whose ``acc_col`` is at least the full model's minus ``eps``. With the default
        ``acc_col="cv_acc"`` (the logistic regression's cross-validated accuracy on the train part) the choice
        never looks at the test part whose accuracy is then reported. The full model itself always qualifies, so
        where no pruned candidate does, the full model is the answer.
    ``"best_under_latency"``
        The highest ``acc_col`` among the models whose ``time_col`` is at most ``budget_ms``.
    ``"decision"``
        The highest fitted decision value of the original (:func:`decision_value`, on ``f1_col``).

    With ``retime`` (default) the models the rule compares are timed again, side by side and interleaved with the
    full model (:func:`olkit.prune.measure.retime_candidates`, ``rounds`` passes of ``repeats`` calls at every
    batch size of ``batches``), before the rule looks at their times: the times of an evaluation were taken one
    model at a time and drift with whatever else the machine does. For ``"fastest_within"`` these are the eligible
    models; for ``"best_under_latency"`` every model of the pool; for ``"decision"`` the chosen one.

    Parameters
    ----------
    table : DataFrame
        :func:`olkit.prune.candidates.evaluate_candidates` output with one ``method == "full"`` row (and ``path``
        when re-timing).
    rule : {"fastest_within", "best_under_latency", "decision"}
    eps : float
        Accepted accuracy loss against the full model (``"fastest_within"``; 0.01 is one point).
    budget_ms : float, optional
        The time budget of ``"best_under_latency"``, in ms of ``time_col``.
    acc_col, f1_col, time_col : str
        The columns the rules read.
    methods : sequence of str, optional
        The candidate methods that may be chosen besides the full model; default every ``mask-*`` method
        (the L1 and random controls are never chosen).
    retime : bool
        Re-time before deciding (needs the models' ``path``).
    batches, rounds, repeats
        The re-timing's batch sizes, interleaved passes and calls per pass.
    runtime : {"tensorflow", "litert", "onnxruntime"}
        The runtime the user deploys on: the re-timing converts the compared models for it and times them there
        (:func:`olkit.deploy.runtime.retime_on_runtime`), so the rule reads that runtime's latency.

    Returns
    -------
    Choice
        ``(row, reason, table)``: the chosen row (with its re-timed times), a sentence saying why, and a copy of
        ``table`` with the re-timed rows' ``ms_b<batch>`` replaced (what the Pareto plot and
        :func:`olkit.report.prune_figures` should read).
    """
    if "method" not in table.columns or not (table["method"] == "full").any():
        raise KeyError(
            "the candidate table has no method == 'full' row; evaluate it with "
            "olkit.prune.candidates.evaluate_candidates"
        )
    allowed = table["method"].astype(str)
    in_pool = allowed.str.startswith("mask") if methods is None else allowed.isin(list(methods))
    pool = table[(allowed == "full") | in_pool]
    out = table.copy()
    full_idx = table.index[table["method"] == "full"][0]

    def timed(rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` with their times re-taken beside the full model's (written into ``out`` too)."""
        if not retime:
            return rows
        from olkit.deploy.runtime import retime_on_runtime

        both = out.loc[sorted(set(rows.index) | {full_idx})]
        new = retime_on_runtime(both, runtime=runtime, batches=batches, rounds=rounds, repeats=repeats)
        cols = [f"ms_b{b}" for b in batches]
        out.loc[new.index, cols] = new[cols]
        return out.loc[rows.index]

    how = f"re-timed side by side on {runtime}" if retime else "as evaluated"
    out.attrs["runtime"] = runtime if retime else "tensorflow"
    if rule == "fastest_within":
        _check(pool, acc_col, time_col)
        ref = float(pool.loc[full_idx, acc_col])
        eligible = timed(pool[pool[acc_col] >= ref - eps - 1e-12])
        row = fastest_within(eligible, eps, time_col=time_col, acc_col=acc_col, reference=ref)
        n_pruned = int((eligible["method"] != "full").sum())
        if str(row["method"]) == "full":
            reason = (
                f"no pruned candidate reached the full model's {acc_col} {ref:.4f}"
                + (f" minus {eps:g}" if eps else "")
                + ": the full model is kept"
            )
        else:
            reason = (
                f"{_label(row)} is the fastest ({how}: {row[time_col]:.3g} ms {time_col} against "
                f"{out.loc[full_idx, time_col]:.3g} ms for the full model) of the {n_pruned} pruned candidate(s) "
                f"whose {acc_col} ({row[acc_col]:.4f}) is at least the full model's {ref:.4f}"
                + (f" minus {eps:g}" if eps else "")
            )
    elif rule == "best_under_latency":
        if budget_ms is None:
            raise ValueError("rule 'best_under_latency' needs budget_ms")
        _check(pool, acc_col, time_col)
        row = best_under_latency(timed(pool), budget_ms, time_col=time_col, acc_col=acc_col)
        reason = (
            f"{_label(row)} has the highest {acc_col} ({row[acc_col]:.4f}) of the models that run within "
            f"{budget_ms:g} ms {time_col} ({how}: {row[time_col]:.3g} ms)"
        )
    elif rule == "decision":
        _check(pool, f1_col, "params")
        best = best_by_decision(pool, f1_col=f1_col)
        row = timed(pool.loc[[best.name]]).iloc[0]
        d = float(add_decision(pool, f1_col=f1_col).loc[best.name, "decision_value"])
        reason = (
            f"{_label(row)} has the highest fitted decision value D = 2.02 + 1.04·{f1_col} − 0.79·params ratio "
            f"({d:.4f}; {f1_col} {row[f1_col]:.4f}, {int(row['params']):,} parameters)"
        )
    else:
        raise ValueError(f"unknown rule {rule!r}; use 'fastest_within', 'best_under_latency' or 'decision'")
    return Choice(out.loc[row.name], reason, out)


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
            "decision_value",
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
    runtime = table.attrs.get("runtime", "tensorflow")  # set by choose(runtime=...): whose latency this is
    ax.set_xlabel(f"time per batch [{time_col}, ms on {runtime}, log scale]")
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
