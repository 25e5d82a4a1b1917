"""Prior shift: the EM of Saerens et al. (2002) finds known class priors of a shifted set; Bayes' adjustment."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from olkit.classify import adjust_proba, balanced_weights, estimate_priors


def _gaussians(rng: np.random.Generator, n: int, priors: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    y = rng.choice(len(priors), size=n, p=priors)
    centres = np.array([[0.0, 0.0], [1.6, 0.8], [0.4, 2.0]])[: len(priors)]
    return centres[y] + rng.normal(0, 1, (n, 2)), y


@pytest.mark.parametrize(
    ("train", "new"),
    [((0.5, 0.5), (0.2, 0.8)), ((0.56, 0.44), (0.75, 0.25)), ((0.3, 0.3, 0.4), (0.6, 0.1, 0.3))],
)
def test_em_recovers_a_constructed_shift(train: tuple[float, ...], new: tuple[float, ...]) -> None:
    rng = np.random.default_rng(0)
    x, y = _gaussians(rng, 6000, train)
    clf = LogisticRegression(max_iter=1000).fit(x, y)  # calibrated on Gaussians with a shared covariance
    xn, yn = _gaussians(rng, 3000, new)
    p = clf.predict_proba(xn)
    naive = p.mean(axis=0)
    q = estimate_priors(p, np.bincount(y) / len(y))
    assert np.abs(q - np.bincount(yn) / len(yn)).max() < 0.03  # within a few points
    assert np.abs(q - new).max() < np.abs(naive - new).max()  # better than averaging the probabilities
    adjusted = adjust_proba(p, np.bincount(y) / len(y), q)
    np.testing.assert_allclose(adjusted.sum(axis=1), 1.0)
    assert np.mean(adjusted.argmax(1) == yn) > np.mean(p.argmax(1) == yn)


def test_no_shift_stays_put_and_adjust_is_bayes() -> None:
    rng = np.random.default_rng(1)
    x, y = _gaussians(rng, 4000, (0.5, 0.5))
    clf = LogisticRegression().fit(x, y)
    xn, yn = _gaussians(rng, 2000, (0.5, 0.5))
    q = estimate_priors(clf.predict_proba(xn), np.bincount(y) / len(y))
    assert np.abs(q - np.bincount(yn) / len(yn)).max() < 0.03
    p = np.array([[0.5, 0.5], [0.9, 0.1]])
    out = adjust_proba(p, [0.5, 0.5], [0.25, 0.75])
    np.testing.assert_allclose(out[0], [0.25, 0.75])
    np.testing.assert_allclose(
        out[1], [0.9 * 0.25 / (0.9 * 0.25 + 0.1 * 0.75), 0.1 * 0.75 / (0.9 * 0.25 + 0.1 * 0.75)]
    )
    with pytest.raises(ValueError, match="does not fit"):
        estimate_priors(p, [0.3, 0.3, 0.4])


def test_balanced_weights_give_each_class_the_same_total() -> None:
    w = balanced_weights(["a", "a", "a", "b"])
    np.testing.assert_allclose(w, [4 / 6, 4 / 6, 4 / 6, 2.0])
    assert w[:3].sum() == pytest.approx(w[3]) and w.mean() == pytest.approx(1.0)
