"""Learning curves over rounds on the synthetic BSD data: labels an expert gives against holdout accuracy.

The protocol of ``benchmarks/online.py`` (``TRAIN_NR`` = 10,000 training images, the new ones split holdout/test,
the compact conv base cached under ``bench/cache``), but instead of one round with a third of the test set, rounds
of ``STEP`` labels up to a third of the test set, each selecting from what is still unlabelled with the classifier
of the round before (:meth:`olkit.online.session.OnlineSession.run_rounds`). Every registered strategy in
``STRATEGIES`` runs the same schedule from the same train-only classifier; the random control follows it too
(``RANDOM_REPEATS`` draws, each with its own accumulating labels) and the ceiling uses the same fitting with every
test label. Beyond a third of the test set every curve goes on, at the multiples of ``EXTEND_STEP`` labels and
then every test label: each strategy from its own labels (further rounds, without controls), the random control
with :meth:`~olkit.online.session.OnlineSession.random_curve` on the same orders and fitting. So the labels each
needs to reach 95 % of the ceiling's gain are counted even where a third is not enough, and the stopping rule is
followed as far as it takes. ``DRAWS`` protocol draws (train subset, holdout/test halves); the headline curves are
their means, at the label counts every draw measured (grouped real splits give test sets of different sizes).

Figures (keys of ``../shared/BENCH.md``, ``online_curve``): ``labels``, ``acc`` per strategy and ``"random"``,
``ceiling_acc``, ``labels_to_95`` (labels to reach before + 0.95 (ceiling - before) on the mean curves up to
every test label, ``labels_all``/``acc_all``; ``labels_to_95_per_draw`` against each draw's own target),
``stop`` (where the stopping rule, :func:`olkit.online.session.stop_advice`, stops the headline strategy on its
whole curve: labels, accuracy, share of the ceiling's gain; means over draws), ``round_seconds`` (median labels-in
to new holdout metrics). Beside them: ``bal_acc``, ``auc`` (area under the accuracy curve up to a third of the test
set, mean accuracy over those rounds), min/max over draws, per-draw figures. Goal (issue 15): the best strategy needs <= 60 % of the labels random needs.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.online import CACHE, SEED, TRAIN_NR, _backbone, _manifest, _splits

STEP = 10  # labels per round
STRATEGIES = ("hybrid", "badge", "typiclust")
HEADLINE = "hybrid"  # the strategy the stopping rule is measured on
RANDOM_REPEATS = 3  # random-control draws per protocol draw (15 random curves over the 5 draws)
DRAWS = 5
GOAL_SHARE = 0.95  # labels to reach this share of the ceiling's gain
EXTEND_STEP = 20  # the random control is measured every EXTEND_STEP labels beyond a third of the test set


def _r(v: float | None, nd: int = 4) -> float | None:
    return None if v is None or v != v else round(float(v), nd)


def _extend_grid(until: int, n_test: int) -> list[int]:
    """The label counts measured beyond a third of the test set: the multiples of ``EXTEND_STEP`` above ``until``,
    then every test label. The grid does not depend on ``until``, so draws with test sets of different sizes (the
    grouped real splits) share its points and their curves can be averaged there."""
    first = (until // EXTEND_STEP + 1) * EXTEND_STEP
    return [*range(first, n_test, EXTEND_STEP), n_test]


def _full_curve(row: dict[str, Any], name: str) -> tuple[list[int], list[float]]:
    """One draw's curve of ``name`` (a strategy or ``"random"``) up to every test label."""
    if name == "random":
        return [*row["labels"], *row["random_ext_labels"]], [*row["acc"]["random"], *row["random_ext_acc"]]
    return row["ext_labels"][name], row["ext_acc"][name]


def _mean_full_curves(
    rows: list[dict[str, Any]], names: list[str]
) -> tuple[list[int], dict[str, list[float]]]:
    """The curves up to every test label, averaged over the draws at the label counts every draw measured; the
    last point is every test label (labelled with the draws' mean test size, which may differ by draw)."""
    shared: set[int] | None = None
    for r in rows:
        for s in names:
            have = set(_full_curve(r, s)[0][:-1])
            shared = have if shared is None else shared & have
    grid = sorted(shared or ())
    acc: dict[str, list[float]] = {}
    for s in names:
        at = [dict(zip(*_full_curve(r, s))) for r in rows]
        last = [_full_curve(r, s)[1][-1] for r in rows]
        acc[s] = [float(np.mean([a[n] for a in at])) for n in grid] + [float(np.mean(last))]
    n_all = round(float(np.mean([r["sizes"]["test"] for r in rows])))
    return [*grid, n_all], acc


