"""The HTML report of a run: a summary first, then every executed notebook with its code hidden.

:func:`summarize` reads ``metrics.json`` of a run folder (the sections the notebooks merge into it with
:meth:`olkit.paths.RunFolder.update_metrics`) and ``run.json`` (the runner's state) into a :class:`RunSummary`:
holdout accuracy before and after the online round, labels used, the random and ceiling controls, the same on the
real BSData patches, and the chosen pruned model's speed-up and accuracy. :func:`write_report` renders it, followed
by the executed notebooks (prose, tables and figures; no code, no progress bars), into ``report.html`` with
nbconvert.

The metric sections it reads (keys as in ``../shared/BENCH.md``):

``online`` and ``online_real``
    ``holdout_acc_before``, ``holdout_acc_after``, ``labels_used``, ``random_acc_after``, ``ceiling_acc``,
    ``train_size``, ``holdout_size``, ``test_size``, ``round_seconds`` (optional: ``strategy``, ``mode``).
``prune`` and ``prune_real``
    ``full`` and ``chosen`` (each ``acc``, ``ms_b1``, ``ms_b32``, ``params``, ``gflop``), ``speedup_b32``,
    ``acc_delta`` (optional: ``chosen_name``, ``rule``, ``backbone``, ``same_size_acc``).
``pipeline``
    ``profile``, ``notebook_seconds`` (written by :func:`olkit.pipeline.run_series`).
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from olkit.paths import RunFolder
from olkit.types import PathLike

_HIDDEN_TAGS = {"parameters", "injected-parameters", "remove_cell", "report-hide"}
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _as_run(run: RunFolder | PathLike) -> RunFolder:
    return run if isinstance(run, RunFolder) else RunFolder(Path(run).resolve())


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class OnlineFigures:
    """One online-learning round's headline figures (synthetic or real data)."""

    title: str
    before: float | None
    after: float | None
    labels_used: int | None
    test_size: int | None
    random_after: float | None
    ceiling: float | None
    train_size: int | None = None
    holdout_size: int | None = None
    round_seconds: float | None = None

    @property
    def gap_recovered(self) -> float | None:
        """Share of the gap between before and the ceiling that the round closed (None if no gap)."""
        if None in (self.before, self.after, self.ceiling):
            return None
        gap = float(self.ceiling) - float(self.before)  # type: ignore[arg-type]
        # only meaningful when labelling everything would help: with no gap (or a negative one) there is none
        return None if gap < 1e-9 else (float(self.after) - float(self.before)) / gap  # type: ignore[arg-type]

    @property
    def gap_text(self) -> str:
        """:attr:`gap_recovered` as a percentage, flagged where the round beat the ceiling (a noisy control)."""
        gap = self.gap_recovered
        if gap is None:
            return "n/a"
        return f"{gap:.0%}" + (" (above the ceiling)" if gap > 1 else "")

    @classmethod
    def from_metrics(cls, title: str, m: dict[str, Any]) -> OnlineFigures:
        def _int(key: str) -> int | None:
            v = _num(m.get(key))
            return None if v is None else int(v)

        return cls(
            title=title,
            before=_num(m.get("holdout_acc_before")),
            after=_num(m.get("holdout_acc_after")),
            labels_used=_int("labels_used"),
            test_size=_int("test_size"),
            random_after=_num(m.get("random_acc_after")),
            ceiling=_num(m.get("ceiling_acc")),
            train_size=_int("train_size"),
            holdout_size=_int("holdout_size"),
            round_seconds=_num(m.get("round_seconds")),
        )

    def lines(self) -> list[str]:
        def f(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.3f}"

        sizes = "/".join(
            str(v) if v is not None else "?" for v in (self.train_size, self.holdout_size, self.test_size)
        )
        share = (
            f" ({self.labels_used / self.test_size:.0%} of the test set)"
            if self.labels_used is not None and self.test_size
            else ""
        )
        gap = self.gap_recovered
        return [
            f"{self.title} (train/holdout/test {sizes}):",
            f"  holdout accuracy {f(self.before)} -> {f(self.after)} with {self.labels_used} labels{share}",
            f"  random, same labels: {f(self.random_after)}; ceiling, all test labels: {f(self.ceiling)}"
            + (f"; gap to ceiling recovered: {self.gap_text}" if gap is not None else ""),
        ]


