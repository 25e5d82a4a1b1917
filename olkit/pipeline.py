"""Headless runs of the notebook series: profiles, papermill execution into a run folder, resume and failure.

``olkit run --profile tiny|demo|full`` calls :func:`run_series`. A *profile* (``olkit/profiles/<name>.json``) is
plain data: the parameters every notebook of the series receives, with per-notebook overrides. The series is the
numbered notebooks of ``notebooks/`` (``01_data.ipynb``, ``02_conv_base.ipynb``, ...), executed in order by
papermill into ``runs/<id>/``; each notebook only receives the parameters its ``parameters`` cell declares.

The run folder keeps ``run.json``, the state of the run: for every notebook its status (``completed``,
``failed``), the parameters it ran with, a hash of its cells and its time. Re-running the same id resumes at the
first notebook that did not complete, or whose parameters or cells changed, and runs everything after it again
(later notebooks read what earlier ones wrote). A failing cell stops the run: the partial notebook stays in the run folder with the error in
it, :class:`olkit.errors.NotebookExecutionError` names the notebook and the cell, and ``olkit run`` exits
non-zero.

Examples
--------
>>> from olkit.pipeline import run_series
>>> result = run_series("tiny", run_id="try", params={"seed": 1})  # doctest: +SKIP
>>> print(result.summary)  # doctest: +SKIP
"""

from __future__ import annotations

import ast
import json
import os
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from olkit.errors import NotebookExecutionError, OlkitError
from olkit.files import atomic_write_json, utc_stamp
from olkit.paths import RunFolder, project_root, runs_root
from olkit.paths import data_root as default_data_root
from olkit.types import PathLike

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
"""Where the built-in profiles live (``<name>.json``)."""

PROFILES: tuple[str, ...] = ("tiny", "demo", "full")
"""The built-in profiles, smallest first."""

KERNEL_NAME = "python3"
"""The one kernel every notebook of the series names (checked by ``tests/unit/test_hygiene.py``)."""

_NOTEBOOK_RE = re.compile(r"^(\d{2})_[A-Za-z0-9_]+\.ipynb$")


# --------------------------------------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class Profile:
    """A named set of notebook parameters.

    Parameters
    ----------
    name : str
        The profile's name (``tiny``, ``demo``, ``full`` or a user file's stem).
    description : str
        One line on what the profile is for and how long it takes.
    parameters : dict
        Values given to every notebook that declares a parameter of that name. Strings may hold the
        placeholders ``{run_dir}``, ``{data_root}`` (olkit's ``data_bsd/`` when ``data_root`` is empty) and
        ``{project_root}``; ``null`` marks a value the user must give with ``-p`` (``mine``: ``data_root``).
    notebooks : dict
        Per-notebook overrides, keyed by notebook stem (``"02_conv_base"``) or number (``"02"``).
    budget_s : float or None
        The time the profile is meant to take on 2 CPU cores (reported, never enforced).
    """

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    notebooks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    budget_s: float | None = None

    def for_notebook(self, stem: str) -> dict[str, Any]:
        """The profile's values for one notebook: shared parameters, then its overrides."""
        values = dict(self.parameters)
        for key in (stem[:2], stem):
            values.update(self.notebooks.get(key, {}))
        return values


