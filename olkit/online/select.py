"""Which images an expert should label: uncertainty selection over class probabilities.

Strategies (``score`` is higher for more uncertain images; items are ranked by it, ties by position):

``"band"`` (the original)
    An image is *indifferent* when ``t < p(class 0) < 1 - t`` (two classes; ``t = 0.01`` in the original code,
    ``0.05`` in its README). For more classes: top-class probability ``< 1 - t``, which is the same rule when
    there are two. Only images inside the band are returned, ranked by least confidence.
``"least_confidence"``
    ``1 - max_k p_k``.
``"margin"``
    ``1 - (p_top1 - p_top2)`` (a small gap between the two best classes is uncertain).
``"entropy"``
    ``-sum_k p_k log p_k``, normalised by ``log n_classes`` to [0, 1].
``"novelty"``
    How unlike the labelled data an image is: the mean distance from its embedding to the ``k`` nearest
    embeddings of the images already labelled (:func:`novelty`). It finds what uncertainty alone misses under a
    shift: images of a new wear or soiling pattern that the classifier gets wrong *confidently*.
``"hybrid"`` (olkit's default for new patterns)
    Uncertain *or* novel: the mean of the least-confidence rank and the novelty rank, scaled to (0, 1]. On the
    synthetic shift (``make bench ONLY=online``, 5 draws) a third of the test set chosen this way recovers 97 % of
    the gap to the ceiling and beats random picks in every draw, where least confidence alone does worse than
    random. On the real BSData patches no strategy beats random beyond noise (see the README).
``"random"``
    A seeded random order (the control); the score is the random key.

Every strategy takes an optional ``budget`` (the number of items to return at most). ``"novelty"`` and ``"hybrid"``
need the novelty scores (``novelty=``); :meth:`olkit.online.session.OnlineSession.select` computes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from olkit.types import FloatArray

Strategy = Literal["band", "least_confidence", "margin", "entropy", "novelty", "hybrid", "random"]
STRATEGIES: tuple[str, ...] = (
    "band",
    "least_confidence",
    "margin",
    "entropy",
    "novelty",
    "hybrid",
    "random",
)
NEEDS_NOVELTY: frozenset[str] = frozenset({"novelty", "hybrid"})
"""Strategies that need :func:`novelty` scores."""

__all__ = [
    "NEEDS_NOVELTY",
    "STRATEGIES",
    "Selection",
    "Strategy",
    "in_band",
    "novelty",
    "select",
    "uncertainty",
]


@dataclass(frozen=True)
class Selection:
    """Positions into the probability rows, most uncertain first, and their scores."""

    indices: np.ndarray
    scores: np.ndarray
    strategy: str
    threshold: float
    budget: int | None

    def __len__(self) -> int:
        return len(self.indices)


def _check(proba: FloatArray) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"expected probabilities of shape (n, n_classes >= 2), got {p.shape}")
    return p


def in_band(proba: FloatArray, *, threshold: float = 0.05) -> np.ndarray:
    """The original's band as a boolean mask: ``t < p(class 0) < 1 - t`` for two classes, top probability below
    ``1 - t`` for more (identical when there are two, up to ties at the edges)."""
    p = _check(proba)
    if not 0.0 <= threshold < 0.5:
        raise ValueError(f"threshold must lie in [0, 0.5), got {threshold}")
    if p.shape[1] == 2:
        return (p[:, 0] > threshold) & (p[:, 0] < 1.0 - threshold)
    return p.max(axis=1) < 1.0 - threshold


def novelty(x: FloatArray, reference: FloatArray, *, k: int = 10) -> np.ndarray:
    """Mean Euclidean distance from each row of ``x`` to its ``k`` nearest rows of ``reference``.

    Both are embeddings in one space (the session uses the classifier's standardised inputs). Higher means
    further from anything labelled so far. Uses scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors`.
    """
    from sklearn.neighbors import NearestNeighbors

    q = np.asarray(x, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if q.ndim != 2 or ref.ndim != 2 or q.shape[1] != ref.shape[1]:
        raise ValueError(f"novelty needs two 2-d arrays with the same width, got {q.shape} and {ref.shape}")
    if len(ref) == 0:
        raise ValueError("novelty needs at least one reference row (the labelled embeddings)")
    dist, _ = NearestNeighbors(n_neighbors=min(k, len(ref))).fit(ref).kneighbors(q)
    return np.asarray(dist.mean(axis=1))


def _rank01(v: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return np.asarray(rankdata(v, method="average")) / max(len(v), 1)


def uncertainty(
    proba: FloatArray,
    strategy: Strategy = "least_confidence",
    *,
    seed: int | None = None,
    novelty: FloatArray | None = None,
) -> np.ndarray:
    """Per-row score of ``strategy`` (higher = rather labelled); ``novelty`` is needed by ``"novelty"`` and
    ``"hybrid"``."""
    p = _check(proba)
    if strategy in NEEDS_NOVELTY:
        if novelty is None:
            raise ValueError(
                f"strategy {strategy!r} needs novelty scores: pass novelty=olkit.online.select.novelty(x, labelled_x) "
                "or select through OnlineSession.select, which computes them"
            )
        nov = np.asarray(novelty, dtype=np.float64)
        if nov.shape != (len(p),):
            raise ValueError(f"novelty must have one score per row ({len(p)}), got shape {nov.shape}")
        if strategy == "novelty":
            return nov
        return (_rank01(1.0 - p.max(axis=1)) + _rank01(nov)) / 2.0
    if strategy in ("band", "least_confidence"):
        return 1.0 - p.max(axis=1)
    if strategy == "margin":
        top2 = np.sort(p, axis=1)[:, -2:]
        return 1.0 - (top2[:, 1] - top2[:, 0])
    if strategy == "entropy":
        q = np.clip(p, 1e-12, 1.0)
        return -(q * np.log(q)).sum(axis=1) / np.log(p.shape[1])
    if strategy == "random":
        return np.random.default_rng(seed).random(len(p))
    raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")


def select(
    proba: FloatArray,
    *,
    strategy: Strategy = "band",
    threshold: float = 0.05,
    budget: int | None = None,
    seed: int | None = None,
    novelty: FloatArray | None = None,
) -> Selection:
    """Rank rows of ``proba`` for labelling.

    Parameters
    ----------
    proba
        ``(n, n_classes)`` class probabilities, columns in the classifier's class order (class 0 first).
    strategy
        See the module docstring.
    threshold
        The band's ``t`` (only ``"band"`` uses it).
    budget
        Return at most this many (all candidates when ``None``).
    seed
        Seeds ``"random"``.
    novelty
        Per-row novelty scores (:func:`novelty`), for ``"novelty"`` and ``"hybrid"``.
    """
    if budget is not None and budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    p = _check(proba)
    scores = uncertainty(p, strategy, seed=seed, novelty=novelty)
    candidates = np.flatnonzero(in_band(p, threshold=threshold)) if strategy == "band" else np.arange(len(p))
    order = candidates[np.lexsort((candidates, -scores[candidates]))]
    if budget is not None:
        order = order[:budget]
    return Selection(order, scores[order], strategy, float(threshold), budget)
