"""The classifier pipeline, its metrics, skops persistence with the trust check, the original's warm start."""

from __future__ import annotations

import numpy as np
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from olkit.classify import (
    Metrics,
    classify_features,
    continue_fit,
    evaluate,
    fit_classifier,
    load_classifier,
    make_classifier,
    make_logreg,
    make_mlp,
    save_classifier,
)
from olkit.errors import ModelMismatchError, UntrustedFileError


def blobs(n: int, centers: list[float], seed: int = 0, dim: int = 8) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k, c in enumerate(centers):
        xs.append(rng.normal(c, 1.0, (n, dim)))
        ys += [str(k)] * n
    return np.concatenate(xs).astype(np.float32), ys


def test_pipeline_is_the_originals() -> None:
    pipe = make_classifier()
    assert isinstance(pipe.named_steps["scaler"], StandardScaler)
    mlp = pipe.named_steps["mlp"]
    assert mlp.hidden_layer_sizes == (64, 32) and mlp.solver == "adam" and mlp.batch_size == 32


def test_fit_separates_blobs_and_metrics_are_right() -> None:
    x, y = blobs(40, [-3.0, 3.0])
    clf = fit_classifier(make_classifier(seed=0), x, y)
    xt, yt = blobs(30, [-3.0, 3.0], seed=1)
    m = evaluate(yt, clf.predict_proba(xt), clf.classes_)
    assert m.accuracy > 0.97 and m.balanced_accuracy > 0.97 and m.roc_auc is not None and m.roc_auc > 0.99
    assert "weighted avg" in m.report and "1.0000" in m.report  # four-digit report as the original printed
    # hand-checked numbers on a tiny table
    p = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [0.2, 0.8]])
    m = evaluate(["0", "0", "1", "1"], p, ["0", "1"])
    assert m.accuracy == 0.5 and m.confusion == ((1, 1), (1, 1))
    assert m.brier == pytest.approx(np.mean([0.1**2, 0.6**2, 0.7**2, 0.2**2]))
    assert m.roc_auc == pytest.approx(0.75)  # 3 of 4 positive-negative pairs ordered
    assert m.f1 == pytest.approx(0.5)  # class "1": one true positive, one false positive, one false negative
    assert Metrics.from_dict(m.to_dict()) == m


def test_f1_is_macro_beyond_two_classes() -> None:
    p = np.eye(3)[[0, 0, 1, 2, 2, 2]]  # predictions 0 0 1 2 2 2
    m = evaluate(["0", "1", "1", "2", "2", "2"], p, ["0", "1", "2"])
    # per class F1: "0" 2/3 (tp 1, fp 1), "1" 2/3 (tp 1, fn 1), "2" 1
    assert m.f1 == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert m.accuracy == pytest.approx(5 / 6)


@pytest.mark.parametrize("classifier", ["logreg", "mlp"])
def test_pruning_evaluation_reports_the_one_metrics(classifier: str) -> None:
    x, y = blobs(40, [-1.0, 1.0], seed=2)
    labels = np.asarray([int(v) for v in y])  # the pruning tables use integer labels
    idx = np.random.default_rng(0).permutation(len(labels))
    train, test = np.sort(idx[:60]), np.sort(idx[60:])
    got = classify_features(x, labels, train, test, classifier=classifier, seed=0)  # type: ignore[arg-type]
    clf = (make_logreg if classifier == "logreg" else make_mlp)(seed=0).fit(x[train], labels[train])
    want = evaluate(labels[test].tolist(), clf.predict_proba(x[test]), list(clf.classes_))
    assert got["acc"] == want.accuracy and got["f1"] == want.f1 and got["auc"] == want.roc_auc
    assert got["bal_acc"] == want.balanced_accuracy and 0.7 < got["acc"] <= 1.0
    assert ("cv_acc" in got) == (classifier == "logreg")


def test_three_classes_from_the_start() -> None:
    x, y = blobs(30, [-4.0, 0.0, 4.0])
    clf = fit_classifier(make_classifier(seed=0), x, y)
    assert list(clf.classes_) == ["0", "1", "2"]
    m = evaluate(y, clf.predict_proba(x), clf.classes_)
    assert m.accuracy > 0.9 and m.roc_auc is not None and len(m.confusion) == 3
    assert 0 <= m.brier <= 2


def test_sample_weight_pulls_the_boundary() -> None:
    x, y = blobs(60, [-0.5, 0.5], seed=3, dim=1)  # overlapping: the weighting decides the boundary
    w = np.where(np.asarray(y) == "1", 20.0, 1.0)
    plain = fit_classifier(make_classifier(seed=0), x, y)
    weighted = fit_classifier(make_classifier(seed=0), x, y, sample_weight=w)
    assert (weighted.predict(x) == "1").sum() > (plain.predict(x) == "1").sum()


