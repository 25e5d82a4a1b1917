"""Making every data set a run needs, and a first look at them (``olkit data``).

:func:`prepare_data` makes what is missing under the data root (the synthetic BSD family, the crack family, the
real BSData patches imported from a BSData checkout), keeps what exists, draws a contact sheet and measures two
figures with a fast, fixed-feature classifier (:func:`patch_features` + logistic regression, seconds on a CPU):

* the **shift figure** (:func:`shift_effect`): trained on ``data_train``, how much accuracy it loses on
  ``data_new`` (the new wear and soiling patterns) and how much it regains once half of ``data_new`` is labelled;
* the **synthetic-to-real figure** (:func:`synth_to_real`): trained on synthetic ``data_train``, its accuracy on the
  real BSData patches, beside a classifier trained on real patches as the reference.

These are deliberately small models: the figures say whether the data carry the effects the online-learning and
pruning notebooks rely on, not how good the notebooks' CNN pipeline is.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from olkit.data.io import (
    SET_NAMES,
    load_dataset,
    load_images,
    make_online_splits,
    read_manifest,
    scan_image_folder,
    write_manifest,
)
from olkit.data.synth import generate_bsd, generate_crack
from olkit.errors import DataNotFoundError, ReadOnlyDataError
from olkit.files import atomic_write_json, utc_stamp
from olkit.paths import RunFolder, bsdata_source, data_root, project_root
from olkit.types import ImageProblem, PathLike

__all__ = [
    "MARKER_FILE",
    "DataCheck",
    "DataSummary",
    "FamilyStatus",
    "RunData",
    "budget_count",
    "cap_count",
    "check_data_root",
    "class_balance",
    "contact_sheet",
    "data_name",
    "manifest_sha256",
    "owns_data_root",
    "patch_features",
    "prepare_data",
    "run_manifest",
    "shift_effect",
    "shift_text",
    "synth_to_real",
    "use_data_root",
]

_FEATURE_SIZE = 64
_HOG = cv2.HOGDescriptor((_FEATURE_SIZE, _FEATURE_SIZE), (16, 16), (16, 16), (8, 8), 9)
_BLACKHATS = tuple(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)) for k in (5, 15))
_SUMMARY_FILE = "data_summary.json"
MARKER_FILE = ".olkit-data.json"
"""What :func:`prepare_data` leaves in a data root it made: olkit writes only into its own roots."""


# ----------------------------------------------------------------------------------------------------------------
# the fast classifier behind both figures
# ----------------------------------------------------------------------------------------------------------------
def patch_features(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Fixed, training-free features of RGB patches for a quick linear classifier.

    Per image: HOG of the 64×64 grey image (9 orientations, 8-px cells, non-overlapping 16-px blocks), the 16×16 grey thumbnail
    minus its mean, grey-level percentiles, colour means/spreads (RGB and saturation), a 4×4 colour layout
    relative to the mean colour, a saturation-weighted hue histogram, sharpness (log Laplacian variance) and
    statistics of morphological black-hats at two scales (dark specks and pits stand out from the grooves).

    Parameters
    ----------
    images
        ``(n, h, w, 3)`` RGB ``uint8``.

    Returns
    -------
    numpy.ndarray
        ``(n, d)`` float32, the same ``d`` for every image size.
    """
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (n, h, w, 3) RGB images, got shape {images.shape}")
    rows = []
    for img in images:
        small = cv2.resize(img, (_FEATURE_SIZE, _FEATURE_SIZE), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        hog = np.asarray(_HOG.compute(grey), dtype=np.float32).ravel()
        thumb = cv2.resize(grey, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32).ravel() / 255.0
        thumb -= thumb.mean()
        g = grey.astype(np.float32) / 255.0
        pct = np.quantile(g, (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99))
        rgb = small.reshape(-1, 3).astype(np.float32) / 255.0
        sat = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)[..., 1].astype(np.float32) / 255.0
        grid = (
            cv2.resize(small, (4, 4), interpolation=cv2.INTER_AREA).reshape(-1, 3).astype(np.float32) / 255.0
        )
        colour = np.concatenate(
            [rgb.mean(0), rgb.std(0), [sat.mean(), sat.std()], (grid - rgb.mean(0)).ravel()]
        )
        spots = []
        for kernel in _BLACKHATS:  # dark spots at two scales: specks and pits
            bh = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel).astype(np.float32) / 255.0
            spots += [bh.mean(), bh.std(), bh.max(), *(np.mean(bh > t) for t in (0.05, 0.1, 0.2))]
        sharp = cv2.Laplacian(grey, cv2.CV_32F)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.float32)
        hue = (
            np.bincount((hsv[:, 0] // 23).astype(int), weights=hsv[:, 1] / 255.0, minlength=8)[:8]
            / hsv.shape[0]
        )
        extra = [np.log1p(sharp.var()), *hue]
        rows.append(np.concatenate([hog, thumb, pct, colour, spots, extra]).astype(np.float32))
    return np.stack(rows) if rows else np.zeros((0, 0), np.float32)


def _classifier(seed: int) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.02, max_iter=3000, random_state=seed))


def _features_of(paths: list[str], size: tuple[int, int]) -> npt.NDArray[np.float32]:
    images, _, problems = load_images(paths, size=size, progress=False)
    if problems:
        warnings.warn(
            f"{len(problems)} images could not be read and count as blank: {problems[:3]}", stacklevel=3
        )
    return patch_features(images)