@dataclass(frozen=True)
class PruneFigures:
    """The chosen pruned model against the full one."""

    title: str
    full_acc: float | None
    chosen_acc: float | None
    speedup_b32: float | None
    params_share: float | None
    chosen_name: str = ""
    rule: str = ""
    full_ms_b32: float | None = None
    chosen_ms_b32: float | None = None
    same_size: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_metrics(cls, title: str, m: dict[str, Any]) -> PruneFigures:
        full, chosen = dict(m.get("full", {})), dict(m.get("chosen", {}))
        fp, cp = _num(full.get("params")), _num(chosen.get("params"))
        speed = _num(m.get("speedup_b32"))
        fms, cms = _num(full.get("ms_b32")), _num(chosen.get("ms_b32"))
        if speed is None and fms and cms:
            speed = fms / cms
        return cls(
            title=title,
            full_acc=_num(full.get("acc")),
            chosen_acc=_num(chosen.get("acc")),
            speedup_b32=speed,
            params_share=(cp / fp) if fp and cp is not None else None,
            chosen_name=str(m.get("chosen_name", "")),
            rule=str(m.get("rule", "")),
            full_ms_b32=fms,
            chosen_ms_b32=cms,
            same_size={
                str(k): float(v) for k, v in dict(m.get("same_size_acc", {})).items() if _num(v) is not None
            },
        )

    def same_size_text(self) -> str:
        """``mask 0.680 / l1 0.450 / random 0.450``: accuracy of each pruning method at the chosen size."""
        order = {"mask": 0, "l1": 1, "random": 2}
        keys = sorted(self.same_size, key=lambda k: (order.get(k, 9), k))
        return " / ".join(f"{k} {self.same_size[k]:.3f}" for k in keys)

    def lines(self) -> list[str]:
        def f(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.3f}"

        delta = (
            f" ({(self.chosen_acc - self.full_acc) * 100:+.1f} points)"
            if self.chosen_acc is not None and self.full_acc is not None
            else ""
        )
        share = f", {self.params_share:.1%} of the parameters" if self.params_share is not None else ""
        name = f" {self.chosen_name}" if self.chosen_name else ""
        rule = f" [{self.rule}]" if self.rule else ""
        speed = "n/a" if self.speedup_b32 is None else f"{self.speedup_b32:.1f}x"
        out = [
            f"{self.title}: chosen{name}{rule}",
            f"  {speed} faster at batch 32, accuracy {f(self.chosen_acc)} vs {f(self.full_acc)} full{delta}{share}",
        ]
        if len(self.same_size) > 1:
            out.append(f"  same size, accuracy: {self.same_size_text()}")
        return out


