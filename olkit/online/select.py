"""Which images an expert should label: one registry of selection strategies behind one call.

Every strategy is one entry of :data:`REGISTRY` (a :class:`StrategySpec`: a ranking function and what it needs);
:func:`select` ranks a pool with any of them, and :meth:`olkit.online.session.OnlineSession.select` fills in what
the strategy needs (probabilities, embeddings, the labelled images, the classifier's last hidden layer). Adding a
strategy is one :func:`register` call. ``score`` is higher for images rather labelled; items come in the
strategy's order (for the batch strategies, the order in which the batch was built).

Closed forms on the class probabilities
    ``"band"`` (the original): an image is *indifferent* when ``t < p(class 0) < 1 - t`` (two classes;
    ``t = 0.01`` in the original code, ``0.05`` in its README; for more classes: top-class probability
    ``< 1 - t``). Only images inside the band are returned, least confident first.
    ``"least_confidence"`` (``1 - max_k p_k``), ``"margin"`` (``1 - (p_top1 - p_top2)``), ``"entropy"``
    (normalised to [0, 1]): the same scores as scikit-activeml's ``uncertainty_scores``, kept in closed form so
    the grid can rank thousands of images per click.
    ``"random"``: a seeded random order (the control).
olkit's own, for a shift
    ``"novelty"``: the mean distance from an image's embedding to the ``k`` nearest embeddings of the images
    already labelled (:func:`novelty`): it finds what a classifier gets wrong *confidently* under a shift.
    ``"hybrid"``: uncertain *or* novel, the mean of the least-confidence rank and the novelty rank.
    ``"balanced"``: margin uncertainty with the batch split evenly over the predicted classes (see
    :func:`balanced_order`), so a rare defect class is asked about even when it is a few % of the pool.
From scikit-activeml (BSD-3; ``skactiveml.pool``), on the standardised, L2-normalised embeddings
    ``"uncertainty"``: :class:`~skactiveml.pool.UncertaintySampling` (margin), through the classifier's
    probabilities.
    ``"typiclust"``: :class:`~skactiveml.pool.TypiClust` (cold start: the most typical image of each of the
    largest clusters not yet holding a label).
    ``"probcover"``: :class:`~skactiveml.pool.ProbCover` (cold start: greedy coverage of the pool by balls of a
    radius chosen for cluster purity).
    ``"badge"``: :class:`~skactiveml.pool.Badge` (k-means++ on gradient embeddings of the MLP's last layer:
    uncertain and diverse in one batch).
    ``"coreset"``: :class:`~skactiveml.pool.CoreSet` (greedy k-centre over pool and labelled images).

Pools of plant size
    At or above :data:`ANN_THRESHOLD` pool rows, :func:`novelty` (so ``"novelty"`` and ``"hybrid"``) finds the
    nearest labelled embeddings with the faiss IVF index of :mod:`olkit.online.neighbours` instead of brute force
    (recall@10 0.997 on a million-row bench pool), and ``"coreset"`` (the diversity strategy) becomes greedy
    k-centre over the most novel candidates (:func:`olkit.online.neighbours.select_novel` with ``k=1``); below
    it, the exact answers. The pool may be an :class:`~olkit.online.neighbours.EmbeddingPool` (memory-mapped
    shards) there, so a million x 512 never sits in memory as float64.

Which of these earn their place is measured over rounds by ``make bench ONLY=online_curve`` (synthetic) and
``online_curve_real`` (real BSData); see the README.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from olkit.online.neighbours import EmbeddingPool, select_novel
from olkit.online.neighbours import novelty as ann_novelty
from olkit.types import FloatArray

ANN_THRESHOLD = 50_000
"""Pool rows at or above which novelty and coreset use the approximate (faiss) neighbours; exact below."""

Strategy = str
"""A name in :data:`REGISTRY`."""

NEED_PROBA, NEED_X, NEED_NOVELTY, NEED_HIDDEN = "proba", "x", "novelty", "hidden"

__all__ = [
    "ANN_THRESHOLD",
    "NEEDS_EMBEDDINGS",
    "NEEDS_HIDDEN",
    "NEEDS_NOVELTY",
    "REGISTRY",
    "STRATEGIES",
    "Pool",
    "Selection",
    "Strategy",
    "StrategySpec",
    "balanced_order",
    "hidden_activations",
    "in_band",
    "novelty",
    "register",
    "select",
    "uncertainty",
]


@dataclass(frozen=True)
class Selection:
    """Positions into the probability rows, in selection order, and their scores."""

    indices: np.ndarray
    scores: np.ndarray
    strategy: str
    threshold: float
    budget: int | None

    def __len__(self) -> int:
        return len(self.indices)


@dataclass(frozen=True)
class Pool:
    """What a strategy sees of the unlabelled pool.

    Attributes
    ----------
    proba
        ``(n, n_classes)`` class probabilities of the current classifier, columns in its class order.
    x
        ``(n, d)`` embeddings of the pool in the classifier's input space (its fitted scaler), or ``None``.
    x_labelled
        ``(m, d)`` embeddings, same space, of the images of the new set already labelled (may be empty).
    novelty
        Per-row novelty (:func:`novelty`), for ``"novelty"`` and ``"hybrid"``.
    hidden
        ``(n, h)`` activations of the classifier's last hidden layer (:func:`hidden_activations`), for BADGE.
    threshold
        The band's ``t``.
    seed
        Seeds every random choice.
    """

    proba: np.ndarray
    x: np.ndarray | None = None
    x_labelled: np.ndarray | None = None
    novelty: np.ndarray | None = None
    hidden: np.ndarray | None = None
    threshold: float = 0.05
    seed: int | None = None

    def __len__(self) -> int:
        return len(self.proba)


Ranker = Callable[[Pool, int], tuple[np.ndarray, np.ndarray]]
"""``rank(pool, budget) -> (positions in selection order, their scores)``; ``budget`` is ``<= len(pool)``."""


@dataclass(frozen=True)
class StrategySpec:
    """One registered strategy: its ranking function, what it needs, one line on what it does."""

    name: str
    rank: Ranker
    needs: frozenset[str] = field(default_factory=lambda: frozenset({NEED_PROBA}))
    summary: str = ""
    batch: bool = False  # the order depends on the budget (diversity): rank with the real budget

    def __call__(self, pool: Pool, budget: int) -> tuple[np.ndarray, np.ndarray]:
        return self.rank(pool, budget)


REGISTRY: dict[str, StrategySpec] = {}
"""Every strategy by name; :func:`register` adds one."""


def register(
    name: str,
    *,
    needs: frozenset[str] | set[str] = frozenset({NEED_PROBA}),
    summary: str = "",
    batch: bool = False,
) -> Callable[[Ranker], Ranker]:
    """Decorator: register ``rank(pool, budget)`` as strategy ``name`` (one entry, nothing else to change)."""

    def deco(fn: Ranker) -> Ranker:
        REGISTRY[name] = StrategySpec(name, fn, frozenset(needs) | {NEED_PROBA}, summary, batch)
        return fn

    return deco


def _rows(x: FloatArray) -> np.ndarray:
    """Embeddings as an array, float32 kept as it is (a million x 512 pool stays 2 GB, not 4), else float64."""
    arr = np.asarray(x)
    return arr if arr.dtype == np.float32 else np.asarray(arr, dtype=np.float64)


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


def novelty(
    x: FloatArray | EmbeddingPool,
    reference: FloatArray,
    *,
    k: int = 10,
    approximate: bool | None = None,
) -> np.ndarray:
    """Mean Euclidean distance from each row of ``x`` to its ``k`` nearest rows of ``reference``.

    Both are embeddings in one space (the session uses the classifier's standardised inputs). Higher means
    further from anything labelled so far. Exact (scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors`)
    below :data:`ANN_THRESHOLD` rows of ``x``; at or above it (or with ``approximate=True``; ``False`` forces the
    exact answer) through the faiss IVF index, :func:`olkit.online.neighbours.novelty`, streaming ``x`` block by
    block (``x`` may then be an :class:`~olkit.online.neighbours.EmbeddingPool`).
    """
    from sklearn.neighbors import NearestNeighbors

    big = len(x) >= ANN_THRESHOLD if approximate is None else bool(approximate)
    if big or isinstance(x, EmbeddingPool):
        if isinstance(x, EmbeddingPool) and approximate is False:
            raise ValueError("the exact novelty needs the pool in memory; pass an array or approximate=None")
        ref32 = np.asarray(reference, dtype=np.float32)
        width = x.dim if isinstance(x, EmbeddingPool) else np.shape(x)[1] if np.ndim(x) == 2 else -1
        if ref32.ndim != 2 or width != ref32.shape[1]:
            raise ValueError(
                f"novelty needs two 2-d arrays with the same width, got {width} and {ref32.shape}"
            )
        if len(ref32) == 0:
            raise ValueError("novelty needs at least one reference row (the labelled embeddings)")
        return np.asarray(ann_novelty(x, ref32, k=k), dtype=np.float64)
    q = np.asarray(x, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if q.ndim != 2 or ref.ndim != 2 or q.shape[1] != ref.shape[1]:
        raise ValueError(f"novelty needs two 2-d arrays with the same width, got {q.shape} and {ref.shape}")
    if len(ref) == 0:
        raise ValueError("novelty needs at least one reference row (the labelled embeddings)")
    dist, _ = NearestNeighbors(n_neighbors=min(k, len(ref))).fit(ref).kneighbors(q)
    return np.asarray(dist.mean(axis=1))


def hidden_activations(classifier: Any, x: FloatArray) -> np.ndarray:
    """The last hidden layer of olkit's scaler + MLP pipeline for rows ``x`` (ReLU, as scikit-learn's MLP)."""
    steps = getattr(classifier, "named_steps", {})
    mlp = steps.get("mlp", classifier)
    h = np.asarray(x, dtype=np.float64)
    if "scaler" in steps:
        h = np.asarray(steps["scaler"].transform(h), dtype=np.float64)
    for w, b in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1]):
        h = np.maximum(h @ w + b, 0.0)
    return h


def _rank01(v: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return np.asarray(rankdata(v, method="average")) / max(len(v), 1)


def _by_score(scores: np.ndarray, candidates: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    order = candidates[np.lexsort((candidates, -scores[candidates]))][:budget]
    return order, scores[order]


def _need(pool: Pool, what: str, strategy: str) -> np.ndarray:
    value = getattr(pool, what)
    if value is None:
        hint = {
            "novelty": "novelty=olkit.online.select.novelty(x, labelled_x)",
            "x": "embeddings= (the pool's embeddings, standardised)",
            "hidden": "hidden=olkit.online.select.hidden_activations(classifier, x)",
        }[what]
        named = {"novelty": "novelty scores", "x": "the pool's embeddings", "hidden": "hidden activations"}[
            what
        ]
        raise ValueError(
            f"strategy {strategy!r} needs {named}: pass {hint}, or select through OnlineSession.select, which "
            "computes them"
        )
    arr = np.asarray(value, dtype=np.float64)
    if len(arr) != len(pool):
        raise ValueError(f"{what} must have one score per row ({len(pool)}), got shape {arr.shape}")
    return arr


# -------------------------------------------------------------------------------------------- closed forms
def _least_confidence(p: np.ndarray) -> np.ndarray:
    return 1.0 - p.max(axis=1)


def _margin(p: np.ndarray) -> np.ndarray:
    top2 = np.sort(p, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def _entropy(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-12, 1.0)
    return -(q * np.log(q)).sum(axis=1) / np.log(p.shape[1])


def _scored(fn: Callable[[Pool], np.ndarray]) -> Ranker:
    def rank(pool: Pool, budget: int) -> tuple[np.ndarray, np.ndarray]:
        return _by_score(fn(pool), np.arange(len(pool)), budget)

    return rank


register("least_confidence", summary="1 - top probability")(
    _scored(lambda pool: _least_confidence(pool.proba))
)
register("margin", summary="1 - (top1 - top2)")(_scored(lambda pool: _margin(pool.proba)))
register("entropy", summary="normalised entropy")(_scored(lambda pool: _entropy(pool.proba)))
register("random", summary="seeded random order (the control)")(
    _scored(lambda pool: np.random.default_rng(pool.seed).random(len(pool)))
)


@register("band", summary="the original's band t < p0 < 1 - t, least confident first")
def _band(pool: Pool, budget: int) -> tuple[np.ndarray, np.ndarray]:
    candidates = np.flatnonzero(in_band(pool.proba, threshold=pool.threshold))
    return _by_score(_least_confidence(pool.proba), candidates, budget)


@register("novelty", needs={NEED_NOVELTY}, summary="far from every labelled embedding")
def _novelty(pool: Pool, budget: int) -> tuple[np.ndarray, np.ndarray]:
    return _by_score(_need(pool, "novelty", "novelty"), np.arange(len(pool)), budget)


@register("hybrid", needs={NEED_NOVELTY}, summary="uncertain or novel: mean of the two ranks")
def _hybrid(pool: Pool, budget: int) -> tuple[np.ndarray, np.ndarray]:
    nov = _need(pool, "novelty", "hybrid")
    scores = (_rank01(_least_confidence(pool.proba)) + _rank01(nov)) / 2.0
    return _by_score(scores, np.arange(len(pool)), budget)


def balanced_order(proba: FloatArray, scores: np.ndarray, budget: int) -> np.ndarray:
    """A batch split evenly over the classes: round-robin over the classes, each taking its next image.

    Class ``c`` takes, best ``scores`` first, the images predicted as ``c``; once those run out, the images
    most likely to be ``c`` (highest ``p_c``) among the rest. So a defect class that is 5 % of the pool (and that
    the classifier rarely predicts) still gets about ``budget / n_classes`` of the labels.
    """
    p = _check(proba)
    s = np.asarray(scores, dtype=np.float64)
    pred = p.argmax(axis=1)
    queues = []
    for c in range(p.shape[1]):
        mine = np.flatnonzero(pred == c)
        rest = np.flatnonzero(pred != c)
        queues.append(
            np.concatenate([mine[np.lexsort((mine, -s[mine]))], rest[np.lexsort((rest, -p[rest, c]))]])
        )
    taken: list[int] = []
    seen: set[int] = set()
    heads = [0] * len(queues)
    while len(taken) < min(budget, len(p)):
        for c, queue in enumerate(queues):
            while heads[c] < len(queue) and int(queue[heads[c]]) in seen:
                heads[c] += 1
            if heads[c] < len(queue) and len(taken) < budget:
                taken.append(int(queue[heads[c]]))
                seen.add(taken[-1])
    return np.asarray(taken, dtype=int)


@register("balanced", summary="margin, the batch split evenly over the predicted classes", batch=True)
def _balanced(pool: Pool, budget: int) -> tuple[np.ndarray, np.ndarray]:
    order = balanced_order(pool.proba, _margin(pool.proba), budget)
    return order, np.linspace(1.0, 1.0 / max(len(order), 1), len(order))


# -------------------------------------------------------------------------------------------- scikit-activeml
def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


class _Precomputed:
    """A scikit-activeml classifier over precomputed rows: ``X`` holds row numbers into ``proba``/``hidden``."""

    def __new__(cls, proba: np.ndarray, hidden: np.ndarray | None) -> Any:
        from skactiveml.base import SkactivemlClassifier

        class Precomputed(SkactivemlClassifier):  # type: ignore[misc]
            def __init__(self, proba: Any = None, hidden: Any = None) -> None:
                super().__init__(classes=np.arange(proba.shape[1]))
                self.proba, self.hidden = proba, hidden

            def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
                return self

            def predict_proba(self, X: Any, return_embeddings: bool = False) -> Any:
                rows = np.asarray(X)[:, 0].astype(int)
                if return_embeddings:
                    return self.proba[rows], self.hidden[rows]
                return self.proba[rows]

        return Precomputed(proba, hidden)


def _batch_order(query: np.ndarray, n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    order = np.asarray(query, dtype=int) - offset
    if np.any((order < 0) | (order >= n)):
        raise AssertionError("scikit-activeml picked an image outside the pool")  # pragma: no cover
    return order, np.linspace(1.0, 1.0 / max(len(order), 1), len(order))


def _with_labelled(pool: Pool, strategy: str) -> tuple[np.ndarray, np.ndarray, int]:
    """``X`` = labelled rows then pool rows (unit length), ``y`` = 0 for labelled, NaN for the pool."""
    x = _unit(_need(pool, "x", strategy))
    lab = np.zeros((0, x.shape[1])) if pool.x_labelled is None else _unit(np.asarray(pool.x_labelled, float))
    y = np.concatenate([np.zeros(len(lab)), np.full(len(x), np.nan)])
    return np.concatenate([lab, x]), y, len(lab)


def _quiet() -> Any:
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore")
    return ctx


@register("uncertainty", summary="scikit-activeml UncertaintySampling (margin)")
def _skal_uncertainty(pool: Pool, budget: int) -> tuple[np.ndarray, np.ndarray]:
    from skactiveml.pool import UncertaintySampling

    n = len(pool)
    clf = _Precomputed(pool.proba, None)
    rows = np.arange(n, dtype=float)[:, None]
    _, util = UncertaintySampling(method="margin_sampling", random_state=pool.seed).query(
        rows, np.full(n, np.nan), clf, fit_clf=False, batch_size=1, return_utilities=True
    )
    scores = np.nan_to_num(np.asarray(util[0], dtype=np.float64), nan=-np.inf)
    return _by_score(scores, np.arange(n), budget)


@register("badge", needs={NEED_HIDDEN}, summary="scikit-activeml BADGE on the MLP's last layer", batch=True)
def _skal_badge(pool: Pool, budget: int) -> tuple[np.ndarray, np.ndarray]:
    from skactiveml.pool import Badge

    n = len(pool)
    clf = _Precomputed(pool.proba, _need(pool, "hidden", "badge"))
    rows = np.arange(n, dtype=float)[:, None]
    ctx = _quiet()
    try:
        query = Badge(clf_embedding_flag_name="return_embeddings", random_state=pool.seed).query(
            rows, np.full(n, np.nan), clf, fit_clf=False, batch_size=budget
        )
    finally:
        ctx.__exit__(None, None, None)
    return _batch_order(query, n)


def _cluster_query(
    make: Callable[[], Any], pool: Pool, budget: int, strategy: str
) -> tuple[np.ndarray, np.ndarray]:
    x, y, offset = _with_labelled(pool, strategy)
    ctx = _quiet()
    try:
        query = make().query(x, y, batch_size=budget)
    finally:
        ctx.__exit__(None, None, None)
    return _batch_order(query, len(pool), offset)


@register("typiclust", needs={NEED_X}, summary="scikit-activeml TypiClust (cold start)", batch=True)
def _skal_typiclust(pool: Pool, budget: int) -> tuple[np.ndarray, np.ndarray]:
    from skactiveml.pool import TypiClust
    from sklearn.cluster import KMeans

    seed = 0 if pool.seed is None else int(pool.seed)
    return _cluster_query(
        lambda: TypiClust(random_state=seed, cluster_algo=KMeans, cluster_algo_dict={"n_init": 3}),
        pool,
        budget,
        "typiclust",
    )


@register("probcover", needs={NEED_X}, summary="scikit-activeml ProbCover (cold start)", batch=True)
def _skal_probcover(pool: Pool, budget: int) -> tuple[np.ndarray, np.ndarray]:
    from skactiveml.pool import ProbCover

    seed = 0 if pool.seed is None else int(pool.seed)
    n_classes = pool.proba.shape[1]
    # unit-length embeddings: distances lie in [0, 2], so radii of 0.05..1.5 span tight to loose balls
    deltas = np.round(np.arange(0.05, 1.55, 0.05), 2)
    return _cluster_query(
        lambda: ProbCover(
            n_classes=n_classes, deltas=deltas, random_state=seed, cluster_algo_dict={"n_init": 3}
        ),
        pool,
        budget,
        "probcover",
    )


@register("coreset", needs={NEED_X}, summary="scikit-activeml CoreSet (greedy k-centre)", batch=True)
def _skal_coreset(pool: Pool, budget: int) -> tuple[np.ndarray, np.ndarray]:
    from skactiveml.pool import CoreSet

    seed = 0 if pool.seed is None else int(pool.seed)
    if len(pool) >= ANN_THRESHOLD:
        return _coreset_ann(pool, budget, seed)
    return _cluster_query(lambda: CoreSet(random_state=seed), pool, budget, "coreset")


def _coreset_ann(pool: Pool, budget: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """CoreSet on a large pool: greedy k-centre (unit-length rows, as below the threshold) over the
    ``20 x budget`` rows furthest from the labelled ones, found with the faiss index; with nothing labelled
    yet, a seeded random pool row stands in for the labelled set."""
    x = pool.x
    if x is None:
        _need(pool, "x", "coreset")  # raises the usual message
        raise AssertionError("unreachable")  # pragma: no cover
    labelled = pool.x_labelled
    if labelled is None or len(labelled) == 0:
        start = int(np.random.default_rng(seed).integers(len(pool)))
        labelled = np.asarray(x[start : start + 1], dtype=np.float32)
    order = select_novel(x, np.asarray(labelled, dtype=np.float32), budget, k=1, unit=True)
    return _batch_order(order, len(pool))


def _needs(what: str) -> frozenset[str]:
    return frozenset(name for name, spec in REGISTRY.items() if what in spec.needs)


STRATEGIES: tuple[str, ...] = tuple(REGISTRY)
"""Every registered strategy's name."""
NEEDS_NOVELTY: frozenset[str] = _needs(NEED_NOVELTY)
"""Strategies that need :func:`novelty` scores."""
NEEDS_EMBEDDINGS: frozenset[str] = _needs(NEED_X)
"""Strategies that need the pool's (and the labelled images') embeddings."""
NEEDS_HIDDEN: frozenset[str] = _needs(NEED_HIDDEN)
"""Strategies that need the classifier's last hidden layer (:func:`hidden_activations`)."""


def uncertainty(
    proba: FloatArray,
    strategy: Strategy = "least_confidence",
    *,
    seed: int | None = None,
    novelty: FloatArray | None = None,
) -> np.ndarray:
    """Per-row score of a closed-form strategy (higher = rather labelled): ``band``/``least_confidence``,
    ``margin``, ``entropy``, ``random``, ``novelty`` and ``hybrid`` (these two need ``novelty``)."""
    p = _check(proba)
    if strategy in NEEDS_NOVELTY:
        pool = Pool(p, novelty=None if novelty is None else np.asarray(novelty, dtype=np.float64), seed=seed)
        nov = _need(pool, "novelty", strategy)
        return nov if strategy == "novelty" else (_rank01(_least_confidence(p)) + _rank01(nov)) / 2.0
    closed = {
        "band": _least_confidence,
        "least_confidence": _least_confidence,
        "margin": _margin,
        "entropy": _entropy,
    }
    if strategy in closed:
        return closed[strategy](p)
    if strategy == "random":
        return np.random.default_rng(seed).random(len(p))
    if strategy in REGISTRY:
        raise ValueError(f"strategy {strategy!r} ranks a batch, it has no per-row score: use select()")
    raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")


def select(
    proba: FloatArray,
    *,
    strategy: Strategy = "band",
    threshold: float = 0.05,
    budget: int | None = None,
    seed: int | None = None,
    novelty: FloatArray | None = None,
    embeddings: FloatArray | None = None,
    labelled: FloatArray | None = None,
    hidden: FloatArray | None = None,
    balance: bool = False,
) -> Selection:
    """Rank rows of ``proba`` (the unlabelled pool) for labelling with a registered strategy.

    Parameters
    ----------
    proba
        ``(n, n_classes)`` class probabilities, columns in the classifier's class order (class 0 first).
    strategy
        A name in :data:`REGISTRY` (see the module docstring).
    threshold
        The band's ``t`` (only ``"band"`` uses it).
    budget
        Return at most this many (all candidates when ``None``; a batch strategy then orders the whole pool).
    seed
        Seeds every random choice.
    novelty
        Per-row novelty scores (:func:`novelty`), for ``"novelty"`` and ``"hybrid"``.
    embeddings, labelled
        The pool's embeddings and those of the images already labelled (same space), for the
        scikit-activeml strategies that look at the data (``"typiclust"``, ``"probcover"``, ``"coreset"``).
    hidden
        The classifier's last hidden layer on the pool (:func:`hidden_activations`), for ``"badge"``.
    balance
        Split the batch evenly over the predicted classes (:func:`balanced_order`), ordering each class's
        images by the strategy's ranking of the whole pool.
    """
    if budget is not None and budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    p = _check(proba)
    spec = REGISTRY.get(strategy)
    if spec is None:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    pool = Pool(
        p,
        x=None if embeddings is None else _rows(embeddings),
        x_labelled=None if labelled is None else _rows(labelled),
        novelty=None if novelty is None else np.asarray(novelty, dtype=np.float64),
        hidden=None if hidden is None else np.asarray(hidden, dtype=np.float64),
        threshold=float(threshold),
        seed=seed,
    )
    if strategy == "band":
        in_band(p, threshold=threshold)  # checks t
    n = len(p) if budget is None else min(int(budget), len(p))
    if n == 0:
        return Selection(np.zeros(0, int), np.zeros(0), strategy, float(threshold), budget)
    if balance:
        order, _ = spec(pool, len(p))
        rank_score = np.zeros(len(p))
        rank_score[order] = np.linspace(1.0, 1.0 / len(order), len(order))
        order = balanced_order(p, rank_score, n)
        return Selection(
            order, np.linspace(1.0, 1.0 / len(order), len(order)), strategy, float(threshold), budget
        )
    order, scores = spec(pool, n)
    return Selection(
        np.asarray(order, dtype=int), np.asarray(scores, dtype=np.float64), strategy, float(threshold), budget
    )
