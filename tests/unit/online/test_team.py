"""A labelling team on one store: votes, resolution rules, kappa per round, the review of disagreements.

The store-level tests run on SQLite files; the team test runs two real grids as two annotators on one real
PostgreSQL server (the ``postgres_url`` fixture of ``test_labels.py``) and reviews their disagreements."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from olkit.online.grid import RelabelGrid
from olkit.online.labels import LabelStore, annotator_votes, resolve_votes
from olkit.online.session import OnlineSession, make_tiny_session
from olkit.online.team import ReviewGrid, agreement, disagreements, fleiss_kappa, votes_text
from tests.unit.online.test_labels import postgres_url  # noqa: F401  (the PostgreSQL server fixture)

SHAS = [f"{i:02d}" + "a" * 62 for i in range(12)]


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[LabelStore]:
    s = LabelStore(tmp_path / "labels.sqlite", annotator="anna")
    yield s
    s.close()


def test_votes_are_each_annotators_own_current_label(store: LabelStore) -> None:
    store.add(SHAS[0], "1", annotator="anna", round=0)
    store.add(SHAS[0], "0", annotator="bob", round=0)
    store.add(SHAS[0], "0", annotator="anna", round=0)  # anna changes her mind
    store.add(SHAS[1], "1", annotator="bob", round=0)
    store.undo(SHAS[1], annotator="bob")  # bob takes his only vote back
    store.add(SHAS[2], "1", annotator="bob", round=1)
    votes = store.votes()
    assert {(r.sha256, r.annotator): r.label for r in votes.itertuples()} == {
        (SHAS[0], "bob"): "0",
        (SHAS[0], "anna"): "0",
        (SHAS[2], "bob"): "1",
    }
    assert list(store.votes(round=1)["sha256"]) == [SHAS[2]]
    assert store.votes(sha256s=[SHAS[0]])["annotator"].tolist() == ["bob", "anna"]
    assert annotator_votes(store.events()).equals(votes)


def test_resolution_rules_latest_majority_reviewer(tmp_path: Path) -> None:
    db = tmp_path / "team.sqlite"
    with LabelStore(db) as s:
        s.add(SHAS[0], "1", annotator="anna")
        s.add(SHAS[0], "1", annotator="bob")
        s.add(SHAS[0], "0", annotator="carl")  # latest says 0, majority 1
        s.add(SHAS[1], "0", annotator="anna")
        s.add(SHAS[1], "1", annotator="bob")  # a tie: the label voted last wins
        s.add(SHAS[2], "0", annotator="anna")
        s.add(SHAS[2], "1", annotator="rev")  # the reviewer overrules
        s.add(SHAS[2], "0", annotator="bob")
        s.add(SHAS[3], "1", annotator="anna")
        s.add(SHAS[3], "", annotator="anna", source="expert")  # cleared: no vote left
        assert s.labels() == {SHAS[0]: "0", SHAS[1]: "1", SHAS[2]: "0"}  # latest, as a single store
    with LabelStore(db, resolve="majority") as s:
        assert s.labels() == {SHAS[0]: "1", SHAS[1]: "1", SHAS[2]: "0"}
        assert s.label_of(SHAS[0]) == "1" and len(s) == 3
        deciding = s.current()
        assert list(deciding.columns) == list(s.events().columns)
        assert deciding.set_index("sha256").loc[SHAS[0], "annotator"] == "bob"  # the latest vote for "1"
    with LabelStore(db, resolve="reviewer", reviewer="rev") as s:
        assert s.labels() == {SHAS[0]: "1", SHAS[1]: "1", SHAS[2]: "1"}  # rev on 2, majority elsewhere
        assert s.labels([SHAS[2], SHAS[3]]) == {SHAS[2]: "1"}
    with pytest.raises(ValueError, match="reviewer="):
        LabelStore(db, resolve="reviewer")
    with pytest.raises(ValueError, match="resolve must be one of"):
        LabelStore(db, resolve="loudest")  # type: ignore[arg-type]
    with LabelStore(db) as s:
        v = s.votes()
        assert resolve_votes(v, rule="latest")["label"].tolist() == s.current()["label"].tolist()


def test_fleiss_kappa_matches_the_published_example() -> None:
    # Fleiss (1971) as reproduced on Wikipedia: 10 subjects, 14 raters, 5 categories, kappa 0.210
    table = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=5e-5)
    assert fleiss_kappa(np.array([[3, 0], [0, 3], [3, 0]])) == pytest.approx(1.0)
    assert np.isnan(fleiss_kappa(np.array([[2, 0], [2, 0]])))
    with pytest.raises(ValueError, match="two votes"):
        fleiss_kappa(np.array([[1, 0], [2, 0]]))


def test_agreement_per_round_cohen_for_two_fleiss_for_three(store: LabelStore) -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 12).astype(str)
    anna = truth.copy()
    bob = np.where(rng.random(12) < 0.3, 1 - truth.astype(int), truth.astype(int)).astype(str)
    store.add_many(dict(zip(SHAS, anna)), annotator="anna", round=0)
    store.add_many(dict(zip(SHAS[:10], bob[:10])), annotator="bob", round=0)  # bob saw 10 of them
    carl = truth.copy()
    carl[:2] = ["1" if c == "0" else "0" for c in carl[:2]]
    for who, labels in (("anna", anna), ("bob", bob), ("carl", carl)):
        store.add_many(dict(zip(SHAS[:6], labels[:6])), annotator=who, round=1)
    table = agreement(store)
    assert list(table["round"]) == [0, 1] and list(table["method"]) == ["cohen", "fleiss"]
    r0 = table.iloc[0]
    assert r0.annotators == 2 and r0.images == 10
    assert r0.kappa == pytest.approx(cohen_kappa_score(anna[:10], bob[:10]))
    assert r0.observed == pytest.approx(np.mean(anna[:10] == bob[:10]))
    r1 = table.iloc[1]
    counts = pd.crosstab(
        np.repeat(np.arange(6), 3), np.stack([anna[:6], bob[:6], carl[:6]], axis=1).ravel()
    ).to_numpy()
    assert r1.annotators == 3 and r1.images == 6 and r1.kappa == pytest.approx(fleiss_kappa(counts))
    assert agreement(store, round=1).equals(table.iloc[[1]].reset_index(drop=True))


def test_disagreements_list_every_annotators_label(store: LabelStore) -> None:
    store.add(SHAS[0], "1", annotator="anna", path="/x/a.png")
    store.add(SHAS[0], "0", annotator="bob", path="/x/a.png")
    store.add(SHAS[1], "1", annotator="anna")
    store.add(SHAS[1], "1", annotator="bob")  # agree: not listed
    store.add(SHAS[2], "0", annotator="anna")
    store.add(SHAS[2], "1", annotator="bob")
    store.add(SHAS[2], "1", annotator="carl")
    table = disagreements(store)
    assert table["sha256"].tolist() == [SHAS[2], SHAS[0]]  # latest vote first
    assert table.iloc[0].votes == {"anna": "0", "bob": "1", "carl": "1"} and table.iloc[0].resolved == "1"
    assert table.iloc[1].path == "/x/a.png" and table.iloc[1].annotators == 2
    assert votes_text(table.iloc[0].votes) == "anna: 0 · bob: 1 · carl: 1"
    store.add(SHAS[0], "1", annotator="bob")  # bob comes round: no disagreement left on image 0
    assert disagreements(store)["sha256"].tolist() == [SHAS[2]]


# ---------------------------------------------------------------------------------------------- the team
@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> OnlineSession:
    root = tmp_path_factory.mktemp("team")
    make_tiny_session(root, n_train=24, n_new=24, size=32, seed=0)
    return OnlineSession.open(root / "run", progress=False)


@pytest.mark.slow
@pytest.mark.postgres
def test_two_annotators_label_one_postgres_store_and_the_review_shows_their_disagreements(
    session: OnlineSession,
    postgres_url: str,  # noqa: F811
) -> None:
    selection = session.select(strategy="least_confidence")  # the 12 test images
    sha = list(selection["sha256"])
    anna_store = LabelStore(postgres_url, annotator="anna")
    bob_store = LabelStore(postgres_url, annotator="bob")
    anna = RelabelGrid(session, anna_store, selection=selection, page_size=6, columns=3)  # type: ignore[arg-type]
    bob = RelabelGrid(session, bob_store, selection=selection, page_size=6, columns=3)  # type: ignore[arg-type]
    # anna labels the first page 0 1 0 1 0 1; bob agrees on four and differs on tiles 1 and 4
    for i, cls in enumerate("010101"):
        anna.label(cls, index=i)
    for i, cls in enumerate("000111"):
        bob.label(cls, index=i)
    events = anna_store.events()
    assert set(events["annotator"]) == {"anna", "bob"} and len(events) == 12
    assert set(events["round"]) == {session.round}

    table = agreement(bob_store)
    assert table.iloc[0].images == 6 and table.iloc[0].method == "cohen"
    assert table.iloc[0].kappa == pytest.approx(cohen_kappa_score(list("010101"), list("000111")))
    review_rows = disagreements(anna_store)
    assert set(review_rows["sha256"]) == {sha[1], sha[4]}

    carol_store = LabelStore(postgres_url, annotator="carol", resolve="reviewer", reviewer="carol")
    review = ReviewGrid(session, carol_store, page_size=6, columns=3)  # type: ignore[arg-type]
    shown = {t.sha256: t.caption.value for t in review._tiles if t.sha256 is not None}
    assert set(shown) == {sha[1], sha[4]} and review.progress_text.startswith("2 of 2")  # a tie resolves too
    names = {"0": "no pitting", "1": "pitting"}
    assert "anna: pitting · bob: no pitting" in shown[sha[1]]
    assert "anna: no pitting · bob: pitting" in shown[sha[4]]
    where = [t.sha256 for t in review._tiles].index(sha[1])
    review.label("0", index=where)  # carol reviews image 1: no pitting
    after = review._tiles[where].caption.value
    assert f"anna: pitting · bob: no pitting · carol: {names['0']}" in after and after.count("votes ") == 1
    assert carol_store.label_of(sha[1]) == "0"  # the reviewer decides
    assert LabelStore(postgres_url, resolve="majority").label_of(sha[1]) == "0"  # two of three say 0
    assert anna_store.label_of(sha[1]) == "0"  # latest: carol's
    review.reload()
    assert {t.sha256 for t in review._tiles if t.sha256} == {sha[1], sha[4]}  # still split votes on both
    assert agreement(anna_store).iloc[0].method == "fleiss"  # three annotators now
    for s in (anna_store, bob_store, carol_store):
        s.close()


def test_tile_notes_is_the_grids_hook_and_the_review_captions_follow_labels_and_undo(
    session: OnlineSession, tmp_path: Path
) -> None:
    selection = session.select(strategy="least_confidence")
    sha = list(selection["sha256"])

    class Noted(RelabelGrid):  # a subclass using only the public hook: the label count of each tile
        def tile_notes(self, rows: pd.DataFrame) -> dict[str, str]:
            events = self.store.events()
            return {s: f"<i>{int((events['sha256'] == s).sum())} events</i>" for s in rows["sha256"]}

    store = LabelStore(tmp_path / "noted.sqlite", annotator="anna")
    grid = Noted(session, store, selection=selection, page_size=6, columns=3)  # type: ignore[arg-type]
    assert [t.caption.value.endswith("<i>0 events</i>") for t in grid._tiles] == [True] * 6
    grid.label("1", index=2)  # the answered tile's note is drawn after the commit
    assert grid._tiles[2].caption.value.endswith("<i>1 events</i>")
    assert grid._tiles[3].caption.value.endswith("<i>0 events</i>")
    grid.next_page()
    assert grid._tiles[0].sha256 == sha[6] and grid._tiles[0].caption.value.endswith("<i>0 events</i>")
    assert RelabelGrid.tile_notes(grid, selection) == {}  # the default adds nothing
    store.close()

    path = tmp_path / "review.sqlite"
    anna, bob = LabelStore(path, annotator="anna"), LabelStore(path, annotator="bob")
    anna.add(sha[0], "0")
    bob.add(sha[0], "1")
    review = ReviewGrid(session, LabelStore(path, annotator="carol"), page_size=6, columns=3)  # type: ignore[arg-type]
    assert review._tiles[0].sha256 == sha[0] and review._tiles[1].sha256 is None
    before = review._tiles[0].caption.value
    assert "votes anna: no pitting · bob: pitting</div>" in before
    review.label("1", index=0)
    assert "bob: pitting · carol: pitting</div>" in review._tiles[0].caption.value
    review.undo()  # the caption follows the undo through the same hook
    assert review._tiles[0].caption.value == before and before.count("votes ") == 1
    assert review.page_votes() == {sha[0]: {"anna": "0", "bob": "1"}}
    for s in (anna, bob, review.store):
        s.close()