def _draw_to95(row: dict[str, Any], name: str) -> int | None:
    """Labels ``name`` needs in one draw to reach that draw's 95 % of its ceiling's gain."""
    from olkit.online.session import labels_to_reach

    target = row["before"] + GOAL_SHARE * (row["ceiling"] - row["before"])
    return labels_to_reach(*_full_curve(row, name), target)


def _one_draw(
    manifest: pd.DataFrame,
    bb: Any,
    *,
    tag: str,
    seed: int,
    group_col: str | None,
    progress: bool,
    train_nr: int = TRAIN_NR,
) -> dict[str, Any]:
    from olkit.online.session import OnlineSession, learning_curve, stop_advice

    splits = _splits(manifest, train_nr=train_nr, seed=seed, group_col=group_col)
    run_dir = CACHE / f"{tag}-run"
    keep = run_dir / "embeddings"
    if run_dir.exists():  # a fresh session each draw; the embedding cache survives
        for child in run_dir.iterdir():
            if child != keep:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    session = OnlineSession.create(run_dir, splits=splits, backbone=bb, seed=seed, progress=progress)
    n_test = len(session.predictions("test"))
    until = n_test // 3
    extend = _extend_grid(until, n_test)
    curves: dict[str, pd.DataFrame] = {}
    ext_curves: dict[str, pd.DataFrame] = {}  # each strategy's curve up to every test label
    seconds: list[float] = []
    stop: dict[str, Any] = {}
    for k, strategy in enumerate(STRATEGIES):
        session.restart()
        rounds = session.run_rounds(
            strategy=strategy, step=STEP, until=until, controls=k == 0, random_repeats=RANDOM_REPEATS
        )
        curve = learning_curve(rounds)
        curves[strategy] = curve
        seconds += [r.seconds for r in rounds]
        # beyond a third, the same strategy goes on from its labels, every EXTEND_STEP labels up to every test
        # label (no controls: the random control's curve beyond a third is random_curve's, on the same grid)
        test_sha = session.predictions("test")["sha256"]
        all_rounds = list(rounds)
        for budget in extend:
            have = session.simulated_labels(test_sha.iloc[list(all_rounds[-1].labelled_after)])
            all_rounds += session.run_rounds(
                strategy=strategy, step=budget - len(have), until=budget, labels=have
            )
        ext_curves[strategy] = learning_curve(all_rounds)
        if k == 0:  # the random control and the ceiling, measured with the first strategy's schedule
            curves["random"] = curve.assign(acc=curve["random_acc"], bal_acc=curve["random_bal_acc"])
            ceiling = float(curve["ceiling_acc"].iloc[-1])
            ceiling_bal = float(curve["ceiling_bal_acc"].iloc[-1])
        if strategy == HEADLINE:  # where the rule stops it, over its whole curve (up to every test label)
            for i in range(1, len(all_rounds) + 1):
                advice = stop_advice(all_rounds[:i])
                if advice.stop or i == len(all_rounds):
                    stop = {"labels": all_rounds[i - 1].labels_used, "acc": all_rounds[i - 1].after.accuracy,
                            "fired": advice.stop, "changed": advice.changed}  # fmt: skip
                    break
    before = float(curves[STRATEGIES[0]]["acc"].iloc[0])
    # the random control beyond a third of the test set, up to every test label (same orders, same fitting), so
    # that the labels random needs to reach 95 % of the ceiling's gain can be counted
    session.restart()
    ext = session.random_curve(extend, repeats=RANDOM_REPEATS)
    return {
        "seed": seed,
        "sizes": {s: int((splits["split"] == s).sum()) for s in ("train", "holdout", "test")},
        "before": before,
        "ceiling": ceiling,
        "ceiling_bal": ceiling_bal,
        "labels": [int(v) for v in curves["random"]["labels"]],
        "acc": {s: [float(v) for v in c["acc"]] for s, c in curves.items()},
        "bal_acc": {s: [float(v) for v in c["bal_acc"]] for s, c in curves.items()},
        "random_min": [float(v) for v in curves["random"]["random_min"]],
        "random_max": [float(v) for v in curves["random"]["random_max"]],
        "ext_labels": {s: [int(v) for v in c["labels"]] for s, c in ext_curves.items()},
        "ext_acc": {s: [float(v) for v in c["acc"]] for s, c in ext_curves.items()},
        "random_ext_labels": [int(v) for v in ext["labels"]],
        "random_ext_acc": [float(v) for v in ext["random_acc"]],
        "round_seconds": seconds,
        "stop": stop,
    }


