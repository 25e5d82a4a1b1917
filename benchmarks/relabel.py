"""Relabel grid figures: build one page of 48 thumbnails out of 500 selected images, and click -> committed row.

A real :class:`olkit.online.session.OnlineSession` over real BSData patches (150x150 PNG with defect masks, from
``data_bsd/bsdata``; made by ``olkit data``) with an untrained compact backbone at 64x64 (the backbone only has to
give the classifier something to rank; the grid's cost does not depend on it). The test split is 500 patches (all
of ``data_new`` not in the holdout plus unused ``data_train`` patches), all of them selected. Where the BSData
patches are missing, the tiny generated session (150x150 images, no masks) stands in, said in ``"data"``.

``page_build_s`` is the median time of showing a page never shown before (read, resize and JPEG-encode 48
thumbnails, read their labels from the store, update the widgets). ``click_commit_ms`` is the median time from a
class button's click to its return, by which the event row is committed with ``synchronous=FULL`` and the tile and
progress line are redrawn. Both run without a browser (widget messages to a frontend are not counted).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PAGE_SIZE = 48
SELECTION_SIZE = 500


def _bsdata_splits(seed: int = 0) -> pd.DataFrame | None:
    from olkit.paths import data_root

    manifest_path = data_root() / "bsdata" / "manifest.csv"
    if not manifest_path.is_file():
        return None
    from olkit.data.io import read_manifest

    df = read_manifest(manifest_path)
    rng = np.random.default_rng(seed)
    new = df[df["split"] == "data_new"].sample(frac=1.0, random_state=seed)
    old = df[df["split"] == "data_train"].iloc[rng.permutation(int((df["split"] == "data_train").sum()))]
    holdout = new.iloc[:100]
    test = pd.concat([new.iloc[100:], old.iloc[: SELECTION_SIZE - (len(new) - 100)]])
    train = old.iloc[SELECTION_SIZE - (len(new) - 100) :].iloc[:200]
    if len(test) < SELECTION_SIZE:
        return None
    parts = [train.assign(split="train"), holdout.assign(split="holdout"), test.assign(split="test")]
    return pd.concat(parts).reset_index(drop=True)


def _session(root: Path) -> tuple[Any, str]:
    from olkit.models.conv_base import build_backbone
    from olkit.online.session import OnlineSession, make_tiny_session

    splits = _bsdata_splits()
    if splits is None:
        return make_tiny_session(
            root, n_train=40, n_new=2 * SELECTION_SIZE, size=150
        ), "tiny generated 150x150"
    backbone = build_backbone("compact", classes=("0", "1"), size=(64, 64), width=8, seed=0)
    session = OnlineSession.create(root / "run", splits=splits, backbone=backbone, seed=0, progress=False)
    return session, "BSData patches 150x150 with masks"


def run() -> dict[str, Any]:
    """Measure the grid on a real session; keys as in ../shared/BENCH.md (``relabel``)."""
    from olkit.online.grid import RelabelGrid
    from olkit.online.labels import LabelStore

    with tempfile.TemporaryDirectory(prefix="olkit-bench-relabel-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        session, data = _session(root)
        session_s = time.perf_counter() - t0
        selection = session.select(strategy="least_confidence", budget=SELECTION_SIZE)
        store = LabelStore(root / "run" / "labels.sqlite", annotator="bench")

        t0 = time.perf_counter()
        grid = RelabelGrid(session, store, selection=selection, page_size=PAGE_SIZE)
        first_build_s = time.perf_counter() - t0  # widgets created + first page

        pages = []
        for page in range(1, min(grid.n_pages, 6)):
            t0 = time.perf_counter()
            grid.go_to_page(page)
            pages.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        grid.go_to_page(1)
        cached_page_s = time.perf_counter() - t0

        clicks = []
        for i in range(len(grid.page_rows())):
            button = grid._tiles[i].buttons[i % len(grid.classes)]
            t0 = time.perf_counter()
            button.click()
            clicks.append((time.perf_counter() - t0) * 1000)
        committed = len(store.labels())

        bare = []  # the store alone: one event committed with synchronous=FULL
        for i in range(20):
            t0 = time.perf_counter()
            store.add(f"{i:064x}", "0", path="", round=0)
            bare.append((time.perf_counter() - t0) * 1000)

        zooms = []
        for i in range(5):
            t0 = time.perf_counter()
            grid.zoom(index=i)
            zooms.append((time.perf_counter() - t0) * 1000)
        store.close()

    if committed != len(clicks):
        raise RuntimeError(f"{len(clicks)} clicks but {committed} labels in the store")
    return {
        "page_build_s": round(statistics.median(pages), 4),
        "click_commit_ms": round(statistics.median(clicks), 2),
        "page_size": PAGE_SIZE,
        "selection_size": len(selection),
        "page_build_max_s": round(max(pages), 4),
        "page_build_cached_s": round(cached_page_s, 4),
        "first_build_s": round(first_build_s, 3),
        "click_commit_p95_ms": round(float(np.percentile(clicks, 95)), 2),
        "store_commit_ms": round(statistics.median(bare), 2),
        "zoom_ms": round(statistics.median(zooms), 2),
        "pages_measured": len(pages),
        "clicks_measured": len(clicks),
        "data": data,
        "session_build_s": round(session_s, 1),
        "synchronous": "FULL",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
