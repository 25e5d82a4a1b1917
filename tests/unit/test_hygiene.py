"""Notebook hygiene (plain JSON, no outputs, one kernel, a typed parameters cell first) and packaging agreement.

papermill injects parameters after the cell tagged ``parameters`` and shows its typed, commented lines with
``papermill --help-notebook``; outputs committed to Git drift and leak data. These checks keep the series fit for
both.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import nbformat
import pytest
from papermill.inspection import inspect_notebook

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*)\s*:\s*([^=]+?)\s*=\s*(.+?)\s*#\s*(\S.*)$")


def test_the_series_is_there_and_numbered() -> None:
    names = [nb.stem for nb in NOTEBOOKS]
    assert len(names) >= 7, names
    assert all(re.match(r"^\d{2}_[a-z0-9_]+$", n) for n in names), names
    numbers = [n[:2] for n in names]
    assert len(set(numbers)) == len(numbers) and numbers == sorted(numbers)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_json_without_outputs(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))  # plain JSON, not LFS or anything else
    nb = nbformat.from_dict(doc)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: committed outputs in {cell.source[:60]!r}"
            assert cell.execution_count is None, f"{path.name}: execution count in {cell.source[:60]!r}"
            assert "%pip" not in cell.source and "!pip" not in cell.source and "input(" not in cell.source
    assert "papermill" not in nb.metadata, f"{path.name} is an executed notebook, not a source one"


def test_one_kernel_name_across_the_series() -> None:
    kernels = {json.loads(p.read_text())["metadata"]["kernelspec"]["name"] for p in NOTEBOOKS}
    assert kernels == {"python3"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_first_typed_and_commented(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and "parameters" in code[0].metadata.get("tags", []), (
        f"{path.name}: first code cell not tagged"
    )
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    lines = [ln for ln in code[0].source.splitlines() if ln.strip()]
    for line in lines:
        assert ASSIGNMENT.match(line), (
            f"{path.name}: parameter line not 'name: type = value  # comment': {line!r}"
        )
    declared = inspect_notebook(str(path))
    # papermill reads every line: an unparsed line silently drops a parameter from injection
    assert len(declared) == len(lines), (
        f"{path.name}: papermill parsed {sorted(declared)} of {len(lines)} lines"
    )
    assert "run_dir" in declared
    for name, info in declared.items():
        assert info["inferred_type_name"] not in ("None", ""), f"{path.name}: {name} has no type"
        assert info["help"].strip(), f"{path.name}: {name} has no comment"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def test_interactive_notebooks_have_a_headless_switch() -> None:
    relabel = [p for p in NOTEBOOKS if "relabel" in p.stem]
    assert relabel, "no relabel notebook"
    for path in relabel + [p for p in NOTEBOOKS if "prun" in p.stem]:
        params = inspect_notebook(str(path))
        assert params["interactive"]["inferred_type_name"] == "bool"
        assert params["interactive"]["default"] == "False"


def _requirement_names(reqs: list[str]) -> dict[str, str]:
    out = {}
    for req in reqs:
        req = req.split("#", 1)[0].strip()
        if not req or req.startswith("-"):
            continue
        name = re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower().replace("_", "-")
        out[name] = req.replace(" ", "")
    return out


def test_environment_yml_names_the_same_dependencies_as_pyproject() -> None:
    import yaml

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert _requirement_names(pip) == _requirement_names(pyproject["project"]["dependencies"])
    assert any(str(p).startswith("-e") for p in pip), "environment.yml must install the project itself"
    assert any(str(d).startswith("python=3.11") or str(d) == "python=3.11" for d in env["dependencies"])
