"""``olkit predict``: classify every image of a folder (recursively) with an exported model, into a CSV.

Every file under the folder is tried (hidden files and the output CSV aside): what :func:`olkit.data.io.load_image`
cannot read (a corrupt file, a text file, a truncated JPEG) is skipped and reported by path and reason, never
fatal. The CSV has one row per classified image: ``path, sha256, predicted, p_<class>..., model_fingerprint``
(the SHA-256 of the model file that ran).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from olkit.deploy.export import DeployInfo, read_deploy_info
from olkit.deploy.runtime import open_session, runtime_of
from olkit.errors import ImageReadError
from olkit.files import atomic_write_text
from olkit.types import PathLike

__all__ = ["PredictResult", "classify", "list_files", "predict_files", "predict_folder", "resolve_model"]

PREFERRED: tuple[str, ...] = ("onnx", "litert", "keras", "litert-int8")
"""The export a folder runs when no file is named: float32 exports first (same classes as the notebook)."""


@dataclass(frozen=True)
class PredictResult:
    """What :func:`predict_folder` did.

    Attributes
    ----------
    out
        The CSV written.
    n_images
        Images classified (rows of the CSV).
    skipped
        ``(path, reason)`` of every file that could not be read.
    model
        The model file that ran; ``runtime`` its runtime; ``fingerprint`` its SHA-256.
    seconds
        Wall time from the first file read to the CSV written (decoding and hashing included; loading the
        model and listing the folder not).
    """

    out: Path
    n_images: int
    skipped: list[tuple[str, str]]
    model: Path
    runtime: str
    fingerprint: str
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def images_per_s(self) -> float:
        return self.n_images / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        lines = [
            f"{self.n_images} images classified with {self.model.name} ({self.runtime}, "
            f"{self.fingerprint[:12]}) in {self.seconds:.1f} s ({self.images_per_s:.0f} images/s) -> {self.out}",
            "  predicted: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items())),
        ]
        if self.skipped:
            lines.append(f"  {len(self.skipped)} file(s) skipped:")
            lines.extend(f"    {p}: {why}" for p, why in self.skipped)
        return "\n".join(lines)


def resolve_model(model: PathLike) -> tuple[Path, DeployInfo]:
    """The model file to run and its ``deploy.json``: ``model`` itself, or the preferred export of a folder."""
    p = Path(model)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such model file or export folder")
    info = read_deploy_info(p)
    if p.is_dir():
        for fmt in PREFERRED:
            if fmt in info.files and info.path(fmt).is_file():
                return info.path(fmt), info
        raise FileNotFoundError(f"{p}: deploy.json names no model file that is there")
    runtime_of(p)  # a clear error for a file no runtime runs
    return p, info


def list_files(folder: PathLike, *, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """Every regular file under ``folder`` (recursively, sorted), hidden files and folders left out."""
    root = Path(folder)
    skip = {e.resolve() for e in exclude}
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.resolve() in skip:
            continue
        out.append(path)
    return out


def classify(
    proba: npt.NDArray[Any], classes: tuple[str, ...], *, defect_class: str, threshold: float | None = None
) -> list[str]:
    """Class names of probability rows: the most probable, or with ``threshold`` the defect class whenever its
    probability reaches ``threshold`` (else the most probable other class)."""
    p = np.asarray(proba, dtype=np.float64)
    names = np.asarray(classes)
    if threshold is None:
        return [str(c) for c in names[p.argmax(axis=1)]]
    d = classes.index(defect_class)
    others = p.copy()
    others[:, d] = -np.inf
    pred = np.where(p[:, d] >= threshold, d, others.argmax(axis=1))
    return [str(c) for c in names[pred]]


def _read(path: Path, size: tuple[int, int], mode: str) -> tuple[np.ndarray | None, str, str]:
    from olkit.data.io import file_sha256, load_image

    try:
        img = load_image(path, size=size, mode="gray" if mode == "grayscale" else "rgb")
        return img, file_sha256(path), ""
    except ImageReadError as exc:
        msg = str(exc)
        return None, "", msg[len(str(path)) + 2 :] if msg.startswith(f"{path}: ") else msg
    except OSError as exc:
        return None, "", f"{type(exc).__name__}: {exc.strerror or exc}"


def predict_folder(
    model: PathLike,
    folder: PathLike,
    out: PathLike,
    *,
    threshold: float | None = None,
    batch_size: int = 32,
    threads: int | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> PredictResult:
    """Classify every image under ``folder`` with an exported model and write the CSV ``out``.

    Parameters
    ----------
    model
        A model file of an export folder (``.onnx``, ``.tflite``, ``.keras``) or the folder (its ONNX export,
        else float32 LiteRT, else Keras); ``deploy.json`` beside it gives classes and input size.
    folder
        Searched recursively; every file is tried, unreadable ones are skipped and listed in the result.
    out
        The CSV (written atomically; never read as an input if it lies inside ``folder``).
    threshold
        Predict the defect class (``deploy.json``'s ``defect_class``) when its probability is at least this;
        default: the most probable class.
    batch_size
        Images per forward pass.
    threads
        CPU threads of the runtime (default: the runtime's choice).
    progress
        A tqdm bar over files.
    workers
        Threads decoding images (default: up to 4).
    """
    if not Path(folder).is_dir():
        raise NotADirectoryError(f"{folder}: not a folder")
    files = list_files(folder, exclude=(Path(out),))
    return predict_files(
        model,
        files,
        out,
        threshold=threshold,
        batch_size=batch_size,
        threads=threads,
        progress=progress,
        workers=workers,
    )


def predict_files(
    model: PathLike,
    files: Sequence[PathLike],
    out: PathLike,
    *,
    threshold: float | None = None,
    batch_size: int = 32,
    threads: int | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> PredictResult:
    """Classify the image ``files`` (e.g. a manifest's held-out paths) into the CSV ``out``; the options and the
    result are those of :func:`predict_folder`."""
    from tqdm.auto import tqdm

    from olkit.data.io import file_sha256

    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    path, info = resolve_model(model)
    fingerprint = file_sha256(path)
    session = open_session(path, threads=threads)
    size = info.preprocessing.size
    color = info.preprocessing.color
    out = Path(out)
    files = [Path(f) for f in files]
    t0 = time.perf_counter()  # the model is loaded: from here on, reading, decoding, hashing, inference, CSV
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "sha256", "predicted", *[f"p_{c}" for c in info.classes], "model_fingerprint"])
    skipped: list[tuple[str, str]] = []
    counts: dict[str, int] = {}
    n_ok = 0
    chunk = max(batch_size, 256)
    with (
        ThreadPoolExecutor(max_workers=workers or 4) as pool,
        tqdm(total=len(files), desc="predict", unit="file", disable=not progress) as bar,
    ):
        for start in range(0, len(files), chunk):
            part = files[start : start + chunk]
            read = list(pool.map(lambda p: _read(p, size, color), part))
            good = [(p, img, sha) for p, (img, sha, _) in zip(part, read) if img is not None]
            skipped.extend((str(p), why) for p, (img, _, why) in zip(part, read) if img is None)
            for b in range(0, len(good), batch_size):
                rows = good[b : b + batch_size]
                x = np.stack([img for _, img, _ in rows]).astype(np.float32)
                if x.ndim == 3:
                    x = x[..., None]
                proba = session.run(x)
                pred = classify(proba, info.classes, defect_class=info.defect_class, threshold=threshold)
                for (p, _, sha), cls, pr in zip(rows, pred, proba):
                    writer.writerow([str(p), sha, cls, *[f"{v:.6f}" for v in pr], fingerprint])
                    counts[cls] = counts.get(cls, 0) + 1
                n_ok += len(rows)
            bar.update(len(part))
    atomic_write_text(out, buf.getvalue())
    return PredictResult(
        out=out,
        n_images=n_ok,
        skipped=skipped,
        model=path,
        runtime=session.runtime,
        fingerprint=fingerprint,
        seconds=time.perf_counter() - t0,
        counts=counts,
    )
