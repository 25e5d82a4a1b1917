"""Selection strategies on hand-made probability tables (the band's semantics, each strategy's pick)."""

from __future__ import annotations

import numpy as np
import pytest

from olkit.online.select import (
    NEEDS_NOVELTY,
    REGISTRY,
    STRATEGIES,
    in_band,
    novelty,
    register,
    select,
    uncertainty,
)


def binary(p0: list[float]) -> np.ndarray:
    p = np.asarray(p0, dtype=float)
    return np.stack([p, 1 - p], axis=1)


def test_band_is_the_originals_open_interval_on_class_0() -> None:
    p = binary([0.005, 0.01, 0.02, 0.5, 0.97, 0.99, 0.995])
    assert in_band(p, threshold=0.01).tolist() == [False, False, True, True, True, False, False]
    assert in_band(p, threshold=0.05).tolist() == [False, False, False, True, False, False, False]
    sel = select(p, strategy="band", threshold=0.01)
    assert sel.indices.tolist() == [3, 4, 2]  # inside the band, least confident first
    assert np.allclose(sel.scores, [0.5, 0.03, 0.02])


def test_band_for_many_classes_uses_the_top_probability() -> None:
    p = np.array([[0.96, 0.02, 0.02], [0.90, 0.05, 0.05], [0.4, 0.3, 0.3], [0.94, 0.06, 0.0]])
    assert in_band(p, threshold=0.05).tolist() == [False, True, True, True]
    assert select(p, strategy="band", threshold=0.05).indices.tolist() == [2, 1, 3]


def test_each_strategy_picks_what_it_should() -> None:
    # row 0: flat over three classes; row 1: two-way tie, third class empty; row 2: confident
    p = np.array([[0.34, 0.33, 0.33], [0.5, 0.5, 0.0], [0.9, 0.05, 0.05], [0.45, 0.35, 0.2]])
    assert select(p, strategy="least_confidence", budget=1).indices.tolist() == [0]
    assert select(p, strategy="margin", budget=1).indices.tolist() == [1]  # gap 0 beats gap 0.01
    assert select(p, strategy="entropy", budget=1).indices.tolist() == [0]
    ent = uncertainty(p, "entropy")
    assert ent[0] == pytest.approx(1.0, abs=1e-3) and 0 <= ent.min() and ent.max() <= 1.0 + 1e-9
    assert select(p, strategy="least_confidence").indices.tolist() == [0, 3, 1, 2]


def test_random_is_seeded_and_budgeted() -> None:
    p = binary(np.linspace(0, 1, 50).tolist())
    a = select(p, strategy="random", budget=10, seed=1)
    b = select(p, strategy="random", budget=10, seed=1)
    c = select(p, strategy="random", budget=10, seed=2)
    assert a.indices.tolist() == b.indices.tolist()
    assert a.indices.tolist() != c.indices.tolist()
    assert len(a) == 10 and len(set(a.indices.tolist())) == 10
    assert np.all(np.diff(a.scores) <= 0)


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if not REGISTRY[s].needs - {"proba", "novelty"}])
def test_budget_and_ranking_hold_for_every_strategy(strategy: str) -> None:
    p = binary(np.random.default_rng(0).uniform(0, 1, 40).tolist())
    nov = np.random.default_rng(1).uniform(0, 3, 40) if strategy in NEEDS_NOVELTY else None
    sel = select(p, strategy=strategy, budget=7, seed=0, threshold=0.05, novelty=nov)  # type: ignore[arg-type]
    assert len(sel) <= 7
    assert np.all(np.diff(sel.scores) <= 0)
    assert select(p, strategy=strategy, budget=0, novelty=nov).indices.size == 0  # type: ignore[arg-type]


def test_novelty_is_the_distance_to_the_labelled_embeddings() -> None:
    rng = np.random.default_rng(0)
    labelled = rng.normal(0, 1, (200, 4))
    query = np.vstack([rng.normal(0, 1, (5, 4)), rng.normal(6, 1, (3, 4))])  # the last 3: a new pattern
    scores = novelty(query, labelled, k=5)
    assert scores.shape == (8,)
    assert scores[5:].min() > scores[:5].max()
    one = novelty(query[:1], labelled[:1], k=10)  # k larger than the reference: all of it
    assert one[0] == pytest.approx(np.linalg.norm(query[0] - labelled[0]))
    with pytest.raises(ValueError, match="same width"):
        novelty(query, labelled[:, :3])


