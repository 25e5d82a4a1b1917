"""A labelling team on one store: agreement per round and the review of the images the annotators disagree on.

Several inspectors label into one :class:`~olkit.online.labels.LabelStore` (PostgreSQL for a team; each opens it
with their own ``annotator``). Their votes are :meth:`LabelStore.votes` (each annotator's own current label of
each image); the store's ``resolve`` rule makes them the current label. This module measures how far the votes
agree and shows where they do not:

- :func:`agreement`: per round, the chance-corrected agreement of the annotators on the images at least two of
  them labelled: Cohen's kappa (:func:`sklearn.metrics.cohen_kappa_score`) for two annotators, Fleiss' kappa
  (:func:`fleiss_kappa`) for more.
- :func:`disagreements`: the images whose annotators gave different labels, with every annotator's label and the
  label the store's rule resolves.
- :class:`ReviewGrid`: a :class:`~olkit.online.grid.RelabelGrid` fed with those rows (through its
  ``set_selection``), each tile's caption listing the annotators' labels (its public ``tile_notes`` hook, no
  private override); a reviewer labels there as in the grid,
  and with ``LabelStore(..., resolve="reviewer", reviewer=...)`` their label decides.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from olkit.online.grid import GridSession, RelabelGrid
from olkit.online.labels import LabelStore, annotator_votes, resolve_votes
from olkit.types import ClassName, Sha256

__all__ = [
    "AGREEMENT_COLUMNS",
    "DISAGREEMENT_COLUMNS",
    "ReviewGrid",
    "agreement",
    "disagreements",
    "fleiss_kappa",
    "votes_text",
]

AGREEMENT_COLUMNS: tuple[str, ...] = ("round", "annotators", "images", "observed", "kappa", "method")
"""Columns of :func:`agreement`: the round (``<NA>`` for events without one), how many annotators voted in it,
the images at least two of them labelled, the share of those where every vote agrees, the kappa and its name."""

DISAGREEMENT_COLUMNS: tuple[str, ...] = ("sha256", "path", "votes", "annotators", "resolved", "last_time")
"""Columns of :func:`disagreements`: ``votes`` is ``{annotator: label}``, ``annotators`` how many voted,
``resolved`` the label the store's rule gives, ``last_time`` the latest vote."""


def fleiss_kappa(counts: np.ndarray | pd.DataFrame) -> float:
    """Fleiss' kappa of an ``(images, classes)`` table of vote counts (each image rated at least twice).

    Images may have different numbers of raters: each image's agreement is the share of agreeing rater pairs,
    ``P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1))``, and chance agreement ``P_e = sum_j p_j^2`` from the
    pooled class shares, as in Fleiss (1971), which this equals when every image has the same raters.
    ``nan`` when chance agreement is 1 (every vote the same class: kappa is undefined).
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or len(table) == 0:
        raise ValueError(f"expected a non-empty (images, classes) table of counts, got shape {table.shape}")
    raters = table.sum(axis=1)
    if np.any(raters < 2):
        raise ValueError("every image needs at least two votes for Fleiss' kappa")
    p_i = (table * (table - 1)).sum(axis=1) / (raters * (raters - 1))
    shares = table.sum(axis=0) / table.sum()
    p_e = float((shares**2).sum())
    if p_e >= 1.0:
        return float("nan")
    return float((p_i.mean() - p_e) / (1.0 - p_e))


def _round_figures(part: pd.DataFrame) -> dict[str, Any]:
    """Agreement of one round's votes, on integer codes (pandas' reshaping of string tables is slow)."""
    image, _ = pd.factorize(part["sha256"])
    who, annotators = pd.factorize(part["annotator"])
    label, classes = pd.factorize(part["label"])
    counts = np.zeros((int(image.max()) + 1, len(classes)), dtype=np.int64)
    np.add.at(counts, (image, label), 1)
    raters = counts.sum(axis=1)
    shared = raters >= 2
    method = "cohen" if len(annotators) == 2 else "fleiss"
    kappa = float("nan")
    if shared.any() and method == "cohen":
        from sklearn.metrics import cohen_kappa_score

        pairs = np.full((len(counts), 2), -1, dtype=np.int64)
        pairs[image, who] = label
        a, b = pairs[shared, 0], pairs[shared, 1]
        if (
            len(np.unique(np.concatenate([a, b]))) > 1
        ):  # one class only: chance agreement is 1, kappa undefined
            kappa = float(cohen_kappa_score(a, b))
    elif shared.any():
        kappa = fleiss_kappa(counts[shared])
    return {
        "annotators": len(annotators),
        "images": int(shared.sum()),
        "observed": float(np.mean(counts[shared].max(axis=1) == raters[shared])) if shared.any() else np.nan,
        "kappa": kappa,
        "method": method,
    }


def agreement(source: LabelStore | pd.DataFrame, *, round: int | None = None) -> pd.DataFrame:
    """Inter-annotator agreement per round (columns :data:`AGREEMENT_COLUMNS`), oldest round first.

    ``source`` is a store or its :meth:`~LabelStore.events`. A round's votes are each annotator's current label
    among the events of that round (:func:`~olkit.online.labels.annotator_votes`); the images labelled by at
    least two annotators count: with two annotators, Cohen's kappa over the images both labelled; with more,
    Fleiss' kappa (:func:`fleiss_kappa`) over the images at least two labelled. Rounds where no image has two
    votes give ``images`` 0 and ``kappa`` NaN. ``round`` keeps one round.
    """
    events = source.events() if isinstance(source, LabelStore) else source
    rounds = events["round"].astype("Int64")
    rows: list[dict[str, Any]] = []
    for key in sorted(set(rounds.dropna().astype(int))) + ([pd.NA] if rounds.isna().any() else []):
        if round is not None and (pd.isna(key) or key != int(round)):
            continue
        part = annotator_votes(events[rounds.isna()] if pd.isna(key) else events[rounds == key])
        if part.empty:  # every vote of the round taken back
            continue
        rows.append({"round": pd.NA if pd.isna(key) else int(key), **_round_figures(part)})
    out = pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))
    out["round"] = out["round"].astype("Int64")
    return out


def disagreements(source: LabelStore, *, round: int | None = None) -> pd.DataFrame:
    """The images whose annotators gave different labels (columns :data:`DISAGREEMENT_COLUMNS`), latest first.

    Votes are each annotator's current label (of ``round`` only, when given); ``resolved`` is the label the
    store's ``resolve`` rule gives on those votes (``"majority"`` for a ``"latest"`` store, which has no team
    rule of its own to show).
    """
    votes = source.votes(round=round)
    if votes.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DISAGREEMENT_COLUMNS})
    codes = pd.Series(pd.factorize(votes["label"])[0], index=votes.index).groupby(votes["sha256"])
    differ = codes.min() != codes.max()  # numeric codes: pandas' per-group nunique of strings is slow
    split = votes[votes["sha256"].isin(differ.index[differ])]
    if split.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DISAGREEMENT_COLUMNS})
    rule = "majority" if source.resolve == "latest" else source.resolve
    resolved = resolve_votes(split, rule=rule, reviewer=source.reviewer).set_index("sha256")["label"]
    grouped = split.groupby("sha256", sort=False)
    table = pd.DataFrame(
        {
            "path": grouped["path"].last(),
            "annotators": grouped.size(),  # one vote per annotator and image
            "last_time": grouped["time"].max(),
        }
    )
    each: dict[str, dict[str, ClassName]] = {}
    for sha, who, label in zip(split["sha256"], split["annotator"], split["label"]):
        each.setdefault(str(sha), {})[str(who)] = str(label)
    table["votes"] = [each[str(sha)] for sha in table.index]
    table["resolved"] = resolved.reindex(table.index)
    table = table.rename_axis("sha256").reset_index().sort_values("last_time", ascending=False, kind="stable")
    return table[list(DISAGREEMENT_COLUMNS)].reset_index(drop=True)


def votes_text(votes: Mapping[str, ClassName], display: Any = str) -> str:
    """``"anna: 1 · bob: 0"``: one annotator's label after another, names sorted (``display`` names a class)."""
    return " · ".join(f"{who}: {display(label)}" for who, label in sorted(votes.items()))


