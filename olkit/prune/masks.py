"""The mask labeler: the original's threshold / erase / contour-pick workflow, a GrabCut assist, and importers.

The original (``Labeler/labeler.py`` of MatZar01/Finicky-Transfer-Learning) shows OpenCV windows: an inverse binary
threshold starting at 120 moved by keys (``=``/``-`` by 1, ``]``/``[`` by 10) marks a pixel when all three channels
are at or below it; rectangles drawn over the result erase false detections; then every external contour is shown
in turn and a key gives it a class (``1`` Crack, ``2`` Pore, ``3`` Dirt, ``4`` Background, any other key skips);
the class-valued mask is written as a PNG under ``Segmented/`` with the same name as the image.

:class:`MaskLabeler` holds that workflow as plain state and methods (no UI), so tests and scripts drive it
directly; :class:`MaskLabelerWidget` shows it in a notebook (threshold slider, erase rectangle, contour pick with a
class selector, user classes, GrabCut) and only calls the labeler. The masks are written in the original's layout:
``<root>/Images/<name>.png`` beside ``<root>/Segmented/<name>.png`` (uint8 class values, 0 = unlabelled).
:func:`labelme_to_mask` imports labelme polygons (BSData) and :func:`import_mask_folder` the generator's masks.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from olkit.data.bsdata import read_labelme, render_polygon_mask
from olkit.data.io import decode_image, load_image
from olkit.errors import DataNotFoundError, ImageReadError
from olkit.types import FTL_CLASSES, ImageArray, MaskArray, PathLike

ORIGINAL_THRESHOLD = 120
"""The original's starting threshold."""

ORIGINAL_KEYS: dict[str, int] = {"=": 1, "+": 1, "-": -1, "]": 10, "[": -10}
"""Threshold keys of the original (it read ``=`` as its "+" key)."""

_PALETTE = np.array(
    [
        [0, 0, 0],
        [230, 25, 75],
        [255, 225, 25],
        [60, 180, 75],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
    ],
    dtype=np.uint8,
)


def class_colour(value: int) -> tuple[int, int, int]:
    """The RGB colour the previews use for a class value."""
    c = _PALETTE[value % len(_PALETTE)] if value else _PALETTE[0]
    return int(c[0]), int(c[1]), int(c[2])