def test_novelty_finds_confident_mistakes_and_hybrid_mixes_both() -> None:
    # rows 0-1 uncertain but familiar; rows 2-3 confident but novel; row 4 confident and familiar
    p = binary([0.5, 0.55, 0.99, 0.98, 0.999])
    nov = np.array([0.1, 0.2, 5.0, 4.0, 0.05])
    assert select(p, strategy="least_confidence", budget=2).indices.tolist() == [0, 1]
    assert select(p, strategy="novelty", budget=2, novelty=nov).indices.tolist() == [2, 3]
    hybrid = select(p, strategy="hybrid", novelty=nov)
    assert hybrid.indices[-1] == 4  # neither uncertain nor novel: last
    assert set(hybrid.indices[:4].tolist()) == {0, 1, 2, 3}
    assert np.all((hybrid.scores > 0) & (hybrid.scores <= 1))
    assert uncertainty(p, "hybrid", novelty=nov).tolist() == pytest.approx([0.7, 0.7, 0.7, 0.7, 0.2])
    with pytest.raises(ValueError, match="needs novelty scores"):
        select(p, strategy="hybrid")
    with pytest.raises(ValueError, match="one score per row"):
        select(p, strategy="novelty", novelty=nov[:3])


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="strategy"):
        select(binary([0.5]), strategy="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        in_band(binary([0.5]), threshold=0.7)
    with pytest.raises(ValueError, match="shape"):
        select(np.ones(3))


# ---------------------------------------------------------------------------------------------- the registry
def _pool_inputs(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 6))
    return {"embeddings": x, "labelled": x[:0], "hidden": np.maximum(x @ rng.normal(0, 1, (6, 5)), 0)}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_registered_strategy_ranks_within_budget(strategy: str) -> None:
    p = binary(np.random.default_rng(0).uniform(0, 1, 40).tolist())
    extra = _pool_inputs(40)
    nov = np.random.default_rng(1).uniform(0, 3, 40)
    sel = select(p, strategy=strategy, budget=7, seed=0, novelty=nov, **extra)
    assert 0 < len(sel) <= 7 and len(set(sel.indices.tolist())) == len(sel)
    assert np.all(np.diff(sel.scores) <= 0)
    again = select(p, strategy=strategy, budget=7, seed=0, novelty=nov, **extra)
    assert again.indices.tolist() == sel.indices.tolist()  # seeded: the same pool gives the same batch
    assert REGISTRY[strategy].name == strategy


def test_adding_a_strategy_is_one_registry_entry() -> None:
    @register("last_row_first", summary="test only")
    def _rank(pool, budget):  # type: ignore[no-untyped-def]
        order = np.arange(len(pool))[::-1][:budget]
        return order, np.linspace(1, 0.1, len(order))

    try:
        assert select(binary([0.5, 0.6, 0.7]), strategy="last_row_first", budget=2).indices.tolist() == [2, 1]
    finally:
        del REGISTRY["last_row_first"]


