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
