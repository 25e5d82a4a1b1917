"""Reading images and image folders, manifests and the online-learning splits.

The original keeps its data as class-per-subfolder image folders (``data_bsd/data_train/<class>/<name>.png``) and
moves files between folders to split them. olkit keeps the same folders on disk but works on a *manifest*: a
:class:`pandas.DataFrame` with the columns of :data:`olkit.types.MANIFEST_COLUMNS`, one row per image, identified
by the SHA-256 of its bytes. The splits of the original's protocol (a trainset of ``TRAIN_NR`` images from
``data_train``; ``data_new`` halved into holdout and test) are a column of that table, seeded and reproducible, and
can still be written out as the original's folders with :func:`materialize_original_layout`.

Image decoding policy (:func:`load_image`), deliberate for every input a user may have:

* **bit depth**: 16-bit images are *scaled* to 8 bit (``value / 257``, so 65535 maps to 255), never clipped;
  float images in ``[0, 1]`` are scaled by 255, other float ranges are min-max normalised.
* **alpha**: composited onto white by default (``alpha="white"``: transparent background reads as white paper, as
  image viewers show it), or dropped (``alpha="drop"``: the colour channels as stored).
* **grayscale** inputs are replicated to three channels in ``mode="rgb"``; colour inputs are converted with
  OpenCV's luminance weights in ``mode="gray"``.
* **EXIF orientation** is applied (``exif=True``, the default), so a phone photo tagged "rotate 90" loads upright,
  for JPEG, PNG, TIFF and WebP alike. OpenCV applies it only for some decode flags; olkit decodes with
  ``IMREAD_UNCHANGED`` (which keeps depth and alpha but ignores orientation) and applies the tag itself, read with
  Pillow, so the behaviour no longer depends on which flag happens to be used.
* **broken files** (missing, a folder, zero bytes, truncated, corrupt, not an image, unreadable) raise
  :class:`olkit.errors.ImageReadError` naming the path; folder scans and :func:`load_images` report them as
  :class:`olkit.types.ImageProblem` and go on.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
import pandas as pd
from tqdm.auto import tqdm

from olkit.errors import DataNotFoundError, ImageReadError
from olkit.files import atomic_write_json, atomic_write_text
from olkit.types import MANIFEST_COLUMNS, ImageArray, ImageProblem, PathLike

__all__ = [
    "IMAGE_EXTENSIONS",
    "ORIGINAL_FOLDERS",
    "SET_NAMES",
    "ScanResult",
    "decode_image",
    "file_sha256",
    "load_dataset",
    "load_image",
    "load_images",
    "make_online_splits",
    "materialize_original_layout",
    "read_manifest",
    "scan_image_folder",
    "write_manifest",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm", ".pbm"}
)
"""File suffixes (lower case) treated as images; anything else in a class folder is reported as not an image."""

SET_NAMES: tuple[str, str] = ("data_train", "data_new")
"""The two image sets of the original's layout, in the order :func:`load_dataset` reads them."""

ORIGINAL_FOLDERS: dict[str, str] = {"train": "current_train_dir", "holdout": "holdout", "test": "test"}
"""Split name to the original's folder name, as :func:`materialize_original_layout` writes them."""

MAKE_DATA_HINT = "make it with `olkit data` (or `make run`, which makes the data when missing)"

_COLOR_CODES_TO_RGB = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}
_STR_COLUMNS = ("path", "sha256", "label", "split", "source", "mask_path", "group")
_CHUNK = 1 << 20


def _n_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) * 2))


# --------------------------------------------------------------------------------------------------------------------
# single files
# --------------------------------------------------------------------------------------------------------------------


def file_sha256(path: PathLike) -> str:
    """Return the hex SHA-256 of a file's bytes (read in 1 MiB chunks).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        64 hex digits: the identity of an image everywhere in olkit.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_bytes(path: Path) -> bytes:
    """Read a file for decoding, turning every OS failure into an :class:`ImageReadError` naming the path."""
    if path.is_symlink() and not path.exists():
        raise ImageReadError(
            f"{path}: dangling symbolic link (its target {os.readlink(path)} does not exist)"
        )
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file does not exist") from None
    except PermissionError as exc:
        raise ImageReadError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from None
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not data:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    return data


def _check_complete(path: Path, data: bytes) -> None:
    """Detect truncated JPEG and PNG files, which OpenCV may decode partially (grey bottom) without failing."""
    if data[:2] == b"\xff\xd8":
        # the image data ends with an EOI marker after the last start-of-scan (thumbnails come before it)
        if data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
            raise ImageReadError(f"{path}: truncated JPEG (no end-of-image marker after the image data)")
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        if data.rfind(b"IEND") < 0:
            raise ImageReadError(f"{path}: truncated PNG (no IEND chunk)")


def _exif_orientation(data: bytes) -> int:
    """The EXIF orientation tag (1..8) of an encoded image, 1 when absent or unreadable."""
    head = data[: 1 << 16]
    if not (
        (data[:2] == b"\xff\xd8" and b"Exif" in head)
        or (data[:8] == b"\x89PNG\r\n\x1a\n" and b"eXIf" in data)
        or data[:4] in (b"II*\x00", b"MM\x00*")
        or (data[:4] == b"RIFF" and b"EXIF" in data)
    ):
        return 1
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            value = im.getexif().get(0x0112, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # an unreadable EXIF block is no reason to reject pixels OpenCV decoded
        return 1


def _apply_orientation(img: npt.NDArray[Any], orientation: int) -> npt.NDArray[Any]:
    """Apply an EXIF orientation (1..8) to an ``(h, w[, c])`` array, as image viewers show the photo."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(ops[orientation](img))


