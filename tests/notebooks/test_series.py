"""The whole notebook series, headless, on the tiny profile: ``olkit run --profile tiny`` into a temp folder.

The executed notebooks are reloaded and checked (no error outputs, the figures they print), the run folder's files
and ``metrics.json`` are checked against what each notebook promises, then a failure is provoked in one notebook
and the run is resumed from it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import nbformat
import pytest

from olkit import pipeline
from olkit.cli import main
from olkit.paths import RunFolder, bsdata_source

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

RUN_ID = "t"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    runs = tmp_path_factory.mktemp("runs")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    status = main(["run", "--profile", "tiny", "--runs-dir", str(runs), "--run-id", RUN_ID])
    assert status == 0, "olkit run --profile tiny failed; read the partial notebook named above"
    return RunFolder(runs / RUN_ID)


def _has_bsdata() -> bool:
    return (bsdata_source() / "label").is_dir()


def _outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(str(out.get("text", "")))
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_every_notebook_ran_clean(tiny_run: RunFolder) -> None:
    state = pipeline.read_state(tiny_run)
    series = pipeline.series()
    assert [nb.stem for nb in series] == sorted(state["notebooks"])
    for nb_path in series:
        assert state["notebooks"][nb_path.stem]["status"] == "completed"
        executed = nbformat.read(tiny_run.root / nb_path.name, as_version=4)
        errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{nb_path.stem}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        params = state["notebooks"][nb_path.stem]["parameters"]
        assert params["run_dir"] == str(tiny_run.root)
        injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and str(tiny_run.root) in injected[0].source


def test_run_folder_holds_what_the_notebooks_hand_over(tiny_run: RunFolder) -> None:
    for path in (
        tiny_run.splits,
        tiny_run.backbone,
        tiny_run.backbone.with_suffix(".json"),
        tiny_run.classifier,
        tiny_run.labels_db,
        tiny_run.history,
        tiny_run.metrics,
        tiny_run.selection,
        tiny_run.prune / "pareto.png",
        tiny_run.prune / "chosen.keras",
        tiny_run.prune / "candidates" / "candidates.csv",
        tiny_run.figures / "embedding_map.png",
        tiny_run.figures / "uncertainty.png",
        tiny_run.figures / "round.png",
        tiny_run.root / "report.html",
    ):
        assert path.is_file() and path.stat().st_size > 0, path
    # a conv base trained in notebook 2 draws its curves; a frozen pretrained one has none to draw
    if pipeline.load_profile("tiny").parameters["recipe"] in ("compact", "original"):
        assert tiny_run.backbone_curves.is_file()
    else:
        assert not tiny_run.backbone_curves.exists()
    assert any(tiny_run.embeddings.rglob("shard-*.npz"))
    # the tiny profile keeps its data inside the run folder: the test never depends on data_bsd/
    assert Path(tiny_run.read_metrics()["data"]["root"]) == tiny_run.root / "data"


def test_online_round_figures_in_range(tiny_run: RunFolder) -> None:
    m = tiny_run.read_metrics()
    online = m["online"]
    budget = pipeline.load_profile("tiny").parameters["budget"]
    for key in ("holdout_acc_before", "holdout_acc_after", "random_acc_after", "ceiling_acc"):
        assert 0.0 <= online[key] <= 1.0, key
    assert 0 < online["labels_used"] <= budget
    assert online["test_size"] > online["labels_used"] and online["holdout_size"] > 0
    assert online["train_size"] == pipeline.load_profile("tiny").parameters["train_nr"]
    assert online["round_seconds"] > 0
    # the rounds' labels came through the store: one simulated event per selected image, over every round
    relabel = m["relabel"]
    assert relabel["labelled"] == online["labels_used"] and 0 < relabel["selected"] <= relabel["labelled"]
    history = [json.loads(line) for line in tiny_run.history.read_text().splitlines() if line.strip()]
    assert history and history[-1]["labels_used"] == online["labels_used"]
    # the random control is the mean of the notebook's random_repeats draws, not one lucky or unlucky draw
    draws = history[-1]["random_accuracies"]
    assert len(draws) == 5 and online["random_acc_after"] == pytest.approx(sum(draws) / len(draws))
    executed = nbformat.read(tiny_run.root / "07_retrain.ipynb", as_version=4)
    assert f"{online['labels_used']} labels" in _outputs_text(executed)


def test_pruning_figures_in_range(tiny_run: RunFolder) -> None:
    import keras

    prune = tiny_run.read_metrics()["prune"]
    assert 0.0 <= prune["full"]["acc"] <= 1.0 and 0.0 <= prune["chosen"]["acc"] <= 1.0
    assert prune["chosen"]["params"] <= prune["full"]["params"]
    assert prune["speedup_b32"] > 0 and math.isfinite(prune["speedup_b32"])
    assert set(prune["same_size_acc"]) >= {"mask"}
    model = keras.models.load_model(tiny_run.prune / "chosen.keras", safe_mode=True, compile=False)
    assert model.count_params() == prune["chosen"]["params"]


def test_real_bsdata_round_where_available(tiny_run: RunFolder) -> None:
    if not _has_bsdata():
        pytest.skip(f"no BSData checkout at {bsdata_source()}")
    m = tiny_run.read_metrics()
    assert m["data"]["real_available"] is True
    real = m["online_real"]
    for key in ("holdout_acc_before", "holdout_acc_after", "random_acc_after", "ceiling_acc"):
        assert 0.0 <= real[key] <= 1.0, key
    assert real["labels_used"] > 0 and (tiny_run.root / "real" / "labels.sqlite").is_file()
    assert 0.0 <= m["prune_real"]["chosen"]["acc"] <= 1.0


def test_report_opens_with_the_summary_and_hides_code(tiny_run: RunFolder) -> None:
    page = (tiny_run.root / "report.html").read_text(encoding="utf-8")
    online = tiny_run.read_metrics()["online"]
    assert page.index("olkit-summary") < page.index("Data: make or import")
    assert f"{online['holdout_acc_after']:.3f}" in page
    assert "RunFolder.create" not in page and "import_bsdata(" not in page  # code is hidden
    assert "data:image/png;base64" in page  # the figures are inside the page


def test_failure_names_notebook_and_cell_then_resume(
    tiny_run: RunFolder, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = str(tiny_run.root.parent)
    args = ["run", "--profile", "tiny", "--runs-dir", runs, "--run-id", RUN_ID]
    before = {p.name: p.stat().st_mtime_ns for p in tiny_run.root.glob("0[1-6]_*.ipynb")}

    status = main([*args, "--from", "07", "-p", "retrain_mode", "no-such-mode"])
    assert status == 1
    err = capsys.readouterr().err
    assert "07_retrain" in err and "code cell" in err and "no-such-mode" in err
    state = pipeline.read_state(tiny_run)["notebooks"]
    assert state["07_retrain"]["status"] == "failed" and "08_real_data" not in state
    partial = nbformat.read(tiny_run.root / "07_retrain.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in partial.cells for o in c.get("outputs", []))

    # the same id resumes at the notebook that failed (the real-data pruning is left out this time, to save time)
    status = main([*args, "-p", "prune_real", "false"])
    out = capsys.readouterr().out
    assert status == 0 and "resuming at 07_retrain" in out and "report:" in out
    after = {p.name: p.stat().st_mtime_ns for p in tiny_run.root.glob("0[1-6]_*.ipynb")}
    assert after == before  # notebooks 1-6 were not executed again
    state = pipeline.read_state(tiny_run)["notebooks"]
    assert all(v["status"] == "completed" for v in state.values()) and len(state) == len(pipeline.series())


def test_relabel_notebook_interactive_builds_the_grid(tiny_run: RunFolder, tmp_path: Path) -> None:
    """With interactive=True the relabel notebook shows the grid over the same session and store (no labels added)."""
    from olkit.online.labels import LabelStore

    nb_path = next(p for p in pipeline.series() if "relabel" in p.stem)
    before = len(LabelStore(tiny_run.labels_db).events())
    out = tmp_path / "relabel_interactive.ipynb"
    pipeline.execute_notebook(
        nb_path, out, {"run_dir": str(tiny_run.root), "interactive": True}, cwd=tmp_path
    )
    executed = nbformat.read(out, as_version=4)
    widgets = [
        o
        for c in executed.cells
        for o in c.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widgets, "the grid was not displayed"
    assert len(LabelStore(tiny_run.labels_db).events()) == before


def test_embedding_notebook_on_a_local_cluster(tiny_run: RunFolder, tmp_path: Path) -> None:
    """Notebook 4 with ``scheduler="local"`` on a copy of the run without its embeddings: a real 2-worker Dask
    LocalCluster fills the cache, and the session then reads the same embeddings as the in-process run had."""
    import shutil

    import numpy as np

    from olkit.online.session import OnlineSession

    run = RunFolder(shutil.copytree(tiny_run.root, tmp_path / "run"))
    shutil.rmtree(run.embeddings)
    nb = next(p for p in pipeline.series() if p.stem == "04_embedding")
    params = {**pipeline.read_state(tiny_run)["notebooks"][nb.stem]["parameters"], "run_dir": str(run.root)}
    pipeline.execute_notebook(nb, run.root / nb.name, {**params, "scheduler": "local"}, cwd=run.root)
    assert any(run.embeddings.rglob("shard-*.npz")), "the cluster wrote no shard into the run's cache"
    here, there = OnlineSession.open(tiny_run, progress=False), OnlineSession.open(run, progress=False)
    for split in ("train", "holdout", "test"):
        # other batches round differently in the last float32 bits (~1e-7); the same batches give the same bytes
        np.testing.assert_allclose(there.embeddings(split), here.embeddings(split), rtol=0, atol=1e-5)
