"""Where things live: the project root, the data root and the layout of a run folder.

Notebooks and the CLI never build paths by hand; they ask this module, so that a notebook executed by papermill
from any working directory finds the same files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from olkit.files import atomic_write_text
from olkit.types import PathLike

DATA_ENV = "OLKIT_DATA_ROOT"
RUNS_ENV = "OLKIT_RUNS_ROOT"
BSDATA_ENV = "OLKIT_BSDATA"


def project_root(start: PathLike | None = None) -> Path:
    """Return the checkout's root: the nearest folder above ``start`` (default: this package) with a
    ``pyproject.toml`` naming olkit, else the current working directory."""
    here = Path(start) if start is not None else Path(__file__).resolve().parent
    for folder in [here, *here.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and 'name = "olkit"' in candidate.read_text(encoding="utf-8"):
            return folder
    return Path.cwd()


def data_root() -> Path:
    """``$OLKIT_DATA_ROOT`` if set, else ``<project root>/data_bsd``."""
    env = os.environ.get(DATA_ENV)
    return Path(env).resolve() if env else project_root() / "data_bsd"


def runs_root() -> Path:
    """``$OLKIT_RUNS_ROOT`` if set, else ``<project root>/runs``."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).resolve() if env else project_root() / "runs"


def bsdata_source() -> Path:
    """The real BSData checkout: ``$OLKIT_BSDATA`` if set, else ``../shared/data/BSData`` beside the checkout."""
    env = os.environ.get(BSDATA_ENV)
    return Path(env).resolve() if env else (project_root().parent / "shared" / "data" / "BSData").resolve()


