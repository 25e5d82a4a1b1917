"""The whole tiny series on a user's own data root, which olkit must leave exactly as it found it.

A small data root in the original's layout is built in a temp folder — two classes, masks for the defects only, a
few bad files (a truncated PNG, a text file named ``.png``, a ``README.txt``) — and made read-only (files and
folders). The tests run as root, for whom ``chmod`` does not stop writes, so a full snapshot of the tree (paths,
sizes, modes, mtimes, SHA-256) is compared before and after as well. Then ``olkit run --profile tiny`` runs on it
end to end, with ``make_data`` left on, and the run is checked: the summary and the report name the data, pruning
used its masks, and the budget of ``0.33`` is a third of its test set.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from olkit import pipeline
from olkit.cli import main
from olkit.data.prepare import check_data_root
from olkit.data.synth import generate_bsd
from olkit.paths import RunFolder
from olkit.report import summarize

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

NAME = "my_gears"


@dataclass(frozen=True)
class UserRun:
    root: Path  # the user's data root
    run: RunFolder
    printed: str  # what olkit run printed
    masks: int  # data_train masks in the user's root
    sha256: str  # the root's manifest hash, from olkit data check before the run


def _snapshot(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every path under ``root`` (and ``root`` itself): size, mode, mtime and SHA-256 of the bytes."""
    out = {}
    for p in [root, *sorted(root.rglob("*"))]:
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "-"
        out[str(p.relative_to(root))] = (st.st_size if p.is_file() else 0, st.st_mode, st.st_mtime_ns, digest)
    return out


def _chmod_tree(root: Path, *, files: int, folders: int) -> None:
    for p in sorted(root.rglob("*"), reverse=True):
        p.chmod(folders if p.is_dir() else files)
    root.chmod(folders)


