"""The session's prior-shift option: EM-estimated test priors adjust predictions and holdout metrics."""

from __future__ import annotations

import numpy as np

from olkit.classify import adjust_proba, estimate_priors, evaluate
from olkit.online.session import OnlineSession, make_tiny_session


def test_prior_shift_adjusts_predictions_and_metrics_and_is_saved(tmp_path) -> None:
    s = make_tiny_session(tmp_path)
    assert s.prior_shift is False
    raw = s._proba_of("holdout").copy()
    before = s.holdout_metrics()
    clf = s.classifier
    train_priors = np.asarray(clf.predict_proba(s.embeddings("train"))).mean(axis=0)
    q = estimate_priors(np.asarray(clf.predict_proba(s.embeddings("test"))), train_priors)
    assert set(s.estimated_priors()) == set(s.classes)
    np.testing.assert_allclose(list(s.estimated_priors().values()), q)

    s.prior_shift = True
    want = adjust_proba(raw, train_priors, q)
    np.testing.assert_allclose(s._proba_of("holdout"), want)
    np.testing.assert_allclose(s.predictions("holdout")[[f"p_{c}" for c in s.classes]].to_numpy(), want)
    m = s.holdout_metrics()
    assert m == evaluate(s._rows("holdout")["label"], want, s.classes)
    assert OnlineSession.open(s.run, progress=False).prior_shift is True  # saved with the session
    res = s.retrain(s.simulated_labels(s._rows("test")["sha256"][:4]), random_repeats=1)
    assert res.before == m and res.random is not None
    s.prior_shift = False
    np.testing.assert_allclose(s._proba_of("holdout"), s.classifier.predict_proba(s.embeddings("holdout")))
    assert before.accuracy == evaluate(s._rows("holdout")["label"], raw, s.classes).accuracy


def test_balanced_new_labels_weigh_each_class_alike() -> None:
    from olkit.online.session import refit

    rng = np.random.default_rng(0)
    x_train = rng.normal(size=(60, 4))
    y_train = ["0"] * 30 + ["1"] * 30
    x_new = rng.normal(size=(8, 4)) + 3.0
    y_new = ["1"] * 7 + ["0"]  # the new labels are mostly one class
    plain = refit(None, x_train, y_train, x_new, y_new, new_weight=10.0)
    bal = refit(None, x_train, y_train, x_new, y_new, new_weight=10.0, balanced=True)
    # the single "0" weighs as much as the seven "1"s: near the new images the balanced fit leans less to "1"
    p_plain = plain.predict_proba(x_new)[:, list(plain.classes_).index("1")].mean()
    p_bal = bal.predict_proba(x_new)[:, list(bal.classes_).index("1")].mean()
    assert p_bal < p_plain


def test_balance_new_is_a_session_option_passed_to_refit(tmp_path) -> None:
    from olkit.online.session import classifier_fingerprint, refit

    s = make_tiny_session(tmp_path)
    assert s._state["balance_new"] is False
    test = s._rows("test")
    labels = dict(zip(test["sha256"][:6], ["1", "1", "1", "1", "1", "0"]))
    s._state["balance_new"] = True
    clf, _ = s._fit_with("refit", labels, 10.0, warm=False)
    x_new = s.embeddings("test")[:6]
    train = s._rows("train")
    want = refit(None, s.embeddings("train"), list(train["label"]), x_new, list(labels.values()), new_weight=10.0,
                 template=s._template(), balanced=True)  # fmt: skip
    plain = refit(None, s.embeddings("train"), list(train["label"]), x_new, list(labels.values()), new_weight=10.0,
                  template=s._template())  # fmt: skip
    assert classifier_fingerprint(clf) == classifier_fingerprint(want) != classifier_fingerprint(plain)