@dataclass(frozen=True)
class RunSummary:
    """What a run achieved, read from its folder; ``str()`` gives the lines ``olkit run`` prints."""

    run_dir: Path
    profile: str
    online: tuple[OnlineFigures, ...] = ()
    prune: tuple[PruneFigures, ...] = ()
    notebook_seconds: dict[str, float] = field(default_factory=dict)
    notebook_status: dict[str, str] = field(default_factory=dict)
    report: Path | None = None
    data: str = ""  # the data the run used: its name, root and manifest hash
    notes: tuple[str, ...] = ()  # what was skipped, and why
    curves: tuple[str, ...] = ()  # one line per learning curve over rounds (metrics "online_curve")

    def lines(self) -> list[str]:
        total = sum(self.notebook_seconds.values())
        out = [
            f"olkit run {self.profile}: {self.run_dir} ({len(self.notebook_seconds)} notebooks, {total:.0f} s)"
        ]
        if self.data:
            out.append(f"data: {self.data}")
        for fig in self.online:
            out += fig.lines()
        out.extend(f"  {c}" for c in self.curves)
        for pfig in self.prune:
            out += pfig.lines()
        if not self.online and not self.prune:
            out.append("  no online-learning or pruning figures in metrics.json yet")
        out.extend(f"note: {n}" for n in self.notes)
        failed = [k for k, v in self.notebook_status.items() if v != "completed"]
        if failed:
            out.append(f"  not completed: {', '.join(failed)}")
        if self.report is not None:
            out.append(f"report: {self.report}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def to_html(self) -> str:
        """The summary as an HTML block (the report's first section)."""
        esc = html.escape

        def f(v: float | None, fmt: str = "{:.3f}") -> str:
            return "n/a" if v is None else fmt.format(v)

        parts = [
            "<style>.olkit-summary table{border-collapse:collapse;margin:0.4em 0 0.8em}"
            ".olkit-summary th,.olkit-summary td{padding:3px 10px;text-align:right}"
            ".olkit-summary th:first-child,.olkit-summary td:first-child{text-align:left}"
            ".olkit-summary{border-left:4px solid #2b7bba;padding-left:1em;margin-bottom:2em}</style>",
            '<div class="olkit-summary">',
            f"<h1>olkit run <code>{esc(self.profile)}</code></h1>",
            f"<p>Run folder <code>{esc(str(self.run_dir))}</code>; written "
            f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}.</p>",
        ]
        if self.data:
            parts.append(f"<p>Data: {esc(self.data)}.</p>")
        parts.extend(f"<p><b>Note:</b> {esc(n)}</p>" for n in self.notes)
        if self.online:
            parts.append("<h2>Online learning with an expert in the loop</h2>")
            parts.append(
                "<table><thead><tr><th>data</th><th>train / holdout / test</th><th>holdout before</th>"
                "<th>holdout after</th><th>labels used</th><th>random, same labels</th><th>ceiling</th>"
                "<th>gap recovered</th></tr></thead><tbody>"
            )
            for o in self.online:
                sizes = " / ".join(
                    str(v) if v is not None else "?" for v in (o.train_size, o.holdout_size, o.test_size)
                )
                used = "n/a" if o.labels_used is None else str(o.labels_used)
                if o.labels_used is not None and o.test_size:
                    used += f" ({o.labels_used / o.test_size:.0%})"
                parts.append(
                    f"<tr><td>{esc(o.title)}</td><td>{sizes}</td><td>{f(o.before)}</td>"
                    f"<td><b>{f(o.after)}</b></td><td>{used}</td><td>{f(o.random_after)}</td>"
                    f"<td>{f(o.ceiling)}</td><td>{esc(o.gap_text)}</td></tr>"
                )
            parts.append("</tbody></table>")
            parts.append(
                "<p>Accuracy on the holdout half of the new patterns, before and after one round in which the "
                "expert labelled the most uncertain test images. <i>Random</i> labels the same number of test "
                "images picked at random; the <i>ceiling</i> retrains with every test label.</p>"
            )
        parts.extend(f"<p>{esc(c)}</p>" for c in self.curves)
        if self.prune:
            parts.append("<h2>Mask-guided (Finicky) filter pruning</h2>")
            parts.append(
                "<table><thead><tr><th>backbone</th><th>chosen</th><th>speed-up, batch 32</th>"
                "<th>accuracy full</th><th>accuracy chosen</th><th>parameters kept</th>"
                "<th>same size: mask / L1 / random</th></tr></thead><tbody>"
            )
            for p in self.prune:
                parts.append(
                    f"<tr><td>{esc(p.title)}</td><td>{esc(p.chosen_name or 'n/a')} {esc(p.rule)}</td>"
                    f"<td><b>{f(p.speedup_b32, '{:.1f}×')}</b></td><td>{f(p.full_acc)}</td>"
                    f"<td><b>{f(p.chosen_acc)}</b></td><td>{f(p.params_share, '{:.1%}')}</td>"
                    f"<td>{esc(p.same_size_text()) if len(p.same_size) > 1 else 'n/a'}</td></tr>"
                )
            parts.append("</tbody></table>")
            parts.append(
                "<p>The chosen model against the full one, timed at batch 32 (median after warm-up), and the "
                "accuracy of mask-guided, L1-norm and random pruning at the chosen model's size: where the mask "
                "column leads, the defect masks picked better filters.</p>"
            )
        if self.notebook_seconds:
            parts.append(
                "<h2>Notebooks</h2><table><thead><tr><th>notebook</th><th>status</th><th>seconds</th></tr>"
            )
            parts.append("</thead><tbody>")
            for name, secs in self.notebook_seconds.items():
                status = self.notebook_status.get(name, "")
                parts.append(
                    f'<tr><td><a href="#{esc(name)}">{esc(name)}</a></td><td>{esc(status)}</td><td>{secs:.1f}</td></tr>'
                )
            parts.append("</tbody></table>")
        titles = [o.title for o in self.online] + [p.title for p in self.prune]
        # the attribution wherever BSData (may have) served
        if not self.data or any("BSData" in t for t in titles):
            parts.append(
                "<p><small>Real-data figures use patches derived from BSData (Schlagenhauf, Landwehr et al., "
                "Data in Brief 39 (2021) 107643, doi 10.1016/j.dib.2021.107643), licensed CC BY-SA 4.0.</small></p>"
            )
        parts.append("</div>")
        return "\n".join(parts)


def expert_answers_text(run: RunFolder) -> str:
    """How the expert answered the model's proposals in the run's label store (accepted, changed, unsure and how
    often the model was overruled: :meth:`olkit.online.labels.LabelStore.answer_counts`); ``""`` when none."""
    if not run.labels_db.is_file():
        return ""
    from olkit.online.labels import LabelStore

    with LabelStore(run.labels_db) as store:
        c = store.answer_counts()
    if not any(c[k] for k in ("accepted", "changed", "unsure")):
        return ""
    overruled = "" if c["overruled"] is None else f" (the expert overruled the model on {c['overruled']:.0%})"
    return (
        f"expert's answers: {c['accepted']} predictions accepted, {c['changed']} changed{overruled}, "
        f"{c['unsure']} unsure (left out of training)"
    )