def _build_user_root(root: Path, source: Path) -> int:
    """Copy generated patches into a user's layout: no manifest, no olkit marker, masks for class 1 only."""
    generate_bsd(source, n_train=160, n_new=60, shift=1.0, seed=3, workers=2, progress=False)
    masks = 0
    for set_name in ("data_train", "data_new"):
        for img in sorted((source / set_name).rglob("*.png")):
            cls = img.parent.name
            dest = root / set_name / cls / f"gear_{img.name}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(img, dest)
            mask = source / "masks" / set_name / img.name
            if cls == "1" and mask.is_file():
                (root / "masks" / set_name).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(mask, root / "masks" / set_name / dest.name)
                masks += set_name == "data_train"
    some = next((root / "data_train" / "0").glob("*.png")).read_bytes()
    (root / "data_train" / "0" / "cut_short.png").write_bytes(some[: len(some) // 3])  # truncated PNG
    (root / "data_train" / "1" / "notes.png").write_text("an inspector's note, saved as .png\n")
    (root / "README.txt").write_text("gear flank photographs, ours\n")
    (root / "data_new" / "1" / "README.txt").write_text("new batch\n")
    return masks


@pytest.fixture(scope="module")
def user_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserRun]:
    base = tmp_path_factory.mktemp("user")
    root = base / NAME
    masks = _build_user_root(root, base / "generated")
    _chmod_tree(root, files=0o444, folders=0o555)
    before = _snapshot(root)
    check = check_data_root(root)
    runs = base / "runs"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    args = [
        "run",
        "--profile",
        "tiny",
        "--runs-dir",
        str(runs),
        "--run-id",
        "u",
        "-p",
        "data_root",
        str(root),
    ]
    args += ["-p", "prune_data", "", "-p", "second_root", "", "-p", "budget", "0.33"]
    args += ["-p", "export_runtimes", ""]  # the series test covers the exports; here only .keras is written
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(args)
    assert status == 0, (
        "olkit run --profile tiny on a user root failed; read the partial notebook named above"
    )
    assert _snapshot(root) == before, "olkit changed the user's data root"
    yield UserRun(root, RunFolder(runs / "u"), out.getvalue(), masks, check.sha256)
    _chmod_tree(root, files=stat.S_IRUSR | stat.S_IWUSR, folders=stat.S_IRWXU)


def test_the_users_root_is_unchanged_and_recorded(user_run: UserRun) -> None:
    root, run = user_run.root, user_run.run
    data = run.read_metrics()["data"]
    assert data["root"] == str(root) and data["owned"] is False and data["name"] == NAME
    assert data["manifest_sha256"] == user_run.sha256  # the identity of the data the run saw
    assert data["problems"] == 3  # the truncated PNG, the text file named .png, the README in data_new
    assert any("train_nr=200 exceeds the 160 images in data_train" in n for n in data["notes"])
    assert run.data_manifest.is_file() and (run.figures / "contact_sheet.png").is_file()
    assert not (root / "contact_sheet.png").exists() and not (root / "crack").exists()


def test_the_summary_and_the_report_name_the_data(user_run: UserRun) -> None:
    root, run, printed = user_run.root, user_run.run, user_run.printed
    assert f"data: {NAME} ({root}, yours, read-only" in printed
    assert f"{NAME} (train/holdout/test" in printed and "synthetic BSD" not in printed
    page = (run.root / "report.html").read_text(encoding="utf-8")
    assert NAME in page and "synthetic BSD patches (train" not in page
    executed = nbformat.read(run.root / "01_data.ipynb", as_version=4)
    shown = "\n".join(str(o.get("text", "")) for c in executed.cells for o in c.get("outputs", []))
    assert f"{root} is yours: nothing is made or written there" in shown and "cut_short.png" in shown


def test_pruning_used_its_masks(user_run: UserRun) -> None:
    root, run = user_run.root, user_run.run
    prune = run.read_metrics()["prune"]
    assert prune["data_root"] == str(root) and prune["data_name"] == NAME and not prune["skipped"]
    assert prune["masks"] == min(24, user_run.masks)  # tiny's n_scoring, from the user's masks/data_train
    scored = {p.name for p in (run.prune / "segmented" / "Segmented").glob("*.png")}
    users = {f"1_{p.name}" for p in (root / "masks" / "data_train").glob("*.png")}
    assert scored and scored <= users
    assert "chosen" in prune and prune["backbone"].endswith(f"on {NAME}")


def test_the_budget_is_a_third_of_its_test_set(user_run: UserRun) -> None:
    m = user_run.run.read_metrics()
    test_size = m["online"]["test_size"]
    assert test_size == 30  # half of the 60 data_new images
    assert m["relabel"]["budget"] == math.ceil(0.33 * test_size) == round(test_size / 3)
    assert 0 < m["online"]["labels_used"] <= m["relabel"]["budget"]
    assert m["second"]["available"] is False and "second_root is empty" in m["second"]["skipped"]


def test_no_masks_no_pruning_and_the_report_says_so(user_run: UserRun, tmp_path: Path) -> None:
    """The pruning notebook on a copy of the root without its masks: it says so, measures only the full model and
    records the note, which the summary shows."""
    bare = tmp_path / "no_masks"
    shutil.copytree(user_run.root, bare, ignore=shutil.ignore_patterns("masks"))
    run = RunFolder(shutil.copytree(user_run.run.root, tmp_path / "run"))
    params = {**pipeline.read_state(run)["notebooks"]["03_pruning"]["parameters"], "run_dir": str(run.root)}
    nb = next(p for p in pipeline.series() if p.stem == "03_pruning")
    pipeline.execute_notebook(nb, run.root / nb.name, {**params, "prune_data": str(bare)}, cwd=run.root)
    prune = run.read_metrics()["prune"]
    assert prune["masks"] == 0 and "no masks for class '1'" in prune["skipped"]
    executed = nbformat.read(run.root / nb.name, as_version=4)
    shown = "\n".join(str(o.get("text", "")) for c in executed.cells for o in c.get("outputs", []))
    assert "pruning skipped, only the full model is measured" in shown
    text = str(summarize(run))
    assert "note: pruning for no_masks: no masks" in text and "chosen" not in text