def _stratified_take(df: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Up to ``n`` rows keeping the class shares (seeded)."""
    if n >= len(df):
        return df.sample(frac=1.0, random_state=int(rng.integers(2**31)))
    parts = []
    for _, part in df.groupby("label"):
        k = max(1, int(n * len(part) / len(df) + 0.5))
        parts.append(part.sample(n=min(k, len(part)), random_state=int(rng.integers(2**31))))
    return pd.concat(parts).sample(frac=1.0, random_state=int(rng.integers(2**31)))


def _halves(df: pd.DataFrame, rng: np.random.Generator, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into (labelled, evaluation) per class and per group (a group never straddles the halves)."""
    picked = []
    for _, part in df.groupby("label"):
        groups = part["group"].unique()
        groups = rng.permutation(np.asarray(groups, dtype=object))
        take = set(groups[: int(len(groups) * fraction + 0.5)])
        picked.append(part[part["group"].isin(take)])
    labelled = pd.concat(picked) if picked else df.iloc[:0]
    return labelled, df.drop(labelled.index)


def _image_size(df: pd.DataFrame) -> tuple[int, int]:
    return int(df["height"].astype(int).iloc[0]), int(df["width"].astype(int).iloc[0])


def shift_effect(
    root: PathLike,
    *,
    n_fit: int = 3000,
    n_holdout: int = 1000,
    repeats: int = 3,
    seed: int = 0,
    manifest: pd.DataFrame | None = None,
) -> dict[str, float | int]:
    """Measure the shift between ``data_train`` and ``data_new`` with a fast classifier.

    A classifier (:func:`patch_features`, standardised, logistic regression) is fitted on ``n_fit`` images of
    ``data_train`` and scored on ``n_holdout`` other ``data_train`` images (in-distribution) and on ``data_new``:
    the difference is the **drop**. For the **regain**, ``data_new`` is halved (per class, whole groups), the
    labels of one half are added to the fit set, the model is refitted and scored on the other half, and the
    halves swap roles (cross-fitting, so every ``data_new`` image is scored once per repeat); ``repeats`` random
    halvings are averaged to keep the figure steady on small sets.

    Parameters
    ----------
    root
        A data root in the original's layout (``data_bsd``, ``data_bsd/bsdata``).
    n_fit, n_holdout
        ``data_train`` images used for fitting / for the in-distribution accuracy.
    repeats
        Random halvings of ``data_new`` averaged for the regain.
    seed
        Seed of the sampling and the classifier.
    manifest
        The root's manifest when already read (a user's root is then not scanned again).

    Returns
    -------
    dict
        ``train_acc`` (data_train holdout), ``new_acc`` (data_new, before any of its labels), ``new_acc_after``
        (data_new images scored by a model that saw the labels of the other half), ``drop``
        (``train_acc - new_acc``), ``regain`` (``new_acc_after - new_acc``), ``n_new_labelled`` (labels added
        per fit), and the sizes used.
    """
    df = manifest if manifest is not None else load_dataset(root, progress=False)
    rng = np.random.default_rng(seed)
    train = df[df["split"] == "data_train"]
    new = df[df["split"] == "data_new"]
    if train.empty or len(new) < 4 or train["label"].nunique() < 2:
        raise DataNotFoundError(
            f"{root} needs data_train with two classes and at least 4 data_new images for the shift figure"
        )
    n_holdout = min(n_holdout, len(train) // 4)
    hold = _stratified_take(train, n_holdout, rng)
    fit = _stratified_take(train.drop(hold.index), n_fit, rng)
    size = _image_size(df)
    x_fit = _features_of(list(fit["path"]), size)
    x_hold = _features_of(list(hold["path"]), size)
    new = new.reset_index(drop=True)
    x_new = _features_of(list(new["path"]), size)
    y_fit, y_hold, y_new = fit["label"].to_numpy(), hold["label"].to_numpy(), new["label"].to_numpy()

    before = _classifier(seed).fit(x_fit, y_fit)
    train_acc = float(accuracy_score(y_hold, before.predict(x_hold)))
    new_acc = float(accuracy_score(y_new, before.predict(x_new)))
    after_scores, n_labelled = [], []
    for _ in range(repeats):
        half_a, half_b = _halves(new, rng, 0.5)
        for lab, ev in ((half_a, half_b), (half_b, half_a)):
            if lab.empty or ev.empty:
                continue
            li, ei = lab.index.to_numpy(), ev.index.to_numpy()
            model = _classifier(seed).fit(np.vstack([x_fit, x_new[li]]), np.concatenate([y_fit, y_new[li]]))
            after_scores.append(accuracy_score(y_new[ei], model.predict(x_new[ei])) * len(ei))
            n_labelled.append(len(li))
    new_acc_after = float(np.sum(after_scores) / (repeats * len(new))) if after_scores else float("nan")
    return {
        "train_acc": train_acc,
        "new_acc": new_acc,
        "new_acc_after": new_acc_after,
        "drop": train_acc - new_acc,
        "regain": new_acc_after - new_acc,
        "n_fit": len(fit),
        "n_holdout": len(hold),
        "n_new": len(new),
        "n_new_labelled": int(float(np.mean(n_labelled)) + 0.5) if n_labelled else 0,
        "repeats": repeats,
    }


def synth_to_real(
    root: PathLike,
    real_root: PathLike,
    *,
    n_fit: int = 3000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Train on synthetic ``data_train``, test on every real BSData patch.

    Parameters
    ----------
    root
        The synthetic BSD family (``data_bsd``).
    real_root
        The real patches in the same layout (``data_bsd/bsdata``).
    n_fit
        Synthetic images used for fitting.
    seed
        Seed of the sampling and the classifier.

    Returns
    -------
    dict
        ``acc`` and ``balanced_acc`` on all real patches, ``n_real``, ``real_pitting_share``, and as the reference
        ``real_to_real_acc`` / ``real_to_real_balanced_acc``: the same classifier trained on the real
        ``data_train`` and tested on the real ``data_new`` (``nan`` when a real set lacks a class).
    """
    rng = np.random.default_rng(seed)
    synth = load_dataset(root, progress=False)
    real = load_dataset(real_root, progress=False)
    fit = _stratified_take(synth[synth["split"] == "data_train"], n_fit, rng)
    x_fit = _features_of(list(fit["path"]), _image_size(synth))
    size = _image_size(synth)  # real patches are read at the synthetic size (150×150 in both)
    x_real = _features_of(list(real["path"]), size)
    y_real = real["label"].to_numpy()
    model = _classifier(seed).fit(x_fit, fit["label"].to_numpy())
    pred = model.predict(x_real)
    out: dict[str, float | int] = {
        "acc": float(accuracy_score(y_real, pred)),
        "balanced_acc": float(balanced_accuracy_score(y_real, pred)),
        "n_synthetic_fit": len(fit),
        "n_real": len(real),
        "real_pitting_share": float(np.mean(y_real == "1")),
    }
    is_train = (real["split"] == "data_train").to_numpy()
    ref_acc = ref_bal = float("nan")
    if len(set(y_real[is_train])) == 2 and (~is_train).any():
        ref = _classifier(seed).fit(x_real[is_train], y_real[is_train])
        ref_pred = ref.predict(x_real[~is_train])
        ref_acc = float(accuracy_score(y_real[~is_train], ref_pred))
        ref_bal = float(balanced_accuracy_score(y_real[~is_train], ref_pred))
    out["real_to_real_acc"] = ref_acc
    out["real_to_real_balanced_acc"] = ref_bal
    return out


# ----------------------------------------------------------------------------------------------------------------
# contact sheet
# ----------------------------------------------------------------------------------------------------------------
def contact_sheet(
    root: PathLike,
    *,
    real_root: PathLike | None = None,
    crack_root: PathLike | None = None,
    per_row: int = 8,
    path: PathLike | None = None,
    seed: int = 0,
    name: str | None = None,
    manifest: pd.DataFrame | None = None,
) -> Path:
    """Draw example patches per family, set and class into one PNG.

    Rows: synthetic ``data_train`` and ``data_new`` (class 0 and 1 each), the real BSData patches (class 0 and 1,
    both sets) when ``real_root`` holds them, and the crack family (without and with cracks) when ``crack_root``
    does. With ``name``, ``root`` is any data root: one row per set and class, the classes named by their folders.
    Tiles are shown at 150×150 pixels.

    Parameters
    ----------
    root
        The synthetic BSD family, or with ``name`` any data root.
    real_root, crack_root
        Optional roots of the real patches and the crack family (skipped when missing).
    per_row
        Tiles per row.
    path
        The PNG to write (default ``root/contact_sheet.png``).
    seed
        Which examples are drawn.
    name
        The data's name in the row titles (:func:`data_name`); ``None``: the synthetic family's rows.
    manifest
        ``root``'s manifest when already read (a user's root is then not scanned again).

    Returns
    -------
    pathlib.Path
        The written PNG.
    """
    # A bare Figure draws to a file without pyplot, so the notebook's own backend is never switched.
    from matplotlib.figure import Figure

    rng = np.random.default_rng(seed)
    rows: list[tuple[str, list[str]]] = []

    def add_rows(
        family_root: PathLike | None,
        title: str,
        sets: dict[str, str],
        classes: dict[str, str] | None,
        df: pd.DataFrame | None = None,
    ) -> None:
        if family_root is None or not all((Path(family_root) / s).is_dir() for s in SET_NAMES):
            return
        df = df if df is not None else load_dataset(family_root, progress=False)
        if classes is None:
            classes = {c: f"class {c}" for c in sorted(set(df["label"].astype(str)))}
        for set_key, set_title in sets.items():
            for cls, cls_title in classes.items():
                part = df[(df["label"] == cls) & (df["split"].isin(set_key.split("+")))]
                if part.empty:
                    continue
                pick = part.sample(n=min(per_row, len(part)), random_state=int(rng.integers(2**31)))
                rows.append((f"{title} {set_title}, {cls_title}", list(pick["path"])))

    pits = {"0": "no pitting (0)", "1": "pitting (1)"}
    both = {"data_train": "data_train", "data_new": "data_new"}
    if name is None:
        add_rows(root, "synthetic", both, pits, manifest)
    else:
        add_rows(root, name, both, None, manifest)
    add_rows(real_root, "real BSData", {"data_train": "data_train", "data_new": "data_new"}, pits)
    add_rows(
        crack_root, "crack family", {"data_train": "data_train"}, {"0": "no crack (0)", "1": "crack (1)"}
    )
    if not rows:
        raise DataNotFoundError(
            f"no data under {root} to draw a contact sheet from; make it with `olkit data`"
        )

    tile = 150
    fig = Figure(figsize=(per_row * 1.5, len(rows) * 1.75))
    axes = fig.subplots(len(rows), 1, squeeze=False)
    for ax, (title, paths) in zip(axes[:, 0], rows):
        images, _, _ = load_images(paths, size=(tile, tile), progress=False)
        strip = np.full((tile, per_row * (tile + 4), 3), 255, np.uint8)
        for i, img in enumerate(images):
            strip[:, i * (tile + 4) : i * (tile + 4) + tile] = img
        ax.imshow(strip)
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_axis_off()
    fig.tight_layout()
    out = Path(path) if path is not None else Path(root) / "contact_sheet.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out


# ----------------------------------------------------------------------------------------------------------------
# prepare_data and its summary
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FamilyStatus:
    """One data family under the data root: where it is, what happened to it, what it holds."""

    name: str
    root: Path
    status: str  # "made", "kept" or "missing: <why>"
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # set -> class -> images
    images_per_s: float | None = None

    def lines(self) -> list[str]:
        """The family's block of the summary."""
        rate = f", {self.images_per_s:.0f} images/s" if self.images_per_s else ""
        out = [f"{self.name} ({self.root}): {self.status}{rate}"]
        for set_name, classes in self.counts.items():
            total = sum(classes.values())
            share = classes.get("1", 0) / total if total else 0.0
            per_class = ", ".join(f"class {k}: {v}" for k, v in sorted(classes.items()))
            out.append(f"  {set_name:<10} {total:>6} images ({per_class}; class 1 share {share:.1%})")
        return out


@dataclass(frozen=True)
class DataSummary:
    """What :func:`prepare_data` made and measured; ``print(summary)`` gives the report ``olkit data`` shows."""

    root: Path
    families: tuple[FamilyStatus, ...]
    shift: dict[str, float | int] | None
    synth_to_real: dict[str, float | int] | None
    contact_sheet: Path | None
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [f"olkit data under {self.root}"]
        for fam in self.families:
            lines.extend(fam.lines())
        if self.shift:
            lines.append(shift_text(self.shift, "synthetic BSD"))
        if self.synth_to_real:
            r = self.synth_to_real
            ref = ""
            if not np.isnan(float(r["real_to_real_acc"])):
                ref = (
                    f"; reference trained on real data_train, tested on real data_new: {r['real_to_real_acc']:.1%}"
                    f" (balanced {r['real_to_real_balanced_acc']:.1%})"
                )
            lines.append(
                "synthetic-to-real figure (fast classifier trained on synthetic data_train): "
                f"{r['acc']:.1%} accuracy, {r['balanced_acc']:.1%} balanced, on {r['n_real']} real BSData "
                f"patches ({r['real_pitting_share']:.1%} pitting){ref}"
            )
        if self.contact_sheet:
            lines.append(f"contact sheet: {self.contact_sheet}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def shift_text(fig: dict[str, Any], name: str) -> str:
    """One line on a :func:`shift_effect` figure of the data called ``name``."""
    return (
        f"shift figure (fast classifier, {name}): "
        f"data_train holdout {fig['train_acc']:.1%} -> data_new {fig['new_acc']:.1%} "
        f"(drop {100 * fig['drop']:.1f} points); with half of data_new labelled "
        f"(~{fig['n_new_labelled']} labels, cross-fitted) data_new {fig['new_acc_after']:.1%} "
        f"(regain {100 * fig['regain']:+.1f} points)"
    )


def _counts(family_root: Path) -> dict[str, dict[str, int]]:
    df = load_dataset(family_root, progress=False)
    out: dict[str, dict[str, int]] = {}
    for set_name in SET_NAMES:
        part = df[df["split"] == set_name]
        out[set_name] = {str(k): int(v) for k, v in part["label"].value_counts().sort_index().items()}
    return out


def _complete(family_root: Path) -> bool:
    return all((family_root / s).is_dir() for s in SET_NAMES)


def _fingerprint(*roots: Path) -> str:
    """Identity of the data the figures were measured on: the manifests' bytes."""
    h = hashlib.sha256()
    for r in roots:
        m = r / "manifest.csv"
        h.update(m.read_bytes() if m.is_file() else b"-")
    return h.hexdigest()


def prepare_data(
    *,
    root: PathLike | None = None,
    n_train: int = 23717,
    n_new: int = 360,
    shift: float = 1.0,
    n_crack: int = 1200,
    seed: int = 0,
    bsdata: PathLike | None = None,
    bsdata_limit: int = 0,
    overwrite: bool = False,
    progress: bool = True,
    measure: bool = True,
) -> DataSummary:
    """Make every data set a run needs (what is missing), draw a contact sheet, measure and summarise.

    Under ``root``: the synthetic BSD family (:func:`olkit.data.synth.generate_bsd`), the crack family in ``crack/``
    (:func:`olkit.data.synth.generate_crack`) and the real BSData patches in ``bsdata/`` (:func:`olkit.data.bsdata.import_bsdata`
    from the checkout ``bsdata``; noted and skipped when there is none). Existing families are kept unless
    ``overwrite``. The figures are cached in ``root/data_summary.json`` and re-measured when a manifest changes.

    Only olkit's own data roots are written to (:func:`owns_data_root`: a new or empty folder, or one olkit made,
    which it marks with ``.olkit-data.json``); a folder of the user's raises :class:`ReadOnlyDataError`.

    Parameters
    ----------
    root
        The data root (default :func:`olkit.paths.data_root`, ``data_bsd``).
    n_train, n_new, shift
        Synthetic BSD sizes and the strength of the new patterns (see :func:`olkit.data.synth.generate_bsd`).
    n_crack
        Crack-family ``data_train`` size (``data_new`` gets a sixth of it); 0 skips the family.
    seed
        Seed of every generator and measurement.
    bsdata
        A BSData checkout (default :func:`olkit.paths.bsdata_source`).
    bsdata_limit
        Import only this many annotated photographs (0: all), as :func:`olkit.data.bsdata.import_bsdata` does.
    overwrite
        Re-make every family, replacing what exists.
    progress
        Show progress bars.
    measure
        Compute the shift and synthetic-to-real figures (a few seconds each).

    Returns
    -------
    DataSummary
        Counts per family, set and class, the figures and the contact sheet's path.

    Raises
    ------
    ReadOnlyDataError
        ``root`` holds data olkit did not make.
    """
    base = Path(root).expanduser().resolve() if root is not None else data_root()
    source = Path(bsdata).expanduser().resolve() if bsdata is not None else bsdata_source()
    _claim(base)
    families: list[FamilyStatus] = []
    notes: list[str] = []

    # synthetic BSD
    rate: float | None = None
    if overwrite or not _complete(base):
        man = generate_bsd(
            base, n_train=n_train, n_new=n_new, shift=shift, seed=seed, overwrite=overwrite, progress=progress
        )
        status, rate = "made", float(man.attrs.get("images_per_s", 0.0)) or None
    else:
        status = "kept (already there; `olkit data --overwrite` re-makes it)"
    families.append(FamilyStatus("synthetic BSD", base, status, _counts(base), rate))

    # crack family
    crack_root = base / "crack"
    if n_crack > 0 and (overwrite or not _complete(crack_root)):
        man = generate_crack(
            crack_root,
            n=n_crack,
            n_new=max(1, n_crack // 6),
            shift=shift,
            seed=seed,
            overwrite=overwrite,
            progress=progress,
        )
        families.append(
            FamilyStatus(
                "crack family", crack_root, "made", _counts(crack_root), man.attrs.get("images_per_s")
            )
        )
    elif _complete(crack_root):
        families.append(FamilyStatus("crack family", crack_root, "kept", _counts(crack_root)))
    else:
        families.append(FamilyStatus("crack family", crack_root, "missing: n_crack=0"))

    # real BSData patches
    real_root = base / "bsdata"
    if _complete(real_root) and not overwrite:
        families.append(FamilyStatus("real BSData patches", real_root, "kept", _counts(real_root)))
    elif (source / "image_data.json").is_file():
        from olkit.data.bsdata import import_bsdata

        import_bsdata(source, real_root, limit=bsdata_limit or None, overwrite=overwrite, progress=progress)
        families.append(
            FamilyStatus("real BSData patches", real_root, f"imported from {source}", _counts(real_root))
        )
    else:
        families.append(
            FamilyStatus(
                "real BSData patches",
                real_root,
                f"missing: no BSData checkout at {source} (pass --bsdata PATH or set OLKIT_BSDATA)",
            )
        )
        notes.append("the synthetic-to-real figure needs the real BSData patches")
    has_real = _complete(real_root)

    sheet = contact_sheet(
        base,
        real_root=real_root if has_real else None,
        crack_root=crack_root if _complete(crack_root) else None,
        seed=seed,
    )

    shift_fig: dict[str, Any] | None = None
    real_fig: dict[str, Any] | None = None
    if measure:
        cache = base / _SUMMARY_FILE
        key = _fingerprint(base, real_root) + f":seed={seed}"
        cached: dict[str, Any] = {}
        if cache.is_file():
            try:
                cached = json.loads(cache.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                cached = {}
        if cached.get("key") == key:
            shift_fig, real_fig = cached.get("shift"), cached.get("synth_to_real")
        else:
            shift_fig = shift_effect(base, seed=seed)
            real_fig = synth_to_real(base, real_root, seed=seed) if has_real else None
            cache.write_text(
                json.dumps(
                    {"key": key, "shift": shift_fig, "synth_to_real": real_fig}, indent=2, default=float
                ),
                encoding="utf-8",
            )
    return DataSummary(base, tuple(families), shift_fig, real_fig, sheet, tuple(notes))


# ----------------------------------------------------------------------------------------------------------------
# data roots: whose they are and what they hold
# ----------------------------------------------------------------------------------------------------------------
def owns_data_root(root: PathLike) -> bool:
    """Whether olkit may write into ``root``.

    It may where it made the folder (:func:`prepare_data` leaves ``.olkit-data.json`` there; anything below such a
    folder is olkit's too, as is the checkout's own ``data_bsd/``) and where the folder is missing or empty. Every
    other folder is the user's: olkit reads it and never writes into it.

    Parameters
    ----------
    root
        A data root.

    Returns
    -------
    bool
    """
    base = Path(root).expanduser().resolve()
    if not base.exists() or (base.is_dir() and not any(base.iterdir())):
        return True
    own = (project_root() / "data_bsd").resolve()
    return any((folder / MARKER_FILE).is_file() or folder == own for folder in (base, *base.parents))


def _claim(base: Path) -> None:
    """Make ``base`` olkit's data folder (create it, leave the marker), or refuse when it is the user's."""
    if not owns_data_root(base):
        raise ReadOnlyDataError(
            f"{base} holds data olkit did not make: olkit reads it and never writes into it. To run on it: "
            f"`olkit data check {base}`, then `olkit run --profile mine -p data_root {base}`; to make olkit's "
            "data, give `olkit data --root` a new or empty folder"
        )
    base.mkdir(parents=True, exist_ok=True)
    if not (base / MARKER_FILE).is_file():
        atomic_write_json(base / MARKER_FILE, {"made_by": "olkit data", "created": utc_stamp()})


def manifest_sha256(manifest: pd.DataFrame, root: PathLike) -> str:
    """The identity of a data set: SHA-256 over its images' paths relative to ``root``, hashes, classes and sets.

    The same files give the same hash wherever the root is mounted; a renamed, added, removed, changed or
    relabelled image changes it.
    """
    base = Path(root).expanduser().resolve().as_posix().rstrip("/") + "/"
    lines = sorted(
        "\t".join((p[len(base) :] if p.startswith(base) else p, s, str(lab), str(sp)))
        for p, s, lab, sp in zip(
            manifest["path"], manifest["sha256"], manifest["label"], manifest["split"], strict=True
        )
    )
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


_FAMILY_NAMES = {
    "synthetic": "synthetic BSD patches",
    "crack": "crack family",
    "bsdata": "real BSData patches",
}


def data_name(root: PathLike, manifest: pd.DataFrame | None = None) -> str:
    """What the summary and the report call a data set: olkit's families by their names, any other root by its
    folder's name (never "synthetic BSD" for a user's images)."""
    base = Path(root).expanduser().resolve()
    if manifest is not None and len(manifest) and owns_data_root(base):
        sources = set(manifest["source"].astype(str))
        if len(sources) == 1 and next(iter(sources)) in _FAMILY_NAMES:
            return _FAMILY_NAMES[next(iter(sources))]
    return base.name


@dataclass(frozen=True)
class DataCheck:
    """What olkit sees in a data root (:func:`check_data_root`); ``print(check)`` gives ``olkit data check``.

    Attributes
    ----------
    root : pathlib.Path
        The data root.
    name : str
        What the summary and the report call it (:func:`data_name`, or the name given).
    owned : bool
        Whether olkit made it (:func:`owns_data_root`); a user's root is read-only for olkit.
    manifest : pandas.DataFrame
        One row per readable image (``split`` = ``data_train`` / ``data_new``).
    problems : tuple of ImageProblem
        Files that were skipped and why (not an image, truncated, ...); empty when read from olkit's manifest.
    mask_files : dict
        Per set, the mask files found under ``masks/<set>/``.
    scanned : bool
        Every file was read (``False``: olkit's own ``manifest.csv`` was trusted).
    """

    root: Path
    name: str
    owned: bool
    manifest: pd.DataFrame
    problems: tuple[ImageProblem, ...] = ()
    mask_files: dict[str, int] = field(default_factory=dict)
    scanned: bool = True

    @property
    def classes(self) -> list[str]:
        """Class names, from the class folders, sorted."""
        return sorted(set(self.manifest["label"].astype(str)))

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Images per set and class."""
        out: dict[str, dict[str, int]] = {}
        for set_name in SET_NAMES:
            part = self.manifest[self.manifest["split"] == set_name]
            out[set_name] = {str(k): int(v) for k, v in part["label"].value_counts().sort_index().items()}
        return out

    @property
    def with_mask(self) -> dict[str, int]:
        """Per set, the images that have a mask (``masks/<set>/<image stem>.png``)."""
        m = self.manifest
        return {s: int(((m["split"] == s) & (m["mask_path"] != "")).sum()) for s in SET_NAMES}

    @property
    def duplicates(self) -> list[list[str]]:
        """Groups of identical files (same SHA-256), within a set or across sets."""
        groups = self.manifest.groupby("sha256")["path"].apply(lambda s: sorted(s.astype(str)))
        return sorted(g for g in groups if len(g) > 1)

    @property
    def cross_set_duplicates(self) -> list[list[str]]:
        """Groups of identical files found in both ``data_train`` and ``data_new`` (they leak into the holdout)."""
        m = self.manifest
        shared = m.groupby("sha256")["split"].nunique()
        rows = m[m["sha256"].isin(shared[shared > 1].index)]
        return sorted(sorted(g.astype(str)) for _, g in rows.groupby("sha256")["path"])

    @property
    def image_size(self) -> tuple[int, int]:
        """The median ``(height, width)`` of the images."""
        return int(self.manifest["height"].median()), int(self.manifest["width"].median())

    @property
    def sha256(self) -> str:
        """:func:`manifest_sha256` of the data root."""
        return manifest_sha256(self.manifest, self.root)

    def warnings(self) -> list[str]:
        """What will limit or break a run on this data."""
        out = []
        counts = self.counts
        if len(counts["data_train"]) < 2:
            out.append(
                f"data_train holds {len(counts['data_train'])} class(es): a classifier needs two or more"
            )
        if set(counts["data_new"]) - set(counts["data_train"]):
            extra = ", ".join(sorted(set(counts["data_new"]) - set(counts["data_train"])))
            out.append(
                f"data_new has classes data_train lacks ({extra}): the first classifier cannot know them"
            )
        if sum(counts["data_new"].values()) < 4:
            out.append("data_new holds fewer than 4 images: too few to halve into holdout and test")
        if not any(self.with_mask.values()):
            out.append("no masks (masks/<set>/<image stem>.png): pruning will be skipped with a note")
        if self.cross_set_duplicates:
            out.append(
                f"{len(self.cross_set_duplicates)} image(s) are in both data_train and data_new: the holdout "
                "then measures images the classifier was trained on"
            )
        return out

    def metrics(self) -> dict[str, Any]:
        """The check's figures for ``metrics.json``."""
        return {
            "root": str(self.root),
            "name": self.name,
            "owned": self.owned,
            "manifest_sha256": self.sha256,
            "classes": self.classes,
            "set_counts": self.counts,
            "with_mask": self.with_mask,
            "problems": len(self.problems),
            "duplicates_across_sets": len(self.cross_set_duplicates),
            "image_size": list(self.image_size),
        }

    def __str__(self) -> str:
        whose = "olkit's data" if self.owned else "yours: olkit reads it and writes nothing there"
        lines = [
            f"data root {self.root} ({whose})",
            f"  name: {self.name}; manifest sha256 {self.sha256[:16]}",
        ]
        for set_name, classes in self.counts.items():
            per_class = ", ".join(f"{k}: {v}" for k, v in classes.items()) or "no images"
            masks = f"{self.with_mask[set_name]} with a mask"
            if self.mask_files.get(set_name, 0) > self.with_mask[set_name]:
                masks += (
                    f", {self.mask_files[set_name] - self.with_mask[set_name]} mask files without an image"
                )
            lines.append(f"  {set_name:<10} {sum(classes.values()):>6} images ({per_class}); {masks}")
        h, w = self.image_size
        sizes = self.manifest[["height", "width"]].drop_duplicates()
        lines.append(
            f"  classes: {', '.join(self.classes)} (from the folders); image size {h}x{w}"
            + (f" (median of {len(sizes)} sizes)" if len(sizes) > 1 else "")
        )
        if not self.scanned:
            lines.append("  read from olkit's manifest.csv (`olkit data check` reads every file)")
        lines.append(f"  unreadable or skipped files: {len(self.problems)}")
        lines.extend(f"    {p}" for p in self.problems[:20])
        if len(self.problems) > 20:
            lines.append(f"    ... and {len(self.problems) - 20} more")
        cross = self.cross_set_duplicates
        n_dup = len(self.duplicates)
        lines.append(
            f"  identical files: {n_dup} group(s), {len(cross)} of them across data_train and data_new"
        )
        lines.extend("    " + " == ".join(g) for g in (cross or self.duplicates)[:10])
        lines.extend(f"  warning: {w}" for w in self.warnings())
        return "\n".join(lines)


def check_data_root(
    root: PathLike, *, name: str | None = None, scan: bool = True, progress: bool = False
) -> DataCheck:
    """Look at a data root before anything runs on it (``olkit data check DIR``); reads, never writes.

    A data root is the original's layout: ``data_train/<class>/`` and ``data_new/<class>/`` with images (any
    number of classes, named by their folders) and optionally ``masks/<set>/<image stem>.png``.

    Parameters
    ----------
    root
        The folder to look at.
    name
        What to call the data (default :func:`data_name`).
    scan
        Read every file (finds unreadable files and duplicates); ``False`` trusts olkit's own ``manifest.csv``
        where it matches the files (olkit's data, tens of thousands of images).
    progress
        Show progress bars.

    Returns
    -------
    DataCheck

    Raises
    ------
    DataNotFoundError
        ``root`` is missing or not a data root (no ``data_train`` / ``data_new`` folder, or no readable image);
        the message says what was found instead.
    """
    base = Path(root).expanduser().resolve()
    if not base.is_dir():
        raise DataNotFoundError(
            f"{base} is not a data root: {'not a folder' if base.exists() else 'no such folder'}"
        )
    missing = [s for s in SET_NAMES if not (base / s).is_dir()]
    if missing:
        found = sorted(
            p.name + ("/" if p.is_dir() else "") for p in base.iterdir() if not p.name.startswith(".")
        )
        raise DataNotFoundError(
            f"{base} is not a data root: it lacks {' and '.join(missing)} (a data root holds data_train/<class>/ "
            f"and data_new/<class>/ image folders, masks optional in masks/<set>/); found: "
            f"{', '.join(found[:12]) or 'nothing'}"
            + (f" and {len(found) - 12} more" if len(found) > 12 else "")
        )
    owned = owns_data_root(base)
    problems: list[ImageProblem] = []
    if scan:
        source = {"bsdata": "bsdata", "crack": "crack"}.get(base.name, "synthetic") if owned else "user"
        parts = []
        for set_name in SET_NAMES:
            res = scan_image_folder(
                base / set_name,
                set_name=set_name,
                source=source,
                masks_root=base / "masks" / set_name,
                progress=progress,
            )
            parts.append(res.manifest)
            problems.extend(res.problems)
        manifest = (
            pd.concat(parts, ignore_index=True).sort_values("path", kind="stable").reset_index(drop=True)
        )
        manifest = _keep_manifest_groups(base, manifest)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            manifest = load_dataset(base, progress=progress)
    if manifest.empty:
        raise DataNotFoundError(
            f"{base} is not a usable data root: no readable image in data_train/<class>/ or data_new/<class>/ "
            f"({len(problems)} files skipped)"
        )
    mask_files = {
        s: sum(1 for p in (base / "masks" / s).glob("*.png") if not p.name.startswith("."))
        if (base / "masks" / s).is_dir()
        else 0
        for s in SET_NAMES
    }
    return DataCheck(
        root=base,
        name=name or data_name(base, manifest),
        owned=owned,
        manifest=manifest,
        problems=tuple(problems),
        mask_files=mask_files,
        scanned=scan,
    )


def _keep_manifest_groups(base: Path, manifest: pd.DataFrame) -> pd.DataFrame:
    """Carry the ``group`` (wear sequence, photograph) of olkit's ``manifest.csv`` over to a scan of the files."""
    path = base / "manifest.csv"
    if not path.is_file() or not owns_data_root(base):
        return manifest
    try:
        known = read_manifest(path).set_index("sha256")["group"]
    except (ValueError, KeyError, OSError):
        return manifest
    known = known[~known.index.duplicated()]
    out = manifest.copy()
    hit = out["sha256"].isin(known.index)
    out.loc[hit, "group"] = known.loc[out.loc[hit, "sha256"]].to_numpy()
    return out


def run_manifest(run: RunFolder, root: PathLike | None = None) -> pd.DataFrame:
    """The manifest of ``root`` (default: the run's data root) for a notebook, writing nothing.

    The run's data root is read from the run folder's copy (``data_manifest.csv``, written by notebook 1); another
    root from olkit's ``manifest.csv`` where it is olkit's, else by a scan.
    """
    data = run.read_metrics().get("data", {})
    base = Path(root).expanduser().resolve() if root is not None else Path(str(data.get("root", "")))
    if run.data_manifest.is_file() and str(base) == str(Path(str(data.get("root", ""))).resolve()):
        return read_manifest(run.data_manifest)
    return check_data_root(base, scan=not owns_data_root(base)).manifest


def manifest_file(run: RunFolder, root: PathLike | None = None) -> Path | None:
    """The manifest file that identifies ``root``'s images (default: the run's data root), or None.

    olkit's own data roots carry a ``manifest.csv``; a user's root is never written to, so its manifest is the run
    folder's copy (``RunFolder.data_manifest``) when ``root`` is the run's data root. A model card hashes this file.
    """
    data = run.read_metrics().get("data", {})
    run_root = Path(str(data.get("root", ""))).expanduser().resolve() if data.get("root") else None
    base = Path(root).expanduser().resolve() if root is not None else run_root
    if base is not None and (base / "manifest.csv").is_file():
        return base / "manifest.csv"
    if base is not None and base == run_root and run.data_manifest.is_file():
        return run.data_manifest
    return None


@dataclass(frozen=True)
class RunData:
    """A data root as a run uses it (:func:`use_data_root`): what was seen there and the online splits made."""

    check: DataCheck
    splits: pd.DataFrame
    notes: tuple[str, ...] = ()

    def metrics(self) -> dict[str, Any]:
        """The figures notebook 1 (or 8, for the second data set) records in ``metrics.json``."""
        return {
            **self.check.metrics(),
            "counts": {k: int(v) for k, v in self.splits["split"].value_counts().items()},
            "notes": list(self.notes),
        }


def use_data_root(
    run: RunFolder,
    root: PathLike | DataCheck,
    *,
    name: str | None = None,
    train_nr: int = 0,
    holdout_fraction: float = 0.5,
    seed: int = 0,
    group_col: str | None = None,
    scan: bool | None = None,
) -> RunData:
    """Read a data root for a run and write its manifest and online splits into the run folder (never into it).

    ``train_nr`` is capped at the images ``data_train`` holds (with a note; 0 takes them all).

    Parameters
    ----------
    run
        The run (or sub-run) folder: receives ``data_manifest.csv`` and ``splits.csv``.
    root
        The data root, or what :func:`check_data_root` saw there (then it is not read again).
    name
        What to call the data (default :func:`data_name`).
    train_nr
        Training images drawn from ``data_train`` (the original's ``TRAIN_NR``).
    holdout_fraction, seed, group_col
        See :func:`olkit.data.io.make_online_splits`.
    scan
        Read every file; default: for a user's root (olkit's own trusts its ``manifest.csv``).

    Returns
    -------
    RunData
    """
    if isinstance(root, DataCheck):
        check = root
    else:
        check = check_data_root(root, name=name, scan=not owns_data_root(root) if scan is None else scan)
    write_manifest(check.manifest, run.data_manifest, overwrite=True)
    n_train, note = cap_count(
        train_nr, sum(check.counts["data_train"].values()), what="train_nr", where="in data_train"
    )
    splits = make_online_splits(
        check.manifest, train_nr=n_train, seed=seed, holdout_fraction=holdout_fraction, group_col=group_col
    )
    write_manifest(splits, run.splits, overwrite=True)
    return RunData(check, splits, tuple(n for n in (note,) if n))


def class_balance(manifest: pd.DataFrame) -> pd.DataFrame:
    """Images per set (rows) and class (columns), with each class's share of its set."""
    counts = manifest.groupby(["split", "label"]).size().unstack(fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0).round(3).add_prefix("share ")
    return pd.concat([counts, shares], axis=1)


# ----------------------------------------------------------------------------------------------------------------
# sizes that follow the data
# ----------------------------------------------------------------------------------------------------------------
def cap_count(wanted: int, available: int, *, what: str = "count", where: str = "there") -> tuple[int, str]:
    """``wanted`` capped at ``available`` (``wanted <= 0``: all of them), and a note when it was capped.

    Examples
    --------
    >>> cap_count(3000, 1047, what="train_nr", where="in data_train")
    (1047, 'train_nr=3000 exceeds the 1047 images in data_train: using all 1047')
    """
    if wanted <= 0:
        return available, ""
    if wanted > available:
        return available, f"{what}={wanted} exceeds the {available} images {where}: using all {available}"
    return int(wanted), ""


def budget_count(budget: float, test_size: int) -> tuple[int, str]:
    """The labels of one round from ``budget``: a fraction of the test set or a count.

    ``0 < budget < 1`` is a share of the test set, rounded up (``0.33`` of 180 images is 60, the original's third);
    ``budget >= 1`` is a count, capped at the test set (with a note); ``0`` leaves the budget open (every image the
    strategy picks).

    Returns
    -------
    n : int
        Images for the expert (0: no cap).
    note : str
        Non-empty when a count was capped.

    Raises
    ------
    ValueError
        A negative budget, or a count that is not whole.
    """
    if budget < 0:
        raise ValueError(f"budget must be a share of the test set (0..1) or a count (>= 1), not {budget}")
    if budget == 0:
        return 0, ""
    if budget < 1:
        return max(1, math.ceil(budget * test_size - 1e-9)), ""
    if float(budget) != int(budget):
        raise ValueError(f"budget {budget} is neither a share of the test set (0..1) nor a whole count")
    n = int(budget)
    if n > test_size:
        return test_size, f"budget={n} exceeds the {test_size} test images: using all {test_size}"
    return n, ""
