"""The relabel grid and the mask labeler in real front ends: JupyterLab 4 and Notebook 7, each driven by Debian's
headless Chromium through Playwright (:mod:`tests.browser.frontends`).

One server per front end for the module. A notebook written into the server's folder builds a tiny real online
session and the grid (or the mask labeler on a generated image); the browser runs all cells and labels as an
expert would (by click, by key, by range selection, accept a page, undo; a mask drawn by threshold keys and a
contour assigned by its class key), and the test reads the answers back from the SQLite store and from
``Segmented/`` on disk. Set ``OLKIT_SCREENSHOT=/path.png`` to keep the JupyterLab screenshot (the README's picture).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from olkit.online.labels import LabelStore
from tests.browser.frontends import FRONTENDS, Server, chromium, jupyter_server, run_all, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_S = 240  # CPU is shared: TensorFlow's import and the tiny session can take a while


@pytest.fixture(scope="module", params=FRONTENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with jupyter_server(request.param, tmp_path_factory.mktemp(request.param)) as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium")) as running:
        yield running


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1500})
    try:
        yield context.new_page()
    finally:
        context.close()


def _grid_cells(root: Path) -> list[tuple[str, str]]:
    return [
        ("parameters", f'root: str = "{root.as_posix()}"  # where the tiny session and its label store go'),
        (
            "",
            "from olkit.online.session import make_tiny_session\n"
            "from olkit.online.labels import LabelStore\n"
            "from olkit.online.grid import RelabelGrid\n"
            "session = make_tiny_session(root, n_train=24, n_new=24, size=32)",
        ),
        (
            "",
            "store = LabelStore(session.run.labels_db, annotator='browser')\n"
            "grid = RelabelGrid(session, store, strategy='least_confidence', page_size=12, columns=6)\n"
            "grid.page_rows()[['sha256', 'pred', 'path']].to_csv(f'{root}/page.csv', index=False)\n"
            "grid",
        ),
    ]


def test_grid_click_key_range_accept_page_and_undo(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    root = server.root / "tiny-grid"
    write_notebook(server.root / "grid.ipynb", _grid_cells(root))
    run_all(page, server, "grid.ipynb", timeout_s=TIMEOUT_S)
    grid = page.locator(".olkit-relabel-grid")
    grid.wait_for()
    tiles = grid.locator(".olkit-tile")
    expect(tiles.first.locator("img")).to_be_visible()
    expect(grid).to_contain_text("0 of 12 labeled")
    expect(grid.locator(".olkit-class").first).to_contain_text("no pitting (0)")  # display names ...
    expect(grid.locator(".olkit-class").first.locator("img")).to_have_count(3)  # ... with train examples
    import pandas as pd

    shown = pd.read_csv(root / "page.csv", dtype=str)
    sha, pred, path = list(shown["sha256"]), list(shown["pred"]), list(shown["path"])

    tiles.nth(0).get_by_role("button", name="pitting", exact=True).click()  # mouse: the first tile is "1"
    expect(grid).to_contain_text("1 of 12 labeled")
    tiles.nth(4).hover()  # ipyevents hears keys only while the mouse is over the widget
    page.keyboard.press("0")  # keyboard: the focused tile (the second, after the click) is "0"
    expect(grid).to_contain_text("2 of 12 labeled")
    # range selection: click tile 3's image, shift-click tile 6's, ctrl-click tile 5's out again
    tiles.nth(2).locator("img").click()
    tiles.nth(5).locator("img").click(modifiers=["Shift"])
    expect(grid).to_contain_text("4 selected")
    tiles.nth(4).locator("img").click(modifiers=["Control"])
    expect(grid).to_contain_text("3 selected")
    expect(grid.locator(".olkit-tile.olkit-selected")).to_have_count(3)
    page.keyboard.press("1")  # one key labels the selection
    expect(grid).to_contain_text("5 of 12 labeled")
    page.keyboard.press("u")  # one undo takes the three back
    expect(grid).to_contain_text("undid 3 answers given together")
    expect(grid).to_contain_text("2 of 12 labeled")
    # JupyterLab's and Notebook 7's command-mode shortcuts (a inserts a cell, arrows select cells, z undoes a
    # cell operation) must not steal the keys
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowLeft")
    tiles.nth(6).locator("img").click()
    page.keyboard.press("a")  # accept the clicked tile's prediction
    expect(grid).to_contain_text("3 of 12 labeled")
    grid.get_by_role("button", name="Accept page (A)").click()  # the rest as the model proposed
    expect(grid).to_contain_text("12 of 12 labeled")
    page.keyboard.press("ArrowLeft")  # from the last tile onto the one before
    page.keyboard.press("z")  # zoom at full resolution
    expect(grid).to_contain_text(f"{path[10]} · 32×32 px")  # the zoom shows the tile the arrow reached
    expect(grid).to_contain_text("Escape or z closes")
    expect(page.locator(".jp-Cell")).to_have_count(3)  # no key made or removed a cell ...
    expect(page.locator(".jp-MarkdownCell")).to_have_count(0)  # ... nor made a heading of one
    page.mouse.move(5, 5)
    shot = server.root / f"relabel_grid_{server.frontend}.png"
    page.screenshot(path=str(shot), full_page=True)

    store = LabelStore(root / "run" / "labels.sqlite")
    events = store.events()
    assert set(events["annotator"]) == {"browser"} and set(events["source"]) == {"expert"}
    labels = store.labels()
    assert len(labels) == 12 and labels[sha[0]] == "1" and labels[sha[1]] == "0"
    batch = events[events["batch"].notna() & events["undoes"].isna()]
    first_batch = batch[batch["batch"] == batch["batch"].iloc[0]]
    assert sorted(first_batch["sha256"]) == sorted([sha[2], sha[3], sha[5]])  # the range less the toggled one
    assert set(first_batch["label"]) == {"1"}
    assert len(events[events["undoes"].notna()]) == 3  # one undo, three events back
    page_batch = batch[batch["batch"] == batch["batch"].iloc[-1]]
    assert len(page_batch) == 9 and set(page_batch["kind"]) == {"accepted"}
    assert list(page_batch["label"]) == [pred[sha.index(s)] for s in page_batch["sha256"]]
    kinds = store.kinds()
    assert kinds[sha[0]] == ("accepted" if pred[0] == "1" else "changed")
    assert kinds[sha[6]] == "accepted" and labels[sha[6]] == pred[6]  # a accepted the clicked tile
    assert shot.stat().st_size > 10_000
    if server.frontend == "lab" and os.environ.get("OLKIT_SCREENSHOT"):
        shutil.copy(shot, os.environ["OLKIT_SCREENSHOT"])


def _mask_cells(folder: Path) -> list[tuple[str, str]]:
    return [
        (
            "parameters",
            f'folder: str = "{folder.as_posix()}"  # the image and the Images/, Segmented/ it gets',
        ),
        (
            "",
            "from olkit.prune.masks import MaskLabelerWidget\n"
            "labeler = MaskLabelerWidget([f'{folder}/spots.png'], f'{folder}/labels', threshold=120)\n"
            "labeler",
        ),
    ]


def test_mask_labeler_draws_a_mask_into_segmented(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    folder = server.root / "masks"
    folder.mkdir()
    image = np.full((64, 64, 3), 200, np.uint8)
    image[8:20, 8:20] = 40  # two dark spots: the threshold finds both, the expert labels one as a crack
    image[40:52, 36:56] = 60
    cv2.imwrite(str(folder / "spots.png"), image)
    write_notebook(server.root / "masks.ipynb", _mask_cells(folder))
    run_all(page, server, "masks.ipynb", timeout_s=TIMEOUT_S)
    widget = page.locator(".olkit-mask-labeler")
    widget.wait_for()
    expect(widget).to_contain_text("threshold 120, contour 1/2")
    view = widget.locator("img").first
    view.hover()  # the labeler's keys act while the mouse is over the image
    page.keyboard.press("[")  # the original's keys: [ lowers by 10, = raises by 1
    page.keyboard.press("=")
    expect(widget).to_contain_text("threshold 111, contour 1/2")
    page.keyboard.press("1")  # the contour on offer is class 1 (Crack) ...
    expect(widget).to_contain_text("contour 2/2")
    widget.get_by_role("button", name="Skip contour").click()  # ... the other one stays unlabelled
    expect(widget).to_contain_text("(all offered)")
    widget.get_by_role("button", name="Save & next").click()
    segmented = folder / "labels" / "Segmented" / "spots.png"
    expect(widget).to_contain_text("spots.png")
    for _ in range(100):
        if segmented.is_file():
            break
        page.wait_for_timeout(100)
    expect(page.locator(".jp-Cell")).to_have_count(2)  # no cell was added ...
    expect(page.locator(".jp-MarkdownCell")).to_have_count(0)  # ... and the digit made no heading

    mask = cv2.imread(str(segmented), cv2.IMREAD_UNCHANGED)
    assert mask is not None and mask.shape == (64, 64) and set(np.unique(mask)) == {0, 1}
    spots = [mask[8:20, 8:20], mask[40:52, 36:56]]
    assert sorted(bool((s == 1).all()) for s in spots) == [False, True]  # one spot is a crack, filled
    assert sum(int((s == 1).sum()) for s in spots) == int((mask == 1).sum())  # nothing else is
    assert (folder / "labels" / "Images" / "spots.png").is_file()