def protocol(
    data: Path,
    *,
    tag: str,
    group_col: str | None = None,
    progress: bool = False,
    draws: int = DRAWS,
    manifest: pd.DataFrame | None = None,
    backbone: Any = None,
    train_nr: int = TRAIN_NR,
    representation: str | None = None,
) -> dict[str, Any]:
    """Run the rounds on ``draws`` draws of the data at ``data``; return the BENCH.md keys plus details.

    ``manifest`` (default: the one of ``data``) is what the draws split, ``train_nr`` the train images each draws
    from its ``data_train``; ``backbone`` a conv base to use as given (default: the compact one trained and cached
    by ``benchmarks/online.py``'s recipe), ``representation`` its name in the figures and in the per-draw cache
    key (default: the base's recipe).
    """
    from olkit.online.session import NEW_SHARE, NEW_WEIGHT, REFIT_EPOCHS, REPLAY, labels_to_reach
    from olkit.paths import data_root

    t0 = time.perf_counter()
    manifest = _manifest(data) if manifest is None else manifest
    if backbone is None:
        first = _splits(manifest, train_nr=train_nr, seed=SEED, group_col=group_col)
        bb_tag = "online" if data == data_root() else "online_real"
        bb, bb_info = _backbone(bb_tag, first, progress=progress)
    else:
        bb, bb_info = backbone, {}
    # every finished draw is kept in bench/cache/<tag>-draws.jsonl (keyed by what it depends on), so a run that
    # is stopped resumes where it stopped; rows are recomputed when the strategies or the schedule change
    done_file = CACHE / f"{tag}-draws.jsonl"
    fitting = [NEW_WEIGHT, NEW_SHARE, REFIT_EPOCHS, REPLAY]  # a change of the refit rule measures again
    parts: list[Any] = [
        STRATEGIES,
        STEP,
        RANDOM_REPEATS,
        train_nr,
        EXTEND_STEP,
        fitting,
        getattr(bb, "fingerprint", ""),
        "strategies to every test label",  # rows before the strategies went beyond a third lack their curves
    ]
    if representation is not None:  # a named representation keys its own rows (the compact rows had no name)
        parts.append(representation)
    key = json.dumps(parts)
    done: dict[int, dict[str, Any]] = {}
    if done_file.is_file():
        for line in done_file.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("key") == key:
                done[int(rec["row"]["seed"])] = rec["row"]
    rows = []
    for k in range(draws):
        if SEED + k not in done:
            row = _one_draw(
                manifest,
                bb,
                tag=tag,
                seed=SEED + k,
                group_col=group_col,
                progress=progress,
                train_nr=train_nr,
            )
            with open(done_file, "a") as fh:
                fh.write(json.dumps({"key": key, "row": row}) + "\n")
            done[SEED + k] = row
        rows.append(done[SEED + k])
    n_points = min(len(r["labels"]) for r in rows)
    labels = rows[0]["labels"][:n_points]
    names = list(rows[0]["acc"])
    acc = {s: np.mean([r["acc"][s][:n_points] for r in rows], axis=0) for s in names}
    bal = {s: np.mean([r["bal_acc"][s][:n_points] for r in rows], axis=0) for s in names}
    before = float(np.mean([r["before"] for r in rows]))
    ceiling = float(np.mean([r["ceiling"] for r in rows]))
    target = before + GOAL_SHARE * (ceiling - before)
    # every curve up to every test label, on the label counts all draws measured (the last point: every test
    # label, at the draws' mean test size), averaged over the draws
    all_labels, all_acc = _mean_full_curves(rows, names)
    to95 = {s: labels_to_reach(all_labels, all_acc[s], target) for s in names}
    per_draw_to95 = {s: [_draw_to95(r, s) for r in rows] for s in names}
    best = min(
        (s for s in names if s != "random"),
        key=lambda s: (to95[s] is None, to95[s] or 0, -acc[s].mean()),
    )
    rnd_labels, rnd_acc = all_labels, all_acc["random"]
    gap = ceiling - before
    stops = [r["stop"] for r in rows]
    stop_acc = float(np.mean([s["acc"] for s in stops]))
    return {
        "labels": labels,
        "acc": {s: [_r(v) for v in acc[s]] for s in names},
        "bal_acc": {s: [_r(v) for v in bal[s]] for s in names},
        "acc_min": {s: [_r(min(r["acc"][s][i] for r in rows)) for i in range(n_points)] for s in names},
        "acc_max": {s: [_r(max(r["acc"][s][i] for r in rows)) for i in range(n_points)] for s in names},
        "auc": {s: _r(float(np.mean(acc[s][1:]))) for s in names},  # mean accuracy over the rounds
        "labels_all": all_labels,  # every curve up to every test label (the last point: every test label)
        "acc_all": {s: [_r(v) for v in all_acc[s]] for s in names},
        "random_labels_all": rnd_labels,
        "random_acc_all": [_r(v) for v in rnd_acc],
        "ceiling_acc": _r(ceiling),
        "ceiling_bal_acc": _r(float(np.mean([r["ceiling_bal"] for r in rows]))),
        "holdout_acc_before": _r(before),
        "target_acc": _r(target),
        "labels_to_95": to95,
        # each draw against its own target (before + 0.95 (ceiling - before) of that draw); None: not reached
        "labels_to_95_per_draw": per_draw_to95,
        "labels_to_95_per_draw_median": {
            s: None if any(v is None for v in per_draw_to95[s]) else float(np.median(per_draw_to95[s]))
            for s in names
        },
        "best_strategy": best,
        "best_vs_random": (
            None if to95[best] is None or to95["random"] is None else _r(to95[best] / to95["random"], 3)
        ),
        # random never got there, even with every test label: the best strategy needs at most this share
        "best_vs_random_at_most": (
            _r(to95[best] / rnd_labels[-1], 3) if to95[best] is not None and to95["random"] is None else None
        ),
        "stop": {
            "strategy": HEADLINE,
            "labels": _r(float(np.mean([s["labels"] for s in stops])), 1),
            "acc": _r(stop_acc),
            "gain_share": None if gap <= 0 else _r((stop_acc - before) / gap, 3),
            "fired": sum(int(s["fired"]) for s in stops),
            "per_draw": [{k: _r(v) if isinstance(v, float) else v for k, v in s.items()} for s in stops],
        },
        "round_seconds": _r(float(np.median([x for r in rows for x in r["round_seconds"]])), 3),
        "round_seconds_max": _r(float(np.max([x for r in rows for x in r["round_seconds"]])), 3),
        "per_draw": [
            {
                "seed": r["seed"],
                "before": _r(r["before"]),
                "ceiling": _r(r["ceiling"]),
                "final": {s: _r(r["acc"][s][n_points - 1]) for s in names},
            }
            for r in rows
        ],
        "train_size": rows[0]["sizes"]["train"],
        "holdout_size": rows[0]["sizes"]["holdout"],
        "test_size": rows[0]["sizes"]["test"],
        "step": STEP,
        "draws": draws,
        "random_repeats": RANDOM_REPEATS,
        "fitting": f"warm refit, {REFIT_EPOCHS} epochs, {REPLAY} train images replayed, new labels weighted up to "
        f"{NEW_WEIGHT} (together at most {NEW_SHARE:g} of the train set)",
        "representation": representation or getattr(bb, "recipe", "compact"),
        **{k: v for k, v in bb_info.items() if k.startswith("backbone_")},
        "total_s": round(time.perf_counter() - t0, 1),
        "data": str(data),
    }


def run() -> dict[str, Any]:
    from olkit.paths import data_root

    data = data_root()
    if not (data / "data_train").is_dir():
        raise FileNotFoundError(
            f"{data}/data_train is missing: make the synthetic data with `olkit data` first"
        )
    return protocol(data, tag="online_curve")


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