def summarize(run: RunFolder | PathLike) -> RunSummary:
    """Read a run folder's ``metrics.json`` and ``run.json`` into a :class:`RunSummary`."""
    run = _as_run(run)
    metrics = run.read_metrics()
    state_path = run.state
    state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {}
    nbs = state.get("notebooks", {})
    data, second = dict(metrics.get("data", {})), dict(metrics.get("second", {}))
    # names come from the data (notebooks 1 and 8 record them); the old titles only for runs that recorded none
    names = {
        "online": str(data.get("name") or "synthetic BSD patches"),
        "online_real": str(second.get("name") or "real BSData patches"),
    }
    online = tuple(
        OnlineFigures.from_metrics(names[key], metrics[key])
        for key in ("online", "online_real")
        if isinstance(metrics.get(key), dict) and "holdout_acc_before" in metrics[key]
    )
    skipped = {
        "prune": str(metrics.get("prune", {}).get("skipped") or ""),
        "prune_real": str(second.get("prune_skipped") or "") if second.get("available") else "",
    }
    prune = tuple(
        PruneFigures.from_metrics(str(metrics[key].get("backbone", title)), metrics[key])
        for key, title in (("prune", "crack family"), ("prune_real", "BSData pitting"))
        if isinstance(metrics.get(key), dict) and "chosen" in metrics[key] and not skipped[key]
    )
    notes = []
    if skipped["prune"]:
        notes.append(f"pruning for {metrics['prune'].get('data_name', names['online'])}: {skipped['prune']}")
    if second.get("skipped"):
        notes.append(f"second data set: {second['skipped']}")
    elif skipped["prune_real"]:
        notes.append(f"pruning for {names['online_real']}: skipped ({skipped['prune_real']})")
    notes.extend(f"{names['online']}: {n}" for n in data.get("notes", []))
    answered = expert_answers_text(run)
    if answered:
        notes.append(answered)
    described = ""
    if data.get("name"):
        sha = str(data.get("manifest_sha256", ""))[:16]
        whose = "" if data.get("owned", True) else ", yours, read-only"
        described = f"{data['name']} ({data.get('root', '')}{whose}; manifest sha256 {sha or 'n/a'})"
    report = run.report
    return RunSummary(
        run_dir=run.root,
        profile=str(state.get("profile", metrics.get("pipeline", {}).get("profile", run.root.name))),
        online=online,
        prune=prune,
        notebook_seconds={k: float(v.get("seconds", 0.0)) for k, v in sorted(nbs.items())},
        notebook_status={k: str(v.get("status", "")) for k, v in sorted(nbs.items())},
        report=report if report.is_file() else None,
        data=described,
        notes=tuple(notes),
        curves=tuple(
            curve_text(metrics[key], title=title)
            for key, title in (("online_curve", names["online"]), ("online_curve_real", names["online_real"]))
            if isinstance(metrics.get(key), dict) and metrics[key].get("labels")
        ),
    )


def _clean_cell(cell: Any) -> Any | None:
    """A copy of ``cell`` fit for the report, or None to drop it (parameter cells, noise-only outputs)."""
    tags = set(cell.get("metadata", {}).get("tags", []))
    if tags & _HIDDEN_TAGS:
        return None
    cell = copy.deepcopy(cell)
    if cell.get("cell_type") != "code":
        return cell
    kept = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            continue  # progress bars and library warnings
        data = out.get("data")
        if data is not None and _WIDGET_MIME in data:
            data = {k: v for k, v in data.items() if k != _WIDGET_MIME}
            if set(data) <= {"text/plain"}:
                continue  # a widget has nothing to show in a static page
            out["data"] = data
        kept.append(out)
    cell["outputs"] = kept
    if not kept:
        return None
    return cell