def _clusters(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three tight clusters of 30 (centres far apart) plus 6 scattered outliers; which cluster each row is in."""
    rng = np.random.default_rng(seed)
    centres = np.array([[8.0, 0, 0, 0], [0, 8.0, 0, 0], [0, 0, 8.0, 0]])
    x = np.vstack([c + rng.normal(0, 0.3, (30, 4)) for c in centres] + [rng.normal(0, 6, (6, 4))])
    return x, np.repeat([0, 1, 2, -1], [30, 30, 30, 6])


@pytest.mark.parametrize("strategy", ["typiclust", "probcover"])
def test_cold_start_strategies_pick_one_typical_image_per_cluster(strategy: str) -> None:
    x, cluster = _clusters()
    p = binary([0.5] * len(x))  # the classifier knows nothing: only the data's structure can decide
    picked = select(p, strategy=strategy, budget=3, seed=0, embeddings=x, labelled=x[:0]).indices
    assert sorted(cluster[picked].tolist()) == [0, 1, 2]  # one per cluster, no outlier
    # a cluster that already holds a label is covered: the next picks go to the other two
    labelled = x[cluster == 0][:3]
    pool = cluster != 0
    again = select(
        p[pool], strategy=strategy, budget=2, seed=0, embeddings=x[pool], labelled=labelled
    ).indices
    assert sorted(cluster[pool][again].tolist()) == [1, 2]


def test_coreset_reaches_for_what_is_far_from_everything_labelled() -> None:
    x, cluster = _clusters()
    labelled = np.vstack([x[cluster == k][:2] for k in (0, 1, 2)])  # every cluster covered
    p = binary([0.5] * len(x))
    picked = select(p, strategy="coreset", budget=3, seed=0, embeddings=x, labelled=labelled).indices
    assert set(cluster[picked].tolist()) == {-1}  # the outliers are the farthest


def test_badge_takes_uncertain_images_from_both_uncertain_groups() -> None:
    rng = np.random.default_rng(0)
    n = 60
    centres = np.array([[5.0, 0, 0, 0], [0, 5.0, 0, 0], [0, 0, 5.0, 0]])  # confident group, uncertain A and B
    hidden = np.vstack([c + rng.normal(0, 0.1, (20, 4)) for c in centres])
    p0 = np.concatenate([np.full(20, 0.99), rng.uniform(0.45, 0.55, 40)])
    p = np.stack([p0, 1 - p0], axis=1)
    picked = select(p, strategy="badge", budget=4, seed=0, hidden=hidden).indices
    assert np.all(picked >= 20)  # never the confident ones
    assert {int(i) // 20 for i in picked} == {1, 2}  # and not all from one group: diverse
    assert len(picked) == 4 and n == len(p)


def test_uncertainty_from_scikit_activeml_agrees_with_the_margin() -> None:
    p = np.array([[0.34, 0.33, 0.33], [0.5, 0.5, 0.0], [0.9, 0.05, 0.05], [0.45, 0.35, 0.2]])
    assert select(p, strategy="uncertainty").indices.tolist() == select(p, strategy="margin").indices.tolist()


def test_balanced_selection_picks_the_rare_defect_class() -> None:
    # 200 images, 10 (5 %) defects. The classifier spots the defects but is less unsure of them than of 40
    # ambiguous good images, so uncertainty alone spends the whole batch on the good ones.
    rng = np.random.default_rng(0)
    p1 = np.concatenate([rng.uniform(0.0, 0.2, 150), rng.uniform(0.40, 0.499, 40), rng.uniform(0.6, 0.8, 10)])
    defect = np.arange(200) >= 190
    p = np.stack([1 - p1, p1], axis=1)
    margin = select(p, strategy="margin", budget=10).indices
    balanced = select(p, strategy="balanced", budget=10).indices
    assert defect[margin].sum() == 0
    assert defect[balanced].sum() == 5  # half the batch goes to the defect class
    assert len(set(balanced.tolist())) == 10
    # any strategy can be balanced the same way
    ent = select(p, strategy="entropy", budget=10, balance=True).indices
    assert defect[ent].sum() == 5 and len(set(ent.tolist())) == 10


# ------------------------------------------------------------------------------------ plant-size pools (ANN)
def _clustered_pool() -> tuple[np.ndarray, np.ndarray]:
    from olkit.online.neighbours import clustered_embeddings

    return (
        clustered_embeddings(4000, dim=32, centres=12, seed=5, start=100),
        clustered_embeddings(600, dim=32, centres=12, seed=5, start=0),
    )


def test_novelty_switches_to_the_ann_index_at_the_threshold(monkeypatch, tmp_path) -> None:
    import olkit.online.select as select_mod
    from olkit.online.neighbours import EmbeddingPool
    from olkit.online.neighbours import novelty as ann

    x, ref = _clustered_pool()
    exact = novelty(x, ref, k=5)
    assert np.array_equal(exact, novelty(x, ref, k=5, approximate=False))
    monkeypatch.setattr(select_mod, "ANN_THRESHOLD", 1000)
    auto = novelty(x, ref, k=5)  # 4,000 rows >= 1,000: the faiss path
    assert np.allclose(auto, ann(x, ref, k=5)) and not np.array_equal(auto, exact)
    assert (
        np.allclose(auto, exact, rtol=1e-3, atol=1e-4) or np.mean(np.isclose(auto, exact, rtol=1e-3)) > 0.95
    )
    below = novelty(x[:999], ref, k=5)  # below the threshold: exact, in float64
    assert below.dtype == np.float64 and np.allclose(below, exact[:999], rtol=1e-9, atol=0)
    store = EmbeddingPool(tmp_path / "pool", dim=32)
    store.append(x[:2500])
    store.append(x[2500:])
    assert np.allclose(novelty(store, ref, k=5), auto)  # memory-mapped shards, same answer
    with pytest.raises(ValueError, match="same width"):
        novelty(x, ref[:, :8], approximate=True)
    p = np.full((len(x), 2), 0.5)
    top = select(p, strategy="novelty", budget=20, novelty=auto).indices
    assert len(set(top) & set(np.argsort(-exact)[:20])) >= 18  # the same images as the exact ranking


def test_coreset_on_a_large_pool_is_greedy_k_centre_over_the_ann_candidates(monkeypatch) -> None:
    import olkit.online.select as select_mod

    x, ref = _clustered_pool()
    x = np.concatenate([x, x[:3] + 40.0]).astype(np.float32)  # three far outliers, one new cluster
    p = np.full((len(x), 2), 0.5)

    def unit(a: np.ndarray) -> np.ndarray:
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    far = novelty(unit(x), unit(ref), k=1, approximate=False)  # distance to the nearest labelled, unit rows
    monkeypatch.setattr(select_mod, "ANN_THRESHOLD", 1000)
    sel = select(p, strategy="coreset", budget=10, embeddings=x, labelled=ref)
    picks = sel.indices.tolist()
    assert len(picks) == 10 == len(set(picks))
    assert picks[0] == int(np.argmax(far))  # k-centre's first step: the row furthest from every label
    # the batch spreads out: no two picks closer than the typical gap between a row and its label
    u = unit(x[picks])
    gaps = np.linalg.norm(u[:, None] - u[None], axis=2)[np.triu_indices(10, 1)]
    assert gaps.min() > np.median(far)
    cold = select(p, strategy="coreset", budget=5, embeddings=x, labelled=x[:0], seed=3)
    assert len(set(cold.indices.tolist())) == 5
