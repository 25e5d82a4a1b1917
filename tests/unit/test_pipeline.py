"""olkit.pipeline and olkit.report on a small throwaway series of real notebooks executed by papermill.

The series here is two quick notebooks (no TensorFlow) that hand work through the run folder exactly as the real
series does; the real series on the tiny profile runs in tests/notebooks/test_series.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from olkit import pipeline
from olkit.cli import main
from olkit.errors import NotebookExecutionError, OlkitError
from olkit.paths import RunFolder
from olkit.report import summarize, write_report

PARAMS_01 = """run_dir: str = ""  # the run folder (olkit run fills it in)
seed: int = 0  # random seed
n: int = 5  # how many numbers to write
"""
BODY_01 = """from olkit.paths import RunFolder
import numpy as np
run = RunFolder.create(run_dir)
values = np.random.default_rng(seed).integers(0, 100, n)
(run.root / "numbers.json").write_text(str(values.tolist()))
run.update_metrics("online", {"holdout_acc_before": 0.6, "holdout_acc_after": 0.8, "labels_used": n,
    "test_size": 30, "random_acc_after": 0.7, "ceiling_acc": 0.85, "train_size": 100, "holdout_size": 30})
print("wrote", len(values))
"""
PARAMS_02 = """run_dir: str = ""  # the run folder
fail: bool = False  # raise on purpose
scale: float = 1.0  # multiplier
"""
BODY_02 = """import json
from olkit.paths import RunFolder
run = RunFolder(__import__("pathlib").Path(run_dir))
numbers = json.loads((run.root / "numbers.json").read_text())
total = sum(numbers) * scale
"""
BODY_02_FAIL = """if fail:
    raise RuntimeError("boom on purpose")
run.update_metrics("prune", {"full": {"acc": 0.9, "ms_b32": 80.0, "params": 1000},
    "chosen": {"acc": 0.92, "ms_b32": 10.0, "params": 50}, "chosen_name": "f=0.05", "rule": "fitted D"})
