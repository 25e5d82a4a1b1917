"""Drive olkit's widgets in a real Jupyter front end: a JupyterLab 4 or Notebook 7 server in a temp folder and
Debian's headless Chromium through Playwright. The browser tests and the ``grid_browser`` bench share this.

Jupyter's config, data and runtime folders, IPython's folder and Chromium's HOME stay inside the given folder; the
server listens on a free localhost port with a random token and checks for no news or updates.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import nbformat

Frontend = Literal["lab", "notebook"]
FRONTENDS: tuple[Frontend, ...] = ("lab", "notebook")
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


@dataclass(frozen=True)
class Server:
    """A running Jupyter server: its front end, address, token and the folder it serves."""

    frontend: Frontend
    url: str
    token: str
    root: Path

    def notebook_url(self, name: str) -> str:
        """Where the front end opens notebook ``name`` (a file in :attr:`root`)."""
        if self.frontend == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        # a workspace of its own, reset: JupyterLab would otherwise reopen the notebooks of the page before
        workspace = Path(name).stem
        return f"{self.url}/lab/workspaces/{workspace}/tree/{name}?reset&token={self.token}"

    def kernel_idle(self, name: str) -> bool:
        """Whether a kernel runs for notebook ``name`` and is idle (the server's REST API)."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/sessions?token={self.token}", timeout=2) as reply:
                sessions = json.loads(reply.read())
        except OSError:
            return False
        return any(
            s.get("path", "").endswith(name) and (s.get("kernel") or {}).get("execution_state") == "idle"
            for s in sessions
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_notebook(path: Path, cells: Sequence[tuple[str, str]]) -> Path:
    """Write a notebook of code cells ``(tag, source)`` (tag ``""`` for none) with the python3 kernel."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    for tag, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        if tag:
            cell.metadata["tags"] = [tag]
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


@contextmanager
def jupyter_server(frontend: Frontend, folder: Path, *, start_s: float = 120) -> Iterator[Server]:
    """A JupyterLab (``"lab"``) or Notebook 7 (``"notebook"``) server serving ``folder``, stopped on exit."""
    if not CHROMIUM.is_file():
        raise RuntimeError(f"{CHROMIUM} missing: install Debian's chromium (make system-deps)")
    folder.mkdir(parents=True, exist_ok=True)
    port, token = _free_port(), secrets.token_hex(16)
    jupyter = folder / ".jupyter"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": str(folder / ".ipython"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    news = jupyter / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True, exist_ok=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    app = "LabApp" if frontend == "lab" else "JupyterNotebookApp"
    args = [
        str(JUPYTER),
        frontend,
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={folder}",
        f"--{app}.news_url=",
        f"--{app}.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log_path = folder / f"{frontend}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_s
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as reply:
                        if reply.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter {frontend} did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            yield Server(frontend=frontend, url=url, token=token, root=folder)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def chromium(folder: Path) -> Iterator[Any]:
    """Headless Chromium (a Playwright ``Browser``) with its HOME inside ``folder``."""
    from playwright.sync_api import sync_playwright

    home = folder / "chromium-home"
    home.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")},
        )
        try:
            yield browser
        finally:
            browser.close()


def run_all(page: Any, server: Server, name: str, *, timeout_s: float = 240) -> None:
    """Open notebook ``name`` in the front end, wait for its kernel and run every cell (menu Run > Run All).

    Both front ends show JupyterLab's menu bar. A Run All issued before the page is connected to its kernel does
    nothing, so it is issued again until the first cell has run (it runs nothing twice: no cell had started).
    """
    page.set_default_timeout(timeout_s * 1000)
    page.goto(server.notebook_url(name))
    deadline = time.monotonic() + timeout_s
    while not server.kernel_idle(name):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no idle kernel for {name} after {timeout_s:.0f} s")
        time.sleep(0.25)
    prompt = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell .jp-InputPrompt").first
    for _attempt in range(10):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
        started = time.monotonic()
        while time.monotonic() - started < 10:
            if prompt.inner_text().strip() not in ("[ ]:", ""):
                return
            time.sleep(0.2)
    raise TimeoutError(f"Run All did not start {name}")
