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