total
"""


def _write_nb(path: Path, params: str, *bodies: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {path.stem}\n\nWhat this step shows."))
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(b) for b in bodies]
    nbformat.write(nb, path)


@pytest.fixture
def mini_series(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _write_nb(folder / "01_make.ipynb", PARAMS_01, BODY_01)
    _write_nb(folder / "02_use.ipynb", PARAMS_02, BODY_02, BODY_02_FAIL)
    (folder / "scratch.ipynb").write_text("{}")  # not numbered: not part of the series
    return folder


@pytest.fixture
def mini_profile(tmp_path: Path) -> Path:
    path = tmp_path / "mini.json"
    path.write_text(
        json.dumps(
            {
                "name": "mini",
                "description": "test",
                "parameters": {"seed": 3, "n": 4},
                "notebooks": {"02": {"scale": 2}},
            }
        )
    )
    return path


def test_builtin_profiles_load_and_grow() -> None:
    profiles = {name: pipeline.load_profile(name) for name in pipeline.PROFILES}
    assert [p.name for p in profiles.values()] == list(pipeline.PROFILES)
    for key in ("n_train", "train_nr"):
        sizes = [int(profiles[name].parameters[key]) for name in pipeline.PROFILES]
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1], key
    full = profiles["full"].parameters
    assert full["train_nr"] == 10_000 and full["n_train"] == 23_717 and full["n_new"] == 360
    assert profiles["tiny"].budget_s is not None and profiles["tiny"].budget_s <= 180


def test_every_profile_parameter_is_declared_by_the_series() -> None:
    declared = {name for nb in pipeline.series() for name in pipeline.notebook_parameters(nb)}
    for name in pipeline.PROFILES:
        prof = pipeline.load_profile(name)
        keys = set(prof.parameters) | {k for v in prof.notebooks.values() for k in v}
        assert keys - {"cell_timeout_s"} <= declared, (name, sorted(keys - declared))


def test_unknown_profile_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(OlkitError, match="tiny, demo, full"):
        pipeline.load_profile("huge")
    bad = tmp_path / "bad.json"
    bad.write_text('{"parameters": [], "extra": 1}')
    with pytest.raises(OlkitError, match="unknown keys"):
        pipeline.load_profile(bad)


@pytest.mark.parametrize(
    ("raw", "type_name", "expected"),
    [
        ("3", "int", 3),
        ("0.25", "float", 0.25),
        (2, "float", 2.0),
        ("yes", "bool", True),
        ("False", "bool", False),
        ("007", "str", "007"),
        ("[0.1, 0.2]", "list[float]", [0.1, 0.2]),
        ("hello", None, "hello"),
        ("None", "None", None),
    ],
)
def test_coerce_value(raw: object, type_name: str | None, expected: object) -> None:
    value = pipeline.coerce_value(raw, type_name)
    assert value == expected and type(value) is type(expected)


def test_coerce_value_rejects_bad_numbers() -> None:
    with pytest.raises(OlkitError, match="not a valid int"):
        pipeline.coerce_value("three", "int")
    with pytest.raises(OlkitError, match="not a valid bool"):
        pipeline.coerce_value("maybe", "bool")


def test_resolve_notebook(mini_series: Path) -> None:
    nbs = pipeline.series(mini_series)
    assert [nb.stem for nb in nbs] == ["01_make", "02_use"]
    for key in ("02", "2", "02_use", "use", "02_use.ipynb"):
        assert pipeline.resolve_notebook(key, nbs) == 1
    with pytest.raises(OlkitError, match="01_make, 02_use"):
        pipeline.resolve_notebook("07", nbs)


def test_plan_parameters_types_and_placeholders(
    mini_series: Path, mini_profile: Path, tmp_path: Path
) -> None:
    run = RunFolder.create(tmp_path / "runs" / "r")
    nbs = pipeline.series(mini_series)
    plans = pipeline.plan_parameters(nbs, pipeline.load_profile(mini_profile), run, {"n": "7", "fail": "no"})
    assert plans["01_make"] == {"run_dir": str(run.root), "seed": 3, "n": 7}
    assert plans["02_use"] == {"run_dir": str(run.root), "fail": False, "scale": 2.0}
    with pytest.raises(OlkitError, match="no notebook declares"):
        pipeline.plan_parameters(nbs, pipeline.load_profile(mini_profile), run, {"nn": 1})


@pytest.mark.slow
def test_run_fail_resume_and_report(mini_series: Path, mini_profile: Path, tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    args = ["run", "--profile", str(mini_profile), "--runs-dir", str(runs), "--run-id", "r1"]

    # a failing cell stops the run, names notebook and cell, keeps the partial notebook, exits non-zero
    assert main([*args, "-p", "fail", "true"]) == 1
    err = capsys.readouterr().err
    assert "02_use" in err and "In [4] (code cell 3 of 02_use.ipynb)" in err and "boom on purpose" in err
    run = RunFolder(runs / "r1")
    partial = nbformat.read(run.root / "02_use.ipynb", as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in partial.cells for o in c.get("outputs", []))
    state = pipeline.read_state(run)
    assert state["notebooks"]["01_make"]["status"] == "completed"
    assert state["notebooks"]["02_use"]["status"] == "failed" and state["notebooks"]["02_use"]["cell"] == 4
    assert not (run.root / "report.html").exists()
    first_mtime = (run.root / "01_make.ipynb").stat().st_mtime_ns

    # re-running the id resumes at the notebook that failed; the completed one is not executed again
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        "resuming at 02_use" in out and "report:" in out and "0.600 -> 0.800" in out and "8.0x faster" in out
    )
    assert (run.root / "01_make.ipynb").stat().st_mtime_ns == first_mtime
    done = nbformat.read(run.root / "02_use.ipynb", as_version=4)
    numbers = json.loads((run.root / "numbers.json").read_text())
    assert done.cells[-1].outputs[0]["data"]["text/plain"] == repr(sum(numbers) * 2.0)
    assert len(numbers) == 4  # the profile's n reached notebook 01

    # nothing left to do: a re-run executes nothing and still reports
    result = pipeline.run_series(
        mini_profile, run_id="r1", runs_dir=runs, notebooks_dir=mini_series, log=None
    )
    assert [nb.status for nb in result.notebooks] == ["skipped", "skipped"]

    # a changed parameter re-runs from the first notebook that receives it
    result = pipeline.run_series(
        mini_profile, run_id="r1", runs_dir=runs, notebooks_dir=mini_series, params={"n": 6}, log=None
    )
    assert [nb.status for nb in result.notebooks] == ["completed", "completed"]
    assert len(json.loads((run.root / "numbers.json").read_text())) == 6

    # an edited notebook runs again (and everything after it)
    nb = nbformat.read(mini_series / "02_use.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("A note added later."))
    nbformat.write(nb, mini_series / "02_use.ipynb")
    result = pipeline.run_series(
        mini_profile, run_id="r1", runs_dir=runs, notebooks_dir=mini_series, params={"n": 6}, log=None
    )
    assert [nb.status for nb in result.notebooks] == ["skipped", "completed"]

    # --from needs the earlier notebooks complete in this run folder
    with pytest.raises(OlkitError, match="did not complete"):
        pipeline.run_series(
            mini_profile, run_id="r2", runs_dir=runs, notebooks_dir=mini_series, from_notebook="02"
        )
    result = pipeline.run_series(
        mini_profile,
        run_id="r1",
        runs_dir=runs,
        notebooks_dir=mini_series,
        from_notebook="use",
        log=None,
        report=False,
    )
    assert [nb.status for nb in result.notebooks] == ["skipped", "completed"]


@pytest.fixture(autouse=True)
def _series_dir(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Point the CLI's default series at the mini series for the tests that use it."""
    if "mini_series" in request.fixturenames:
        folder = request.getfixturevalue("mini_series")
        original = pipeline.series
        monkeypatch.setattr(pipeline, "series", lambda notebooks_dir=None: original(notebooks_dir or folder))