def _to_uint8(img: npt.NDArray[Any], path: Path) -> npt.NDArray[Any]:
    """Scale any decoded depth to ``uint8`` (16 bit: divide by 257; float: [0, 1] times 255, else min-max)."""
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return np.round(img.astype(np.float32) / 257.0).astype(np.uint8)
    if img.dtype == np.int8:
        return (img.astype(np.int16) + 128).astype(np.uint8)
    if img.dtype == np.int16:
        return np.round((img.astype(np.float32) + 32768.0) / 257.0).astype(np.uint8)
    if np.issubdtype(img.dtype, np.floating):
        arr = np.nan_to_num(img.astype(np.float32))
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0.0 and hi <= 1.0:
            return np.round(arr * 255.0).astype(np.uint8)
        span = hi - lo if hi > lo else 1.0
        return np.round((arr - lo) / span * 255.0).astype(np.uint8)
    raise ImageReadError(f"{path}: unsupported pixel type {img.dtype}")


def _mask_to_uint8(img: npt.NDArray[Any], path: Path) -> npt.NDArray[Any]:
    """Class values of a mask as ``uint8``: 16-bit values up to 255 are class values and kept; a 16-bit mask using
    the whole range (0 / 65535) is scaled like an image; floats in ``[0, 1]`` become 0 / 255."""
    if img.dtype == np.uint8:
        return img
    if (
        img.dtype in (np.uint16, np.int16, np.int32, np.uint32)
        and img.size
        and 0 <= int(img.min())
        and int(img.max()) <= 255
    ):
        return img.astype(np.uint8)
    return _to_uint8(img, path)