class MaskLabeler:
    """The labelling state of one image: threshold, corrections, contours, the class-valued mask.

    Parameters
    ----------
    image : uint8 array ``(h, w, 3)``
        RGB image.
    name : str
        File name the mask is saved under (``.png`` is forced).
    threshold : int
        Starting threshold (the original's 120).
    classes : mapping, optional
        Class value -> name; default the original's four. Add more with :meth:`add_class`.

    Attributes
    ----------
    threshold : int
    binary : uint8 array
        The thresholded image (255 where every channel is at or below the threshold).
    corrected : uint8 array
        ``binary`` after the erased rectangles and GrabCut additions; its contours are what gets labelled.
    mask : uint8 array
        The class-valued mask being built.
    current : int
        Index of the contour on offer (the original went through them in order).
    """

    def __init__(
        self,
        image: ImageArray,
        *,
        name: str = "image.png",
        threshold: int = ORIGINAL_THRESHOLD,
        classes: Mapping[int, str] | None = None,
    ) -> None:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ImageReadError(
                f"{name}: expected an RGB uint8 image (h, w, 3), got {image.dtype} {image.shape}"
            )
        self.image = image
        self.name = Path(name).with_suffix(".png").name
        self.classes: dict[int, str] = dict(classes or FTL_CLASSES)
        self.mask: MaskArray = np.zeros(image.shape[:2], np.uint8)
        self.current = 0
        self._contours: list[npt.NDArray[np.int32]] | None = None
        self.set_threshold(threshold)

    @classmethod
    def from_file(cls, path: PathLike, **kwargs: Any) -> MaskLabeler:
        """Open an image file (any format OpenCV reads); the mask will be saved under its stem + ``.png``."""
        path = Path(path)
        return cls(load_image(path, size=None, mode="rgb"), name=path.name, **kwargs)

    # -- step 1: threshold -------------------------------------------------------------------------------------
    def set_threshold(self, value: int) -> None:
        """Threshold as the original: ``THRESH_BINARY_INV`` per channel, kept where all three channels are 255.

        Changing the threshold starts the corrections afresh (the original applied them after the threshold).
        """
        self.threshold = int(np.clip(value, 0, 255))
        _, inv = cv2.threshold(self.image, self.threshold, 255, cv2.THRESH_BINARY_INV)
        self.binary = np.where(np.all(inv == 255, axis=2), 255, 0).astype(np.uint8)
        self.reset_corrections()

    def handle_key(self, event: Mapping[str, Any] | str) -> bool:
        """Apply one of the original's threshold keys (``=``, ``-``, ``]``, ``[``) or a class digit.

        ``event`` is a key string or an ipyevents-style dict (``{"key": "]", "type": "keydown"}``). A digit that
        names a class assigns the current contour to it (as the original's ``1``..``4``). Returns whether the key
        did something.
        """
        key = event if isinstance(event, str) else str(event.get("key", ""))
        if key in ORIGINAL_KEYS:
            self.set_threshold(self.threshold + ORIGINAL_KEYS[key])
            return True
        if key.isdigit() and int(key) in self.classes and self.contours():
            self.assign(self.current, int(key))
            return True
        return False

    # -- step 2: corrections ----------------------------------------------------------------------------------
    def reset_corrections(self) -> None:
        """Undo every erase and GrabCut addition (the original's ``c``)."""
        self.corrected = self.binary.copy()
        self._changed()

    def erase(self, x0: int, y0: int, x1: int, y1: int) -> None:
        """Erase the rectangle with corners ``(x0, y0)`` and ``(x1, y1)`` (inclusive, any order) from the threshold."""
        xa, xb = sorted((int(x0), int(x1)))
        ya, yb = sorted((int(y0), int(y1)))
        cv2.rectangle(self.corrected, (xa, ya), (xb, yb), 0, -1)
        self._changed()

    def grabcut(
        self,
        rect: tuple[int, int, int, int],
        *,
        iterations: int = 5,
        class_value: int | None = None,
        seed: int = 0,
    ) -> npt.NDArray[np.bool_]:
        """OpenCV GrabCut inside ``rect = (x0, y0, x1, y1)``, seeded with the thresholded pixels as likely object.

        The foreground it finds is added to :attr:`corrected` (so its contours can be picked) and, with
        ``class_value``, written straight into the mask. Returns the foreground.
        """
        xa, xb = sorted((int(rect[0]), int(rect[2])))
        ya, yb = sorted((int(rect[1]), int(rect[3])))
        h, w = self.corrected.shape
        xa, ya, xb, yb = max(0, xa), max(0, ya), min(w - 1, xb), min(h - 1, yb)
        if xb - xa < 2 or yb - ya < 2:
            raise ValueError(f"GrabCut rectangle {rect} is too small; drag at least 3x3 pixels")
        cv2.setRNGSeed(seed)
        gc = np.full((h, w), cv2.GC_BGD, np.uint8)
        gc[ya : yb + 1, xa : xb + 1] = cv2.GC_PR_BGD
        inside = np.zeros((h, w), bool)
        inside[ya : yb + 1, xa : xb + 1] = True
        gc[(self.corrected > 0) & inside] = cv2.GC_PR_FGD
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        bgr: Any = cv2.cvtColor(self.image, cv2.COLOR_RGB2BGR)
        if not np.any(gc == cv2.GC_PR_FGD):
            cv2.grabCut(
                bgr, gc, (xa, ya, xb - xa + 1, yb - ya + 1), bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT
            )
        else:
            cv2.grabCut(bgr, gc, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
        fg = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD)) & inside
        self.corrected[fg] = 255
        if class_value is not None:
            self._check_class(class_value)
            self.mask[fg] = class_value
        self._changed()
        return fg

    # -- step 3: contours and classes -------------------------------------------------------------------------
    def contours(self) -> list[npt.NDArray[np.int32]]:
        """External contours of :attr:`corrected` (``RETR_EXTERNAL``, ``CHAIN_APPROX_SIMPLE``) in OpenCV's order."""
        if self._contours is None:
            found, _ = cv2.findContours(self.corrected, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            self._contours = [np.asarray(c, dtype=np.int32) for c in found]
        return self._contours

    def contour_at(self, x: int, y: int) -> int | None:
        """Index of the contour containing pixel ``(x, y)`` (on its border counts), or None."""
        for i, c in enumerate(self.contours()):
            if cv2.pointPolygonTest(c, (float(x), float(y)), False) >= 0:
                return i
        return None

    def assign(self, index: int, class_value: int) -> None:
        """Fill contour ``index`` with ``class_value`` in the mask (the original's keys 1..4) and move on."""
        self._check_class(class_value)
        contours = self.contours()
        if not 0 <= index < len(contours):
            raise IndexError(
                f"contour {index} does not exist ({len(contours)} contours at threshold {self.threshold})"
            )
        cv2.drawContours(self.mask, contours, index, int(class_value), -1)
        self.current = min(index + 1, len(contours))

    def skip(self) -> None:
        """Leave the current contour unlabelled and offer the next (the original's "any other key")."""
        self.current = min(self.current + 1, len(self.contours()))

    def assign_rest(self, class_value: int) -> None:
        """Give every pixel still 0 in the mask ``class_value`` (e.g. 4 Background)."""
        self._check_class(class_value)
        self.mask[self.mask == 0] = class_value

    def add_class(self, name: str, value: int | None = None) -> int:
        """Add a user class (next free value unless given) and return its value."""
        name = name.strip()
        if not name:
            raise ValueError("a class needs a name")
        for v, n in self.classes.items():
            if n == name:
                return v
        value = value if value is not None else max(self.classes, default=0) + 1
        if not 1 <= value <= 255 or value in self.classes:
            raise ValueError(f"class value {value} is taken or outside 1..255")
        self.classes[value] = name
        return value

    def clear(self) -> None:
        """Empty the mask and start again at the first contour."""
        self.mask[:] = 0
        self.current = 0

    @property
    def done(self) -> bool:
        """Every contour has been offered."""
        return self.current >= len(self.contours())

    # -- output ---------------------------------------------------------------------------------------------------
    def save(self, root: PathLike) -> tuple[Path, Path]:
        """Write ``<root>/Images/<name>.png`` (the RGB image) and ``<root>/Segmented/<name>.png`` (the mask).

        The mask is a single-channel uint8 PNG of class values, as the original writes (it wrote three equal
        channels; every reader here takes the first).
        """
        root = Path(root)
        img_path, seg_path = root / "Images" / self.name, root / "Segmented" / self.name
        img_path.parent.mkdir(parents=True, exist_ok=True)
        seg_path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(img_path), cv2.cvtColor(self.image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {img_path}")
        if not cv2.imwrite(str(seg_path), self.mask):
            raise OSError(f"could not write {seg_path}")
        return img_path, seg_path

    def preview(self, *, scale: int = 2) -> npt.NDArray[np.uint8]:
        """Image with the current contour boxed | corrected threshold | coloured mask, side by side (RGB)."""
        img = self.image.copy()
        contours = self.contours()
        if self.current < len(contours):
            x, y, w, h = cv2.boundingRect(contours[self.current])
            cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (255, 0, 0), 1)
        thr = np.repeat(self.corrected[..., None], 3, axis=2)
        colours = np.array([class_colour(v) for v in range(256)], np.uint8)
        coloured = colours[self.mask]
        blend = np.where(
            self.mask[..., None] > 0, (0.4 * self.image + 0.6 * coloured).astype(np.uint8), self.image
        )
        sep = np.full((self.image.shape[0], 2, 3), 255, np.uint8)
        strip = np.concatenate([img, sep, thr, sep, blend], axis=1)
        if scale != 1:
            strip = cv2.resize(strip, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        return np.asarray(strip, dtype=np.uint8)

    def _check_class(self, value: int) -> None:
        if value not in self.classes:
            raise ValueError(f"class {value} is not one of {self.classes}; add it with add_class(name)")

    def _changed(self) -> None:
        self._contours = None
        self.current = 0


# --------------------------------------------------------------------------------------------------------------
# importers
# --------------------------------------------------------------------------------------------------------------
def labelme_to_mask(
    json_path: PathLike,
    *,
    class_map: Mapping[str, int] | None = None,
    image_dir: PathLike | None = None,
) -> tuple[ImageArray, MaskArray]:
    """Read a labelme JSON (BSData's ``label/*.json``) and render its polygons as a class-valued mask.

    Parameters
    ----------
    json_path : path
        The labelme file.
    class_map : mapping, optional
        labelme label -> class value; default ``{"Pitting": 1}`` plus any label matching an FTL class name.
        Unknown labels raise.
    image_dir : path, optional
        Where the image is when the JSON has no embedded ``imageData`` (default: beside the JSON, then ``../data``).

    Returns
    -------
    (image RGB uint8, mask uint8)
    """
    json_path = Path(json_path)
    if not json_path.is_file():
        raise DataNotFoundError(f"labelme file {json_path} not found")
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    cmap = {"Pitting": 1, **{n: v for v, n in FTL_CLASSES.items()}, **dict(class_map or {})}
    image: ImageArray | None = None
    if doc.get("imageData"):
        image = decode_image(base64.b64decode(doc["imageData"]), name=json_path, size=None, mode="rgb")
    else:
        name = Path(str(doc.get("imagePath", ""))).name
        dirs = [Path(image_dir)] if image_dir else [json_path.parent, json_path.parent.parent / "data"]
        for d in dirs:
            if name and (d / name).is_file():
                image = load_image(d / name, size=None, mode="rgb")
                break
    if image is None:
        raise ImageReadError(
            f"{json_path}: no embedded imageData and image {doc.get('imagePath')!r} not found"
        )
    h, w = int(image.shape[0]), int(image.shape[1])
    mask: MaskArray = np.zeros((h, w), np.uint8)
    for poly in read_labelme(json_path):  # file order: a later shape is drawn over an earlier one
        if poly.label not in cmap:
            raise ValueError(
                f"{json_path}: label {poly.label!r} has no class value; pass class_map={{{poly.label!r}: N}}"
            )
        render_polygon_mask([poly], (h, w), value=int(cmap[poly.label]), out=mask)
    return image, mask


@dataclass(frozen=True)
class ImportSummary:
    """What :func:`import_mask_folder` wrote."""

    root: Path
    n_images: int
    n_skipped: int


def import_mask_folder(
    source: PathLike,
    dest: PathLike,
    *,
    sets: Sequence[str] = ("data_train",),
    classes: Sequence[str] | None = None,
    defect_value: int = 1,
    background_value: int = 0,
    size: int | None = None,
    limit: int | None = None,
) -> ImportSummary:
    """Bring the generator's (or the BSData importer's) masks into the original's ``Images/`` + ``Segmented/``.

    Scans ``<source>/<set>/<class>/<name>.png`` with its mask ``<source>/masks/<set>/<name>.png``. Binary masks
    (0/1 or 0/255) become ``defect_value`` where set and ``background_value`` elsewhere; class-valued masks (the
    crack family: 1 Crack, 2 Pore, 3 Dirt, 4 Background) are kept as they are. Images without a mask are skipped.
    """
    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise DataNotFoundError(f"{source} not found; make the data with `olkit data`")
    wrote = skipped = 0
    for set_name in sets:
        set_dir = source / set_name
        if not set_dir.is_dir():
            continue
        for cls_dir in sorted(p for p in set_dir.iterdir() if p.is_dir()):
            if classes is not None and cls_dir.name not in classes:
                continue
            for img_path in sorted(cls_dir.glob("*.png")):
                if limit is not None and wrote >= limit:
                    return ImportSummary(dest, wrote, skipped)
                mask_path = source / "masks" / set_name / img_path.name
                if not mask_path.is_file():
                    skipped += 1
                    continue
                try:
                    img: Any = cv2.cvtColor(load_image(img_path, size=None, mode="rgb"), cv2.COLOR_RGB2BGR)
                    msk: Any = load_image(mask_path, size=None, mode="mask")
                except ImageReadError:
                    skipped += 1
                    continue
                values = set(np.unique(msk).tolist())
                if values <= {0, 1} or values <= {0, 255}:
                    msk = np.where(msk > 0, defect_value, background_value).astype(np.uint8)
                if size is not None:
                    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
                    msk = cv2.resize(msk, (size, size), interpolation=cv2.INTER_NEAREST)
                name = (
                    f"{cls_dir.name}_{img_path.name}"
                    if len(sets) == 1
                    else f"{set_name}_{cls_dir.name}_{img_path.name}"
                )
                for sub, arr in (("Images", img), ("Segmented", msk.astype(np.uint8))):
                    (dest / sub).mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(dest / sub / name), arr)
                wrote += 1
    return ImportSummary(dest, wrote, skipped)


# --------------------------------------------------------------------------------------------------------------
# widget
# --------------------------------------------------------------------------------------------------------------
def _png_bytes(rgb: npt.NDArray[np.uint8]) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError("could not encode the preview")
    return io.BytesIO(buf.tobytes()).getvalue()


class MaskLabelerWidget:
    """The labeler in a notebook: threshold slider, erase rectangle, contour pick with a class selector, user
    classes, GrabCut, save. It holds no labelling state: everything goes through :attr:`labeler`.

    Parameters
    ----------
    files : sequence of paths
        Images to label, one after another.
    root : path
        Where ``Images/`` and ``Segmented/`` are written.
    threshold : int
        Starting threshold for every image (the original's 120).
    scale : int
        Preview magnification (the original showed the image at 2x).

    Notes
    -----
    Callbacks take an optional, ignored sender, so tests and scripts call them directly
    (``w.threshold.value = 90; w.erase(); w.assign(); w.save()``). Key presses over the image (ipyevents) go to
    :meth:`MaskLabeler.handle_key`: ``=``/``-``/``]``/``[`` move the threshold, digits assign the current contour
    to that class.
    """

    def __init__(
        self,
        files: Sequence[PathLike],
        root: PathLike,
        *,
        threshold: int = ORIGINAL_THRESHOLD,
        scale: int = 2,
    ) -> None:
        import ipywidgets as w

        self.files = [Path(f) for f in files]
        if not self.files:
            raise DataNotFoundError("MaskLabelerWidget needs at least one image file")
        self.root = Path(root)
        self.start_threshold = threshold
        self.scale = scale
        self.index = 0
        self.labeler = MaskLabeler.from_file(self.files[0], threshold=threshold)
        h, wd = self.labeler.image.shape[:2]
        self.view = w.Image(format="png")
        self.threshold = w.IntSlider(
            value=threshold, min=0, max=255, description="threshold", continuous_update=False
        )
        self.rect_x = w.IntRangeSlider(value=(0, wd // 4), min=0, max=wd - 1, description="x")
        self.rect_y = w.IntRangeSlider(value=(0, h // 4), min=0, max=h - 1, description="y")
        self.erase_button = w.Button(description="Erase rectangle", icon="eraser")
        self.reset_button = w.Button(description="Reset corrections")
        self.grabcut_button = w.Button(description="GrabCut in rectangle")
        self.class_picker = w.ToggleButtons(options=self._class_options(), description="class")
        self.assign_button = w.Button(description="Assign contour", button_style="primary")
        self.skip_button = w.Button(description="Skip contour")
        self.rest_button = w.Button(description="Rest -> class")
        self.new_class = w.Text(placeholder="new class name", description="add class")
        self.add_class_button = w.Button(description="Add")
        self.save_button = w.Button(description="Save & next", button_style="success")
        self.status = w.HTML()
        self.threshold.observe(self.on_threshold, names="value")
        self.erase_button.on_click(self.erase)
        self.reset_button.on_click(self.reset)
        self.grabcut_button.on_click(self.grabcut)
        self.assign_button.on_click(self.assign)
        self.skip_button.on_click(self.skip)
        self.rest_button.on_click(self.assign_rest)
        self.add_class_button.on_click(self.add_class)
        self.save_button.on_click(self.save)
        self.widget = w.VBox(
            [
                self.view,
                self.threshold,
                w.HBox([self.rect_x, self.rect_y]),
                w.HBox([self.erase_button, self.reset_button, self.grabcut_button]),
                self.class_picker,
                w.HBox([self.assign_button, self.skip_button, self.rest_button]),
                w.HBox([self.new_class, self.add_class_button]),
                w.HBox([self.save_button, self.status]),
            ]
        )
        self.widget.add_class("olkit-mask-labeler")
        try:  # keyboard like the original, while the mouse is over the image; optional
            from ipyevents import Event

            # prevent_default: JupyterLab's and Notebook 7's command-mode shortcuts (digits make headings) act on
            # keydown and would take the keys; only the image listens, so the text box still takes typing
            self._events = Event(source=self.view, watched_events=["keydown"], prevent_default_action=True)
            self._events.on_dom_event(self.on_key)
        except ImportError:  # pragma: no cover - ipyevents is a dependency, but the widget works without it
            self._events = None
        self.refresh()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _class_options(self) -> list[tuple[str, int]]:
        return [(f"{v} {n}", v) for v, n in sorted(self.labeler.classes.items())]

    @property
    def rect(self) -> tuple[int, int, int, int]:
        """The rectangle the sliders select, ``(x0, y0, x1, y1)``."""
        return (self.rect_x.value[0], self.rect_y.value[0], self.rect_x.value[1], self.rect_y.value[1])

    def refresh(self) -> None:
        """Redraw the preview and the status line."""
        lab = self.labeler
        self.view.value = _png_bytes(lab.preview(scale=self.scale))
        n = len(lab.contours())
        self.status.value = (
            f"<b>{lab.name}</b> ({self.index + 1}/{len(self.files)}) threshold {lab.threshold}, "
            f"contour {min(lab.current + 1, n)}/{n}{' (all offered)' if lab.done else ''}"
        )

    def on_threshold(self, change: Any = None) -> None:
        self.labeler.set_threshold(int(self.threshold.value))
        self.refresh()

    def on_key(self, event: Mapping[str, Any]) -> None:
        if self.labeler.handle_key(event):
            if self.threshold.value != self.labeler.threshold:
                self.threshold.unobserve(self.on_threshold, names="value")
                self.threshold.value = self.labeler.threshold
                self.threshold.observe(self.on_threshold, names="value")
            self.refresh()

    def erase(self, sender: Any = None) -> None:
        self.labeler.erase(*self.rect)
        self.refresh()

    def reset(self, sender: Any = None) -> None:
        self.labeler.reset_corrections()
        self.refresh()

    def grabcut(self, sender: Any = None) -> None:
        self.labeler.grabcut(self.rect)
        self.refresh()

    def assign(self, sender: Any = None) -> None:
        if not self.labeler.done:
            self.labeler.assign(self.labeler.current, int(self.class_picker.value))
        self.refresh()

    def skip(self, sender: Any = None) -> None:
        self.labeler.skip()
        self.refresh()

    def assign_rest(self, sender: Any = None) -> None:
        self.labeler.assign_rest(int(self.class_picker.value))
        self.refresh()

    def add_class(self, sender: Any = None) -> None:
        value = self.labeler.add_class(self.new_class.value)
        self.class_picker.options = self._class_options()
        self.class_picker.value = value
        self.new_class.value = ""
        self.refresh()

    def save(self, sender: Any = None) -> tuple[Path, Path]:
        """Write the current image's mask and open the next image (classes carry over)."""
        paths = self.labeler.save(self.root)
        if self.index + 1 < len(self.files):
            self.index += 1
            classes = self.labeler.classes
            self.labeler = MaskLabeler.from_file(
                self.files[self.index], threshold=self.start_threshold, classes=classes
            )
            self.threshold.unobserve(self.on_threshold, names="value")
            self.threshold.value = self.start_threshold
            self.threshold.observe(self.on_threshold, names="value")
        self.refresh()
        return paths