def test_failure_error_carries_notebook_and_cell(mini_series: Path, tmp_path: Path) -> None:
    with pytest.raises(NotebookExecutionError) as info:
        pipeline.execute_notebook(
            mini_series / "02_use.ipynb", tmp_path / "out.ipynb", {"run_dir": str(tmp_path / "nowhere")}
        )
    exc = info.value
    assert exc.notebook == "02_use" and exc.code_cell == 2 and exc.ename == "FileNotFoundError"
    assert "numbers.json" in str(exc) and (tmp_path / "out.ipynb").is_file()


def test_summary_and_report(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path / "run")
    run.update_metrics(
        "online",
        {
            "holdout_acc_before": 0.7,
            "holdout_acc_after": 0.86,
            "labels_used": 60,
            "test_size": 180,
            "random_acc_after": 0.78,
            "ceiling_acc": 0.9,
            "train_size": 10000,
            "holdout_size": 180,
        },
    )
    run.update_metrics(
        "prune",
        {
            "backbone": "VGG16-like",
            "full": {"acc": 0.946, "ms_b32": 115.3, "params": 1_000_000},
            "chosen": {"acc": 0.974, "ms_b32": 11.4, "params": 67_000},
            "chosen_name": "f=0.21",
        },
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    code = nbformat.v4.new_code_cell("secret_source_line = 1")
    code.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="tqdm noise 50%|#####"),
        nbformat.v4.new_output("stream", name="stdout", text="visible result 42"),
    ]
    params = nbformat.v4.new_code_cell("hidden_param = 1")
    params.metadata["tags"] = ["parameters"]
    params.outputs = [nbformat.v4.new_output("stream", name="stdout", text="param echo")]
    nb.cells = [nbformat.v4.new_markdown_cell("# Step one\n\nLook at the curve."), params, code]
    nbformat.write(nb, run.root / "01_step.ipynb")

    summary = summarize(run)
    text = str(summary)
    assert "0.700 -> 0.860 with 60 labels (33% of the test set)" in text
    assert "gap to ceiling recovered: 80%" in text
    assert "10.1x faster" in text and "+2.8 points" in text and "6.7% of the parameters" in text

    path = write_report(run)
    page = path.read_text()
    assert path == run.root / "report.html"
    assert page.index("olkit-summary") < page.index("Step one")
    assert "visible result 42" in page and "Look at the curve" in page
    assert "secret_source_line" not in page and "tqdm noise" not in page and "param echo" not in page
    assert "CC BY-SA 4.0" in page


def test_cli_parses_run_and_lab() -> None:
    from olkit.cli import build_parser

    args = build_parser().parse_args(
        ["run", "--profile", "tiny", "-p", "budget", "10", "-p", "seed", "2", "--run-id", "x", "--from", "04"]
    )
    with pytest.raises(SystemExit):
        main(["run", "--profile", "tiny", "--bogus"])
    assert (args.profile, args.run_id, args.from_notebook) == ("tiny", "x", "04")
    assert dict(args.param) == {"budget": "10", "seed": "2"}
    lab, extra = build_parser().parse_known_args(["lab", "--port", "8899", "--no-browser"])
    assert lab.command == "lab" and extra == ["--port", "8899", "--no-browser"]
    assert (
        build_parser().parse_args(["data", "--n-train", "5"]).n_train == 5
    )  # the lead's command still parses