@dataclass(frozen=True)
class RunFolder:
    """The files one run of the series hands from notebook to notebook.

    Notebooks exchange work only through these paths, never through kernel memory.
    """

    root: Path

    @classmethod
    def create(cls, root: PathLike) -> RunFolder:
        """Make the folder (and its sub-folders) if missing and return it."""
        run = cls(Path(root).resolve())
        for sub in (run.root, run.figures, run.models, run.embeddings, run.prune):
            sub.mkdir(parents=True, exist_ok=True)
        return run

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def embeddings(self) -> Path:
        """Sharded embedding cache (see :mod:`olkit.online.embed`)."""
        return self.root / "embeddings"

    @property
    def prune(self) -> Path:
        """Pruning candidates, their table and the chosen model (see :mod:`olkit.prune`)."""
        return self.root / "prune"

    @property
    def splits(self) -> Path:
        """The manifest of the online protocol with ``split`` in train / holdout / test."""
        return self.root / "splits.csv"

    @property
    def data_manifest(self) -> Path:
        """The manifest of the run's data root as notebook 1 read it (a user's root is never written to)."""
        return self.root / "data_manifest.csv"

    @property
    def backbone(self) -> Path:
        """The conv base as ``.keras`` (its sidecar ``backbone.json`` holds the embedding layer and fingerprint)."""
        return self.models / "backbone.keras"

    @property
    def classifier(self) -> Path:
        """The scikit-learn pipeline, persisted with skops."""
        return self.models / "classifier.skops"

    @property
    def labels_db(self) -> Path:
        """The SQLite label store."""
        return self.root / "labels.sqlite"

    @property
    def history(self) -> Path:
        """One JSON line per online-learning round."""
        return self.root / "history.jsonl"

    @property
    def metrics(self) -> Path:
        """Figures every notebook merges its results into (``olkit.report.update_metrics``)."""
        return self.root / "metrics.json"

    # -- the runner ----------------------------------------------------------------------------------------------
    @property
    def state(self) -> Path:
        """The runner's record of the run: profile, parameters and status of every notebook (``olkit run``)."""
        return self.root / "run.json"

    def executed(self, notebook: str) -> Path:
        """Where ``olkit run`` writes the executed copy of ``notebook`` (``"01_data.ipynb"`` or its stem)."""
        name = notebook if notebook.endswith(".ipynb") else f"{notebook}.ipynb"
        return self.root / Path(name).name

    @property
    def report(self) -> Path:
        """The run's HTML report (:func:`olkit.report.write_report`)."""
        return self.root / "report.html"

    @property
    def kernel_log(self) -> Path:
        """What the notebooks' kernels and their libraries printed to stderr (start-up chatter, warnings), kept
        out of the console by ``olkit run``."""
        return self.root / "logs" / "kernels.log"

    # -- the data (notebook 1) ----------------------------------------------------------------------------------
    @property
    def contact_sheet(self) -> Path:
        """A few images of every class and set, side by side."""
        return self.figures / "contact_sheet.png"

    # -- the conv base (notebook 2) -------------------------------------------------------------------------------
    @property
    def trained_backbone(self) -> Path:
        """The conv base as trained, kept when notebook 4 swaps in the pruned one."""
        return self.models / "trained_backbone.keras"

    @property
    def backbone_curves(self) -> Path:
        """The conv base's training curves."""
        return self.figures / "backbone_curves.png"

    # -- pruning (notebook 3) -------------------------------------------------------------------------------------
    @property
    def segmented(self) -> Path:
        """The scoring masks in the original's layout (``Images/`` beside ``Segmented/``)."""
        return self.prune / "segmented"

    @property
    def candidates(self) -> Path:
        """The pruned candidates and their table (:func:`olkit.prune.candidates.build_candidates`)."""
        return self.prune / "candidates"

    @property
    def candidates_evaluated(self) -> Path:
        """Every candidate's accuracy, time, parameters and FLOPs."""
        return self.prune / "candidates_evaluated.csv"

    @property
    def pareto(self) -> Path:
        """The accuracy-against-time plot of the candidates."""
        return self.prune / "pareto.png"

    @property
    def chosen(self) -> Path:
        """The candidate the decision chose, which notebook 4 embeds with."""
        return self.prune / "chosen.keras"

    # -- online learning (notebooks 4-7) --------------------------------------------------------------------------
    @property
    def session(self) -> Path:
        """The online session's state (:class:`olkit.online.session.OnlineSession`)."""
        return self.root / "session.json"

    @property
    def classifier_base(self) -> Path:
        """The classifier fitted on the train set alone (what every round starts from)."""
        return self.models / "classifier-base.skops"

    def round_classifier(self, round_number: int) -> Path:
        """The classifier of round ``round_number`` (1, 2, ...)."""
        return self.models / f"classifier-round{int(round_number):03d}.skops"

    def round_backbone(self, round_number: int) -> Path:
        """The conv base fine-tuned in round ``round_number``."""
        return self.models / f"backbone-round{int(round_number):03d}.keras"

    def history_archive(self, stamp: str) -> Path:
        """Where an earlier :attr:`history` is kept when a new session or a reset starts another."""
        return self.root / f"history-before-{stamp}.jsonl"

    @property
    def selection(self) -> Path:
        """The images offered to the expert in notebook 6, with their predictions."""
        return self.root / "selection.csv"

    @property
    def embedding_map(self) -> Path:
        """The 2-D map of the embeddings (notebook 4)."""
        return self.figures / "embedding_map.png"

    @property
    def uncertainty_plot(self) -> Path:
        """The classifier's uncertainty over the test images (notebook 5)."""
        return self.figures / "uncertainty.png"

    @property
    def learning_curve(self) -> Path:
        """Holdout accuracy against labels (notebook 7)."""
        return self.figures / "learning_curve.png"

    @property
    def round_plot(self) -> Path:
        """Before / after / random / ceiling of the latest round (notebook 7)."""
        return self.figures / "round.png"

    # -- the real-data run (notebook 8) ---------------------------------------------------------------------------
    @property
    def real(self) -> RunFolder:
        """The run folder of the real-data notebook, inside this one (the same layout)."""
        return RunFolder(self.root / "real")

    def read_metrics(self) -> dict[str, Any]:
        """The merged metrics of every notebook so far (empty when none)."""
        if not self.metrics.is_file():
            return {}
        return dict(json.loads(self.metrics.read_text(encoding="utf-8")))

    def update_metrics(self, section: str, values: dict[str, Any]) -> dict[str, Any]:
        """Merge ``values`` under ``section`` into ``metrics.json`` atomically and return the whole document."""
        doc = self.read_metrics()
        doc[section] = {**doc.get(section, {}), **values}
        atomic_write_text(self.metrics, json.dumps(doc, indent=2, sort_keys=True, default=float))
        return doc