def load_profile(profile: str | PathLike) -> Profile:
    """Load a built-in profile by name or a user profile from a JSON file.

    Parameters
    ----------
    profile : str or path
        ``"tiny"``, ``"demo"``, ``"full"``, or the path of a JSON file with the keys of :class:`Profile`.

    Returns
    -------
    Profile

    Raises
    ------
    OlkitError
        The name is unknown or the file is not a valid profile; the message lists the built-in names.
    """
    path = Path(profile)
    if not path.suffix:
        path = PROFILES_DIR / f"{profile}.json"
    if not path.is_file():
        raise OlkitError(
            f"no profile {str(profile)!r} (looked for {path}); use one of {', '.join(PROFILES)} "
            "or the path of a JSON file with 'parameters' and 'notebooks'"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise OlkitError(f"profile {path} is not valid JSON ({exc}); fix the file") from exc
    unknown = set(doc) - {"name", "description", "parameters", "notebooks", "budget_s"}
    if unknown or not isinstance(doc.get("parameters", {}), dict):
        raise OlkitError(
            f"profile {path} has unknown keys {sorted(unknown)} or 'parameters' is not an object; "
            "allowed keys: name, description, parameters, notebooks, budget_s"
        )
    return Profile(
        name=str(doc.get("name", path.stem)),
        description=str(doc.get("description", "")),
        parameters=dict(doc.get("parameters", {})),
        notebooks={str(k): dict(v) for k, v in doc.get("notebooks", {}).items()},
        budget_s=doc.get("budget_s"),
    )


# --------------------------------------------------------------------------------------------------- notebooks
def series(notebooks_dir: PathLike | None = None) -> list[Path]:
    """The numbered notebooks of the series, in order (``NN_name.ipynb``).

    Raises
    ------
    OlkitError
        The folder holds no numbered notebook.
    """
    folder = Path(notebooks_dir) if notebooks_dir is not None else project_root() / "notebooks"
    found = sorted(p for p in folder.glob("*.ipynb") if _NOTEBOOK_RE.match(p.name))
    if not found:
        raise OlkitError(f"no numbered notebooks (NN_name.ipynb) in {folder}; run from an olkit checkout")
    return found


def resolve_notebook(name: str, notebooks: Sequence[Path]) -> int:
    """The index in ``notebooks`` of ``name`` given as ``"03"``, ``"3"``, ``"03_pruning"``, ``"pruning"`` or a file name.

    Raises
    ------
    OlkitError
        No notebook or more than one matches; the message lists the series.
    """
    key = Path(name).stem
    matches = [
        i
        for i, nb in enumerate(notebooks)
        if key in (nb.stem, nb.stem[:2], nb.stem[3:]) or (key.isdigit() and int(key) == int(nb.stem[:2]))
    ]
    if len(matches) != 1:
        names = ", ".join(nb.stem for nb in notebooks)
        raise OlkitError(f"--from {name!r} matches {len(matches)} notebooks; give one of: {names}")
    return matches[0]


def notebook_parameters(path: PathLike) -> dict[str, dict[str, Any]]:
    """The parameters a notebook declares, as papermill reads them: ``{name: {inferred_type_name, default, help}}``."""
    from papermill.inspection import inspect_notebook

    return dict(inspect_notebook(str(path)))


def coerce_value(raw: Any, type_name: str | None) -> Any:
    """Turn a command-line value (``-p NAME VALUE``) into the type the notebook declares.

    ``"3"`` becomes ``3`` for an ``int``, ``"yes"``/``"true"``/``"1"`` become ``True`` for a ``bool``; a
    ``str`` parameter keeps the text as given; anything else is read as a Python literal when it parses
    (lists, dicts, numbers, ``None``) and kept as text otherwise.

    Raises
    ------
    OlkitError
        The text cannot be read as the declared ``int``, ``float`` or ``bool``.
    """
    if not isinstance(raw, str):
        return (
            float(raw) if type_name == "float" and isinstance(raw, int) and not isinstance(raw, bool) else raw
        )
    base = (type_name or "").replace(" ", "").lower()
    text = raw.strip()
    try:
        if base == "str":
            return raw
        if base == "bool":
            if text.lower() in {"1", "true", "yes", "on"}:
                return True
            if text.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        if base == "int":
            return int(text)
        if base == "float":
            return float(text)
    except ValueError as exc:
        raise OlkitError(f"parameter value {raw!r} is not a valid {type_name}; give e.g. -p NAME 3") from exc
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return raw


# --------------------------------------------------------------------------------------------------- state
@dataclass(frozen=True)
class NotebookRun:
    """What happened to one notebook of a run."""

    name: str
    status: str  # "completed", "failed", "skipped" (already complete, resumed past)
    seconds: float
    output: Path
    error: str = ""


@dataclass(frozen=True)
class RunResult:
    """The outcome of :func:`run_series`."""

    run: RunFolder
    profile: str
    notebooks: tuple[NotebookRun, ...]
    report: Path | None
    seconds: float
    summary: Any = None  # olkit.report.RunSummary

    @property
    def ok(self) -> bool:
        return all(nb.status != "failed" for nb in self.notebooks)


def read_state(run: RunFolder) -> dict[str, Any]:
    """The run's ``run.json`` (empty skeleton when there is none yet)."""
    path = run.state
    if path.is_file():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    return {"notebooks": {}}


def _write_state(run: RunFolder, state: dict[str, Any]) -> None:
    atomic_write_json(run.state, state, sort_keys=True)


def _expand(value: Any, context: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for key, sub in context.items():
            value = value.replace("{" + key + "}", sub)
        return value
    if isinstance(value, list):
        return [_expand(v, context) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, context) for k, v in value.items()}
    return value


def plan_parameters(
    notebooks: Sequence[Path],
    profile: Profile,
    run: RunFolder,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """The parameters each notebook will receive: the profile's values and ``overrides`` it declares, typed.

    ``run_dir`` is always the run folder; ``{run_dir}``, ``{data_root}`` and ``{project_root}`` in string
    values are expanded.

    Raises
    ------
    OlkitError
        An override names a parameter no notebook declares (the message lists the declared ones).
    """
    overrides = dict(overrides or {})
    declared = {nb.stem: notebook_parameters(nb) for nb in notebooks}
    every = sorted({name for params in declared.values() for name in params})
    unknown = sorted(set(overrides) - set(every))
    if unknown:
        raise OlkitError(
            f"-p {', '.join(unknown)}: no notebook declares {'it' if len(unknown) == 1 else 'them'}; "
            f"the series' parameters are: {', '.join(every)}"
        )
    for nb in notebooks:
        if "run_dir" not in declared[nb.stem]:
            raise OlkitError(
                f"{nb} declares no run_dir parameter (or papermill cannot read its parameters cell: run "
                f"'papermill --help-notebook {nb}'); every notebook of the series must take run_dir"
            )
    plans: dict[str, dict[str, Any]] = {}
    for nb in notebooks:
        params = declared[nb.stem]
        values = {**profile.for_notebook(nb.stem), **overrides, "run_dir": str(run.root)}
        data_root = str(values.get("data_root", "") or "")
        context = {"run_dir": str(run.root), "project_root": str(project_root())}
        context["data_root"] = _expand(data_root, context) or str(default_data_root())
        chosen = {}
        for name, value in values.items():
            # a profile's null is a value the user gives with -p
            if name in params and value is None and name not in overrides:
                raise OlkitError(
                    f"profile {profile.name} needs -p {name} VALUE ({params[name].get('help') or name}), "
                    f"e.g. olkit run --profile {profile.name} -p {name} ..."
                )
            if name in params:
                chosen[name] = coerce_value(_expand(value, context), params[name].get("inferred_type_name"))
        plans[nb.stem] = chosen
    return plans


# --------------------------------------------------------------------------------------------------- running
def _failure_message(nb: Path, output: Path, exc: Exception) -> tuple[str, dict[str, Any]]:
    """Name the notebook and the cell a papermill failure happened in."""
    cell = getattr(exc, "exec_count", None)
    index = getattr(exc, "cell_index", None)
    source = str(getattr(exc, "source", "") or "")
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = str(getattr(exc, "evalue", exc))
    first = next((line for line in source.splitlines() if line.strip() and not line.startswith("#")), "")
    code_cell = _source_code_cell(output, index)
    where = f"cell In [{cell}]" if cell is not None else f"cell {index}" if index is not None else "start-up"
    if code_cell is not None:
        where += f" (code cell {code_cell} of {nb.name})"
    message = (
        f"notebook {nb.stem} failed at {where}"
        + (f" ({first.strip()[:80]})" if first else "")
        + f": {ename}: {evalue.strip()[:500]}\n"
        f"  the partial notebook with the traceback: {output}\n"
        f"  fix the cause, then re-run the same --run-id to resume at {nb.stem}"
    )
    info = {
        "cell": cell,
        "cell_index": index,
        "code_cell": code_cell,
        "source": first,
        "ename": ename,
        "evalue": evalue[:2000],
    }
    return message, info


def _source_code_cell(output: Path, index: int | None) -> int | None:
    """The 1-based number, among the source notebook's code cells, of the cell that raised in ``output``."""
    if not output.is_file():
        return None
    try:
        import nbformat

        cells = nbformat.read(output, as_version=4).cells
    except Exception:  # a half-written output: the execution count alone must do
        return None
    count = 0
    for cell in cells:
        if cell.cell_type != "code" or "injected-parameters" in cell.metadata.get("tags", []):
            continue
        count += 1
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            return count
    return None


KERNEL_ENV: dict[str, str] = {
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow's C++ INFO and WARNING lines: oneDNN, cuda "could not find", ...
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # the debugger's "frozen modules" note at every kernel start
}
"""Environment defaults of every notebook kernel ``olkit run`` starts; a value already set in the environment wins.

``TF_ENABLE_ONEDNN_OPTS`` is deliberately left as it is: it changes TensorFlow's numerics, not only its messages.
TensorFlow 2.21 prints its start-up lines (oneDNN, "Could not find cuda drivers", absl's "All log messages before
absl::InitializeLog()") before it reads ``TF_CPP_MIN_LOG_LEVEL``, so no variable silences them; they, its errors
(``failed call to cuInit`` on a machine without a GPU) and the kernel's own log (``Kernel is running over TCP without
encryption``) go to the run's kernel log (:attr:`olkit.paths.RunFolder.kernel_log`), never the console.
"""

QUIET_LOGGERS: tuple[str, ...] = (
    "papermill",
    "nbclient",
    "jupyter_client",
    "traitlets",
    "nbconvert",
    "py.warnings",
)
"""Loggers of the libraries the runner drives (and Python warnings, through ``logging.captureWarnings``): while
:func:`run_series` runs they write to the run's kernel log instead of the console."""


def kernel_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a notebook kernel starts with: ``base`` (default ``os.environ``) plus :data:`KERNEL_ENV`'s
    defaults where ``base`` does not set them."""
    env = dict(os.environ if base is None else base)
    for key, value in KERNEL_ENV.items():
        env.setdefault(key, value)
    return env


def _kernel_manager_class(output: IO[bytes] | None) -> type[Any]:
    """A jupyter_client kernel manager whose kernels get :func:`kernel_environment` and write their stdout and
    stderr (C-level too: TensorFlow's logs, the kernel's own log) to ``output`` when given."""
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):  # type: ignore[misc]
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            kw["env"] = kernel_environment(kw.get("env"))
            if output is not None:
                kw["stdout"] = output
                kw["stderr"] = output
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return QuietKernelManager


@contextmanager
def quiet_console(log_path: PathLike) -> Iterator[Path]:
    """Send the runner's library chatter to ``log_path`` while the block runs: the :data:`QUIET_LOGGERS` (at
    INFO and above, not propagated to the console) and Python warnings, which ``logging.captureWarnings`` turns
    into log records. Everything is restored afterwards; yields the log's path."""
    import logging

    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    saved = []
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # every library warning once per place, into the log
            yield path
    finally:
        logging.captureWarnings(False)
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
        handler.close()


def execute_notebook(
    notebook: PathLike,
    output: PathLike,
    parameters: Mapping[str, Any],
    *,
    cwd: PathLike | None = None,
    cell_timeout_s: float | None = None,
    progress_bar: bool = False,
    kernel_log: PathLike | None = None,
) -> float:
    """Execute one notebook with papermill; returns the seconds it took.

    The kernel starts with :func:`kernel_environment`; with ``kernel_log`` its stdout and stderr (what the cells'
    libraries print below Python: TensorFlow's C++ logs, the kernel's own warnings) are appended to that file
    under a header naming the notebook, instead of reaching the console. The cells' own output is in ``output``
    either way.

    Raises
    ------
    NotebookExecutionError
        A cell failed (or the kernel died); the message names the notebook, the cell and the partial output.
    """
    import papermill as pm

    nb = Path(notebook)
    t0 = time.perf_counter()
    with ExitStack() as stack:
        sink: IO[bytes] | None = None
        if kernel_log is not None:
            log_file = Path(kernel_log)
            log_file.parent.mkdir(parents=True, exist_ok=True)
            sink = stack.enter_context(open(log_file, "ab", buffering=0))
            sink.write(f"\n===== {nb.stem} ({utc_stamp()}): kernel stdout and stderr =====\n".encode())
        try:
            pm.execute_notebook(
                str(nb),
                str(output),
                parameters=dict(parameters),
                kernel_name=KERNEL_NAME,
                progress_bar=progress_bar,
                cwd=str(cwd) if cwd is not None else None,
                request_save_on_cell_execute=True,
                execution_timeout=cell_timeout_s,
                kernel_manager_class=_kernel_manager_class(sink),
            )
        except Exception as exc:  # papermill raises its own error for cells, others for kernel start/death
            message, info = _failure_message(nb, Path(output), exc)
            raise NotebookExecutionError(message, notebook=nb.stem, output=Path(output), **info) from exc
    return time.perf_counter() - t0


def run_series(
    profile: str | PathLike | Profile = "tiny",
    *,
    run_id: str | None = None,
    params: Mapping[str, Any] | None = None,
    from_notebook: str | None = None,
    runs_dir: PathLike | None = None,
    notebooks_dir: PathLike | None = None,
    report: bool = True,
    log: Callable[[str], None] | None = print,
) -> RunResult:
    """Execute the notebook series headless into ``runs/<run_id>/`` and write the report.

    Parameters
    ----------
    profile : str, path or Profile
        ``"tiny"`` (the test suite, under 3 minutes), ``"demo"`` (``make run``, under 15 minutes on 2 cores,
        on ``data_bsd/``), ``"full"`` (the original's sizes) or a profile file.
    run_id : str, optional
        The run folder's name under ``runs_dir``; default: the profile's name, so that running a profile again
        resumes it. Re-running an id resumes at the first notebook that did not complete or whose parameters
        changed.
    params : mapping, optional
        Parameter overrides for every notebook that declares them (``-p NAME VALUE``); strings are converted
        to the declared type.
    from_notebook : str, optional
        Start here (``"04"``, ``"04_embedding"``, ``"embedding"``) and run everything after it again; the
        notebooks before it must have completed in this run folder.
    runs_dir : path, optional
        Parent of the run folder; default :func:`olkit.paths.runs_root`.
    notebooks_dir : path, optional
        The series; default ``<project>/notebooks``.
    report : bool
        Write ``report.html`` after the last notebook.
    log : callable or None
        Where progress lines go (``print`` by default, ``None`` for silence).

    Returns
    -------
    RunResult

    Raises
    ------
    NotebookExecutionError
        A notebook failed; the run folder keeps the partial notebook and ``run.json`` marks it ``failed``.
    OlkitError
        Unknown profile, parameter or ``from_notebook``, or an earlier notebook missing for ``from_notebook``.
    """
    say = log or (lambda _msg: None)
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    notebooks = series(notebooks_dir)
    run = RunFolder.create(Path(runs_dir or runs_root()) / (run_id or prof.name))
    plans = plan_parameters(notebooks, prof, run, params)

    state = read_state(run)
    done: dict[str, Any] = state.setdefault("notebooks", {})
    start = _first_to_run(notebooks, done, plans, run)
    if from_notebook is not None:
        start = resolve_notebook(from_notebook, notebooks)
        missing = [nb.stem for nb in notebooks[:start] if done.get(nb.stem, {}).get("status") != "completed"]
        if missing:
            raise OlkitError(
                f"--from {from_notebook}: {', '.join(missing)} did not complete in {run.root}; "
                f"run without --from to resume at {missing[0]}"
            )
    state.update(profile=prof.name, run_id=run.root.name, updated=utc_stamp())
    state.setdefault("created", utc_stamp())
    _write_state(run, state)

    say(f"olkit run: profile {prof.name} -> {run.root}")
    say(f"  kernel and library messages: {run.kernel_log}")
    if start > 0:
        say(f"  resuming at {notebooks[start].stem if start < len(notebooks) else 'the report'}")
    results: list[NotebookRun] = []
    t_all = time.perf_counter()
    with quiet_console(run.kernel_log):
        for i, nb in enumerate(notebooks):
            output = run.executed(nb.name)
            if i < start:
                results.append(
                    NotebookRun(nb.stem, "skipped", float(done[nb.stem].get("seconds", 0.0)), output)
                )
                continue
            say(f"  [{i + 1}/{len(notebooks)}] {nb.stem} ...")
            done[nb.stem] = {
                "status": "running",
                "parameters": _jsonable(plans[nb.stem]),
                "source_sha256": _source_sha256(nb),
                "started": utc_stamp(),
            }
            for later in notebooks[i + 1 :]:  # later notebooks read what this one writes: they run again
                done.pop(later.stem, None)
            _write_state(run, state)
            try:
                seconds = execute_notebook(
                    nb,
                    output,
                    plans[nb.stem],
                    cwd=run.root,
                    cell_timeout_s=prof.parameters.get("cell_timeout_s"),
                    kernel_log=run.kernel_log,
                )
            except NotebookExecutionError as exc:
                done[nb.stem].update(status="failed", finished=utc_stamp(), error=str(exc), cell=exc.cell)
                _write_state(run, state)
                say(f"      failed at cell In [{exc.cell}] (kernel messages: {run.kernel_log})")
                raise
            done[nb.stem].update(status="completed", finished=utc_stamp(), seconds=round(seconds, 2))
            _write_state(run, state)
            results.append(NotebookRun(nb.stem, "completed", seconds, output))
            say(f"      done in {seconds:.1f} s")

    total = time.perf_counter() - t_all
    seconds_by_nb = {nb.stem: float(done[nb.stem].get("seconds", 0.0)) for nb in notebooks}
    run.update_metrics(
        "pipeline",
        {
            "profile": prof.name,
            "notebook_seconds": seconds_by_nb,
            "series_s": round(sum(seconds_by_nb.values()), 2),
        },
    )
    report_path = None
    summary = None
    from olkit.report import summarize, write_report

    if report:
        with quiet_console(run.kernel_log):
            report_path = write_report(run)
        say(f"  report: {report_path}")
    summary = summarize(run)
    state.update(updated=utc_stamp(), report=str(report_path) if report_path else None)
    _write_state(run, state)
    return RunResult(run, prof.name, tuple(results), report_path, total, summary)


def _first_to_run(
    notebooks: Sequence[Path], done: Mapping[str, Any], plans: Mapping[str, Any], run: RunFolder
) -> int:
    """Index of the first notebook that did not complete, lost its output or whose parameters changed."""
    for i, nb in enumerate(notebooks):
        entry = done.get(nb.stem, {})
        if (
            entry.get("status") != "completed"
            or entry.get("parameters") != _jsonable(plans[nb.stem])
            or entry.get("source_sha256", _source_sha256(nb)) != _source_sha256(nb)
            or not run.executed(nb.name).is_file()
        ):
            return i
    return len(notebooks)


def _source_sha256(notebook: Path) -> str:
    """Hash of a notebook's code and markdown (not its metadata): an edited notebook runs again on resume."""
    import hashlib

    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    text = "\n\x00".join(f"{c.cell_type}:{c.source}" for c in nb.cells)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _jsonable(values: Mapping[str, Any]) -> Any:
    return json.loads(json.dumps(values, default=str))
