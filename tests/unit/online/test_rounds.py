"""Rounds: the refit every round and control shares, the stopping rule, and rounds on a tiny real session."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from olkit.classify import evaluate, fit_classifier, make_classifier
from olkit.online.select import novelty, select
from olkit.online.session import (
    OnlineSession,
    RoundResult,
    labels_to_reach,
    learning_curve,
    make_tiny_session,
    new_label_weight,
    refit,
    stop_advice,
)


# ---------------------------------------------------------------------------------------------- a constructed shift
def _shift(seed: int) -> dict[str, np.ndarray]:
    """Train: two Gaussian classes in 8-D. New set: the same classes moved (a new wear pattern) and turned, so the
    train-only classifier gets many of them wrong; holdout and test are drawn from the new set alike."""
    rng = np.random.default_rng(seed)

    def draw(n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, n)
        x = rng.normal(0, 1, (n, 8))
        x[:, 0] += np.where(y == 1, 1.6, -1.6)
        if shift:
            x[:, 1] += shift
            x[:, 0] += np.where(y == 1, -1.0, 0.4) * shift
            x[:, 2] += np.where(y == 1, 1.5, -1.5) * shift
        return x, y.astype(str)

    xt, yt = draw(300, 0.0)
    xh, yh = draw(150, 1.5)
    xs, ys = draw(90, 1.5)
    return {"xt": xt, "yt": yt, "xh": xh, "yh": yh, "xs": xs, "ys": ys}


def _acc(clf, d: dict[str, np.ndarray]) -> float:  # type: ignore[no-untyped-def]
    return float(np.mean(clf.predict(d["xh"]) == d["yh"]))


def test_more_labels_never_score_lower_and_the_ceiling_is_not_beaten_on_a_constructed_shift() -> None:
    sizes = (10, 30, 90)
    by_size: dict[int, list[float]] = {n: [] for n in sizes}
    picked_acc, before = [], []
    for seed in range(4):
        d = _shift(seed)
        template = make_classifier(hidden=(16,), seed=seed)
        base = fit_classifier(template, d["xt"], list(d["yt"]))
        before.append(_acc(base, d))
        for rep in range(2):
            order = np.random.default_rng([seed, rep]).permutation(len(d["ys"]))
            for n in sizes:
                idx = order[:n]
                clf = refit(base, d["xt"], d["yt"], d["xs"][idx], d["ys"][idx], template=template)
                by_size[n].append(_acc(clf, d))
        # a strategy's third (uncertain or novel), fitted the same way, against the ceiling
        scaler = base.named_steps["scaler"]
        nov = novelty(scaler.transform(d["xs"]), scaler.transform(d["xt"]))
        idx = select(base.predict_proba(d["xs"]), strategy="hybrid", budget=30, novelty=nov).indices
        picked_acc.append(
            _acc(refit(base, d["xt"], d["yt"], d["xs"][idx], d["ys"][idx], template=template), d)
        )
    mean = {n: float(np.mean(v)) for n, v in by_size.items()}
    assert mean[10] > float(np.mean(before)) + 0.02  # the shift is real and labels help
    assert mean[10] <= mean[30] + 0.01 <= mean[90] + 0.02  # more labels never score lower on average
    assert float(np.mean(picked_acc)) <= mean[90] + 0.005  # the ceiling (every test label) is not beaten


def test_the_weight_of_new_labels_is_capped_by_the_train_set() -> None:
    assert new_label_weight(10, 10_000) == pytest.approx(new_label_weight(1, 10_000))
    assert new_label_weight(180, 300) * 180 <= 300 + 1e-9  # together at most the train set
    assert new_label_weight(90, 300) >= new_label_weight(180, 300)  # each weighs less as more arrive


# ---------------------------------------------------------------------------------------------- the stopping rule
def _round(labels: int, before: list[int], after: list[int], labelled: list[int], acc: float) -> RoundResult:
    y = ["0", "1"] * 10
    p = np.tile([[acc, 1 - acc], [1 - acc, acc]], (10, 1))
    m = evaluate(y, p, ["0", "1"])
    return RoundResult(
        round=labels // 10, mode="refit", finetune=False, labels_used=labels, new_weight=10.0, before=m, after=m,
        random=None, ceiling=None, train_acc_before=1.0, train_acc_after=1.0, seconds=0.1, control_seconds=0.0,
        classifier_file="", when="", test_pred_before=tuple(before), test_pred_after=tuple(after),
        labelled_after=tuple(labelled),
    )  # fmt: skip


def _saturating(n_pool: int = 200, rounds: int = 8) -> list[RoundResult]:
    """Predictions on a pool of 200 that change a lot in the first rounds and then settle (a saturating curve)."""
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 2, n_pool)
    out = []
    flips = [40, 25, 12, 6, 1, 0, 1, 0]
    for k in range(rounds):
        new = pred.copy()
        new[rng.choice(np.arange(100, n_pool), flips[k], replace=False)] ^= 1  # flips among unlabelled images
        out.append(
            _round(10 * (k + 1), pred.tolist(), new.tolist(), list(range(10 * (k + 1))), 0.7 + 0.02 * k)
        )
        pred = new
    return out


def test_the_stopping_rule_fires_on_a_saturating_curve() -> None:
    rounds = _saturating()
    verdicts = [stop_advice(rounds[: k + 1]) for k in range(len(rounds))]
    assert not verdicts[0].stop and "at least 20" in verdicts[0].message  # too few labels to judge
    assert not any(v.stop for v in verdicts[:5])  # predictions still move: keep labelling
    first = next(k for k, v in enumerate(verdicts) if v.stop)
    assert first == 5  # rounds 5 and 6 flipped 1 + 0 of the 140 unlabelled images: under 1 %
    assert verdicts[first].message.startswith(
        "the last 20 labels changed 1% of the predictions: you can stop"
    )
    assert verdicts[first].changed is not None and verdicts[first].changed <= 0.01


def test_the_stopping_rule_does_not_fire_while_predictions_move() -> None:
    rng = np.random.default_rng(1)
    pred = rng.integers(0, 2, 100)
    rounds = []
    for k in range(6):
        new = pred.copy()
        new[rng.choice(np.arange(60, 100), 5, replace=False)] ^= 1
        rounds.append(_round(10 * (k + 1), pred.tolist(), new.tolist(), list(range(10 * (k + 1))), 0.7))
        pred = new
    advice = stop_advice(rounds)
    assert not advice.stop and "keep labelling" in advice.message


def test_labels_to_reach_and_the_curve_table() -> None:
    assert labels_to_reach([0, 10, 20, 30], [0.7, 0.8, 0.9, 0.95], 0.9) == 20
    assert labels_to_reach([0, 10], [0.7, 0.8], 0.9) is None
    rounds = _saturating(rounds=3)
    curve = learning_curve(rounds)
    assert curve["labels"].tolist() == [0, 10, 20, 30]
    assert curve["acc"].iloc[1:].tolist() == pytest.approx([r.after.accuracy for r in rounds])


# ---------------------------------------------------------------------------------------------- rounds on a session
@pytest.fixture(scope="module")
def session(tmp_path_factory) -> OnlineSession:  # type: ignore[no-untyped-def]
    return make_tiny_session(tmp_path_factory.mktemp("rounds"), n_train=40, n_new=36, seed=0)


def test_rounds_select_from_what_is_left_and_the_history_holds_every_round(session: OnlineSession) -> None:
    session.restart()
    n_test = len(session.predictions("test"))
    rounds = session.run_rounds(strategy="hybrid", step=2, until=6, random_repeats=3)
    assert [r.labels_used for r in rounds] == [2, 4, 6] and n_test == 18
    assert [r.round for r in rounds] == [1, 2, 3] and [r.strategy for r in rounds] == ["hybrid"] * 3
    labelled = [set(r.labelled_after) for r in rounds]
    assert labelled[0] < labelled[1] < labelled[2]  # each round adds new images, none asked twice
    assert len({r.fingerprint for r in rounds}) == 3 and session.fingerprint == rounds[-1].fingerprint
    # each round starts from the classifier of the round before
    assert all(a.test_pred_after == b.test_pred_before for a, b in itertools.pairwise(rounds))
    assert all(len(r.random_accuracies) == 3 for r in rounds)
    assert len({r.ceiling.accuracy for r in rounds if r.ceiling}) == 1  # one ceiling, fitted once
    assert [r.labels_used for r in session.rounds()] == [2, 4, 6]
    curve = session.learning_curve()
    assert (
        curve["labels"].tolist() == [0, 2, 4, 6]
        and curve["random_min"].iloc[1] <= curve["random_max"].iloc[1]
    )


def test_rounds_take_answers_from_a_mapping_and_write_them_to_the_store(
    session: OnlineSession, tmp_path
) -> None:
    from olkit.online.labels import LabelStore

    session.restart()
    test = session.predictions("test")
    known = dict(zip(test["sha256"][::2], test["label"][::2]))  # a CSV that covers half the test set
    store = LabelStore(tmp_path / "labels.sqlite")
    rounds = session.run_rounds(strategy="badge", step=3, until=9, expert=known, store=store, controls=False)
    assert rounds and set(store.labels()) <= set(known)
    events = store.events()
    assert events["model"].notna().all() and events["model"].nunique() == len(rounds)
    assert events["round"].tolist() == sorted(events["round"].tolist())
    first_model = events.loc[events["round"] == 0, "model"].iloc[0]
    assert first_model != rounds[0].fingerprint  # round 0's images were shown by the classifier before it


def test_learning_curve_figures_plot_and_summary_line(session: OnlineSession, tmp_path) -> None:
    from olkit.report import curve_figures, curve_text, plot_learning_curve

    session.restart()
    session.run_rounds(strategy="typiclust", step=3, until=9, random_repeats=2)
    figures = curve_figures(session)
    assert figures["labels"] == [0, 3, 6, 9] and set(figures["acc"]) == {"typiclust", "random"}
    assert figures["ceiling_acc"] is not None
    gap = figures["ceiling_acc"] > figures["acc"]["typiclust"][0]
    assert set(figures["labels_to_95"]) == ({"typiclust", "random"} if gap else set())
    line = curve_text(figures, title="tiny")
    assert line.startswith("tiny: learning curve to 9 labels: typiclust ") and "labels to 95 %" in line
    for curve in (session.learning_curve(), figures):
        out = tmp_path / f"curve-{type(curve).__name__}.png"
        plot_learning_curve(curve, path=out)
        assert out.is_file() and out.stat().st_size > 5_000


def test_the_random_curve_extends_the_random_control_to_every_test_label(session: OnlineSession) -> None:
    session.restart()
    rounds = session.run_rounds(strategy="hybrid", step=3, until=6, random_repeats=2)
    n_test = len(session.predictions("test"))
    fp = session.fingerprint
    curve = session.random_curve([0, 3, 6, n_test], repeats=2)
    assert curve["labels"].tolist() == [0, 3, 6, n_test]
    assert session.fingerprint == fp  # the session's classifier is left as it was
    # the same draws and fitting as the rounds' random control, and every test label is the ceiling
    assert curve["random_acc"].iloc[0] == pytest.approx(rounds[0].before.accuracy)
    assert curve["random_acc"].iloc[1] == pytest.approx(rounds[0].random_accuracy)
    assert curve["random_acc"].iloc[2] == pytest.approx(rounds[1].random_accuracy)
    assert rounds[-1].ceiling is not None
    assert curve["random_acc"].iloc[3] == pytest.approx(rounds[-1].ceiling.accuracy)
    assert (curve["random_min"] <= curve["random_acc"]).all() and (
        curve["random_acc"] <= curve["random_max"]
    ).all()