def _palette_indices(data: bytes) -> npt.NDArray[Any] | None:
    """The palette indices of a palette PNG (colour type 3), the class values a palette mask stores, else None."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 26 or data[25] != 3:
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("P") if im.mode != "P" else im, dtype=np.uint8).copy()
    except Exception:  # let OpenCV's decoder give the error
        return None


def _decode(path: Path, data: bytes, *, exif: bool, mask: bool = False) -> npt.NDArray[Any]:
    """Decode bytes to an ``(h, w)``, ``(h, w, 3)`` RGB or ``(h, w, 4)`` RGBA ``uint8`` array.

    With ``mask``, depth is converted by :func:`_mask_to_uint8` (class values kept) and a palette PNG gives its
    indices, not its colours.
    """
    _check_complete(path, data)
    img: npt.NDArray[Any] | None = _palette_indices(data) if mask else None
    if img is None:
        buf = np.frombuffer(data, dtype=np.uint8)
        try:
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        except cv2.error as exc:
            raise ImageReadError(f"{path}: not a readable image ({exc.err})") from None
        if img is None or img.size == 0:
            raise ImageReadError(f"{path}: not an image, or a corrupt one (OpenCV cannot decode it)")
        img = _mask_to_uint8(img, path) if mask else _to_uint8(img, path)
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[:, :, 0]
        if img.ndim == 3:
            code = _COLOR_CODES_TO_RGB.get(img.shape[2])
            if code is None:
                raise ImageReadError(f"{path}: unsupported channel count {img.shape[2]}")
            img = cv2.cvtColor(img, code)
    if exif:
        img = _apply_orientation(img, _exif_orientation(data))
    return img


def _mask_values(img: npt.NDArray[Any], path: Path) -> npt.NDArray[Any]:
    """One channel of class values from a decoded mask: alpha is dropped, equal colour channels collapse to one."""
    if img.ndim == 2:
        return img
    rgb = img[:, :, :3]
    if not (np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2])):
        raise ImageReadError(
            f"{path}: a colour mask (its channels differ); a mask stores one class value per pixel: save it as "
            "a single-channel (greyscale or palette) PNG"
        )
    return np.ascontiguousarray(rgb[:, :, 0])


def decode_image(
    data: bytes,
    *,
    name: PathLike = "<bytes>",
    size: tuple[int, int] | None = (150, 150),
    mode: Literal["rgb", "gray", "mask"] = "rgb",
    alpha: Literal["white", "drop"] = "white",
    exif: bool = True,
) -> ImageArray:
    """Decode an encoded image held in memory (a labelme file's ``imageData``) exactly as :func:`load_image` reads
    a file.

    Parameters
    ----------
    data
        The encoded bytes (PNG, JPEG, ...).
    name
        What the errors call the image (the file that embeds it).
    size, mode, alpha, exif
        As for :func:`load_image`.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array, ``(h, w, 3)`` or ``(h, w)``.

    Raises
    ------
    ImageReadError
        ``data`` is empty, truncated, corrupt or not an image; the message names ``name``.
    """
    p = Path(name)
    if not data:
        raise ImageReadError(f"{p}: empty image data (0 bytes)")
    if mode not in ("rgb", "gray", "mask"):
        raise ValueError(f"mode must be 'rgb', 'gray' or 'mask', not {mode!r}")
    img: npt.NDArray[Any] = _decode(p, data, exif=exif, mask=mode == "mask")
    if mode == "mask":
        img = _mask_values(img, p)
        if size is not None and (img.shape[0], img.shape[1]) != (int(size[0]), int(size[1])):
            img = cv2.resize(img, (int(size[1]), int(size[0])), interpolation=cv2.INTER_NEAREST)
        return np.asarray(img, dtype=np.uint8)
    if img.ndim == 3 and img.shape[2] == 4:
        rgb, a = img[:, :, :3], img[:, :, 3:]
        if alpha == "white":
            weight = a.astype(np.float32) / 255.0
            img = np.round(rgb.astype(np.float32) * weight + 255.0 * (1.0 - weight)).astype(np.uint8)
        elif alpha == "drop":
            img = np.ascontiguousarray(rgb)
        else:
            raise ValueError(f"alpha must be 'white' or 'drop', not {alpha!r}")
    if mode == "rgb":
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if size is not None:
        h, w = int(size[0]), int(size[1])
        if (img.shape[0], img.shape[1]) != (h, w):
            shrink = h * w < img.shape[0] * img.shape[1]
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return img


def load_image(
    path: PathLike,
    *,
    size: tuple[int, int] | None = (150, 150),
    mode: Literal["rgb", "gray", "mask"] = "rgb",
    alpha: Literal["white", "drop"] = "white",
    exif: bool = True,
) -> ImageArray:
    """Load one image or mask with OpenCV into a fixed size and colour mode: the one image reader of olkit.

    Parameters
    ----------
    path
        The image file (any format OpenCV decodes: PNG, JPEG, BMP, TIFF, WebP, ...).
    size
        ``(height, width)`` to resize to (area interpolation when shrinking, linear when enlarging; nearest
        neighbour for masks), or ``None`` to keep the stored size.
    mode
        ``"rgb"``: ``(h, w, 3)`` RGB; ``"gray"``: ``(h, w)`` luminance; ``"mask"``: ``(h, w)`` class values as
        stored (16-bit values up to 255 kept, not scaled; a palette PNG's indices; alpha dropped; a mask saved
        with three equal channels read as one; a colour mask whose channels differ raises).
    alpha
        ``"white"`` composites a transparent image onto white; ``"drop"`` discards the alpha channel (masks
        always drop it).
    exif
        Apply the EXIF orientation tag, so the array shows the image the way viewers do (a mask turns with it).

    Returns
    -------
    numpy.ndarray
        ``uint8`` array, ``(h, w, 3)`` or ``(h, w)``.

    Raises
    ------
    ImageReadError
        The file is missing, a folder, empty, truncated, corrupt, not an image or unreadable; the message names
        the path and the reason.
    """
    p = Path(path)
    return decode_image(_read_bytes(p), name=p, size=size, mode=mode, alpha=alpha, exif=exif)


def _probe(path: Path) -> tuple[str, int, int]:
    """SHA-256, width and height of an image file; raises :class:`ImageReadError` if it cannot be decoded."""
    data = _read_bytes(path)
    img = _decode(path, data, exif=True)
    return hashlib.sha256(data).hexdigest(), int(img.shape[1]), int(img.shape[0])


# --------------------------------------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanResult:
    """What :func:`scan_image_folder` found.

    Attributes
    ----------
    root
        The scanned folder.
    manifest
        One row per readable image (columns :data:`olkit.types.MANIFEST_COLUMNS`), sorted by path.
    problems
        Files that were skipped, with the reason (not an image, empty, truncated, corrupt, unreadable).
    duplicates
        Groups of two or more paths whose bytes are identical (same SHA-256); they stay in the manifest.
    """

    root: Path
    manifest: pd.DataFrame
    problems: list[ImageProblem] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)

    @property
    def n_images(self) -> int:
        """Readable images in the manifest."""
        return len(self.manifest)

    def class_counts(self) -> dict[str, int]:
        """Images per class name, sorted by class."""
        counts = Counter(self.manifest["label"].astype(str))
        return {k: counts[k] for k in sorted(counts)}

    def summary(self) -> str:
        """A short, honest report: images per class, skipped files by reason with their paths, duplicates."""
        n_files = self.n_images + len(self.problems)
        classes = ", ".join(f"{k or '(no class)'}: {v}" for k, v in self.class_counts().items()) or "none"
        lines = [
            f"{self.root}: {n_files} files, {self.n_images} images read ({classes}), {len(self.problems)} skipped",
        ]
        if self.problems:
            by_reason = Counter(p.reason.split(" (")[0] for p in self.problems)
            lines.append("  skipped: " + "; ".join(f"{n} {r}" for r, n in by_reason.most_common()))
            lines.extend(f"    {p}" for p in self.problems[:20])
            if len(self.problems) > 20:
                lines.append(f"    ... and {len(self.problems) - 20} more (ScanResult.problems)")
        if self.duplicates:
            n_dup = sum(len(g) for g in self.duplicates)
            lines.append(f"  duplicates: {len(self.duplicates)} groups of identical files ({n_dup} files)")
            lines.extend("    " + " == ".join(g) for g in self.duplicates[:10])
            if len(self.duplicates) > 10:
                lines.append(f"    ... and {len(self.duplicates) - 10} more groups (ScanResult.duplicates)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _problem_reason(path: Path, exc: ImageReadError) -> str:
    msg = str(exc)
    prefix = f"{path}: "
    return msg[len(prefix) :] if msg.startswith(prefix) else msg


def scan_image_folder(
    root: PathLike,
    *,
    set_name: str | None = None,
    source: str = "user",
    masks_root: PathLike | None = None,
    progress: bool = True,
) -> ScanResult:
    """Read a class-per-subfolder image folder (``<root>/<class>/<name>.<ext>``) into a manifest.

    Every file is hashed and decoded once, so corrupt files are found here and not in the middle of training.
    Class names are the sub-folder names (any number of classes); files directly in ``root`` get the label ``""``
    (unknown); deeper folders belong to their top-level class folder. Hidden files (``.name``) are ignored.

    Parameters
    ----------
    root
        The folder to scan.
    set_name
        Value of the ``split`` column (for example ``"data_train"``); default the folder's name.
    source
        Value of the ``source`` column (``"synthetic"``, ``"bsdata"``, ``"user"``, ``"crack"``).
    masks_root
        Folder holding one mask per image as ``<masks_root>/<name>.png`` (``name`` the image's stem); the
        ``mask_path`` column is ``""`` where none exists.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    ScanResult
        The manifest (``group`` = the image's SHA-256), skipped files with reasons, duplicate groups.

    Raises
    ------
    DataNotFoundError
        ``root`` does not exist or is not a folder.
    """
    base = Path(root).expanduser().resolve()
    if not base.is_dir():
        raise DataNotFoundError(f"image folder {base} does not exist; {MAKE_DATA_HINT}, or check the path")
    masks = Path(masks_root).expanduser().resolve() if masks_root is not None else None
    split = set_name if set_name is not None else base.name

    problems: list[ImageProblem] = []
    candidates: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        rel = here.relative_to(base)
        label = rel.parts[0] if rel.parts else ""
        # symlinks to folders are not followed by os.walk: report them instead of losing them silently
        for d in os.listdir(here):
            if not d.startswith(".") and (here / d).is_symlink() and (here / d).is_dir():
                problems.append(ImageProblem(str(here / d), "symbolic link to a folder (not followed)"))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = here / name
            if p.suffix.lower() not in IMAGE_EXTENSIONS:
                problems.append(ImageProblem(str(p), f"not an image file (suffix {p.suffix or 'none'!r})"))
                continue
            candidates.append((p, label))

    def probe(item: tuple[Path, str]) -> tuple[Path, str, tuple[str, int, int] | ImageProblem]:
        p, label = item
        try:
            return p, label, _probe(p)
        except ImageReadError as exc:
            return p, label, ImageProblem(str(p), _problem_reason(p, exc))

    rows: list[dict[str, object]] = []
    with ThreadPoolExecutor(max_workers=_n_workers()) as pool:
        results = pool.map(probe, candidates)
        for p, label, res in tqdm(
            results, total=len(candidates), desc=f"scan {base.name}", disable=not progress, leave=False
        ):
            if isinstance(res, ImageProblem):
                problems.append(res)
                continue
            sha, w, h = res
            mask_path = ""
            if masks is not None and (masks / f"{p.stem}.png").is_file():
                mask_path = (masks / f"{p.stem}.png").as_posix()
            rows.append(
                {
                    "path": p.as_posix(),
                    "sha256": sha,
                    "label": label,
                    "split": split,
                    "source": source,
                    "width": w,
                    "height": h,
                    "mask_path": mask_path,
                    "group": sha,
                }
            )
    manifest = _frame(rows)
    problems.sort(key=lambda q: q.path)
    return ScanResult(root=base, manifest=manifest, problems=problems, duplicates=_duplicates(manifest))


def _duplicates(manifest: pd.DataFrame) -> list[list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for sha, path in zip(manifest["sha256"], manifest["path"], strict=True):
        groups[str(sha)].append(str(path))
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def _frame(rows: Iterable[dict[str, object]] | pd.DataFrame) -> pd.DataFrame:
    """A manifest with exactly the standard columns first (typed), extra columns after, sorted by path."""
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    for col in MANIFEST_COLUMNS:
        if col not in df.columns:
            df[col] = 0 if col in ("width", "height") else ""
    for col in _STR_COLUMNS:
        df[col] = df[col].fillna("").astype(str)
    for col in ("width", "height"):
        df[col] = pd.to_numeric(df[col], errors="coerce").fillna(0).astype(np.int64)
    empty_group = df["group"] == ""
    df.loc[empty_group, "group"] = df.loc[empty_group, "sha256"]
    extra = [c for c in df.columns if c not in MANIFEST_COLUMNS]
    df = df[[*MANIFEST_COLUMNS, *extra]]
    return df.sort_values("path", kind="stable").reset_index(drop=True)


def _reroot(df: pd.DataFrame, base: Path) -> pd.DataFrame:
    """Point the paths of a manifest at ``base``: the part from the last ``data_train/`` / ``data_new/`` (or
    ``masks/``) folder on is kept."""

    def move(value: str, anchors: tuple[str, ...]) -> str:
        parts = Path(value).parts
        for i in range(len(parts) - 1, -1, -1):
            if parts[i] in anchors:
                return (base.joinpath(*parts[i:])).as_posix()
        return value

    out = df.copy()
    out["path"] = [move(v, SET_NAMES) for v in out["path"]]
    out["mask_path"] = [move(v, ("masks",)) if v else v for v in out["mask_path"]]
    return out


def _list_images(folder: Path) -> set[str]:
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                found.add(os.path.join(dirpath, name).replace(os.sep, "/"))
    return found


def load_dataset(
    root: PathLike,
    *,
    use_manifest: bool = True,
    source: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Read a data root in the original's layout into one manifest (``split`` = ``data_train`` / ``data_new``).

    Reads ``<root>/manifest.csv`` when it exists and lists exactly the image files on disk (it carries what a
    scan cannot recover, such as the ``group`` of real BSData patches); otherwise scans ``<root>/data_train`` and
    ``<root>/data_new`` with their masks at ``<root>/masks/<set>/``, warning with the scan's summary when files
    had to be skipped.

    Parameters
    ----------
    root
        A data root such as ``data_bsd`` or ``data_bsd/bsdata``.
    use_manifest
        Prefer ``manifest.csv`` when it is consistent with the files; ``False`` always scans.
    source
        ``source`` column for scanned images; default ``"bsdata"`` for a folder named ``bsdata``, ``"crack"`` for
        ``crack``, else ``"synthetic"``.
    progress
        Show progress bars while scanning.

    Returns
    -------
    pandas.DataFrame
        The manifest, absolute paths, sorted by path.

    Raises
    ------
    DataNotFoundError
        ``root`` or one of its two set folders is missing; the message names the path and the command that
        makes the data.
    """
    base = Path(root).expanduser().resolve()
    if not base.is_dir():
        raise DataNotFoundError(f"data folder {base} does not exist; {MAKE_DATA_HINT}")
    folders = {name: base / name for name in SET_NAMES}
    for folder in folders.values():
        if not folder.is_dir():
            raise DataNotFoundError(
                f"data folder {folder} does not exist ({base} must hold {' and '.join(SET_NAMES)}); {MAKE_DATA_HINT}"
            )
    manifest_path = base / "manifest.csv"
    if use_manifest and manifest_path.is_file():
        try:
            df = read_manifest(manifest_path)
            on_disk = set().union(*(_list_images(f) for f in folders.values()))
            listed = set(df["path"])
            if listed != on_disk:  # a moved or copied data root: its manifest still names the old place
                moved = _reroot(df, base)
                if set(moved["path"]) == on_disk:
                    df, listed = moved, on_disk
            if listed == on_disk and set(df["split"]) <= set(SET_NAMES):
                return df
            warnings.warn(
                f"{manifest_path} does not match the files under {base} ({len(listed)} listed, {len(on_disk)} on "
                "disk); scanning the folders instead (re-make the data to refresh the manifest)",
                stacklevel=2,
            )
        except (ValueError, KeyError, OSError) as exc:
            warnings.warn(
                f"{manifest_path} cannot be used ({exc}); scanning the folders instead", stacklevel=2
            )
    if source is None:
        source = {"bsdata": "bsdata", "crack": "crack"}.get(base.name, "synthetic")
    parts: list[pd.DataFrame] = []
    for name, folder in folders.items():
        scan = scan_image_folder(
            folder, set_name=name, source=source, masks_root=base / "masks" / name, progress=progress
        )
        if scan.problems or scan.duplicates:
            warnings.warn(scan.summary(), stacklevel=2)
        parts.append(scan.manifest)
    return _frame(pd.concat(parts, ignore_index=True))


# --------------------------------------------------------------------------------------------------------------------
# manifests
# --------------------------------------------------------------------------------------------------------------------


def read_manifest(path: PathLike) -> pd.DataFrame:
    """Read a manifest written as CSV or JSON (a list of records, or ``{"images": [...]}``).

    Class names stay strings (``"0"`` is not the number 0), missing standard columns are filled (``""``, 0;
    ``group`` defaults to ``sha256``), relative ``path`` / ``mask_path`` entries are resolved against the
    manifest's folder, and extra columns are kept after the standard ones.

    Parameters
    ----------
    path
        A ``.csv`` or ``.json`` file.

    Returns
    -------
    pandas.DataFrame
        The manifest with the columns of :data:`olkit.types.MANIFEST_COLUMNS` first.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    ValueError
        The file has no ``path`` column or an unknown suffix.
    """
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise DataNotFoundError(f"manifest {p} does not exist; {MAKE_DATA_HINT}, or check the path")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    elif suffix == ".json":
        doc = json.loads(p.read_text(encoding="utf-8"))
        if isinstance(doc, dict):
            lists = [v for v in doc.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise ValueError(f"{p}: a JSON manifest is a list of records or a dict holding one such list")
            doc = lists[0]
        df = pd.DataFrame(doc).astype(str)
    else:
        raise ValueError(f"{p}: a manifest is a .csv or .json file, not {suffix or 'no suffix'!r}")
    if "path" not in df.columns:
        raise ValueError(f"{p}: a manifest needs a 'path' column (found {list(df.columns)})")
    for col in ("path", "mask_path"):
        if col in df.columns:
            df[col] = [_resolve(v, p.parent) for v in df[col].fillna("").astype(str)]
    return _frame(df)


def _resolve(value: str, base: Path) -> str:
    if not value or value == "nan":
        return ""
    # normpath, not resolve(): no file-system call per row (a manifest may hold tens of thousands)
    return os.path.normpath(value if os.path.isabs(value) else os.path.join(base, value)).replace(os.sep, "/")


def write_manifest(df: pd.DataFrame, path: PathLike, *, overwrite: bool = False) -> Path:
    """Write a manifest as CSV or JSON (by suffix), atomically.

    Parameters
    ----------
    df
        The manifest (standard columns first; missing ones are filled, extra ones kept).
    path
        ``.csv`` or ``.json`` target.
    overwrite
        Replace an existing file; without it an existing file is never touched.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    FileExistsError
        The file exists and ``overwrite`` is false.
    """
    p = Path(path).expanduser().resolve()
    if p.exists() and not overwrite:
        raise FileExistsError(
            f"manifest {p} exists; pass overwrite=True to replace it, or choose another path"
        )
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ValueError(f"{p}: a manifest is written as .csv or .json, not {suffix or 'no suffix'!r}")
    out = _frame(df)
    if suffix == ".csv":
        atomic_write_text(p, out.to_csv(index=False, lineterminator="\n"))
    else:
        atomic_write_json(p, out.to_dict(orient="records"), indent=1)
    return p


# --------------------------------------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------------------------------------


def _grouped_stratified_pick(
    labels: Sequence[str], groups: Sequence[str], fraction: float, rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """Pick about ``fraction`` of the rows per label, whole groups at a time, in a seeded random group order.

    Greedy: groups are visited in random order and taken when that brings the per-label counts closer to their
    targets. With one row per group this is an exact stratified split (``floor``/``ceil`` of the target).
    """
    lab = np.asarray(labels, dtype=object)
    grp = np.asarray(groups, dtype=object)
    classes = sorted(set(lab.tolist()))
    index = {c: i for i, c in enumerate(classes)}
    target = np.array([fraction * np.sum(lab == c) for c in classes], dtype=np.float64)
    uniq, inverse = np.unique(grp.astype(str), return_inverse=True)
    counts = np.zeros((len(uniq), len(classes)), dtype=np.float64)
    np.add.at(counts, (inverse, np.array([index[v] for v in lab.tolist()], dtype=np.int64)), 1.0)
    taken = np.zeros(len(classes), dtype=np.float64)
    chosen = np.zeros(len(uniq), dtype=bool)
    for g in rng.permutation(len(uniq)):
        after = taken + counts[g]
        # take the group if the remaining shortfall shrinks (ties favour taking, so targets are reached)
        if np.abs(target - after).sum() < np.abs(target - taken).sum() or (
            np.abs(target - after).sum() == np.abs(target - taken).sum() and np.all(after <= target + 0.5)
        ):
            chosen[g] = True
            taken = after
    return chosen[inverse]


def grouped_split(
    labels: Sequence[Any] | npt.NDArray[Any],
    groups: Sequence[Any] | npt.NDArray[Any] | None,
    *,
    test_size: float = 0.25,
    seed: int = 0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Train/test indices, stratified by label, with no group (source image, wear sequence) on both sides.

    The one grouped split of olkit (the online splits use the same picker): about ``test_size`` of every class
    goes to the test part, whole groups at a time, in a seeded random group order. With no groups every image is
    its own group, and the split is exactly stratified.
    """
    y = np.asarray(labels).astype(str)
    g = np.asarray(groups).astype(str) if groups is not None else np.arange(len(y)).astype(str)
    test_mask = _grouped_stratified_pick(y.tolist(), g.tolist(), test_size, np.random.default_rng(seed))
    return np.flatnonzero(~test_mask).astype(np.int64), np.flatnonzero(test_mask).astype(np.int64)


def make_online_splits(
    manifest: pd.DataFrame,
    *,
    train_nr: int | None = 10000,
    seed: int = 0,
    holdout_fraction: float = 0.5,
    stratify: bool = True,
    group_col: str | None = None,
) -> pd.DataFrame:
    """The original's online-learning protocol as a seeded split column.

    A trainset of ``train_nr`` images is drawn from ``data_train`` (``split="train"``, stratified by label so the
    class shares of ``data_train`` are kept); ``data_new`` is divided into ``"holdout"`` (only ever measured:
    the accuracy before and after a round) and ``"test"`` (the pool the expert labels from; ``holdout_fraction`` =
    0.5 gives the original's 180/180 of 360), stratified by label. The original shuffles each class folder without a seed and, by an off-by-one, gives its second half
    one extra file; here the halves are exact and the same ``seed`` always gives the same split.

    Parameters
    ----------
    manifest
        A manifest whose ``split`` column holds ``data_train`` / ``data_new`` (as :func:`load_dataset` returns).
    train_nr
        Images drawn from ``data_train`` (the original's ``TRAIN_NR``); ``None`` takes all of them.
    seed
        Seed of the :class:`numpy.random.Generator` behind every draw.
    holdout_fraction
        Share of ``data_new`` that goes to ``holdout``; the rest is ``test``.
    stratify
        Keep the class shares in every part.
    group_col
        Column whose values never straddle holdout and test (for BSData: ``"group"``, the wear sequence or
        source photograph). Without it, identical files (same SHA-256) are still kept on one side.

    Returns
    -------
    pandas.DataFrame
        The chosen rows with ``split`` in ``train`` / ``holdout`` / ``test`` and the former set name in ``set``;
        ``data_train`` rows not drawn are left out. Sorted by split, then path.

    Raises
    ------
    ValueError
        Unknown set names, an empty ``data_new``, or ``train_nr`` larger than ``data_train``.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must lie strictly between 0 and 1, not {holdout_fraction}")
    if "split" not in manifest.columns:
        raise ValueError("the manifest has no 'split' column; read it with olkit.data.io.load_dataset")
    if group_col is not None and group_col not in manifest.columns:
        raise ValueError(
            f"group_col {group_col!r} is not a column of the manifest ({list(manifest.columns)})"
        )
    df = _frame(manifest)
    unknown = sorted(set(df["split"]) - set(SET_NAMES))
    if unknown:
        raise ValueError(
            f"split column holds {unknown}; expected only {list(SET_NAMES)} (an unsplit manifest)"
        )
    rng = np.random.default_rng(seed)
    train_pool = df[df["split"] == "data_train"]
    new_pool = df[df["split"] == "data_new"]
    if new_pool.empty:
        raise ValueError("data_new is empty: there is nothing to split into holdout and test")
    n_train = len(train_pool) if train_nr is None else int(train_nr)
    if n_train > len(train_pool):
        raise ValueError(
            f"train_nr={n_train} exceeds the {len(train_pool)} images in data_train; lower TRAIN_NR "
            "(train_nr) or make a larger data_train (olkit data)"
        )
    if n_train < 0:
        raise ValueError(f"train_nr must not be negative, not {n_train}")
    labels = train_pool["label"] if stratify else pd.Series("", index=train_pool.index)
    if n_train == len(train_pool):
        train_mask = np.ones(len(train_pool), dtype=bool)
    else:
        train_mask = _grouped_stratified_pick(
            labels.tolist(), train_pool["sha256"].tolist(), n_train / len(train_pool), rng
        )
        train_mask = _fix_count(train_mask, n_train, labels.to_numpy(), rng)
    new_labels = new_pool["label"] if stratify else pd.Series("", index=new_pool.index)
    groups = new_pool[group_col] if group_col is not None else new_pool["sha256"]
    holdout_mask = _grouped_stratified_pick(
        new_labels.tolist(), groups.astype(str).tolist(), holdout_fraction, rng
    )
    train = train_pool[train_mask].assign(set="data_train", split="train")
    new = new_pool.assign(set="data_new", split=np.where(holdout_mask, "holdout", "test"))
    out = pd.concat([train, new], ignore_index=True)
    order = {"train": 0, "holdout": 1, "test": 2}
    out = out.sort_values(
        ["split", "path"], key=lambda s: s.map(order) if s.name == "split" else s, kind="stable"
    )
    return out.reset_index(drop=True)


def _fix_count(
    mask: npt.NDArray[np.bool_], n: int, labels: npt.NDArray[np.object_], rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """Make a greedy stratified pick hit exactly ``n`` rows (adding to / taking from the largest classes)."""
    mask = mask.copy()
    while mask.sum() != n:
        grow = mask.sum() < n
        pool = np.flatnonzero(~mask if grow else mask)
        classes, counts = np.unique(labels[pool], return_counts=True)
        cls = classes[np.argmax(counts)]
        idx = rng.choice(pool[labels[pool] == cls])
        mask[idx] = grow
    return mask


def materialize_original_layout(
    splits: pd.DataFrame, out_dir: PathLike, *, overwrite: bool = False, progress: bool = True
) -> pd.DataFrame:
    """Write the splits as the original's folders: ``current_train_dir/<class>/``, ``holdout/<class>/``, ``test/<class>/``.

    Files are hard-linked where the file system allows (no extra space), else copied. A file name that occurs
    twice in one target folder gets the first 8 hex digits of its SHA-256 appended.

    Parameters
    ----------
    splits
        Output of :func:`make_online_splits` (``split`` in train / holdout / test).
    out_dir
        Folder that receives the three sub-folders.
    overwrite
        Without it, nothing is written when any target file already exists (except a hard link to the very same
        file, which is left as it is, so a repeated call is harmless) or the three sub-folders hold files of
        another split. With it, the three sub-folders are emptied first, so no stale file of an earlier split
        remains.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    pandas.DataFrame
        ``splits`` with a ``materialized_path`` column.

    Raises
    ------
    FileExistsError
        Target files exist and ``overwrite`` is false (the message names the first ones).
    """
    out = Path(out_dir).expanduser().resolve()
    bad = sorted(set(splits["split"]) - set(ORIGINAL_FOLDERS))
    if bad:
        raise ValueError(
            f"split column holds {bad}; expected {sorted(ORIGINAL_FOLDERS)} (see make_online_splits)"
        )
    targets: list[Path] = []
    used: set[Path] = set()
    for src, split, label, sha in zip(
        splits["path"], splits["split"], splits["label"].astype(str), splits["sha256"], strict=True
    ):
        folder = out / ORIGINAL_FOLDERS[split] / (label or "unlabelled")
        dest = folder / Path(src).name
        if dest in used:
            dest = folder / f"{Path(src).stem}_{str(sha)[:8]}{Path(src).suffix}"
        used.add(dest)
        targets.append(dest)
    if overwrite:
        for name in ORIGINAL_FOLDERS.values():
            if (out / name).is_dir():
                shutil.rmtree(out / name)
    else:
        clashes = [
            d
            for s, d in zip(splits["path"], targets, strict=True)
            if (d.exists() or d.is_symlink()) and not (d.exists() and os.path.samefile(s, d))
        ]
        wanted = set(targets)
        stale = [
            f
            for name in ORIGINAL_FOLDERS.values()
            if (out / name).is_dir()
            for f in sorted((out / name).rglob("*"))
            if not f.is_dir() and f not in wanted
        ]
        if clashes or stale:
            shown = ", ".join(str(c) for c in [*clashes, *stale][:3])
            raise FileExistsError(
                f"{len(clashes) + len(stale)} files of another split already exist under {out} (for example "
                f"{shown}); pass overwrite=True to replace the three folders, or choose another out_dir"
            )
    for src, dest in tqdm(
        list(zip(splits["path"], targets, strict=True)), desc="materialize", disable=not progress, leave=False
    ):
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            continue  # the same file, linked by an earlier call
        try:
            os.link(src, dest)
        except OSError:
            shutil.copy2(src, dest)
    result = splits.copy()
    result["materialized_path"] = [d.as_posix() for d in targets]
    return result


# --------------------------------------------------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------------------------------------------------


def load_images(
    paths: Sequence[PathLike],
    *,
    size: tuple[int, int],
    mode: Literal["rgb", "gray"] = "rgb",
    alpha: Literal["white", "drop"] = "white",
    progress: bool = True,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_], list[ImageProblem]]:
    """Load many images into one array with a thread pool (OpenCV releases the GIL while decoding).

    Parameters
    ----------
    paths
        Image files.
    size
        ``(height, width)`` of every image in the batch.
    mode
        ``"rgb"`` gives ``(n, h, w, 3)``; ``"gray"`` gives ``(n, h, w)``.
    alpha
        See :func:`load_image`.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    images : numpy.ndarray
        ``uint8``, one row per path in order; rows of files that could not be read are zeros.
    ok : numpy.ndarray
        ``bool`` per path: read successfully.
    problems : list of ImageProblem
        The files that were skipped and why (never raised).
    """
    h, w = int(size[0]), int(size[1])
    shape: tuple[int, ...] = (len(paths), h, w, 3) if mode == "rgb" else (len(paths), h, w)
    images = np.zeros(shape, dtype=np.uint8)
    ok = np.zeros(len(paths), dtype=bool)
    problems: list[ImageProblem] = []

    def work(i: int) -> ImageProblem | None:
        try:
            images[i] = load_image(paths[i], size=(h, w), mode=mode, alpha=alpha)
        except ImageReadError as exc:
            return ImageProblem(str(paths[i]), _problem_reason(Path(paths[i]), exc))
        ok[i] = True
        return None

    with ThreadPoolExecutor(max_workers=_n_workers()) as pool:
        for res in tqdm(
            pool.map(work, range(len(paths))),
            total=len(paths),
            desc="load images",
            disable=not progress,
            leave=False,
        ):
            if res is not None:
                problems.append(res)
    return images, ok, problems
