"""RunFolder owns every path of a run folder: each file the series hands over is named there and nowhere else.

Where a run-folder file lives is then one edit in one file (:mod:`olkit.paths`): the test below parses olkit's
modules and the notebooks' code cells with :mod:`ast` and fails on a string literal that names a run-folder file
outside ``olkit/paths.py`` (docstrings and comments do not count).
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from olkit.paths import RunFolder

ROOT = Path(__file__).resolve().parents[2]
PATHS_MODULE = ROOT / "olkit" / "paths.py"
MODULES = sorted(p for p in (ROOT / "olkit").rglob("*.py") if p != PATHS_MODULE)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

EXPECTED = {
    "figures": "figures",
    "models": "models",
    "embeddings": "embeddings",
    "prune": "prune",
    "state": "run.json",
    "report": "report.html",
    "kernel_log": "logs/kernels.log",
    "metrics": "metrics.json",
    "splits": "splits.csv",
    "data_manifest": "data_manifest.csv",
    "contact_sheet": "figures/contact_sheet.png",
    "backbone": "models/backbone.keras",
    "trained_backbone": "models/trained_backbone.keras",
    "backbone_curves": "figures/backbone_curves.png",
    "segmented": "prune/segmented",
    "candidates": "prune/candidates",
    "candidates_evaluated": "prune/candidates_evaluated.csv",
    "pareto": "prune/pareto.png",
    "chosen": "prune/chosen.keras",
    "embedding_map": "figures/embedding_map.png",
    "uncertainty_plot": "figures/uncertainty.png",
    "session": "session.json",
    "classifier": "models/classifier.skops",
    "classifier_base": "models/classifier-base.skops",
    "labels_db": "labels.sqlite",
    "history": "history.jsonl",
    "selection": "selection.csv",
    "learning_curve": "figures/learning_curve.png",
    "round_plot": "figures/round.png",
}
"""RunFolder property -> its path relative to the run folder."""

NOT_YET = {"data_manifest"}
"""Properties another change in progress adds (the run's copy of its data manifest); checked once they exist."""

NUMBERED = ("classifier-round", "backbone-round", "history-before-")
"""Stems of the run files RunFolder's methods number or stamp."""

ELSEWHERE = {("olkit/data/prepare.py", "contact_sheet.png")}
"""(module, literal) pairs that share a run file's name but are no run file: a data root's own contact sheet."""


def test_run_folder_names_every_run_file(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    for name, rel in EXPECTED.items():
        if name in NOT_YET and not hasattr(run, name):
            continue
        assert getattr(run, name) == tmp_path / rel, name
    assert run.round_classifier(3) == tmp_path / "models" / "classifier-round003.skops"
    assert run.round_backbone(12) == tmp_path / "models" / "backbone-round012.keras"
    assert run.history_archive("20261201T000000") == tmp_path / "history-before-20261201T000000.jsonl"
    assert run.executed("01_data") == run.executed("01_data.ipynb") == tmp_path / "01_data.ipynb"
    assert run.real == RunFolder(tmp_path / "real") and run.real.session == tmp_path / "real" / "session.json"
    # every Path property is in the table, so a new one cannot slip in untested
    props = {
        n for n, v in vars(RunFolder).items() if isinstance(v, property) and isinstance(getattr(run, n), Path)
    }
    assert props <= set(EXPECTED), props - set(EXPECTED)
    assert set(EXPECTED) - props <= NOT_YET, set(EXPECTED) - props


def test_create_makes_the_folders(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path / "r")
    assert all(p.is_dir() for p in (run.root, run.figures, run.models, run.embeddings, run.prune))
    assert run.root.is_absolute()


def _run_file_names() -> set[str]:
    run = RunFolder(Path("/run"))
    return {getattr(run, n).name for n in EXPECTED if hasattr(run, n) and getattr(run, n).suffix}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the constant nodes that are docstrings (the first statement of a module, class or function)."""
    out = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                out.add(id(body[0].value))
    # an attribute docstring (a string statement after an assignment) is prose too
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            out.add(id(node.value))
    return out


def run_path_literals(source: str, names: set[str] | None = None) -> list[tuple[int, str]]:
    """``(line, literal)`` of every string in ``source`` that names a run-folder file (not docstrings)."""
    names = _run_file_names() if names is None else names
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value.strip()
            if any(text == n or text.endswith("/" + n) for n in names) or any(
                text.startswith(stem) for stem in NUMBERED
            ):
                found.append((node.lineno, node.value))
    return sorted(found)


def test_the_checker_finds_literals_not_prose() -> None:
    source = '''
"""Writes ``selection.csv`` (a docstring: prose)."""
x = run.root / "selection.csv"
y = Path("runs/a/session.json")
z = f"classifier-round{n:03d}.skops"
w = "the file selection.csv is written by notebook 6"  # prose in a message
'''
    assert [lit for _, lit in run_path_literals(source)] == [
        "selection.csv",
        "runs/a/session.json",
        "classifier-round",
    ]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_names_run_files_itself(path: Path) -> None:
    rel = path.relative_to(ROOT).as_posix()
    found = [
        (line, lit)
        for line, lit in run_path_literals(path.read_text(encoding="utf-8"))
        if (rel, lit) not in ELSEWHERE
    ]
    assert not found, (
        f"{path.relative_to(ROOT)} builds run-folder paths itself: {found}; add a RunFolder property"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_names_run_files_itself(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            code = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!")))
            found += [
                (i, lit)
                for _, lit in run_path_literals(code)
                if (f"notebooks/{path.name}", lit) not in ELSEWHERE
            ]
    assert not found, f"{path.name} builds run-folder paths itself (cell, literal): {found}; use RunFolder"