def build_report_notebook(run: RunFolder | PathLike, *, summary: RunSummary | None = None) -> Any:
    """One notebook made of the summary and every executed notebook of the run, in order."""
    import nbformat

    run = _as_run(run)
    summary = summary or summarize(run)
    book = nbformat.v4.new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    head = nbformat.v4.new_code_cell(source="")
    head.outputs = [nbformat.v4.new_output("display_data", data={"text/html": summary.to_html()})]
    book.cells.append(head)
    for path in sorted(run.root.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        status = summary.notebook_status.get(path.stem, "")
        anchor = nbformat.v4.new_markdown_cell(
            f'<a id="{path.stem}"></a>\n\n---\n\n*Notebook `{path.name}`*'
            + ("" if status in ("", "completed") else f" — **{status}**: read its last cells for the error")
        )
        book.cells.append(anchor)
        for cell in nb.cells:
            kept = _clean_cell(cell)
            if kept is not None:
                book.cells.append(kept)
    return book


def write_report(run: RunFolder | PathLike, *, out: PathLike | None = None) -> Path:
    """Render the run's report as one self-contained HTML file (code hidden) and return its path.

    Parameters
    ----------
    run : RunFolder or path
        The run folder (executed notebooks ``NN_*.ipynb``, ``metrics.json``, ``run.json``).
    out : path, optional
        Where to write; default ``<run>/report.html``.
    """
    from nbconvert import HTMLExporter

    run = _as_run(run)
    target = Path(out) if out is not None else run.report
    summary = summarize(run)
    summary = RunSummary(**{**summary.__dict__, "report": target})
    book = build_report_notebook(run, summary=summary)
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(book)
    body = body.replace(
        "<title>Notebook</title>", f"<title>olkit run {html.escape(summary.profile)}</title>", 1
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    return target


# --------------------------------------------------------------------------------------------------- figures
# The notebooks' figures that no single module owns; each returns the matplotlib Figure (closed in pyplot: show it
# with ``display(fig)``) and saves it when asked.


def _save(fig: Any, path: PathLike | None) -> Any:
    """Save ``fig`` when asked and detach it from pyplot, so it shows exactly once, where ``display(fig)`` puts it
    (whatever backend is active: some libraries switch a kernel to Agg)."""
    import matplotlib.pyplot as plt

    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return fig


def plot_uncertainty(
    predictions: Any,
    *,
    threshold: float = 0.05,
    selected: Any = None,
    bins: int = 40,
    path: PathLike | None = None,
) -> Any:
    """Histogram of the test images' probability of the first class, with the original's band shaded.

    Parameters
    ----------
    predictions : pandas.DataFrame
        :meth:`olkit.online.session.OnlineSession.predictions` rows (``p_<class>`` columns, ``label``, ``sha256``).
    threshold : float
        The band ``t < p(class 0) < 1 - t`` (0.01 in the original code, 0.05 in its README).
    selected : iterable of sha256, optional
        Images picked for the expert: drawn as ticks under the histogram.
    path : path, optional
        Save the figure here too.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    cols = [c for c in predictions.columns if str(c).startswith("p_")]
    first = cols[0]
    p = predictions[first].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    labels = predictions["label"].astype(str) if "label" in predictions else None
    edges = np.linspace(0, 1, bins + 1).tolist()
    if labels is not None and (labels != "").any():
        for cls in sorted(set(labels) - {""}):
            ax.hist(p[labels.to_numpy() == cls], bins=edges, alpha=0.6, label=f"true class {cls}")
    else:
        ax.hist(p, bins=edges, alpha=0.7, label="test images")
    ax.axvspan(threshold, 1 - threshold, color="orange", alpha=0.12, label=f"band t={threshold:g}")
    if selected is not None:
        chosen = predictions["sha256"].isin(set(selected)).to_numpy()
        ax.plot(
            p[chosen], np.zeros(chosen.sum()), "|", color="black", ms=14, label=f"selected ({chosen.sum()})"
        )
    ax.set_xlabel(f"{first} (model's probability of class {first[2:]})")
    ax.set_ylabel("test images")
    ax.set_yscale("symlog")
    ax.legend(fontsize=8, loc="upper center")
    ax.set_title("How sure the classifier is on the new patterns")
    fig.tight_layout()
    return _save(fig, path)


def plot_embedding_map(
    embeddings: Any,
    *,
    colour_by: dict[str, Any],
    method: str = "pca",
    seed: int = 0,
    path: PathLike | None = None,
) -> Any:
    """A 2-D map of embeddings, one panel per colouring (e.g. ``{"class": labels, "set": splits}``).

    ``method`` is ``"pca"`` (fast, linear) or ``"tsne"`` (scikit-learn's t-SNE: local neighbourhoods, slower).
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(np.asarray(embeddings, dtype=np.float32))
    if method == "tsne":
        xy = TSNE(
            n_components=2, random_state=seed, perplexity=min(30.0, max(2.0, (len(x) - 1) / 3))
        ).fit_transform(x)
    elif method == "pca":
        xy = PCA(n_components=2, random_state=seed).fit_transform(x)
    else:
        raise ValueError(f"method={method!r}: use 'pca' or 'tsne'")
    fig, axes = plt.subplots(1, len(colour_by), figsize=(5.2 * len(colour_by), 4.4), squeeze=False)
    for ax, (title, values) in zip(axes[0], colour_by.items()):
        values = np.asarray(values).astype(str)
        for v in sorted(set(values)):
            keep = values == v
            ax.scatter(xy[keep, 0], xy[keep, 1], s=8, alpha=0.6, label=f"{v} ({keep.sum()})")
        ax.set_title(f"coloured by {title}")
        ax.legend(fontsize=8, markerscale=2)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Embeddings, {method.upper()} to 2-D")
    fig.tight_layout()
    return _save(fig, path)


def plot_round(result: Any, *, title: str = "", path: PathLike | None = None, before: Any = None) -> Any:
    """Bars of a round's holdout accuracy: before, after, random with the same labels, ceiling.

    ``before`` (a :class:`~olkit.online.session.Metrics`, e.g. the first round's ``before`` from
    :func:`first_round`) stands in for the round's own before: after several rounds, the train-only classifier
    against every label so far."""
    import matplotlib.pyplot as plt

    draws = list(result.random_accuracies)
    rnd_name = f"random, mean of {len(draws)}\n(same labels)" if len(draws) > 1 else "random\n(same labels)"
    names = [
        "before" if before is None else "before\n(train only)",
        "after",
        rnd_name,
        "ceiling\n(all test labels)",
    ]
    rnd = result.random_accuracy
    values = [
        (result.before if before is None else before).accuracy,
        result.after.accuracy,
        float("nan") if rnd is None else rnd,
        float("nan") if result.ceiling is None else result.ceiling.accuracy,
    ]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bars = ax.bar(names, values, color=["#999999", "#2b7bba", "#e3a33b", "#5aa469"])
    label_at = list(values)
    if len(draws) > 1:  # the spread of the random draws: one draw alone swings by several holdout images
        lo, hi = min(draws), max(draws)
        ax.errorbar([2], [values[2]], yerr=[[values[2] - lo], [hi - values[2]]], color="black", capsize=4)
        label_at[2] = hi  # the figure sits above the whisker
    for bar, v, y in zip(bars, values, label_at):
        ax.text(bar.get_x() + bar.get_width() / 2, y, f"{v:.3f}", ha="center", va="bottom", fontsize=9)
    low = min(v for v in values if v == v)
    ax.set_ylim(max(0.0, low - 0.1), 1.0)
    ax.set_ylabel("holdout accuracy")
    ax.set_title(title or f"Round {result.round}: {result.labels_used} labels, mode {result.mode}")
    fig.tight_layout()
    return _save(fig, path)


def first_round(session: Any, result: Any) -> Any:
    """The first round of the series ``result`` ends (its ``before`` is the train-only classifier): the
    earliest round of the session's history up to ``result``, or ``result`` itself when it is the first or the
    history does not hold it."""
    earlier = [r for r in session.rounds() if r.round <= result.round]
    return min(earlier, key=lambda r: r.round) if earlier else result


def online_figures(session: Any, result: Any) -> dict[str, Any]:
    """A round's figures under the keys of ``../shared/BENCH.md`` (``online`` section).

    The notebooks write it into ``metrics.json`` and the online bench builds every draw's figures from it. After
    several rounds, *before* is the classifier before the first of them (the train-only one: the first round's
    ``before`` in the session's history), so that before → after says what every label so far did;
    ``round_acc_before`` is this round's own before (the classifier of the round before) and ``rounds`` how many
    rounds led here.
    """
    sizes = {f"{s}_size": len(session.predictions(s)) for s in ("train", "holdout", "test")}
    first = first_round(session, result)
    return {
        **sizes,
        "holdout_acc_before": first.before.accuracy,
        "round_acc_before": result.before.accuracy,
        "rounds": int(result.round) - int(first.round) + 1,
        "holdout_acc_after": result.after.accuracy,
        "labels_used": int(result.labels_used),
        "random_acc_after": result.random_accuracy,  # the mean over the random draws
        "random_acc_draws": list(result.random_accuracies),
        "ceiling_acc": None if result.ceiling is None else result.ceiling.accuracy,
        "round_seconds": result.seconds,
        "balanced_acc_before": first.before.balanced_accuracy,
        "balanced_acc_after": result.after.balanced_accuracy,
        "train_acc_before": first.train_acc_before,
        "train_acc_after": result.train_acc_after,
        "new_weight": result.new_weight,
        "control_seconds": result.control_seconds,
        "mode": result.mode,
        "round": result.round,
    }


def prune_figures(
    table: Any, chosen: Any, *, backbone: str = "", rule: str = "", reason: str = ""
) -> dict[str, Any]:
    """The chosen pruned model against the full one, under the keys of ``../shared/BENCH.md`` (``prune``).

    The notebooks write it into ``metrics.json`` and the pruning bench reports it as its figures.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`olkit.prune.candidates.evaluate_candidates` output (``method``, ``leave_factor``, ``depth``, ``acc``,
        ``ms_b1``, ``ms_b32``, ``params``, ``gflop``); one row has ``method == "full"``. Pass the table
        :func:`olkit.prune.decide.choose` returns, so that full and chosen carry their side-by-side times.
    chosen : pandas.Series
        The chosen row.
    backbone, rule, reason : str
        Written beside the figures (what was pruned, which decision rule chose, and its sentence saying why).

    Returns
    -------
    dict
        ``full`` and ``chosen`` (``acc``, ``f1``, ``auc``, ``bal_acc``, ``cv_acc``, ``acc_mlp``, ``ms_b1``,
        ``ms_b32``, ``params``, ``gflop`` where the table has them; the chosen one also ``leave_factor`` and
        ``depth``), ``speedup_b32``, ``speedup_b1``, ``acc_delta`` (chosen minus full), ``params_ratio``,
        ``flop_reduction``, ``pooling`` (of the features every candidate was classified on), ``same_size_acc`` (the mask-guided candidate and the L1 / random controls of the chosen
        size), ``mask_vs_controls_all_sizes`` (at how many sizes the mask-guided candidate beats or ties each
        control), ``mean_acc_over_sizes`` (per method), ``n_train``/``n_test`` and ``candidates``.
    """
    import math

    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v))

    def pick(row: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("acc", "f1", "auc", "bal_acc", "cv_acc", "acc_mlp", "ms_b1", "ms_b32", "params", "gflop"):
            if key in row and not missing(row[key]):
                out[key] = int(row[key]) if key == "params" else float(row[key])
        return out

    full = table[table["method"] == "full"].iloc[0]
    f, c = pick(full), pick(chosen)
    c["leave_factor"] = float(chosen["leave_factor"])
    c["depth"] = None if missing(chosen.get("depth")) else int(chosen["depth"])

    def same(a: Any, b: Any) -> bool:
        return (missing(a) and missing(b)) or (not missing(a) and not missing(b) and float(a) == float(b))

    depths = table["depth"] if "depth" in table.columns else [None] * len(table)
    peers = table[
        [
            same(lf, chosen["leave_factor"]) and same(d, chosen.get("depth"))
            for lf, d in zip(table["leave_factor"], depths)
        ]
    ]
    same_size = {"mask": c.get("acc")}
    for _, row in peers.iterrows():
        method = str(row["method"])
        if method in ("l1", "random"):
            same_size[method] = float(row["acc"])
    # the mask-guided candidates against the controls at every size, not only the chosen one
    mask = str(chosen["method"]) if str(chosen["method"]).startswith("mask") else "mask-threshold"
    wins = {"l1": 0, "random": 0, "ties_l1": 0, "ties_random": 0, "sizes": 0}
    pruned = table[table["method"] != "full"]
    by_size: dict[tuple[float, float], dict[str, float]] = {}
    pdepths: list[Any] = list(pruned["depth"]) if "depth" in pruned.columns else [None] * len(pruned)
    for lf, d, method, acc in zip(
        pruned["leave_factor"], pdepths, pruned["method"].astype(str), pruned["acc"]
    ):
        by_size.setdefault((float(lf), -1.0 if missing(d) else float(d)), {})[method] = float(acc)
    for accs in by_size.values():
        if mask not in accs:
            continue
        wins["sizes"] += 1
        for control in ("l1", "random"):
            if control in accs:
                wins[control] += int(accs[mask] > accs[control])
                wins[f"ties_{control}"] += int(accs[mask] == accs[control])
    acc_cols = [col for col in ("acc", "acc_mlp") if col in table.columns]
    mean_acc = {
        col: {str(m): float(v) for m, v in pruned.groupby("method")[col].mean().items()} for col in acc_cols
    }
    from olkit.prune.measure import table_pooling

    return {
        "backbone": backbone,
        "rule": rule,
        "reason": reason,
        "pooling": table_pooling(table),
        "chosen_name": "the full model (no pruned candidate qualified)"
        if str(chosen["method"]) == "full"
        else f"{chosen['method']} f={float(chosen['leave_factor']):g}"
        + ("" if same(chosen.get("depth"), None) else f" depth {int(chosen['depth'])}"),
        "chosen_id": str(chosen["id"]),
        "full": f,
        "chosen": c,
        "speedup_b32": f["ms_b32"] / c["ms_b32"] if c.get("ms_b32") and "ms_b32" in f else None,
        "speedup_b1": f["ms_b1"] / c["ms_b1"] if c.get("ms_b1") and "ms_b1" in f else None,
        "acc_delta": c["acc"] - f["acc"] if "acc" in c and "acc" in f else None,
        "params_ratio": c["params"] / f["params"] if f.get("params") and "params" in c else None,
        "flop_reduction": f["gflop"] / c["gflop"] if c.get("gflop") and "gflop" in f else None,
        "same_size_acc": same_size,
        "mask_vs_controls_all_sizes": wins,
        "mean_acc_over_sizes": mean_acc,
        "n_train": None if missing(full.get("n_train")) else int(full["n_train"]),
        "n_test": None if missing(full.get("n_test")) else int(full["n_test"]),
        "candidates": len(table),
    }


# ---------------------------------------------------------------------------------------------- learning curves
def curve_figures(session: Any, *, goal_share: float = 0.95) -> dict[str, Any]:
    """A session's rounds as a learning curve under the keys of ``../shared/BENCH.md`` (``online_curve``).

    ``labels`` (cumulative, 0 first), ``acc``/``bal_acc`` for the strategy and ``"random"`` (mean of its draws,
    with ``random_min``/``random_max``), ``ceiling_acc``, ``labels_to_95`` (labels to reach before +
    ``goal_share`` (ceiling - before); ``None`` where the curve never does; empty when the ceiling is no higher
    than before), ``stop`` (where the stopping rule
    fires first: labels, accuracy, share of the ceiling's gain; ``None`` if it has not) and ``round_seconds``.
    """
    from olkit.online.session import labels_to_reach, learning_curve, stop_advice

    rounds = session.rounds()
    curve = learning_curve(rounds)
    if curve.empty:
        return {}
    name = next((r.strategy for r in rounds if r.strategy), "") or "strategy"
    labels = [int(v) for v in curve["labels"]]
    acc = {name: [float(v) for v in curve["acc"]]}
    bal = {name: [float(v) for v in curve["bal_acc"]]}
    if curve["random_acc"].notna().all():
        acc["random"] = [float(v) for v in curve["random_acc"]]
        bal["random"] = [float(v) for v in curve["random_bal_acc"]]
    ceiling = _num(curve["ceiling_acc"].iloc[-1])
    before = acc[name][0]
    to95: dict[str, int | None] = {}
    stop: dict[str, Any] | None = None
    if ceiling is not None and ceiling > before:  # without a gap to the ceiling there is nothing to reach
        target = before + goal_share * (ceiling - before)
        to95 = {s: labels_to_reach(labels, a, target) for s, a in acc.items()}
    for i in range(1, len(rounds) + 1):
        if stop_advice(rounds[:i]).stop:
            r = rounds[i - 1]
            gap = (
                None
                if ceiling is None or ceiling <= before
                else (r.after.accuracy - before) / (ceiling - before)
            )
            stop = {"labels": r.labels_used, "acc": r.after.accuracy, "gain_share": gap}
            break
    return {
        "labels": labels,
        "acc": acc,
        "bal_acc": bal,
        "random_min": [_num(v) for v in curve["random_min"]],
        "random_max": [_num(v) for v in curve["random_max"]],
        "ceiling_acc": ceiling,
        "ceiling_bal_acc": _num(curve["ceiling_bal_acc"].iloc[-1]),
        "labels_to_95": to95,
        "stop": stop,
        "round_seconds": float(sum(r.seconds for r in rounds) / len(rounds)),
        "strategy": name,
    }


def curve_text(m: dict[str, Any], *, title: str = "") -> str:
    """One line on a learning curve (``online_curve`` figures): final accuracies, labels to 95 %, the stop."""

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{float(v):.3f}"

    labels = m.get("labels") or [0]
    finals = ", ".join(f"{s} {f(a[-1])}" for s, a in dict(m.get("acc", {})).items() if a)
    to95 = ", ".join(
        f"{s} {v if v is not None else 'not reached'}" for s, v in dict(m.get("labels_to_95", {})).items()
    )
    stop = m.get("stop") or {}
    where = (
        f"; the stopping rule stops at {stop.get('labels')} labels (accuracy {f(stop.get('acc'))})"
        if stop.get("labels") is not None
        else "; the stopping rule has not fired"
    )
    return (
        f"{title + ': ' if title else ''}learning curve to {labels[-1]} labels: {finals} (ceiling {f(m.get('ceiling_acc'))}); "
        f"labels to 95 % of the ceiling's gain: {to95 or 'n/a'}{where}"
    )


def plot_learning_curve(
    curve: Any,
    *,
    title: str = "",
    path: PathLike | None = None,
    strategies: Any = None,
) -> Any:
    """Holdout accuracy and balanced accuracy against labels: each strategy, random (with its min-max band) and
    the ceiling.

    ``curve`` is :meth:`olkit.online.session.OnlineSession.learning_curve`'s table (one session: the band spans the
    random control's draws) or ``online_curve`` figures (:func:`curve_figures`, or the bench's, whose
    ``acc_min``/``acc_max`` span the protocol draws).
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    if isinstance(curve, pd.DataFrame):
        m: dict[str, Any] = {
            "labels": curve["labels"].tolist(),
            "acc": {"strategy": curve["acc"].tolist(), "random": curve["random_acc"].tolist()},
            "bal_acc": {"strategy": curve["bal_acc"].tolist(), "random": curve["random_bal_acc"].tolist()},
            "random_min": curve["random_min"].tolist(),
            "random_max": curve["random_max"].tolist(),
            "ceiling_acc": _num(curve["ceiling_acc"].iloc[-1]) if len(curve) else None,
            "ceiling_bal_acc": _num(curve["ceiling_bal_acc"].iloc[-1]) if len(curve) else None,
        }
    else:
        m = dict(curve)
    labels = list(m.get("labels", []))
    names = [s for s in (strategies or m.get("acc", {})) if s in m.get("acc", {})]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key, ceil_key, ylabel in (
        (axes[0], "acc", "ceiling_acc", "holdout accuracy"),
        (axes[1], "bal_acc", "ceiling_bal_acc", "holdout balanced accuracy"),
    ):
        series = dict(m.get(key, {}))
        for i, s in enumerate(names):
            if s not in series:
                continue
            y = [float("nan") if v is None else float(v) for v in series[s]]
            is_random = s == "random"
            ax.plot(labels[: len(y)], y, marker="o", ms=3, lw=2 if not is_random else 1.5,
                    color="#e3a33b" if is_random else colors[i % len(colors)], label=s)  # fmt: skip
            lo = m.get(f"{key}_min", {}).get(s) if isinstance(m.get(f"{key}_min"), dict) else None
            hi = m.get(f"{key}_max", {}).get(s) if isinstance(m.get(f"{key}_max"), dict) else None
            if lo is None and is_random and key == "acc":
                lo, hi = m.get("random_min"), m.get("random_max")
            if lo is not None and hi is not None:
                ax.fill_between(labels[: len(lo)], [float(v) for v in lo], [float(v) for v in hi], alpha=0.15,
                                color="#e3a33b" if is_random else colors[i % len(colors)], lw=0)  # fmt: skip
        ceil = _num(m.get(ceil_key))
        if ceil is not None:
            ax.axhline(ceil, color="#5aa469", ls="--", lw=1.2, label="ceiling (every test label)")
        ax.set_xlabel("labels")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title or "Learning curve: holdout against labels (band: min-max over draws)")
    fig.tight_layout()
    return _save(fig, path)
