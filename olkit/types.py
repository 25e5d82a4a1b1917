"""Shared type aliases and small frozen records used across olkit.

Every module imports its aliases from here, so that a signature reads the same wherever it appears.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

PathLike: TypeAlias = str | os.PathLike[str]
"""Anything :class:`pathlib.Path` accepts."""

ImageArray: TypeAlias = npt.NDArray[np.uint8]
"""One image, ``(height, width, 3)`` RGB ``uint8`` once loaded by :func:`olkit.data.io.load_image`."""

MaskArray: TypeAlias = npt.NDArray[np.uint8]
"""A class-valued mask, ``(height, width)`` ``uint8`` (0 = nothing; FTL classes 1 Crack, 2 Pore, 3 Dirt, 4 Background)."""

FTL_CLASSES: dict[int, str] = {1: "Crack", 2: "Pore", 3: "Dirt", 4: "Background"}
"""The original (Finicky-Transfer-Learning) labeler's classes: the value written into a mask -> its name."""

FloatArray: TypeAlias = npt.NDArray[np.float32]
"""Embeddings ``(n, d)`` or probabilities ``(n, n_classes)``."""

Sha256: TypeAlias = str
"""Hex SHA-256 of an image file's bytes: the identity of an image everywhere (cache keys, label store)."""

ClassName: TypeAlias = str
"""A class as named by its folder (``"0"`` no pitting, ``"1"`` pitting; any names for more classes)."""

SetName: TypeAlias = Literal["data_train", "data_new"]
"""The two image sets of the original's layout."""

SplitName: TypeAlias = Literal["train", "holdout", "test"]
"""The online-learning protocol's splits: ``train`` from data_train, ``holdout``/``test`` halves of data_new."""

LabelSource: TypeAlias = Literal["expert", "import", "simulated"]
"""Where a label event came from."""

MANIFEST_COLUMNS: tuple[str, ...] = (
    "path",  # absolute POSIX path of the image file
    "sha256",  # hex digest of the file's bytes
    "label",  # class name (str), "" when unknown
    "split",  # data_train / data_new, or train / holdout / test once split
    "source",  # synthetic / bsdata / user / crack
    "width",  # pixels, as stored on disk
    "height",
    "mask_path",  # absolute path of the mask PNG, "" when none
    "group",  # what must not be split across train and test (wear sequence, source image); the sha256 if none
)
"""Columns of a manifest table (:class:`pandas.DataFrame`), in this order."""


@dataclass(frozen=True)
class ImageProblem:
    """A file that could not be used, with the reason, reported instead of raised."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"
