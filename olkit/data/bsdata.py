"""The real BSData set as a patch data set in the original's layout.

BSData (Schlagenhauf, Landwehr et al., "Industrial machine tool component surface defect dataset", Data in Brief
39 (2021) 107643, doi 10.1016/j.dib.2021.107643, CC BY-SA 4.0) holds 1,104 photographs of ball-screw-drive
spindles, 394 of them with labelme polygons around pitting. :func:`import_bsdata` cuts them into 150x150 RGB
patches with a mask each and writes them as ``<out>/<set>/<class>/<name>.png``, ``<out>/masks/<set>/<name>.png``,
``<out>/manifest.csv`` and ``<out>/ATTRIBUTION.md`` -- the layout :func:`olkit.data.io.load_dataset` reads.

What the photographs show (checked by eye on contact sheets): the raceways of the spindle run horizontally across
every photograph and the spindle fills the frame apart from a thin strip of background at the left and right ends,
so patches are tiled along the spindle, left to right, inside a margin of ``edge_margin`` of the width.

Drive type 2 (1,035 photographs) is one spindle photographed at 15 positions (``<position>_<angle>`` in the file
name) 69 times each from 2020-08-28 to 2020-09-16 while wear grew: each position is a *wear sequence* of
near-duplicates. Drive type 1 (69 photographs, ``KGT<n>-<S|V>-<nr>-A<stage>``) shows three drives in two
conditions, which the dataset's README names clean and soiled: ``S`` photographs are clean, evenly lit metal;
``V`` photographs are soiled (oil film, debris, wear marks) under warmer light, a shift that is plain on a
contact sheet (``S``/``V`` read as German "sauber"/"verschmutzt").

Besides the layout, an import writes ``patches.csv`` (every patch's source photograph, drive type, condition,
sequence, window ``x``/``y`` in the resized photograph, ``scale`` and pitting fraction) and ``import.json`` (the
options and the time taken).
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
import pandas as pd
from tqdm.auto import tqdm

from olkit.data.io import decode_image, load_image, write_manifest
from olkit.errors import DataNotFoundError, ImageReadError, OlkitError
from olkit.types import ImageProblem, MaskArray, PathLike

__all__ = [
    "BSDATA_CITATION",
    "BsdataImport",
    "Polygon",
    "import_bsdata",
    "read_labelme",
    "render_polygon_mask",
]

BSDATA_CITATION = (
    "T. Schlagenhauf, M. Landwehr, J. Fleischer: Industrial machine tool component surface defect dataset. "
    "Data in Brief 39 (2021) 107643. doi:10.1016/j.dib.2021.107643"
)
"""How to cite the source of every file :func:`import_bsdata` writes."""

_SHIFT = 4  # sub-pixel bits for cv2.fillPoly: polygon vertices are placed to 1/16 px
_T1_NAME = re.compile(r"^(?P<drive>KGT\d+)-(?P<cond>[A-Z])-(?P<nr>\d+)-A(?P<stage>\d+)_crop_(?P<crop>\d+)$")
_T2_NAME = re.compile(r"^\d+_(?P<time>\d{12})_(?P<pos>\d+)_(?P<angle>\d+)_crop_(?P<crop>\d+)$")
_SETS = ("data_train", "data_new")


@dataclass(frozen=True)
class Polygon:
    """One labelme shape as a closed polygon.

    Attributes
    ----------
    label
        The shape's label (``"Pitting"`` throughout BSData).
    points
        ``(k, 2)`` float vertices ``(x, y)`` in pixels of the annotated image.
    """

    label: str
    points: npt.NDArray[np.float64]

    @property
    def area(self) -> float:
        """Area enclosed by the polygon (shoelace formula), in square pixels."""
        x, y = self.points[:, 0], self.points[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _labelme_doc(json_path: PathLike) -> dict[str, Any]:
    p = Path(json_path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataNotFoundError(f"labelme file {p} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OlkitError(f"{p} is not a labelme JSON file ({exc}); re-save it in labelme") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        raise OlkitError(f"{p} is not a labelme JSON file (no 'shapes' list); re-save it in labelme")
    return doc


def _polygons(doc: dict[str, Any]) -> list[Polygon]:
    out: list[Polygon] = []
    for shape in doc["shapes"]:
        pts = np.asarray(shape.get("points") or [], dtype=np.float64).reshape(-1, 2)
        kind = shape.get("shape_type") or "polygon"
        if kind == "rectangle" and len(pts) == 2:
            (x0, y0), (x1, y1) = pts
            pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
        elif kind == "circle" and len(pts) == 2:
            (cx, cy), (ex, ey) = pts
            r = float(np.hypot(ex - cx, ey - cy))
            t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
            pts = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)
        elif kind != "polygon" or len(pts) < 3:
            continue  # lines, points and degenerate shapes enclose no area
        out.append(Polygon(label=str(shape.get("label", "")), points=pts))
    return out


def read_labelme(json_path: PathLike) -> list[Polygon]:
    """Read the polygons of a labelme JSON file.

    Polygons are returned as drawn; rectangles and circles become polygons; lines and points (no area) are left
    out. The base64 image embedded in ``imageData`` is never decoded here.

    Parameters
    ----------
    json_path
        A labelme ``.json`` file.

    Returns
    -------
    list of Polygon
        In file order.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    OlkitError
        The file is not labelme JSON.
    """
    return _polygons(_labelme_doc(json_path))


def render_polygon_mask(
    polygons: Sequence[Polygon],
    shape: tuple[int, int],
    *,
    labels: Sequence[str] | None = None,
    scale: float = 1.0,
    value: int = 1,
    out: MaskArray | None = None,
) -> MaskArray:
    """Rasterise polygons into a mask with :func:`cv2.fillPoly` (vertices placed to 1/16 pixel): the one labelme
    rasteriser of olkit.

    Checked against rounding the vertices to whole pixels (what :func:`olkit.prune.masks.labelme_to_mask` did) on
    126 real BSData polygons, with "the pixel's centre lies inside the polygon" as the reference: the two are as
    exact as each other (8,007 against 8,056 pixels wrong at full size, 3,168 against 3,158 at the importer's
    scale 0.37), and every wrong pixel lies on the outline, which ``fillPoly`` fills inclusively (the test
    ``test_subpixel_rasteriser_against_rounded_vertices`` repeats the check).

    Parameters
    ----------
    polygons
        From :func:`read_labelme`.
    shape
        ``(height, width)`` of the mask.
    labels
        Only polygons with these labels (case-insensitive); default all.
    scale
        Factor applied to the vertices first (the mask of a resized image).
    value
        The value written inside the polygons (a class value; 1 for a 0/1 mask).
    out
        Draw into this ``uint8`` mask of ``shape`` (so polygons of several classes go into one mask, later
        polygons over earlier ones) instead of a new zero mask.

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(height, width)``: ``value`` inside any polygon, 0 (or ``out``'s values) elsewhere.
    """
    if out is None:
        mask = np.zeros((int(shape[0]), int(shape[1])), dtype=np.uint8)
    else:
        if out.shape != (int(shape[0]), int(shape[1])) or out.dtype != np.uint8:
            raise ValueError(f"out must be a uint8 mask of shape {tuple(shape)}, not {out.dtype} {out.shape}")
        mask = out
    if not 0 <= int(value) <= 255:
        raise ValueError(f"a mask value is 0..255, not {value}")
    wanted = {s.lower() for s in labels} if labels is not None else None
    pts = [
        np.round(p.points * scale * (1 << _SHIFT)).astype(np.int32)
        for p in polygons
        if wanted is None or p.label.lower() in wanted
    ]
    if pts:
        cv2.fillPoly(mask, pts, int(value), lineType=cv2.LINE_8, shift=_SHIFT)
    return mask


# --------------------------------------------------------------------------------------------------------------------
# the importer
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BsdataImport:
    """What :func:`import_bsdata` wrote.

    Attributes
    ----------
    out_root
        The data root (``load_dataset(out_root)`` reads it).
    manifest
        One row per patch (columns :data:`olkit.types.MANIFEST_COLUMNS`; ``group`` is the wear sequence or
        photograph).
    patches
        The same rows with provenance: source photograph, drive type, condition, sequence, window, scale and
        pitting fraction.
    problems
        Photographs that could not be used, with the reason.
    seconds
        Wall time of the import.
    params
        The options it ran with.
    """

    out_root: Path
    manifest: pd.DataFrame
    patches: pd.DataFrame
    problems: list[ImageProblem] = field(default_factory=list)
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> pd.DataFrame:
        """Patches per set and class, photographs and groups per set, and the pitting share."""
        p = self.patches
        rows = []
        for name in _SETS:
            sub = p[p["set"] == name]
            n1 = int((sub["label"] == "1").sum())
            rows.append(
                {
                    "set": name,
                    "patches": len(sub),
                    "class_0": len(sub) - n1,
                    "class_1": n1,
                    "pitting_share": n1 / len(sub) if len(sub) else float("nan"),
                    "photographs": sub["source_image"].nunique(),
                    "groups": sub["group"].nunique(),
                    "conditions": ", ".join(sorted(sub["condition"].unique())),
                }
            )
        return pd.DataFrame(rows).set_index("set")

    def summary(self) -> str:
        """Counts and pitting share per set, problems, time taken."""
        c = self.counts()
        lines = [f"BSData patches in {self.out_root} ({self.seconds:.1f} s):"]
        for name, r in c.iterrows():
            lines.append(
                f"  {name}: {r['patches']} patches ({r['class_0']} no pitting, {r['class_1']} pitting, "
                f"pitting share {r['pitting_share']:.1%}) from {r['photographs']} photographs in {r['groups']} "
                f"groups [{r['conditions']}]"
            )
        if self.problems:
            lines.append(f"  {len(self.problems)} photographs skipped:")
            lines.extend(f"    {q}" for q in self.problems[:10])
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@dataclass(frozen=True)
class _Job:
    stem: str
    image: str
    label: str
    drive_type: int
    condition: str
    sequence: str
    group: str
    set_name: str
    out_root: str
    patch: int
    stride: int
    positive_stride: int
    min_pitting_fraction: float
    image_width: int | None
    edge_margin: float


def _describe(stem: str, drive_type: int | None) -> tuple[int, str, str, str]:
    """Drive type, condition, wear sequence and group of a photograph from its file name."""
    m1 = _T1_NAME.match(stem)
    if m1 and drive_type in (None, 1):
        cond = {"S": "type1_clean", "V": "type1_soiled"}.get(m1["cond"], f"type1_{m1['cond']}")
        photo = f"{m1['drive']}-{m1['cond']}-{m1['nr']}-A{m1['stage']}"
        return 1, cond, f"{m1['drive']}-{m1['cond']}", f"bsdata/type1/{photo}"
    m2 = _T2_NAME.match(stem)
    if m2:
        seq = f"{m2['pos']}_{m2['angle']}"
        return int(drive_type or 2), f"type{drive_type or 2}", seq, f"bsdata/type{drive_type or 2}/{seq}"
    return int(drive_type or 0), f"type{drive_type or 0}", stem, f"bsdata/other/{stem}"


def _grid(lo: int, hi: int, patch: int, stride: int) -> list[int]:
    """Window starts of size ``patch`` every ``stride`` px, centred in ``[lo, hi)``."""
    avail = hi - lo
    if avail < patch:
        return []
    k = (avail - patch) // stride
    start = lo + (avail - patch - k * stride) // 2
    return [start + i * stride for i in range(k + 1)]


def _process(job: _Job) -> tuple[list[dict[str, Any]], ImageProblem | None]:
    """Cut one annotated photograph into labelled patches and write them (runs in a worker process)."""
    import hashlib

    cv2.setNumThreads(1)
    label_path = Path(job.label)
    try:
        doc = _labelme_doc(label_path)
        polygons = _polygons(doc)
        image_path = Path(job.image)
        rgb: npt.NDArray[Any]
        if image_path.is_file():
            rgb = load_image(image_path, size=None, mode="rgb")
        elif doc.get("imageData"):  # the JPEG is missing: fall back to the copy embedded in the labelme file
            rgb = decode_image(base64.b64decode(doc["imageData"]), name=label_path, size=None, mode="rgb")
        else:
            raise ImageReadError(f"{image_path}: photograph missing and {label_path} embeds no imageData")
    except (OlkitError, OSError) as exc:
        return [], ImageProblem(job.image, str(exc))
    h0, w0 = rgb.shape[:2]
    want_h, want_w = doc.get("imageHeight"), doc.get("imageWidth")
    if want_h is not None and want_w is not None and (int(want_h), int(want_w)) != (h0, w0):
        return [], ImageProblem(job.image, f"size {w0}x{h0} differs from the annotation's {want_w}x{want_h}")
    scale = 1.0 if job.image_width is None else job.image_width / w0
    if scale != 1.0:
        size = (round(w0 * scale), round(h0 * scale))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    h, w = rgb.shape[:2]
    mask = render_polygon_mask(polygons, (h, w), labels=["pitting"], scale=scale)
    margin = round(job.edge_margin * w)
    ys_tile = _grid(0, h, job.patch, job.stride)
    xs_tile = _grid(margin, w - margin, job.patch, job.stride)
    ys_pos = _grid(0, h, job.patch, job.positive_stride)
    xs_pos = _grid(margin, w - margin, job.patch, job.positive_stride)
    tiles = {(x, y) for y in ys_tile for x in xs_tile}
    dense = {(x, y) for y in ys_pos for x in xs_pos}
    # integral image: the pitting pixel count of any window in O(1)
    integral = cv2.integral(mask)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    out = Path(job.out_root)
    rows: list[dict[str, Any]] = []
    area = float(job.patch * job.patch)
    for x, y in sorted(tiles | dense, key=lambda t: (t[1], t[0])):
        x1, y1 = x + job.patch, y + job.patch
        pits = int(integral[y1, x1] - integral[y, x1] - integral[y1, x] + integral[y, x])
        frac = pits / area
        if frac >= job.min_pitting_fraction and (x, y) in dense:
            cls = "1"
        elif pits == 0 and (x, y) in tiles:
            cls = "0"
        else:
            continue  # a little pitting (ambiguous), or a window of the other grid
        name = f"{job.stem}_x{x:04d}_y{y:04d}"
        ok_img, enc_img = cv2.imencode(".png", bgr[y:y1, x:x1])
        ok_mask, enc_mask = cv2.imencode(".png", mask[y:y1, x:x1])
        if not (ok_img and ok_mask):
            return [], ImageProblem(job.image, "PNG encoding failed")
        img_path = out / job.set_name / cls / f"{name}.png"
        mask_path = out / "masks" / job.set_name / f"{name}.png"
        img_bytes = enc_img.tobytes()
        img_path.write_bytes(img_bytes)
        mask_path.write_bytes(enc_mask.tobytes())
        rows.append(
            {
                "path": img_path.as_posix(),
                "sha256": hashlib.sha256(img_bytes).hexdigest(),
                "label": cls,
                "split": job.set_name,
                "source": "bsdata",
                "width": job.patch,
                "height": job.patch,
                "mask_path": mask_path.as_posix(),
                "group": job.group,
                "name": name,
                "set": job.set_name,
                "source_image": Path(job.image).name,
                "drive_type": job.drive_type,
                "condition": job.condition,
                "sequence": job.sequence,
                "x": x,
                "y": y,
                "scale": round(scale, 6),
                "pitting_fraction": round(frac, 6),
            }
        )
    return rows, None


def _records(source: Path) -> list[dict[str, Any]]:
    """The image records of a checkout: ``image_data.json`` (a dict whose one value is the list), else the files."""
    meta = source / "image_data.json"
    if meta.is_file():
        doc = json.loads(meta.read_text(encoding="utf-8"))
        lists = [v for v in doc.values() if isinstance(v, list)] if isinstance(doc, dict) else [doc]
        if len(lists) != 1 or not all(isinstance(r, dict) and "filename" in r for r in lists[0]):
            raise OlkitError(
                f"{meta}: expected a dict holding one list of image records with a 'filename' each"
            )
        return list(lists[0])
    stems = {p.stem for p in (source / "data").glob("*.jpg")} | {
        p.stem for p in (source / "label").glob("*.json")
    }
    records = []
    for stem in sorted(stems):
        label = source / "label" / f"{stem}.json"
        records.append(
            {"filename": f"{stem}.jpg", "type": None, "annotations": label.name if label.is_file() else None}
        )
    return records


_ATTRIBUTION = """# BSData patches: attribution

The files in this folder are derived from **BSData**, the ball-screw-drive surface defect dataset by
Tobias Schlagenhauf, Magnus Landwehr and Jürgen Fleischer (wbk Institute of Production Science, KIT):

> {citation}
> Dataset: https://github.com/2Obe/BSData

BSData is licensed under the Creative Commons Attribution-ShareAlike 4.0 International license (CC BY-SA 4.0,
https://creativecommons.org/licenses/by-sa/4.0/). This derived data set is shared under the same license:
attribute the authors above when you show results on it, and share what you derive from it under CC BY-SA 4.0.

## What was derived, and how (olkit.data.bsdata.import_bsdata)
- Source checkout: `{source}`; {n_photos} annotated photographs used ({n_skipped} skipped); unannotated
  photographs not used (the dataset cannot show them to be pitting-free).
- Each photograph resized to a width of {image_width} px (`scale` column of `patches.csv`); {patch}x{patch} RGB
  patches cut along the spindle inside a {edge_margin:.0%} margin at the left and right ends.
- Label `1` (pitting): a window on the {positive_stride}-px grid holding at least {min_pitting_fraction:.1%} of
  its area inside the authors' "Pitting" polygons. Label `0`: a window of the non-overlapping {stride}-px tiling
  with no pitting pixel. Windows with less pitting than the threshold are dropped as ambiguous.
- `masks/<set>/<name>.png`: the polygons rendered with OpenCV (1 pitting, 0 background), cut like the patch.
- Split by condition, never at random: `data_new` = {new_desc}; `data_train` = the rest. The `group` column of
  `manifest.csv` (wear sequence of type 2; photograph of type 1) never occurs in both sets.

## Counts
{counts}
"""


def import_bsdata(
    source: PathLike,
    out_root: PathLike,
    *,
    patch: int = 150,
    stride: int = 150,
    positive_stride: int = 50,
    min_pitting_fraction: float = 0.01,
    image_width: int | None = 1130,
    edge_margin: float = 0.05,
    new_set: Literal["soiled", "drive_type"] = "soiled",
    images: Sequence[str] | None = None,
    limit: int | None = None,
    overwrite: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> BsdataImport:
    """Turn a BSData checkout into a 150x150 patch data set with masks in the original's layout.

    Patches. Every annotated photograph is resized to ``image_width`` (1130 px, the native width of most
    type-2 photographs, so a patch covers the same share of the spindle in every photograph: the framing is the
    same across cameras) and cut along the spindle, left to right, inside a margin of ``edge_margin`` of the width
    at both ends (background). A window is

    * **pitting** (class ``1``) when at least ``min_pitting_fraction`` of its pixels (default 1 % = 225 px, a
      15x15 px pit) lie inside the authors' "Pitting" polygons; candidates are the windows of a denser grid
      (``positive_stride``, default 50 px), since pits are small and there are few per photograph;
    * **no pitting** (class ``0``) when it is a tile of the non-overlapping tiling (``stride``) and holds no
      pitting pixel at all -- negatives come only from *annotated* photographs, where the annotator looked for
      pitting;
    * **dropped** when it holds some pitting below the threshold: a sliver of a pit at the border is neither a
      clear positive nor a negative.

    Unannotated photographs (all 710 of drive type 2) are not used as negatives: pitting grows over the wear
    sequence and the annotations of a sequence start at some point in it, so the photographs before that point
    may hold small pits nobody marked; one sequence (position 477500_315) has no annotation in all 69
    photographs, and a few unannotated photographs fall between annotated ones, where pitting certainly exists.
    The dataset's README says the file name's last digit marks a defect (``crop_1``) or none (``crop_2``), but
    most annotated photographs end in ``crop_2`` and one unannotated photograph ends in ``crop_1``, so the
    digit cannot vouch for them either. Nothing in the dataset shows them to be pitting-free.

    Split (never at random: the photographs of a wear sequence are near-duplicates). ``new_set="soiled"``
    (default): ``data_new`` = the soiled drive-type-1 photographs (``KGT*-V-*``: oil, debris and warmer light
    never seen in training), ``data_train`` = drive type 2 (all wear sequences) and the clean type-1 photographs.
    ``new_set="drive_type"``: ``data_new`` = all of drive type 1 (an unseen drive and camera). The ``group``
    column (type 2: the wear sequence ``<position>_<angle>``; type 1: the photograph, shared by its crops)
    never straddles the sets, and :func:`olkit.data.io.make_online_splits` with ``group_col="group"`` keeps it
    whole in holdout/test too.

    Parameters
    ----------
    source
        A BSData checkout (``data/*.jpg``, ``label/*.json``, optionally ``image_data.json``).
    out_root
        Target folder, for example ``data_bsd/bsdata``.
    patch
        Patch side in pixels.
    stride
        Step of the non-overlapping tiling that gives the negatives.
    positive_stride
        Step of the denser grid that gives the positives.
    min_pitting_fraction
        Share of a patch inside pitting polygons for the label 1.
    image_width
        Width every photograph is resized to first; ``None`` keeps native resolution.
    edge_margin
        Share of the width left out at each end.
    new_set
        Which condition becomes ``data_new`` (see above).
    images
        Import only these photographs (file names or stems), for tests and quick looks.
    limit
        Import only this many annotated photographs, taken evenly over both drive types and conditions.
    overwrite
        Replace an earlier import in ``out_root`` (its sets, masks and tables); without it an existing import is
        never touched.
    workers
        Worker processes; default the CPU count (at most 8).
    progress
        Show a tqdm progress bar.

    Returns
    -------
    BsdataImport
        Manifest, per-patch provenance, counts and pitting share per set (``.summary()``), time taken.

    Raises
    ------
    DataNotFoundError
        ``source`` is not a BSData checkout.
    FileExistsError
        ``out_root`` already holds an import and ``overwrite`` is false.
    """
    t0 = time.perf_counter()
    src = Path(source).expanduser().resolve()
    if not (src / "data").is_dir() or not (src / "label").is_dir():
        raise DataNotFoundError(
            f"{src} is not a BSData checkout (expected data/ and label/ folders); point source (or $OLKIT_BSDATA) "
            "at a copy of https://github.com/2Obe/BSData"
        )
    if min(patch, stride, positive_stride) <= 0 or not 0.0 < min_pitting_fraction <= 1.0:
        raise ValueError("patch and strides must be positive and min_pitting_fraction in (0, 1]")
    out = Path(out_root).expanduser().resolve()
    ours = [out / "data_train", out / "data_new", out / "masks", out / "manifest.csv", out / "patches.csv"]
    if any(p.exists() for p in ours):
        if not overwrite:
            raise FileExistsError(
                f"{out} already holds an import (or files in its layout); pass overwrite=True to replace it, or "
                "choose another out_root"
            )
        for p in ours:
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()

    records = [r for r in _records(src) if r.get("annotations")]
    if images is not None:
        wanted = {Path(s).stem for s in images}
        records = [r for r in records if Path(r["filename"]).stem in wanted]
        missing = wanted - {Path(r["filename"]).stem for r in records}
        if missing:
            raise DataNotFoundError(f"no annotated photographs named {sorted(missing)[:5]} in {src}")
    jobs: list[_Job] = []
    for r in sorted(records, key=lambda r: str(r["filename"])):
        stem = Path(r["filename"]).stem
        dtype, cond, seq, group = _describe(stem, r.get("type"))
        is_new = cond == "type1_soiled" if new_set == "soiled" else dtype == 1
        jobs.append(
            _Job(
                stem=stem,
                image=(src / "data" / r["filename"]).as_posix(),
                label=(src / "label" / str(r["annotations"])).as_posix(),
                drive_type=dtype,
                condition=cond,
                sequence=seq,
                group=group,
                set_name="data_new" if is_new else "data_train",
                out_root=out.as_posix(),
                patch=patch,
                stride=stride,
                positive_stride=positive_stride,
                min_pitting_fraction=min_pitting_fraction,
                image_width=image_width,
                edge_margin=edge_margin,
            )
        )
    if limit is not None and limit < len(jobs):
        # spread evenly over every condition (round robin), so a small import still holds both sets
        by_cond: dict[str, list[_Job]] = {}
        for j in jobs:
            by_cond.setdefault(j.condition, []).append(j)
        queues = [list(v[:: max(1, len(v) // limit)]) for _, v in sorted(by_cond.items())]
        picked: list[_Job] = []
        while len(picked) < limit and any(queues):
            for q in queues:
                if q and len(picked) < limit:
                    picked.append(q.pop(0))
        jobs = sorted(picked, key=lambda j: j.stem)
    if not jobs:
        raise DataNotFoundError(f"no annotated photographs found in {src} (label/*.json)")
    for name in _SETS:
        for sub in (out / name / "0", out / name / "1", out / "masks" / name):
            sub.mkdir(parents=True, exist_ok=True)

    rows: list[dict[str, Any]] = []
    problems: list[ImageProblem] = []
    n_workers = workers or max(1, min(8, os.cpu_count() or 1))
    chunks = max(1, len(jobs) // (n_workers * 8))
    if n_workers == 1:
        results = map(_process, jobs)
        _collect(results, len(jobs), rows, problems, progress)
    else:
        # fork is fast, but forking a process whose thread pools are running (TensorFlow in a notebook kernel)
        # can deadlock the children: start fresh interpreters then
        ctx = multiprocessing.get_context("spawn") if "tensorflow" in sys.modules else None
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
            _collect(pool.map(_process, jobs, chunksize=chunks), len(jobs), rows, problems, progress)
    if not rows:
        raise OlkitError(f"no patches came out of {src}: {'; '.join(str(p) for p in problems[:3])}")
    patches = pd.DataFrame(rows).sort_values("path", kind="stable").reset_index(drop=True)
    write_manifest(patches.iloc[:, :9], out / "manifest.csv", overwrite=True)
    patches.to_csv(out / "patches.csv", index=False)
    params = {
        "source": src.as_posix(),
        "patch": patch,
        "stride": stride,
        "positive_stride": positive_stride,
        "min_pitting_fraction": min_pitting_fraction,
        "image_width": image_width,
        "edge_margin": edge_margin,
        "new_set": new_set,
        "n_photographs": len(jobs),
    }
    result = BsdataImport(
        out_root=out,
        manifest=patches.iloc[:, :9].copy(),
        patches=patches,
        problems=problems,
        seconds=time.perf_counter() - t0,
        params=params,
    )
    new_desc = {
        "soiled": "the soiled drive-type-1 photographs (`KGT*-V-*`)",
        "drive_type": "all drive-type-1 photographs",
    }[new_set]
    (out / "ATTRIBUTION.md").write_text(
        _ATTRIBUTION.format(
            citation=BSDATA_CITATION,
            source=src.as_posix(),
            n_photos=len(jobs) - len(problems),
            n_skipped=len(problems),
            image_width=image_width or "native",
            edge_margin=edge_margin,
            positive_stride=positive_stride,
            min_pitting_fraction=min_pitting_fraction,
            stride=stride,
            new_desc=new_desc,
            patch=patch,
            counts=_markdown_table(result.counts()),
        ),
        encoding="utf-8",
    )
    (out / "import.json").write_text(
        json.dumps({**params, "seconds": round(result.seconds, 2)}, indent=2), encoding="utf-8"
    )
    if progress:
        print(result.summary())
    return result


def _markdown_table(df: pd.DataFrame) -> str:
    """A small DataFrame as a GitHub markdown table (no tabulate dependency)."""
    cols = [df.index.name or "", *map(str, df.columns)]

    def fmt(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += [
        "| " + " | ".join([str(i), *map(fmt, r)]) + " |" for i, r in zip(df.index, df.to_numpy(), strict=True)
    ]
    return "\n".join(lines)


def _collect(
    results: Any, total: int, rows: list[dict[str, Any]], problems: list[ImageProblem], progress: bool
) -> None:
    for got, problem in tqdm(results, total=total, desc="BSData patches", disable=not progress, leave=False):
        rows.extend(got)
        if problem is not None:
            problems.append(problem)
