"""The relabel grid in a real JupyterLab, driven by Debian's headless Chromium through Playwright.

A notebook written into the test's temp folder builds a tiny real online session and the grid; the browser runs
all cells, clicks a class button, hovers the grid and presses a number key, and the test reads both labels back
from the SQLite store on disk. Jupyter's config, data and runtime folders and Chromium's HOME stay inside the
temp folder. Set ``OLKIT_SCREENSHOT=/path.png`` to keep a copy of the screenshot (the README's picture).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from olkit.online.labels import LabelStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
JUPYTER = Path(sys.executable).with_name("jupyter")
TIMEOUT_MS = 240_000  # CPU is shared: TensorFlow's import and the tiny session can take a while

NOTEBOOK_CELLS = [
    ("parameters", 'root: str = "{root}"  # where the tiny session and its label store are written'),
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
        "grid",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_notebook(path: Path, root: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    for tag, source in NOTEBOOK_CELLS:
        cell = nbformat.v4.new_code_cell(source.format(root=root.as_posix()))
        if tag:
            cell.metadata["tags"] = [tag]
        nb.cells.append(cell)
    nbformat.write(nb, path)


@pytest.fixture()
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on a free localhost port with a token, everything it writes inside ``tmp_path``."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} missing: install Debian's chromium (make system-deps)")
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter" / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "jupyter" / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter" / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    news = tmp_path / "jupyter" / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(
        [
            str(JUPYTER),
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={tmp_path}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"jupyter lab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield f"{url}/lab/tree/grid.ipynb?token={token}", tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_grid_labels_by_click_and_key_in_jupyterlab(lab: tuple[str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, tmp_path = lab
    root = tmp_path / "tiny"
    _write_notebook(tmp_path / "grid.ipynb", root)
    home = tmp_path / "chromium-home"
    home.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")},
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            # the toolbar reads "idle" before a kernel exists, and Run All then does nothing: wait for the kernel
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()

            grid = page.locator(".olkit-relabel-grid")
            grid.wait_for()
            tiles = grid.locator(".olkit-tile")
            expect(tiles.first.locator("img")).to_be_visible()
            expect(grid).to_contain_text("0 of 12 labeled")

            tiles.nth(0).get_by_role("button", name="1", exact=True).click()  # mouse: first tile is "1"
            expect(grid).to_contain_text("1 of 12 labeled")
            tiles.nth(4).hover()  # ipyevents hears keys only while the mouse is over the widget
            page.keyboard.press("0")  # keyboard: the focused tile (the second, after the click) is "0"
            expect(grid).to_contain_text("2 of 12 labeled")
            # JupyterLab's own command-mode shortcuts (arrows, digits, z) must not steal the keys
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowLeft")
            page.keyboard.press("ArrowLeft")  # back onto the tile just labeled "0"
            page.keyboard.press("z")  # zoom it at full resolution
            expect(grid).to_contain_text("Escape or z closes")
            expect(grid.locator(".widget-image").last).to_be_visible()
            zoom_text = grid.inner_text()
            page.mouse.move(5, 5)
            page.screenshot(path=str(tmp_path / "relabel_grid.png"), full_page=True)
        finally:
            browser.close()

    store = LabelStore(root / "run" / "labels.sqlite")
    current = store.current()
    assert sorted(current["label"]) == ["0", "1"]
    assert set(current["annotator"]) == {"browser"} and set(current["source"]) == {"expert"}
    events = store.events()
    first, second = events["sha256"].iloc[0], events["sha256"].iloc[1]
    assert first != second and store.labels() == {first: "1", second: "0"}
    assert (tmp_path / "relabel_grid.png").stat().st_size > 10_000
    assert f"{events['path'].iloc[1]} · 32×32 px" in zoom_text  # the zoom shows the tile the arrows reached
    if os.environ.get("OLKIT_SCREENSHOT"):
        shutil.copy(tmp_path / "relabel_grid.png", os.environ["OLKIT_SCREENSHOT"])
