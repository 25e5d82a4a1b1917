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

from olkit.data.io import SET_NAMES, load_dataset, load_images
from olkit.data.synth import generate_bsd, generate_crack
from olkit.errors import DataNotFoundError
from olkit.paths import bsdata_source, data_root
from olkit.types import PathLike

__all__ = [
    "DataSummary",
    "FamilyStatus",
    "contact_sheet",
    "patch_features",
    "prepare_data",
    "shift_effect",
    "synth_to_real",
]

_FEATURE_SIZE = 64
_HOG = cv2.HOGDescriptor((_FEATURE_SIZE, _FEATURE_SIZE), (16, 16), (16, 16), (8, 8), 9)
_BLACKHATS = tuple(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)) for k in (5, 15))
_SUMMARY_FILE = "data_summary.json"


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

    Returns
    -------
    dict
        ``train_acc`` (data_train holdout), ``new_acc`` (data_new, before any of its labels), ``new_acc_after``
        (data_new images scored by a model that saw the labels of the other half), ``drop``
        (``train_acc - new_acc``), ``regain`` (``new_acc_after - new_acc``), ``n_new_labelled`` (labels added
        per fit), and the sizes used.
    """
    df = load_dataset(root, progress=False)
    rng = np.random.default_rng(seed)
    train = df[df["split"] == "data_train"]
    new = df[df["split"] == "data_new"]
    if train.empty or len(new) < 4 or train["label"].nunique() < 2:
        raise DataNotFoundError(
            f"{root} needs data_train with two classes and at least 4 data_new images; make them with `olkit data`"
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
) -> Path:
    """Draw example patches per family, set and class into one PNG.

    Rows: synthetic ``data_train`` and ``data_new`` (class 0 and 1 each), the real BSData patches (class 0 and 1,
    both sets) when ``real_root`` holds them, and the crack family (without and with cracks) when ``crack_root``
    does. Tiles are shown at 150×150 pixels.

    Parameters
    ----------
    root
        The synthetic BSD family.
    real_root, crack_root
        Optional roots of the real patches and the crack family (skipped when missing).
    per_row
        Tiles per row.
    path
        The PNG to write (default ``root/contact_sheet.png``).
    seed
        Which examples are drawn.

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
        family_root: PathLike | None, title: str, sets: dict[str, str], classes: dict[str, str]
    ) -> None:
        if family_root is None or not all((Path(family_root) / s).is_dir() for s in SET_NAMES):
            return
        df = load_dataset(family_root, progress=False)
        for set_key, set_title in sets.items():
            for cls, cls_title in classes.items():
                part = df[(df["label"] == cls) & (df["split"].isin(set_key.split("+")))]
                if part.empty:
                    continue
                pick = part.sample(n=min(per_row, len(part)), random_state=int(rng.integers(2**31)))
                rows.append((f"{title} {set_title}, {cls_title}", list(pick["path"])))

    pits = {"0": "no pitting (0)", "1": "pitting (1)"}
    add_rows(root, "synthetic", {"data_train": "data_train", "data_new": "data_new"}, pits)
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
            s = self.shift
            lines.append(
                "shift figure (fast classifier, synthetic BSD): "
                f"data_train holdout {s['train_acc']:.1%} -> data_new {s['new_acc']:.1%} "
                f"(drop {100 * s['drop']:.1f} points); with half of data_new labelled "
                f"(~{s['n_new_labelled']} labels, cross-fitted) data_new {s['new_acc_after']:.1%} "
                f"(regain {100 * s['regain']:+.1f} points)"
            )
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
    overwrite: bool = False,
    progress: bool = True,
    measure: bool = True,
) -> DataSummary:
    """Make every data set a run needs (what is missing), draw a contact sheet, measure and summarise.

    Under ``root``: the synthetic BSD family (:func:`olkit.data.synth.generate_bsd`), the crack family in ``crack/``
    (:func:`olkit.data.synth.generate_crack`) and the real BSData patches in ``bsdata/`` (:func:`olkit.data.bsdata.import_bsdata`
    from the checkout ``bsdata``; noted and skipped when there is none). Existing families are kept unless
    ``overwrite``. The figures are cached in ``root/data_summary.json`` and re-measured when a manifest changes.

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
    """
    base = Path(root).expanduser().resolve() if root is not None else data_root()
    source = Path(bsdata).expanduser().resolve() if bsdata is not None else bsdata_source()
    base.mkdir(parents=True, exist_ok=True)
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

        import_bsdata(source, real_root, overwrite=overwrite, progress=progress)
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