# ----------------------------------------------------------------------------------------------------------------
# quiet console: the kernels' environment and output, the libraries' logging and warnings
# ----------------------------------------------------------------------------------------------------------------

NOISY = """import os, sys, warnings
os.write(2, b"E0000 cuda_dnn.cc:8310] Unable to register cuDNN factory (C-level stderr)\\n")
os.write(1, b"C-level stdout line\\n")
print("cell says hello")
print(os.environ.get("TF_CPP_MIN_LOG_LEVEL"), os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset"))
"""


def test_kernel_environment_defaults_and_what_it_leaves_alone() -> None:
    env = pipeline.kernel_environment({"PATH": "/bin", "TF_ENABLE_ONEDNN_OPTS": "1"})
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "2"  # TensorFlow's INFO and WARNING C++ lines (oneDNN, cuda)
    assert env["PYDEVD_DISABLE_FILE_VALIDATION"] == "1"
    assert env["TF_ENABLE_ONEDNN_OPTS"] == "1" and env["PATH"] == "/bin"  # numerics untouched, the rest kept
    assert "TF_ENABLE_ONEDNN_OPTS" not in pipeline.KERNEL_ENV
    assert (
        pipeline.kernel_environment({"TF_CPP_MIN_LOG_LEVEL": "0"})["TF_CPP_MIN_LOG_LEVEL"] == "0"
    )  # user wins


def test_kernel_output_goes_to_the_log_not_the_console(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    nb = tmp_path / "01_noisy.ipynb"
    _write_nb(nb, 'run_dir: str = ""  # unused\n', NOISY)
    log = RunFolder(tmp_path / "run").kernel_log
    pipeline.execute_notebook(nb, tmp_path / "out.ipynb", {}, cwd=tmp_path, kernel_log=log)
    console = capfd.readouterr()
    assert "cuDNN" not in console.err + console.out and "C-level stdout" not in console.err + console.out
    assert "without encryption" not in console.err  # the kernel's own start-up warning
    text = log.read_text(encoding="utf-8")
    assert (
        "===== 01_noisy" in text
        and "Unable to register cuDNN factory" in text
        and "C-level stdout line" in text
    )
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in out.cells if c.cell_type == "code" for o in c.outputs)
    assert "cell says hello" in printed  # the cells' own output stays in the executed notebook
    expected_level = __import__("os").environ.get("TF_CPP_MIN_LOG_LEVEL", "2")
    assert f"{expected_level} " in printed  # the kernel got the environment


def test_quiet_console_sends_library_logging_and_warnings_to_the_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import logging
    import warnings

    log = tmp_path / "logs" / "kernels.log"
    before = [(logging.getLogger(n).level, logging.getLogger(n).propagate) for n in pipeline.QUIET_LOGGERS]
    with pipeline.quiet_console(log) as path:
        assert path == log
        logging.getLogger("papermill").warning("Black is not installed, parameters wont be formatted")
        logging.getLogger("traitlets").info("Kernel is running over TCP without encryption")
        warnings.warn("a library's DeprecationWarning", DeprecationWarning, stacklevel=1)
    console = capfd.readouterr()
    assert "Black" not in console.err and "DeprecationWarning" not in console.err
    text = log.read_text(encoding="utf-8")
    assert "papermill WARNING: Black is not installed" in text and "traitlets INFO" in text
    assert "a library's DeprecationWarning" in text
    after = [(logging.getLogger(n).level, logging.getLogger(n).propagate) for n in pipeline.QUIET_LOGGERS]
    assert after == before  # restored
    logging.getLogger("papermill").warning("after the block")
    assert "after the block" not in log.read_text(encoding="utf-8")


def test_run_series_prints_only_its_progress(
    mini_series: Path, mini_profile: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    result = pipeline.run_series(mini_profile, run_id="quiet", runs_dir=tmp_path / "runs", report=False)
    console = capfd.readouterr()
    lines = [ln for ln in (console.out + console.err).splitlines() if ln.strip()]
    assert lines[0].startswith("olkit run: profile mini")
    assert all(ln.startswith(("olkit run:", "  ")) for ln in lines), lines  # olkit's own lines only
    assert any("kernel and library messages" in ln and str(result.run.kernel_log) in ln for ln in lines)
    assert "===== 01_make" in result.run.kernel_log.read_text(encoding="utf-8")