class ReviewGrid(RelabelGrid):
    """The grid of the images the annotators disagree on, each caption listing every annotator's label.

    A :class:`~olkit.online.grid.RelabelGrid` (same keys, buttons, undo) whose selection is
    :func:`disagreements` of ``store`` (through ``set_selection``); labelling here writes the reviewer's vote
    (``annotator``, default the store's) and the captions follow it. Open the store with
    ``resolve="reviewer", reviewer=<name>`` to make the reviewer's label the one training and exports use.

    Parameters
    ----------
    session, store
        As for :class:`~olkit.online.grid.RelabelGrid`.
    round
        Only the votes of this round (default: every round).
    **kwargs
        Passed to :class:`~olkit.online.grid.RelabelGrid` (``page_size``, ``annotator``, ...).
    """

    def __init__(
        self, session: GridSession, store: LabelStore, *, round: int | None = None, **kwargs: Any
    ) -> None:
        self.review_round = round
        self.review = disagreements(store, round=round)
        super().__init__(session, store, selection=self._rows(), **kwargs)

    def _rows(self) -> pd.DataFrame:
        return self.review[["sha256", "path"]].assign(rank=np.arange(1, len(self.review) + 1))

    def reload(self, sender: Any = None) -> None:
        """Look for disagreements again (new votes from the team) and show them from the first page."""
        self.review = disagreements(self.store, round=self.review_round)
        self.set_selection(self._rows())

    def votes_of(self, sha256s: Sequence[Sha256]) -> dict[Sha256, dict[str, ClassName]]:
        """``{sha256: {annotator: label}}`` of ``sha256s`` in the review's round, read from the store now."""
        if not sha256s:
            return {}
        votes = self.store.votes(sha256s=list(sha256s), round=self.review_round)
        return {
            str(sha): dict(zip(g["annotator"], g["label"])) for sha, g in votes.groupby("sha256", sort=False)
        }

    def page_votes(self) -> dict[Sha256, dict[str, ClassName]]:
        """``{sha256: {annotator: label}}`` of the tiles on the page, read from the store now."""
        return self.votes_of(list(self.page_rows()["sha256"]))

    def tile_notes(self, rows: pd.DataFrame) -> dict[Sha256, str]:
        """Every annotator's label under each caption (``votes anna: pitting · bob: no pitting``), read from
        the store each time the grid draws or answers a tile, so the captions follow labels and undos."""
        votes = self.votes_of(list(rows["sha256"]))
        notes = {}
        for sha in rows["sha256"]:
            text = html.escape(votes_text(votes.get(str(sha), {}), self.display))
            notes[str(sha)] = (
                "<div class='olkit-votes' style='font-size:11px;text-align:center;color:#444'>"
                f"votes {text or '(none left)'}</div>"
            )
        return notes