def test_save_load_roundtrip(tmp_path) -> None:
    x, y = blobs(20, [-2.0, 2.0])
    clf = fit_classifier(make_classifier(seed=0), x, y)
    path = save_classifier(clf, tmp_path / "clf.skops")
    back = load_classifier(path)
    assert np.allclose(back.predict_proba(x), clf.predict_proba(x))


def _outside(x: np.ndarray) -> np.ndarray:  # a function skops will not trust
    return x


def test_untrusted_file_is_refused(tmp_path) -> None:
    x, y = blobs(20, [-2.0, 2.0])
    bad = Pipeline([("f", FunctionTransformer(_outside)), ("mlp", make_classifier().named_steps["mlp"])])
    bad.fit(x, y)
    path = tmp_path / "bad.skops"
    sio.dump(bad, path)
    with pytest.raises(UntrustedFileError, match=r"bad\.skops.*_outside"):
        load_classifier(path)


def test_original_warm_start_is_reproduced_and_its_fix_forgets() -> None:
    x, y = blobs(60, [-1.5, 1.5], seed=4)
    base = fit_classifier(make_classifier(seed=0), x, y)
    assert np.mean(base.predict(x) == np.asarray(y)) > 0.95
    # a new pattern: images that look like the old class 0 but are pitted, and the reverse
    xn, yn = blobs(10, [-1.5, 1.5], seed=5)
    flipped = ["1" if v == "0" else "0" for v in yn]
    # faithful: scikit-learn keeps the first fit's stopping state, so the warm start runs one epoch only
    warm = continue_fit(base, xn, flipped)
    assert len(warm.named_steps["mlp"].loss_curve_) == len(base.named_steps["mlp"].loss_curve_) + 1
    assert not np.allclose(warm.predict_proba(xn), base.predict_proba(xn))
    assert np.allclose(base.predict_proba(x), fit_classifier(make_classifier(seed=0), x, y).predict_proba(x))
    # with the stopping state reset, training on the relabeled only forgets the old data
    reset = continue_fit(base, xn, flipped, faithful=False)
    assert np.mean(reset.predict(xn) == np.asarray(flipped)) > 0.9
    assert np.mean(reset.predict(x) == np.asarray(y)) < 0.2
    ones = continue_fit(base, xn[:5], ["1"] * 5, faithful=False)  # one class only (partial_fit path)
    assert list(ones.classes_) == ["0", "1"] and np.mean(ones.predict(x) == "1") > 0.5
    with pytest.raises(ModelMismatchError, match="refit"):
        continue_fit(base, xn[:2], ["7", "1"])


def test_logreg_drops_features_below_the_variance_floor(tmp_path) -> None:
    """make_logreg's VarianceThreshold drops the features a pruned conv base leaves constant up to float32 rounding
    (the scaler would divide by that std); the informative ones stay, and the fitted pipeline loads back."""
    from olkit.classify import LR_MIN_STD

    x, y = blobs(40, [-1.5, 1.5], seed=6, dim=6)
    rng = np.random.default_rng(0)
    flat = (0.5 + rng.normal(0, 1e-7, (len(x), 3))).astype(np.float32)  # 0.5 up to a few roundings
    xs = np.hstack([x, flat])
    clf = make_logreg(seed=0).fit(xs, y)
    pipe = clf.best_estimator_
    vt = pipe.steps[0][1]
    rms = float(np.sqrt(np.mean(xs.astype(np.float64) ** 2)))
    assert type(vt).__name__ == "VarianceFloor" and vt.threshold_ == pytest.approx((LR_MIN_STD * rms) ** 2)
    assert vt.get_support().tolist() == [True] * 6 + [False] * 3
    assert pipe.named_steps["standardscaler"].scale_.min() > 0.1
    assert np.mean(clf.predict(xs) == np.asarray(y)) > 0.9
    # without the floor the scaler keeps them, at a std of float32 rounding
    loose = make_logreg(seed=0, min_std=0.0).fit(xs, y).best_estimator_
    assert loose.named_steps["standardscaler"].scale_.min() < 1e-5
    back = load_classifier(save_classifier(pipe, tmp_path / "logreg.skops"))  # every type on the allow-list
    assert np.allclose(back.predict_proba(xs), pipe.predict_proba(xs))


def test_variance_floor_that_keeps_nothing_leaves_the_priors() -> None:
    """A dead conv base (every feature constant up to rounding) gives one column of zeros: the logistic regression
    learns the class priors instead of stopping the evaluation."""
    rng = np.random.default_rng(1)
    x = (0.7 + rng.normal(0, 1e-7, (40, 5))).astype(np.float32)
    y = ["0"] * 30 + ["1"] * 10
    clf = make_logreg(seed=0).fit(x, y)
    assert clf.best_estimator_.steps[0][1].get_support().sum() == 0
    p = clf.predict_proba(x)
    assert np.allclose(p, p[0]) and (clf.predict(x) == "0").all()
    assert abs(p[0, 1] - 0.25) < 0.05
