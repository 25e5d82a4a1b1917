"""The relabel grid driven as a user would, without a browser: buttons clicked, keys sent as dicts, values set,
and every assertion made on the label store and the widgets' children. The session is a real, tiny
:class:`olkit.online.session.OnlineSession` (generated images, compact backbone, fitted classifier)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from olkit.online.grid import RelabelGrid, overlay_mask, thumbnail_bytes
from olkit.online.labels import LabelStore, apply_labels, retrain_from_store
from olkit.online.session import OnlineSession, make_tiny_session

pytestmark = pytest.mark.slow  # one tiny real session per module (a few seconds of TensorFlow)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    make_tiny_session(root, n_train=24, n_new=24, size=32, seed=0)
    return root


@pytest.fixture(scope="module")
def session(tiny_root: Path) -> OnlineSession:
    """Read-only use: tests that retrain take a fresh copy (``fresh_session``)."""
    return OnlineSession.open(tiny_root / "run", progress=False)


@pytest.fixture()
def fresh_session(tiny_root: Path, tmp_path: Path) -> OnlineSession:
    shutil.copytree(tiny_root / "run", tmp_path / "run")
    return OnlineSession.open(tmp_path / "run", progress=False)


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[LabelStore]:
    s = LabelStore(tmp_path / "labels.sqlite", annotator="expert1")
    yield s
    s.close()


@pytest.fixture()
def selection(session: OnlineSession) -> pd.DataFrame:
    return session.select(strategy="least_confidence")  # all 12 test images, most uncertain first


def _grid(session: OnlineSession, store: LabelStore, selection: pd.DataFrame, **kw: object) -> RelabelGrid:
    return RelabelGrid(session, store, selection=selection, page_size=5, columns=3, **kw)  # type: ignore[arg-type]


def test_tiles_show_prediction_probability_and_no_truth(
    session: OnlineSession, store: LabelStore, selection: pd.DataFrame
) -> None:
    grid = _grid(session, store, selection)
    assert len(selection) == 12 and grid.progress_text == "0 of 12 labeled"
    assert "0 of 12 labeled" in grid.progress.value
    first = selection.iloc[0]
    tile = grid._tiles[0]
    assert tile.sha256 == first.sha256
    names = {"0": "no pitting", "1": "pitting"}  # the BSD classes' display names by default
    assert (
        f"p={first.confidence:.2f}" in tile.caption.value
        and f"pred <b>{names[first.pred]}</b>" in tile.caption.value
    )
    assert "unlabeled" in tile.caption.value
    assert [b.description for b in tile.buttons] == ["no pitting", "pitting"]  # one button per class
    assert [b.button_style for b in tile.buttons] == [
        "info" if c == first.pred else "" for c in ("0", "1")
    ]  # the prediction is the proposed label
    assert [b.description for b in grid.class_buttons.values()] == ["no pitting (0)", "pitting (1)"]
    # beside each class button up to three train images of that class, the most typical first
    train = session.predictions("train")
    for cls, group in zip(("0", "1"), grid.classes_box.children):
        hints = [c for c in group.children if c.__class__.__name__ == "Image"]
        assert 1 <= len(hints) <= 3 and group.children[0] is grid.class_buttons[cls]
        of_class = train[train["label"] == cls].sort_values(f"p_{cls}", ascending=False)
        assert grid.example_paths[cls] == list(of_class["path"][: len(hints)])
        assert [h.value for h in hints] == [grid._thumb(p)[0] for p in grid.example_paths[cls]]
    named = _grid(session, store, selection, class_names={"1": "pit"}, examples=0)
    assert [b.description for b in named._tiles[0].buttons] == ["no pitting", "pit"]
    assert all(len(g.children) == 1 for g in named.classes_box.children[:2])  # no examples asked for
    assert "label" not in grid.selection.columns  # the true label never reaches the expert's screen
    decoded = cv2.imdecode(np.frombuffer(tile.image.value, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (32, 32, 3)  # small images are not upscaled
    assert grid.page_label.value == "page 1 of 3"
    assert [t.box.layout.display for t in grid._tiles] == [None] * 5
    assert grid.tiles_box.children == tuple(t.box for t in grid._tiles)


def test_click_and_number_keys_commit_to_the_store(
    session: OnlineSession, store: LabelStore, selection: pd.DataFrame
) -> None:
    grid = _grid(session, store, selection)
    sha = list(selection["sha256"])
    grid._tiles[2].buttons[1].click()  # mouse: tile 3, class "1"
    assert store.labels() == {sha[2]: "1"}
    assert grid.focus == 3 and grid._tiles[2].buttons[1].button_style == "success"
    assert "label <b>pitting</b>" in grid._tiles[2].caption.value

    grid.on_key({"key": "0", "type": "keyup"})  # keyboard: the focused tile (4) as class "0"
    grid.on_key({"key": "ArrowLeft", "type": "keyup"})
    grid.on_key({"key": "ArrowLeft", "type": "keyup"})
    grid.on_key({"key": "ArrowUp", "type": "keyup"})  # a row up (3 columns) from 3 clips to tile 1
    assert grid.focus == 0
    grid.on_key({"key": "1", "type": "keyup"})
    grid.on_key({"key": "7", "type": "keyup"})  # no class 7: ignored
    grid.on_key({"key": "0", "type": "keydown"})  # keys act on keyup only (keydown is swallowed for Lab)
    grid.on_key({"key": "1", "type": "keyup", "ctrlKey": True})  # browser shortcuts are left alone
    assert store.labels() == {sha[2]: "1", sha[3]: "0", sha[0]: "1"}
    assert grid.progress_text == "3 of 12 labeled" and "3 of 12 labeled" in grid.progress.value
    events = store.events()
    assert set(events["source"]) == {"expert"} and set(events["annotator"]) == {"expert1"}
    assert set(events["round"]) == {session.round}
    assert list(events["path"]) == [selection.path[2], selection.path[3], selection.path[0]]


def test_undo_focused_or_last_and_labels_survive_a_restart(
    session: OnlineSession, store: LabelStore, selection: pd.DataFrame, tmp_path: Path
) -> None:
    grid = _grid(session, store, selection)
    sha = list(selection["sha256"])
    grid.on_key({"key": "1", "type": "keyup"})
    grid.on_key({"key": "0", "type": "keyup"})  # focus is now tile 2, unlabeled
    grid.on_key({"key": "u", "type": "keyup"})  # so u takes back my last label (tile 1)
    assert store.labels() == {sha[0]: "1"} and grid.focus == 1 and "undid the label" in grid.message.value
    grid.move(-1)
    grid.on_key({"key": "0", "type": "keyup"})  # relabel tile 0 as "0" ...
    grid.move(-1)
    grid.undo()  # ... and undo on the focused tile restores its previous label
    assert store.labels() == {sha[0]: "1"}
    assert len(store.events()) == 5  # every step is an appended event

    # a kernel restart: new session and store objects over the same files find every label
    store.close()
    again = RelabelGrid(
        OnlineSession.open(session.run.root, progress=False),
        LabelStore(tmp_path / "labels.sqlite"),
        selection=selection,
        page_size=5,
    )
    assert again.progress_text == "1 of 12 labeled"
    assert again._tiles[0].buttons[1].button_style == "success"


def test_pages_skip_sort_and_filters(
    session: OnlineSession, store: LabelStore, selection: pd.DataFrame
) -> None:
    grid = _grid(session, store, selection)
    sha = list(selection["sha256"])
    grid.next_page()
    assert grid.page == 1 and list(grid.page_rows()["sha256"]) == sha[5:10]
    grid.on_key({"key": "n", "type": "keyup"})
    assert grid.page == 2 and len(grid.page_rows()) == 2
    assert [t.box.layout.display for t in grid._tiles] == [None, None, "none", "none", "none"]
    assert grid.next_button.disabled
    grid.on_key({"key": "PageUp", "type": "keyup"})
    grid.focus = 4
    grid.skip()  # past the page end onto the next page
    assert (grid.page, grid.focus) == (2, 0)
    grid.go_to_page(0)
    grid.on_key({"key": "1", "type": "keyup"})

    grid.unlabeled_only.value = True
    assert grid.progress_text == "1 of 12 labeled" and sha[0] not in set(grid.view()["sha256"])
    assert "11 shown by the filters" in grid.progress.value
    grid.unlabeled_only.value = False

    grid.sort.value = "lowest confidence first"
    conf = grid.view()["confidence"].to_numpy()
    assert (np.diff(conf) >= 0).all()
    grid.sort.value = "file name"
    names = [Path(p).name for p in grid.view()["path"]]
    assert names == sorted(names)

    predicted = selection["pred"].iloc[0]
    grid.pred_filter.value = predicted
    assert set(grid.view()["pred"]) == {predicted}
    grid.pred_filter.value = "any"
    low = float(selection["confidence"].median())
    grid.score_range.value = (low, 1.0)
    assert (grid.view()["confidence"] >= low - 1e-9).all() and len(grid.view()) < 12
    assert grid.page == 0 and all(t.sha256 in set(grid.view()["sha256"]) for t in grid._tiles if t.sha256)


def test_zoom_overlays_the_mask_and_missing_image_becomes_a_named_tile(
    session: OnlineSession, store: LabelStore, selection: pd.DataFrame, tmp_path: Path
) -> None:
    table = selection.copy()
    first = cv2.imread(table.path[0])
    mask = np.zeros(first.shape[:2], np.uint8)
    mask[8:20, 8:20] = 1
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    table.loc[0, "mask_path"] = str(tmp_path / "mask.png")
    gone = tmp_path / "gone" / "deleted.png"
    table.loc[1, "path"] = str(gone)
    table.loc[1, "mask_path"] = ""
    grid = _grid(session, store, table)

    grid._tiles[0].clicks._handle_mouse_msg(
        None, {"event": "dblclick", "type": "dblclick"}, []
    )  # a double click on the image
    assert grid.zoom_box.layout.display is None and "defect mask overlaid" in grid.zoom_caption.value
    zoomed = cv2.imdecode(np.frombuffer(grid.zoom_image.value, np.uint8), cv2.IMREAD_COLOR)
    assert zoomed.shape == (384, 384, 3) and "32×32 px" in grid.zoom_caption.value  # 32 px shown 12x
    zoomed = zoomed[::12, ::12]  # full resolution: every source pixel is one 12x12 block
    assert zoomed.shape == first.shape
    assert not np.array_equal(zoomed[10:18, 10:18], first[10:18, 10:18])  # the defect is tinted
    assert np.array_equal(zoomed[25:, 25:], first[25:, 25:])  # the rest is untouched
    grid.on_key({"key": "z", "type": "keyup"})  # z on the zoomed tile closes it
    assert grid.zoom_box.layout.display == "none"

    assert f"missing on disk: {gone}" in grid._tiles[1].caption.value
    grid.zoom(index=1)
    assert "missing on disk" in grid.zoom_caption.value and "no defect mask" in grid.zoom_caption.value
    grid.label("0", index=1)  # the rest works: the tile can still be labeled ...
    grid.label("1", index=2)
    assert store.labels() == {table.sha256[1]: "0", table.sha256[2]: "1"}
    grid.on_key({"key": "Escape", "type": "keyup"})
    assert grid.zoom_box.layout.display == "none"


def test_retrain_button_shows_before_after_controls_and_confusion(
    fresh_session: OnlineSession, store: LabelStore
) -> None:
    selection = fresh_session.select(strategy="least_confidence", budget=9)
    grid = RelabelGrid(fresh_session, store, selection=selection, page_size=48)
    assert grid.retrain() is None  # nothing labeled yet: a message, no round
    assert "none of the" in grid.output.outputs[0]["text"]
    truth = fresh_session.simulated_labels(selection.sha256)
    for i, sha in enumerate(selection["sha256"][:8]):
        grid._tiles[i].buttons[grid.classes.index(truth[sha])].click()
    grid._tiles[8].unsure_button.click()  # the ninth: unsure, kept as an event, left out of training
    assert grid.progress_text == "8 of 9 labeled"
    assert store.kinds([selection.sha256[8]]) == {selection.sha256[8]: "unsure"}

    grid.retrain_button.click()
    result = grid.last_result
    assert result is not None and result.labels_used == 8 and fresh_session.round == 1
    page = grid.output.outputs[0]["data"]["text/html"]
    for text in ("before", "after", "control: random", "control: ceiling", "accuracy", "holdout confusion"):
        assert text in page
    assert f"{result.after.accuracy:.3f}" in page and f"{result.ceiling.accuracy:.3f}" in page
    assert "holdout accuracy" in grid.message.value
    after = fresh_session.predictions("test").set_index("sha256")
    assert grid.selection.set_index("sha256")["confidence"].equals(after.loc[selection.sha256, "confidence"])

    # the stopping rule's verdict sits under the round's summary (8 labels: too few to judge yet)
    assert "label at least 20 before judging" in grid.message.value
    events = store.events()
    assert events["model"].notna().all() and events["round"].tolist() == [0] * 9  # the model that showed them

    grid.next_round()
    assert (
        grid.progress_text.endswith(f"of {len(grid.selection)} labeled") and "round 1" in grid.progress.value
    )
    assert not set(grid.selection["sha256"]) & set(selection["sha256"][:8])  # skips what is labelled


def test_export_button_writes_the_original_folders(
    session: OnlineSession, store: LabelStore, selection: pd.DataFrame, tmp_path: Path
) -> None:
    grid = _grid(session, store, selection, export_root=tmp_path / "export")
    grid.label("0", index=0)
    grid.label("1", index=1)
    grid.label("1", index=2)
    grid.export_button.click()
    root = tmp_path / "export" / "ind_img"
    assert sorted(p.name for p in (root / "N").iterdir()) == [Path(selection.path[0]).name]
    assert len(list((root / "P").iterdir())) == 2
    assert "N: 1, P: 2" in grid.output.outputs[0]["text"]


def test_headless_path_takes_simulated_and_csv_labels(
    fresh_session: OnlineSession, store: LabelStore, tmp_path: Path
) -> None:
    picked = fresh_session.select(strategy="least_confidence", budget=4)
    report = apply_labels(
        fresh_session, store, fresh_session.simulated_labels(picked.sha256), source="simulated"
    )
    assert report.imported == 4 and not report.refused
    assert set(store.current()["source"]) == {"simulated"}

    others = fresh_session.predictions("test").iloc[:3]
    holdout = fresh_session.predictions("holdout").iloc[0]
    csv = tmp_path / "expert.csv"
    pd.DataFrame(
        {
            "path": [others.path.iloc[0], others.path.iloc[1], holdout.path, "../../etc/passwd"],
            "label": ["1", "maybe", "0", "0"],
        }
    ).to_csv(csv, index=False)
    report = apply_labels(fresh_session, store, csv)
    assert report.imported == 1
    reasons = [r.reason for r in report.refused]
    assert "unknown class 'maybe'" in reasons[0] and "unknown image" in reasons[1]  # holdout stays unlabeled
    assert "leaves the data root" in reasons[2]

    result = retrain_from_store(fresh_session, store)
    assert result.labels_used == len(store.labels()) and fresh_session.round == 1


def test_thumbnail_and_overlay_helpers(tmp_path: Path) -> None:
    big = np.random.default_rng(0).integers(0, 255, (300, 200, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "big.png"), big)
    data, ok = thumbnail_bytes(str(tmp_path / "big.png"), size=96)
    assert ok and cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (96, 64, 3)
    data, ok = thumbnail_bytes(str(tmp_path / "nope.png"), size=96)
    assert not ok and data[:2] == b"\xff\xd8"  # a JPEG placeholder

    mask = np.zeros((300, 200), np.uint8)
    mask[:10] = 4  # FTL "Background" stays uncoloured
    mask[100:120, 50:70] = 2
    out = overlay_mask(big, mask)
    assert np.array_equal(out[:10, 10:190], big[:10, 10:190])
    assert not np.array_equal(out[105:115, 55:65], big[105:115, 55:65])


def test_locked_store_shows_a_clear_message_and_changes_nothing(
    session: OnlineSession, selection: pd.DataFrame, tmp_path: Path
) -> None:
    db = tmp_path / "locked.sqlite"
    grid = _grid(session, LabelStore(db, timeout_s=0.05, retries=1), selection)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # a second kernel holding the write lock
    try:
        grid.on_key({"key": "1", "type": "keyup"})
        assert (
            "is locked by another writer" in grid.message.value and "Nothing was lost" in grid.message.value
        )
        assert grid.focus == 0 and "unlabeled" in grid._tiles[0].caption.value
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    grid.on_key({"key": "1", "type": "keyup"})  # the same key again once the lock is gone
    assert grid.store.labels() == {selection.sha256[0]: "1"} and grid.message.value == ""


def test_empty_selection_is_a_quiet_grid(
    session: OnlineSession, store: LabelStore, selection: pd.DataFrame
) -> None:
    grid = _grid(session, store, selection.iloc[:0])  # e.g. the band strategy found nothing uncertain
    assert grid.progress_text == "0 of 0 labeled" and grid.page_label.value == "page 1 of 1"
    assert all(t.box.layout.display == "none" for t in grid._tiles)
    for key in ("1", "ArrowRight", "u", "z", "n"):
        grid.on_key({"key": key, "type": "keyup"})
    assert store.labels() == {} and grid.message.value == "nothing to undo"


def test_accept_and_correct_say_which_and_accept_page_is_one_undo(
    session: OnlineSession, store: LabelStore, selection: pd.DataFrame
) -> None:
    grid = _grid(session, store, selection)
    rows = grid.page_rows()
    sha, pred = list(rows["sha256"]), list(rows["pred"])
    other = {"0": "1", "1": "0"}
    grid.on_key({"key": "a", "type": "keyup"})  # tile 0: the model was right
    assert store.labels() == {sha[0]: pred[0]} and grid.focus == 1
    grid.on_key({"key": other[pred[1]], "type": "keyup"})  # tile 1: the expert overrules it
    grid.on_key({"key": "?", "type": "keyup"})  # tile 2: unsure
    assert "title='accepted the prediction'" in grid._tiles[0].caption.value
    assert "title='changed the prediction'" in grid._tiles[1].caption.value
    assert "unsure" in grid._tiles[2].caption.value and grid._tiles[2].unsure_button.button_style == "warning"
    assert store.kinds() == {sha[0]: "accepted", sha[1]: "changed", sha[2]: "unsure"}

    assert grid.accept_page() == 2  # the two tiles still without an answer, not the unsure one
    assert store.labels(sha) == {sha[0]: pred[0], sha[1]: other[pred[1]], sha[3]: pred[3], sha[4]: pred[4]}
    events = store.events()
    batch = events[events["sha256"].isin(sha[3:])]
    assert batch["batch"].nunique() == 1 and batch["batch"].notna().all()  # one transaction
    assert store.answer_counts(sha) == {"accepted": 3, "changed": 1, "unsure": 1, "overruled": 0.25}
    assert "every tile of this page is answered" in (grid.accept_page() or grid.message.value)

    grid.on_key({"key": "u", "type": "keyup"})  # the focused tile (4) came from the batch: the batch goes
    assert store.labels(sha) == {sha[0]: pred[0], sha[1]: other[pred[1]]}
    assert "undid 2 answers" in grid.message.value and "unlabeled" in grid._tiles[3].caption.value
    grid.go_to_page(0)
    grid.focus = 2
    grid.undo()  # the unsure answer is taken back too
    assert store.kinds(sha) == {sha[0]: "accepted", sha[1]: "changed"} and grid.focus == 2
    grid.go_to_page(1)
    grid.on_key({"key": "A", "type": "keyup"})  # the next page, all in one go
    assert len(store.labels()) == 2 + len(grid.page_rows())


def test_click_shift_click_and_ctrl_click_select_and_a_class_labels_the_batch(
    session: OnlineSession, store: LabelStore, selection: pd.DataFrame
) -> None:
    grid = _grid(session, store, selection)
    sha = list(grid.page_rows()["sha256"])
    tiles = grid._tiles
    tiles[1].clicks._handle_mouse_msg(None, {"type": "click"}, [])  # from the front end, as ipyevents sends
    assert grid.selected == {1} and grid.focus == 1
    tiles[3].clicks._handle_mouse_msg(None, {"type": "click", "shiftKey": True}, [])
    assert grid.selected == {1, 2, 3} and "3 selected" in grid.message.value
    assert all("olkit-selected" in tiles[i].box._dom_classes for i in (1, 2, 3))
    grid.click(2, ctrl=True)  # ctrl toggles one out ...
    grid.click(0, ctrl=True)  # ... and one in
    assert grid.selected == {0, 1, 3}
    grid.click(4, shift=True, ctrl=True)  # shift with ctrl adds the range from the last click
    assert grid.selected == {0, 1, 2, 3, 4}
    grid.on_key({"key": "Escape", "type": "keyup"})
    assert grid.selected == set() and "olkit-selected" not in tiles[1].box._dom_classes

    grid.click(0)
    grid.click(2, shift=True)
    grid.click(4, ctrl=True)
    grid.on_key({"key": "1", "type": "keyup"})  # one key labels the selection, in one transaction
    assert store.labels() == {sha[0]: "1", sha[1]: "1", sha[2]: "1", sha[4]: "1"}
    assert store.events()["batch"].nunique() == 1 and grid.selected == set()
    kinds = store.kinds()
    assert {kinds[s] for s, p in zip(sha, grid.page_rows()["pred"]) if s in kinds and p == "1"} <= {
        "accepted"
    }
    assert {kinds[s] for s, p in zip(sha, grid.page_rows()["pred"]) if s in kinds and p == "0"} <= {"changed"}
    grid.click(3)
    grid.class_buttons["0"].click()  # the class panel's button: the selection (tile 3) alone
    assert store.labels()[sha[3]] == "0"
    grid.undo()  # focus is on tile 4, from the batch: the batch goes back, tile 3 keeps its label
    assert store.labels() == {sha[3]: "0"}

    grid.click(1)
    grid.click(2, shift=True)
    grid.accept_button.click()  # accept the selection's predictions
    preds = list(grid.page_rows()["pred"])
    assert store.labels([sha[1], sha[2]]) == {sha[1]: preds[1], sha[2]: preds[2]}
    grid.next_page()
    assert grid.selected == set()  # a selection lives on its page


def test_the_report_says_how_often_the_expert_overruled_the_model(fresh_session: OnlineSession) -> None:
    from olkit.report import expert_answers_text, summarize

    assert expert_answers_text(fresh_session.run) == ""  # no store yet: no line
    store = LabelStore(fresh_session.run.labels_db, annotator="expert1")
    grid = RelabelGrid(fresh_session, store, strategy="least_confidence", page_size=4)  # type: ignore[arg-type]
    preds = list(grid.page_rows()["pred"])
    grid.label({"0": "1", "1": "0"}[preds[0]])  # overruled
    grid.unsure()
    grid.accept_page()  # the other two accepted
    store.close()
    text = "expert's answers: 2 predictions accepted, 1 changed (the expert overruled the model on 33%), 1 unsure"
    assert expert_answers_text(fresh_session.run).startswith(text)
    assert any(n.startswith(text) for n in summarize(fresh_session.run).notes)


class _ThreeClassSession:
    """A stand-in session with three named classes (folder names), real images on disk and fixed predictions."""

    def __init__(self, root: Path) -> None:
        self.classes = ["crack", "dirt", "pore"]
        self.round = 0
        self.run = None
        rows = []
        rng = np.random.default_rng(0)
        for split, n in (("train", 12), ("test", 6)):
            for i in range(n):
                cls = self.classes[i % 3]
                path = root / split / cls / f"{split}_{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), rng.integers(0, 255, (24, 24, 3), dtype=np.uint8))
                p = np.full(3, 0.2)
                p[(i + (split == "test")) % 3] = 0.6  # the test predictions are all one class off
                rows.append(
                    {
                        "split": split,
                        "path": str(path),
                        "sha256": f"{split}{i}".ljust(64, "0"),
                        "label": cls,
                        "mask_path": "",
                        "pred": self.classes[int(p.argmax())],
                        "confidence": float(p.max()),
                        **{f"p_{c}": p[j] for j, c in enumerate(self.classes)},
                    }
                )
        self.table = pd.DataFrame(rows)

    def predictions(self, split: str = "test") -> pd.DataFrame:
        return self.table[self.table["split"] == split].drop(columns="split").reset_index(drop=True)

    def select(self, **_: object) -> pd.DataFrame:
        return self.predictions("test").drop(columns="label")


def test_any_number_of_classes_by_folder_name_with_keys_and_examples(
    store: LabelStore, tmp_path: Path
) -> None:
    session = _ThreeClassSession(tmp_path / "data")
    grid = RelabelGrid(session, store, page_size=6)  # type: ignore[arg-type]
    assert [b.description for b in grid.class_buttons.values()] == ["crack (1)", "dirt (2)", "pore (3)"]
    assert grid.example_paths["dirt"] == [
        str(tmp_path / "data" / "train" / "dirt" / f"train_{i}.png") for i in (1, 4, 7)
    ]
    sha = list(grid.page_rows()["sha256"])
    grid.on_key({"key": "3", "type": "keyup"})  # tile 0 is a crack predicted dirt: the expert says pore
    grid.on_key({"key": "a", "type": "keyup"})
    assert store.labels() == {sha[0]: "pore", sha[1]: "pore"} and store.kinds() == {
        sha[0]: "changed",
        sha[1]: "accepted",
    }
    assert (
        "pred <b>dirt</b>" in grid._tiles[0].caption.value
        and "label <b>pore</b>" in grid._tiles[0].caption.value
    )
