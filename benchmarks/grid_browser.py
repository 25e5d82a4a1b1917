"""The relabel grid driven in a real browser as an expert would: a page of 48, 10 wrong predictions fixed, the rest
accepted, in JupyterLab 4 and in Notebook 7 (headless Chromium through Playwright, :mod:`tests.browser.frontends`).

The kernel builds a tiny real session (generated 150x150 patches, untrained compact conv base, fitted classifier)
and shows a page of 48 test images of which the classifier got exactly 10 wrong. The expert (this script, which
knows the truth) clicks the true class on each of the 10 tiles, then "Accept page". Figures per front end:

``page_s``
    From the first click to the front end showing "48 of 48 labeled": what the page costs beyond the expert's
    own looking (no thinking time is simulated).
``olkit_s``
    Kernel time spent handling the expert's front-end messages over the page (every widget message, timed around
    ipywidgets' ``Widget._handle_msg``: olkit's handlers, the store's commits and the widget updates they send).
``click_commit_ms``
    Median from a correction's mouse click to its event row being committed in the SQLite store (read by this
    process), through browser, server, kernel and ``synchronous=FULL``.
``events``
    Events written for the page and their kinds (10 changed, 38 accepted, one batch for the 38).

The top-level figures are the worse of the two front ends. Times on a shared, loaded machine are inflated.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

PAGE_SIZE = 48
CORRECTIONS = 10
TIMEOUT_S = 300

_CELLS = [
    ("parameters", 'root: str = "{root}"  # the session, its store and the timing file'),
    (
        "",
        # bench instrumentation: kernel time per front-end message, written after each (outside the timing)
        "import json, time\n"
        "import ipywidgets as W\n"
        "_spent = [0.0, 0]\n"
        "_handle = W.Widget._handle_msg\n"
        "def _timed(self, msg):\n"
        "    t0 = time.perf_counter()\n"
        "    try:\n"
        "        return _handle(self, msg)\n"
        "    finally:\n"
        "        _spent[0] += time.perf_counter() - t0\n"
        "        _spent[1] += 1\n"
        "        with open(f'{root}/handler.json', 'w') as f:\n"
        "            json.dump({'s': _spent[0], 'n': _spent[1]}, f)\n"
        "W.Widget._handle_msg = _timed",
    ),
    (
        "",
        "import pandas as pd\n"
        "from olkit.online.session import make_tiny_session\n"
        "from olkit.online.labels import LabelStore\n"
        "from olkit.online.grid import RelabelGrid\n"
        "session = make_tiny_session(root, n_train=40, n_new=200, size=150)\n"
        "pred = session.predictions('test')\n"
        "wrong, right = pred[pred.pred != pred.label], pred[pred.pred == pred.label]\n"
        f"n_wrong = min({CORRECTIONS}, len(wrong), {PAGE_SIZE})\n"
        f"chosen = pd.concat([wrong.head(n_wrong), right.head({PAGE_SIZE} - n_wrong)])\n"
        "chosen = chosen.sample(frac=1.0, random_state=0).drop(columns='label')\n"
        "truth = dict(zip(pred.sha256, pred.label))",
    ),
    (
        "",
        "store = LabelStore(session.run.labels_db, annotator='bench')\n"
        f"grid = RelabelGrid(session, store, selection=chosen, page_size={PAGE_SIZE}, columns=8)\n"
        "rows = grid.page_rows()\n"
        "rows.assign(truth=rows.sha256.map(truth), name=rows['pred'].map(grid.display),\n"
        "            truth_name=rows.sha256.map(truth).map(grid.display))[\n"
        "    ['sha256', 'pred', 'truth', 'truth_name']].to_csv(f'{root}/page.csv', index=False)\n"
        "grid",
    ),
]


def _count(con: sqlite3.Connection) -> int:
    return int(con.execute("SELECT count(*) FROM label_events").fetchone()[0])


def _wait_rows(con: sqlite3.Connection, at_least: int, timeout_s: float = 30) -> float:
    """Poll the store (one read-only connection, every 2 ms, so the poll takes little CPU from the kernel) until
    it holds ``at_least`` event rows; return when (perf_counter)."""
    deadline = time.perf_counter() + timeout_s
    while True:
        if _count(con) >= at_least:
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"fewer than {at_least} events after {timeout_s} s")
        time.sleep(0.002)


def _handler(root: Path) -> tuple[float, int]:
    data = json.loads((root / "handler.json").read_text())
    return float(data["s"]), int(data["n"])


def run_frontend(frontend: str, folder: Path) -> dict[str, Any]:
    """One page as an expert in ``frontend`` (``"lab"`` or ``"notebook"``); figures as in the module docstring."""
    import pandas as pd
    from playwright.sync_api import expect

    from tests.browser.frontends import chromium, jupyter_server, run_all, write_notebook

    root = folder / "session"
    cells = [(tag, src.replace("{root}", root.as_posix()) if tag else src) for tag, src in _CELLS]
    with jupyter_server(frontend, folder) as server, chromium(folder) as browser:  # type: ignore[arg-type]
        write_notebook(folder / "bench.ipynb", cells)
        page = browser.new_context(viewport={"width": 1500, "height": 2600}).new_page()
        run_all(page, server, "bench.ipynb", timeout_s=TIMEOUT_S)
        grid = page.locator(".olkit-relabel-grid")
        grid.wait_for()
        expect(grid).to_contain_text(f"0 of {PAGE_SIZE} labeled")
        tiles = grid.locator(".olkit-tile")
        expect(tiles.nth(PAGE_SIZE - 1).locator("img")).to_be_visible()
        grid.scroll_into_view_if_needed()
        shown = pd.read_csv(root / "page.csv", dtype=str)
        wrong = [i for i, r in enumerate(shown.itertuples(index=False)) if r.pred != r.truth]

        def centre(locator: Any) -> tuple[float, float]:
            box = locator.bounding_box()
            return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

        db = root / "run" / "labels.sqlite"
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        events0 = _count(con)
        spent0, msgs0 = _handler(root)

        commits = []
        start = time.perf_counter()
        for n, i in enumerate(wrong, start=1):  # the true class on each wrong tile, then Accept page
            x, y = centre(tiles.nth(i).get_by_role("button", name=shown.truth_name[i], exact=True))
            clicked = time.perf_counter()
            page.mouse.click(x, y)
            commits.append((_wait_rows(con, events0 + n) - clicked) * 1000)
        page.mouse.click(*centre(grid.get_by_role("button", name="Accept page (A)")))
        expect(grid).to_contain_text(f"{PAGE_SIZE} of {PAGE_SIZE} labeled")
        page_s = time.perf_counter() - start
        page.wait_for_timeout(1000)  # let the kernel finish the redraw it sends after the commit
        spent1, msgs1 = _handler(root)
        con.close()

    from olkit.online.labels import LabelStore

    store = LabelStore(db)
    events = store.events().iloc[events0:]
    labels = store.labels()
    truth = dict(zip(shown.sha256, shown.truth))
    store.close()
    if len(labels) != PAGE_SIZE:
        raise RuntimeError(f"{frontend}: {len(labels)} labels in the store, expected {PAGE_SIZE}")
    return {
        "page_s": round(page_s, 2),
        "olkit_s": round(spent1 - spent0, 3),
        "click_commit_ms": round(statistics.median(commits), 1),
        "click_commit_max_ms": round(max(commits), 1),
        "corrections": len(wrong),
        "events": len(events),
        "kinds": {str(k): int(v) for k, v in events["kind"].value_counts().items()},
        "batches": int(events["batch"].nunique()),
        "messages": msgs1 - msgs0,
        "labels_right": sum(labels[s] == t for s, t in truth.items()),
    }


def run(frontends: tuple[str, ...] = ("lab", "notebook")) -> dict[str, Any]:
    """Keys as in ../shared/BENCH.md (``grid_browser``): the worse front end on top, each one in ``per_frontend``."""
    per: dict[str, dict[str, Any]] = {}
    for frontend in frontends:
        with tempfile.TemporaryDirectory(prefix=f"olkit-bench-grid-{frontend}-") as tmp:
            per[frontend] = run_frontend(frontend, Path(tmp))
    worst = {k: max(p[k] for p in per.values()) for k in ("page_s", "olkit_s", "click_commit_ms")}
    return {
        **worst,
        "corrections": min(p["corrections"] for p in per.values()),
        "page_size": PAGE_SIZE,
        "frontends": list(per),
        "events": max(p["events"] for p in per.values()),
        "per_frontend": per,
        "goals": {"page_s": 20.0, "olkit_s": 2.0, "click_commit_ms": 50.0},
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
