"""The relabel grid: an expert labels a round's uncertain images with mouse or keys, undoes, pages, zooms,
retrains and exports, in a notebook.

The grid holds no labels. Every click is an event appended (and committed) to a :class:`~olkit.online.labels.LabelStore`
before the tile changes; what the grid itself keeps (page, focus, filters, a thumbnail cache) is position in
the view and is rebuilt from the session and the store after a kernel restart. The same session API runs
without a UI: :func:`olkit.online.labels.apply_labels` takes the decisions from a CSV file or the simulated expert and
:func:`olkit.online.labels.retrain_from_store` runs the round, which is what the Retrain button calls too.

Every tile shows the model's prediction as its proposed label: the expert accepts it (``a``, or "Accept page" for
every still-unlabelled tile of the page at once) or changes it (a class key or button), and each event says which
(``kind`` ``accepted``/``changed``), so the report can say how often the expert overruled the model. ``?`` answers
"unsure": kept as an event, left out of training. Clicks on the images select (shift-click a range, ctrl- or
cmd-click toggles); a class key or button then labels the whole selection in one transaction, and one undo takes
the batch back. Classes show their display names (``{"0": "no pitting", "1": "pitting"}`` for the binary BSD
classes, the folder names otherwise, or a ``class_names`` map) beside up to three examples from the labelled train
set.

Keys (ipyevents, while the mouse is over the grid): number keys label the focused tile or the selection (the class
named by the digit when every class is a digit, as ``"0"``/``"1"``; otherwise the n-th class, shown on its
button), ``a`` accepts the prediction, ``A`` accepts the page, ``?`` unsure, arrows move the focus, ``u`` undoes,
``z`` (or a double click) zooms, ``Escape`` closes the zoom and clears the selection, ``n``/``p`` or
PageDown/PageUp change page.
"""

from __future__ import annotations

import html
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import cv2
import ipywidgets as W
import numpy as np
import pandas as pd
from ipyevents import Event
from IPython.display import HTML as _HTML

from olkit.data.io import load_image
from olkit.errors import ImageReadError, LabelStoreLockedError, OlkitError
from olkit.online.labels import EventKind, LabelStore, SessionLike, retrain_from_store
from olkit.types import ClassName, Sha256

__all__ = ["BSD_CLASS_NAMES", "RelabelGrid", "class_examples", "overlay_mask", "thumbnail_bytes"]

BSD_CLASS_NAMES: dict[ClassName, str] = {"0": "no pitting", "1": "pitting"}
"""Display names of the binary BSD classes, the grid's default when the classes are ``"0"`` and ``"1"``."""
UNSURE_KEY = "?"

SortKey = Literal["uncertainty", "confidence", "predicted", "name"]
SORT_OPTIONS: dict[str, SortKey] = {
    "most uncertain first": "uncertainty",
    "lowest confidence first": "confidence",
    "predicted class": "predicted",
    "file name": "name",
}
MASK_COLORS_BGR: dict[int, tuple[int, int, int]] = {
    1: (40, 40, 230),  # defect / FTL "Crack": red
    2: (0, 200, 255),  # FTL "Pore": amber
    3: (230, 160, 0),  # FTL "Dirt": blue
}
"""Overlay colour per mask value; 0 (nothing) and 4 (FTL "Background") are left uncoloured."""

_FOCUS_BORDER = "3px solid #1f6feb"
_SELECTED_BORDER = "3px solid #e8a400"
_FOCUS_SELECTED_BORDER = "3px dashed #1f6feb"
_PLAIN_BORDER = "3px solid transparent"
_KIND_MARK = {"accepted": ("✓", "accepted the prediction"), "changed": ("✎", "changed the prediction")}
"""A short mark after the label (the caption keeps its height, so the tiles below never move)."""


class GridSession(SessionLike, Protocol):
    """What the grid needs from :class:`olkit.online.session.OnlineSession` (``run`` is its :class:`~olkit.paths.RunFolder`)."""

    run: Any


# ---------------------------------------------------------------------------------------------- images


def _read_bgr(path: str) -> np.ndarray | None:
    """The image at ``path`` as BGR for OpenCV's encoders (read by :func:`olkit.data.io.load_image`), None if unreadable."""
    if not path:
        return None
    try:
        return cv2.cvtColor(load_image(path, size=None, mode="rgb"), cv2.COLOR_RGB2BGR)
    except ImageReadError:
        return None


def _read_mask(path: str) -> np.ndarray | None:
    """The class-valued mask at ``path`` (:func:`olkit.data.io.load_image` in mask mode), None if unreadable."""
    try:
        return load_image(path, size=None, mode="mask")
    except ImageReadError:
        return None


def _placeholder(size: int, text: str) -> np.ndarray:
    tile = np.full((size, size, 3), 235, np.uint8)
    cv2.rectangle(tile, (2, 2), (size - 3, size - 3), (60, 60, 200), 2)
    cv2.line(tile, (2, 2), (size - 3, size - 3), (60, 60, 200), 1)
    cv2.putText(tile, text, (8, size // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (20, 20, 120), 1, cv2.LINE_AA)
    return tile


def thumbnail_bytes(path: str, *, size: int = 128, quality: int = 85) -> tuple[bytes, bool]:
    """A JPEG thumbnail (longest side ``size``) of the image at ``path`` and whether the file could be read.

    An unreadable or missing file gives a placeholder thumbnail and ``False``.
    """
    image = _read_bgr(path)
    ok = image is not None
    if image is None:
        image = _placeholder(size, "missing")
    h, w = image.shape[:2]
    scale = size / max(h, w)
    if scale < 1:
        image = cv2.resize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    done, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not done:  # pragma: no cover - cv2 encodes any uint8 BGR image
        raise OlkitError(f"could not encode a thumbnail of {path}")
    return buf.tobytes(), ok


def overlay_mask(image: np.ndarray, mask: np.ndarray, *, alpha: float = 0.45) -> np.ndarray:
    """``image`` (BGR) with the class-valued ``mask`` blended in colour and outlined (values 1-3; 255 counts as 1)."""
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.shape[:2] != image.shape[:2]:
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
    values = np.where(mask == 255, 1, mask)
    out = image.copy()
    for value, color in MASK_COLORS_BGR.items():
        hit = values == value
        if not hit.any():
            continue
        out[hit] = (out[hit] * (1 - alpha) + np.array(color) * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(hit.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, color, 1, cv2.LINE_AA)
    return out


def _short(name: str, limit: int) -> str:
    """``name`` cut in the middle to at most ``limit`` characters (the end of a file name tells most)."""
    if len(name) <= limit:
        return name
    tail = (limit - 1) * 2 // 3
    return f"{name[: limit - 1 - tail]}…{name[-tail:]}"


def _png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def class_examples(session: Any, classes: list[ClassName], *, n: int = 3) -> dict[ClassName, list[str]]:
    """Up to ``n`` example image paths per class from the session's labelled train set, the images the model
    finds most typical of their (true) class first: the hints shown beside each class button."""
    train = session.predictions("train")
    train = train[train["label"].astype(str) != ""]
    out: dict[ClassName, list[str]] = {}
    for cls in classes:
        rows = train[train["label"].astype(str) == cls]
        if f"p_{cls}" in rows.columns:
            rows = rows.sort_values(f"p_{cls}", ascending=False, kind="stable")
        out[cls] = [str(p) for p in rows["path"] if Path(str(p)).is_file()][:n]
    return out


# ---------------------------------------------------------------------------------------------- one tile


class _Tile:
    """The widgets of one grid cell; rows of the selection are swapped in and out as pages change."""

    def __init__(self, grid: RelabelGrid, index: int, shared: dict[str, W.Widget]) -> None:
        self.index = index
        self.sha256: Sha256 | None = None
        self.image = W.Image(format="jpeg", layout=shared["image"])
        self.caption = W.HTML(layout=shared["caption"])
        self.grid = grid
        self.buttons = [
            W.Button(
                description=grid.display(cls),
                tooltip=f"label as {grid.display(cls)} (key {key})",
                layout=shared["button"],
                style=shared["button_style"],
            )
            for cls, key in zip(grid.classes, grid.key_of_class.values())
        ]
        for cls, button in zip(grid.classes, self.buttons):
            button.on_click(lambda _b, c=cls: grid.label(c, index=self.index))
        self.unsure_button = W.Button(
            description=UNSURE_KEY,
            tooltip=f"unsure (key {UNSURE_KEY}): kept, left out of training",
            layout=shared["button"],
            style=shared["button_style"],
        )
        self.unsure_button.on_click(lambda _b: grid.unsure(index=self.index))
        self.box = W.VBox(
            [self.image, self.caption, W.HBox([*self.buttons, self.unsure_button], layout=shared["row"])],
            layout=W.Layout(border=_PLAIN_BORDER, padding="2px", align_items="center", overflow="hidden"),
        )
        self.box.add_class("olkit-tile")
        self.selected = False
        # shift/ctrl come with the click from the front end; prevent_default: no text selection on shift-click
        self.clicks = Event(
            source=self.image, watched_events=["click", "dblclick"], prevent_default_action=True
        )
        self.clicks.on_dom_event(self.on_click)

    def on_click(self, event: Mapping[str, Any]) -> None:
        """A click on the image selects (shift: a range, ctrl/cmd: toggles); a double click zooms."""
        if event.get("type") == "dblclick":
            self.grid.zoom(index=self.index)
            return
        self.grid.click(
            self.index,
            shift=bool(event.get("shiftKey")),
            ctrl=bool(event.get("ctrlKey") or event.get("metaKey")),
        )

    def show(
        self,
        row: Any,
        label: ClassName | None,
        thumb: bytes,
        ok: bool,
        classes: list[ClassName],
        kind: str | None = None,
        note: str = "",
    ) -> None:
        self.sha256 = row.sha256
        self.image.value = thumb
        self.box.layout.display = None
        self.set_label(label, row=row, ok=ok, classes=classes, kind=kind, note=note)

    def set_label(
        self,
        label: ClassName | None,
        *,
        row: Any,
        ok: bool,
        classes: list[ClassName],
        kind: str | None = None,
        note: str = "",
    ) -> None:
        name = html.escape(Path(row.path).name)
        conf = float(row.confidence) if pd.notna(row.confidence) else float("nan")
        pred = str(row.pred)
        if label:
            mark = _KIND_MARK.get(kind or "")
            how = f" <span title='{mark[1]}' style='color:#666'>{mark[0]}</span>" if mark else ""
            shown = f"label <b>{html.escape(self.grid.display(label))}</b>{how}"
        elif kind == "unsure":
            shown = "<b style='color:#9a6700'>unsure</b>"
        else:
            shown = "<span style='color:#888'>unlabeled</span>"
        lines = [
            "<div style='font-size:11px;line-height:1.3;overflow-wrap:anywhere;text-align:center'>"
            f"pred <b>{html.escape(self.grid.display(pred))}</b> p={conf:.2f}<br>{shown}<br>"
            f"<span title='{name}' style='color:#666'>{html.escape(_short(Path(row.path).name, 17))}</span>"
        ]
        if not ok:
            lines.append(f"<br><span style='color:#b00'>missing on disk: {html.escape(str(row.path))}</span>")
        self.caption.value = "".join(lines) + "</div>" + note
        for cls, button in zip(classes, self.buttons):
            # the label in green; while none (and not unsure), the proposed label in blue
            style = (
                "success"
                if cls == label
                else ("info" if not label and kind != "unsure" and cls == pred else "")
            )
            if button.button_style != style:
                button.button_style = style
        unsure_style = "warning" if kind == "unsure" and not label else ""
        if self.unsure_button.button_style != unsure_style:
            self.unsure_button.button_style = unsure_style

    def hide(self) -> None:
        self.sha256 = None
        self.box.layout.display = "none"


# ---------------------------------------------------------------------------------------------- the grid


class RelabelGrid:
    """A page of thumbnails of a round's selection, labeled into a :class:`~olkit.online.labels.LabelStore`.

    Parameters
    ----------
    session
        An :class:`olkit.online.session.OnlineSession` (anything with its ``classes``, ``round``, ``predictions``,
        ``select``, ``retrain`` and ``run``).
    store
        Where every label goes, committed before the tile changes.
    selection
        The images to label (``session.select(...)``'s table: ``sha256``, ``path``, ``score``/``rank``, ...);
        default: ``session.select(strategy=strategy, threshold=threshold, budget=budget)``.
    page_size, columns, thumb_px
        Tiles per page, tiles per row (arrow up/down move by a row) and thumbnail size in pixels.
    annotator
        Written with every event; default: the store's annotator.
    strategy, threshold, budget
        Passed to ``session.select`` for the first selection and for "Next round".
    export_root
        Where Export writes ``ind_img/...``; default: the session's run folder.
    retrain_kwargs
        Passed to ``session.retrain`` by the Retrain button (``{"mode": "original"}``, ``{"finetune": True}``).
    zoom_min_px
        The zoom shows every image at full resolution; one smaller than this is enlarged by a whole factor
        (nearest neighbour, so every pixel stays a visible block).
    class_names
        Display name per class (``{"0": "no pitting", "1": "pitting"}``); default :data:`BSD_CLASS_NAMES` for the
        classes ``"0"``/``"1"``, the class (folder) names otherwise. Labels are stored under the class, never the
        display name.
    examples
        Example thumbnails per class beside its button, from the labelled train set (:func:`class_examples`; at
        most 3, 0 shows none).

    Examples
    --------
    >>> session = OnlineSession.open(run)                      # doctest: +SKIP
    >>> grid = RelabelGrid(session, LabelStore(run.labels_db))  # doctest: +SKIP
    >>> grid                                                    # doctest: +SKIP
    """

    def __init__(
        self,
        session: GridSession,
        store: LabelStore,
        *,
        selection: pd.DataFrame | None = None,
        page_size: int = 48,
        columns: int = 8,
        thumb_px: int = 112,
        annotator: str | None = None,
        strategy: str = "band",
        threshold: float = 0.05,
        budget: int | None = None,
        export_root: str | Path | None = None,
        retrain_kwargs: Mapping[str, Any] | None = None,
        zoom_min_px: int = 384,
        class_names: Mapping[ClassName, str] | None = None,
        examples: int = 3,
    ) -> None:
        if page_size < 1 or columns < 1:
            raise ValueError(f"page_size and columns must be positive, got {page_size}, {columns}")
        self.session = session
        self.store = store
        self.classes: list[ClassName] = [str(c) for c in session.classes]
        self.page_size = int(page_size)
        self.columns = int(columns)
        self.thumb_px = int(thumb_px)
        self.annotator = annotator or store.annotator
        self.select_kwargs: dict[str, Any] = {"strategy": strategy, "threshold": threshold, "budget": budget}
        self.export_root = export_root
        self.retrain_kwargs = dict(retrain_kwargs or {})
        self.zoom_min_px = int(zoom_min_px)
        default = BSD_CLASS_NAMES if set(self.classes) == set(BSD_CLASS_NAMES) else {}
        names = {**default, **{str(k): str(v) for k, v in (class_names or {}).items()}}
        self.class_names: dict[ClassName, str] = {c: names.get(c, c) for c in self.classes}
        self.n_examples = max(0, min(int(examples), 3))
        self.selected: set[int] = set()  # tiles of the page selected by clicks (page positions)
        self._anchor: int | None = None  # where a shift-click range starts
        digits = all(len(c) == 1 and c.isdigit() for c in self.classes)
        self.key_of_class: dict[ClassName, str] = (
            {c: c for c in self.classes}
            if digits
            else {c: str(i + 1) for i, c in enumerate(self.classes[:9])}
        )
        self.class_of_key = {k: c for c, k in self.key_of_class.items()}
        self.page = 0
        self.focus = 0
        self.last_result: Any = None
        self._thumbs: OrderedDict[tuple[str, int], tuple[bytes, bool]] = OrderedDict()
        self._thumb_cache_size = 4 * self.page_size + 64
        self._build_controls()
        shared: dict[
            str, W.Widget
        ] = {  # one layout/style model for all tiles: fewer widgets to create and sync
            "image": W.Layout(
                width=f"{self.thumb_px}px", max_width="100%", height="auto", object_fit="contain"
            ),
            "caption": W.Layout(width=f"{self.thumb_px}px", max_width="100%", margin="0"),
            "button": W.Layout(width="auto", min_width="2.4em", padding="0 6px"),
            "button_style": W.ButtonStyle(),
            "row": W.Layout(flex_flow="row wrap", justify_content="center"),
        }
        self._tiles = [_Tile(self, i, shared) for i in range(self.page_size)]
        self.tiles_box = W.GridBox(
            [t.box for t in self._tiles],
            # a fixed number of columns (arrow up/down move by one row) that shrink to fit narrow screens
            layout=W.Layout(
                grid_template_columns=f"repeat({self.columns}, minmax(0, {self.thumb_px + 32}px))",
                grid_gap="4px",
            ),
        )
        self.zoom_caption = W.HTML()
        self.zoom_image = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        self.zoom_box = W.VBox([self.zoom_caption, self.zoom_image], layout=W.Layout(display="none"))
        self.output = W.Output(layout=W.Layout(border="1px solid #ddd", padding="4px"))
        self.message = W.HTML()
        self.classes_box = self._build_class_panel()
        self.widget = W.VBox(
            [
                self.progress,
                self.filters_box,
                self.nav_box,
                self.classes_box,
                self.message,
                self.tiles_box,
                self.zoom_box,
                self.output,
            ]
        )
        self.widget.add_class("olkit-relabel-grid")
        # keydown is watched only so that ipyevents swallows it: JupyterLab's command-mode shortcuts (arrows
        # select cells, digits make headings, z undoes) act on keydown and would take the focus from the grid
        self.keys = Event(
            source=self.widget, watched_events=["keydown", "keyup"], prevent_default_action=True
        )
        self.keys.on_dom_event(self.on_key)
        self.set_selection(session.select(**self.select_kwargs) if selection is None else selection)

    # ------------------------------------------------------------------ building
    def display(self, cls: ClassName) -> str:
        """The display name of class ``cls`` (itself when the class map has none)."""
        return self.class_names.get(str(cls), str(cls))

    def _build_class_panel(self) -> W.Box:
        """One button per class (display name and key) with up to three train examples beside it, the unsure
        button and the accept buttons; they act on the selection, else on the focused tile."""
        try:
            examples = (
                class_examples(self.session, self.classes, n=self.n_examples) if self.n_examples else {}
            )
        except Exception:  # a session without a train split still gets its grid, without examples
            examples = {}
        self.class_buttons: dict[ClassName, W.Button] = {}
        self.example_paths: dict[ClassName, list[str]] = {c: list(examples.get(c, [])) for c in self.classes}
        groups: list[W.Widget] = []
        hint_px = max(24, self.thumb_px // 3)
        for cls in self.classes:
            key = self.key_of_class.get(cls)
            button = W.Button(
                description=f"{self.display(cls)}" + (f" ({key})" if key else ""),
                tooltip=f"label the selection (or the focused tile) as {self.display(cls)}",
                layout=W.Layout(width="auto"),
            )
            button.on_click(lambda _b, c=cls: self.label(c))
            self.class_buttons[cls] = button
            thumbs = [
                W.Image(
                    value=self._thumb(path)[0],
                    format="jpeg",
                    # no tooltip: ipywidgets 8.1's Image view fails to render with one in JupyterLab 4
                    layout=W.Layout(width=f"{hint_px}px", height=f"{hint_px}px", object_fit="cover"),
                )
                for path in examples.get(cls, [])
            ]
            group = W.HBox(
                [button, *thumbs],
                layout=W.Layout(align_items="center", margin="0 12px 0 0", border="1px solid #ddd"),
            )
            group.add_class("olkit-class")
            groups.append(group)
        self.unsure_all_button = W.Button(
            description=f"unsure ({UNSURE_KEY})",
            tooltip="unsure about the selection (or the focused tile): kept, left out of training",
            button_style="warning",
            layout=W.Layout(width="auto"),
        )
        self.unsure_all_button.on_click(lambda _b: self.unsure())
        self.accept_button = W.Button(
            description="accept (a)",
            tooltip="take the model's prediction for the selection (or the focused tile)",
            layout=W.Layout(width="auto"),
        )
        self.accept_button.on_click(lambda _b: self.accept())
        self.accept_page_button = W.Button(
            description="Accept page (A)",
            tooltip="take the prediction of every tile on this page that has no label yet (one undo)",
            button_style="info",
            layout=W.Layout(width="auto"),
        )
        self.accept_page_button.on_click(self.accept_page)
        return W.HBox(
            [*groups, self.unsure_all_button, self.accept_button, self.accept_page_button],
            layout=W.Layout(flex_flow="row wrap", align_items="center"),
        )

    def _build_controls(self) -> None:
        self.progress = W.HTML()
        self.sort = W.Dropdown(
            options=list(SORT_OPTIONS),
            value="most uncertain first",
            description="sort",
            layout=W.Layout(width="260px"),
        )
        self.pred_filter = W.Dropdown(
            options=["any", *self.classes],
            value="any",
            description="predicted",
            layout=W.Layout(width="200px"),
        )
        self.score_range = W.FloatRangeSlider(
            value=(0.0, 1.0),
            min=0.0,
            max=1.0,
            step=0.01,
            description="confidence",
            continuous_update=False,
            readout_format=".2f",
        )
        self.unlabeled_only = W.Checkbox(value=False, description="unlabeled only", indent=False)
        for control in (self.sort, self.pred_filter, self.score_range, self.unlabeled_only):
            control.observe(self.refresh, names="value")
        self.filters_box = W.HBox(
            [self.sort, self.pred_filter, self.score_range, self.unlabeled_only],
            layout=W.Layout(flex_flow="row wrap"),
        )

        def button(text: str, action: Callable[..., Any], tip: str, style: str = "") -> W.Button:
            b = W.Button(description=text, tooltip=tip, button_style=style, layout=W.Layout(width="auto"))
            b.on_click(action)
            return b

        self.prev_button = button("◀ prev", self.prev_page, "previous page (p)")
        self.next_button = button("next ▶", self.next_page, "next page (n)")
        self.page_label = W.HTML()
        self.skip_button = button("skip", self.skip, "move on without labeling this tile")
        self.undo_button = button(
            "undo (u)", self.undo, "take back the focused tile's label, else your last one"
        )
        self.zoom_button = button("zoom (z)", self.zoom, "full resolution with the defect mask")
        self.retrain_button = button(
            "Retrain", self.retrain, "retrain on the labels of this selection", "primary"
        )
        self.next_round_button = button("Next round", self.next_round, "select the uncertain images anew")
        self.export_button = button("Export", self.export, "write the labels as ind_img/N, ind_img/P folders")
        self.nav_box = W.HBox(
            [
                self.prev_button,
                self.page_label,
                self.next_button,
                self.skip_button,
                self.undo_button,
                self.zoom_button,
                self.retrain_button,
                self.next_round_button,
                self.export_button,
            ],
            layout=W.Layout(flex_flow="row wrap", align_items="center"),
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def children(self) -> tuple[W.Widget, ...]:
        """The top-level widgets (progress, filters, navigation, message, tiles, zoom, output)."""
        return tuple(self.widget.children)

    # ------------------------------------------------------------------ selection and view
    def set_selection(self, selection: pd.DataFrame) -> None:
        """Show ``selection`` (a ``session.select`` table), completed with the session's predictions."""
        if "sha256" not in selection.columns:
            raise OlkitError("the selection needs a 'sha256' column (use session.select(...))")
        table = selection.reset_index(drop=True).copy()
        need = [c for c in ("path", "pred", "confidence", "mask_path") if c not in table.columns]
        if need:
            preds = self.session.predictions("test").drop_duplicates("sha256").set_index("sha256")
            for col in need:
                table[col] = table["sha256"].map(preds[col]) if col in preds.columns else ""
        if "rank" not in table.columns:
            table["rank"] = np.arange(1, len(table) + 1)
        if "mask_path" not in table.columns:
            table["mask_path"] = ""
        table["mask_path"] = table["mask_path"].fillna("").astype(str)
        table["pred"] = table["pred"].astype(str)
        table = table.drop(columns=[c for c in ("label",) if c in table.columns])  # the truth stays hidden
        self.selection = table
        self.page = 0
        self.focus = 0
        self.refresh()

    def _current_labels(self, sha256s: list[Sha256]) -> dict[Sha256, ClassName]:
        return self.store.labels(sha256s) if sha256s else {}

    def view(self) -> pd.DataFrame:
        """The selection filtered and sorted as the controls say (all pages)."""
        table = self.selection
        keep = np.ones(len(table), bool)
        if self.pred_filter.value != "any":
            keep &= (table["pred"] == self.pred_filter.value).to_numpy()
        low, high = self.score_range.value
        conf = table["confidence"].astype(float).fillna(0.0).to_numpy()
        keep &= (conf >= low - 1e-9) & (conf <= high + 1e-9)
        if self.unlabeled_only.value:
            labeled = self._current_labels(list(table["sha256"]))
            keep &= ~table["sha256"].isin(list(labeled)).to_numpy()
        table = table[keep]
        key = SORT_OPTIONS[self.sort.value]
        if key == "uncertainty":
            table = table.sort_values("rank", kind="stable")
        elif key == "confidence":
            table = table.sort_values("confidence", kind="stable")
        elif key == "predicted":
            table = table.sort_values(["pred", "rank"], kind="stable")
        else:
            table = table.assign(_name=table["path"].map(lambda p: Path(str(p)).name))
            table = table.sort_values("_name", kind="stable").drop(columns="_name")
        return table.reset_index(drop=True)

    @property
    def n_pages(self) -> int:
        return max(1, math.ceil(len(self._view) / self.page_size))

    def page_rows(self) -> pd.DataFrame:
        """The rows of the selection shown on the current page."""
        start = self.page * self.page_size
        return self._view.iloc[start : start + self.page_size]

    def refresh(self, change: Any = None) -> None:
        """Re-apply filters and sort (keeps the page where possible) and redraw from the store."""
        self._view = self.view()
        self.page = min(self.page, self.n_pages - 1) if change is None else 0
        self.focus = min(self.focus, max(0, len(self.page_rows()) - 1))
        self.render()

    def _thumb(self, path: str) -> tuple[bytes, bool]:
        key = (path, self.thumb_px)
        hit = self._thumbs.get(key)
        if hit is not None:
            self._thumbs.move_to_end(key)
            return hit
        made = thumbnail_bytes(path, size=self.thumb_px)
        if made[1]:  # a missing file is looked for again next time
            self._thumbs[key] = made
            if len(self._thumbs) > self._thumb_cache_size:
                self._thumbs.popitem(last=False)
        return made

    def render(self) -> None:
        """Draw the current page: thumbnails, captions and buttons from the selection and the store."""
        rows = self.page_rows()
        sha256s = list(rows["sha256"])
        if getattr(self, "_rendered", None) != (self.page, tuple(sha256s)):
            self.selected, self._anchor = set(), None  # a selection lives on one page
            self._rendered = (self.page, tuple(sha256s))
        labels = self._current_labels(sha256s)
        kinds = self.store.kinds(sha256s) if sha256s else {}
        notes = self.tile_notes(rows) if sha256s else {}
        for tile, row in zip(self._tiles, rows.itertuples(index=False)):
            thumb, ok = self._thumb(str(row.path))
            tile.show(
                row,
                labels.get(row.sha256),
                thumb,
                ok,
                self.classes,
                kinds.get(row.sha256),
                note=notes.get(row.sha256, ""),
            )
        for tile in self._tiles[len(rows) :]:
            tile.hide()
        self.page_label.value = f"page {self.page + 1} of {self.n_pages}"
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= self.n_pages - 1
        self._draw_focus()
        self._update_progress()

    def tile_notes(self, rows: pd.DataFrame) -> Mapping[Sha256, str]:
        """HTML shown under the caption of each tile of ``rows``: the grid's extension point for subclasses.

        The grid calls it with the page's rows (:meth:`page_rows`) whenever it draws the page (a page change, a
        filter, :meth:`undo`, :meth:`set_selection`), and with the rows just answered once the store holds their
        new events, so a note may read the store and follow every answer. The default adds nothing.
        :class:`olkit.online.team.ReviewGrid` lists every annotator's label here.

        Parameters
        ----------
        rows
            Rows of the selection being drawn (``sha256``, ``path``, ``pred``, ``confidence``, ...).

        Returns
        -------
        Mapping[Sha256, str]
            ``{sha256: html}``, text escaped by the caller (:func:`html.escape`); a row left out gets no note.
        """
        return {}

    def _update_progress(self) -> None:
        total = len(self.selection)
        done = len(self._current_labels(list(self.selection["sha256"])))
        shown = len(self._view)
        extra = f" · {shown} shown by the filters" if shown != total else ""
        keys = ", ".join(f"{k}={self.display(c)}" for c, k in self.key_of_class.items())
        self.progress.value = (
            f"<b>{done} of {total} labeled</b>{extra} · round {self.session.round} · "
            f"<span style='color:#666'>keys (mouse over the grid): {html.escape(keys)}, a accept, "
            f"A accept page, {UNSURE_KEY} unsure, arrows move, u undo, z zoom, n/p page; "
            "click, shift-click, ctrl-click select</span>"
        )

    @property
    def progress_text(self) -> str:
        """The progress line as plain text, e.g. ``"37 of 60 labeled"``."""
        total = len(self.selection)
        return f"{len(self._current_labels(list(self.selection['sha256'])))} of {total} labeled"

    def _draw_focus(self) -> None:
        for tile in self._tiles:
            chosen = tile.index in self.selected
            if tile.index == self.focus:
                border = _FOCUS_SELECTED_BORDER if chosen else _FOCUS_BORDER
            else:
                border = _SELECTED_BORDER if chosen else _PLAIN_BORDER
            if tile.box.layout.border != border:
                tile.box.layout.border = border
            if chosen != tile.selected:
                tile.selected = chosen
                (tile.box.add_class if chosen else tile.box.remove_class)("olkit-selected")

    # ------------------------------------------------------------------ actions (public callbacks)
    def focused_row(self) -> Any | None:
        rows = self.page_rows()
        return rows.iloc[self.focus] if 0 <= self.focus < len(rows) else None

    def click(self, index: int, *, shift: bool = False, ctrl: bool = False) -> None:
        """A click on tile ``index`` of the page: focus it and select it alone; ``shift`` selects the range from
        the last clicked tile (added to the selection with ``ctrl`` too), ``ctrl`` (or cmd) toggles the tile."""
        rows = self.page_rows()
        where = int(index)
        if not 0 <= where < len(rows):
            return
        if shift and self._anchor is not None:
            lo, hi = sorted((self._anchor, where))
            span = set(range(lo, hi + 1))
            self.selected = (self.selected | span) if ctrl else span
        elif ctrl:
            self.selected ^= {where}
            self._anchor = where
        else:
            self.selected = {where}
            self._anchor = where
        self.focus = where
        self._draw_focus()
        n = len(self.selected)
        self.message.value = (
            f"{n} selected: a class key or button labels them, a accepts their predictions, Escape clears"
            if n > 1
            else ""
        )

    def clear_selection(self, sender: Any = None) -> None:
        """Select nothing (the keys act on the focused tile again)."""
        self.selected, self._anchor = set(), None
        self._draw_focus()

    def _targets(self, index: int | None) -> list[int]:
        """The page positions an action applies to: tile ``index``, else the selection, else the focused tile."""
        n = len(self.page_rows())
        if index is not None:
            where = [int(index)]
        elif self.selected:
            where = sorted(self.selected)
        else:
            where = [self.focus]
        return [i for i in where if 0 <= i < n]

    def _answer(self, answers: list[tuple[int, ClassName, EventKind]], *, done: str = "") -> None:
        """Write ``(page position, label, kind)`` answers: one event, or one transaction (one batch) for many;
        committed before any tile changes. Then redraw those tiles and focus the tile after the last."""
        if not answers:
            return
        rows = self.page_rows()
        picked = {w: rows.iloc[w] for w, _, _ in answers}  # each row read once, before the commit too
        common: dict[str, Any] = {
            "annotator": self.annotator,
            "round": int(self.session.round),
            "source": "expert",
            "model": getattr(self.session, "fingerprint", None),  # the classifier that showed these tiles
        }
        try:
            if len(answers) == 1:
                where, cls, kind = answers[0]
                row = picked[where]
                self.store.add(row.sha256, cls, path=str(row.path), kind=kind, **common)
            else:
                self.store.add_many(
                    [(picked[w].sha256, c, str(picked[w].path), k) for w, c, k in answers], **common
                )
        except LabelStoreLockedError as exc:
            self._warn(str(exc))
            return
        notes = self.tile_notes(rows.iloc[sorted(picked)])
        for where, cls, kind in answers:
            row = picked[where]
            ok = self._thumb(str(row.path))[1]
            self._tiles[where].set_label(
                cls or None,
                row=row,
                ok=ok,
                classes=self.classes,
                kind=kind,
                note=notes.get(row.sha256, ""),
            )
        self.selected, self._anchor = set(), None
        self.focus = min(max(w for w, _, _ in answers) + 1, len(rows) - 1)
        self._draw_focus()
        self._update_progress()
        self.message.value = html.escape(done)

    def _kind(self, where: int, cls: ClassName) -> EventKind:
        return "accepted" if str(self.page_rows()["pred"].iat[where]) == cls else "changed"

    def label(self, cls: ClassName, *, index: int | None = None) -> None:
        """Label tile ``index`` of the page (default: the selection, else the focused tile) as ``cls`` and focus
        the next tile. Each event says whether it ``accepted`` the prediction or ``changed`` it."""
        if cls not in self.classes:
            raise ValueError(f"unknown class {cls!r}; classes: {self.classes}")
        where = self._targets(index)
        done = f"{len(where)} labeled {self.display(cls)} (u undoes them)" if len(where) > 1 else ""
        self._answer([(w, cls, self._kind(w, cls)) for w in where], done=done)

    def accept(self, sender: Any = None, *, index: int | None = None) -> None:
        """Take the model's prediction as the label of tile ``index`` (default: the selection, else the focused
        tile)."""
        rows = self.page_rows()
        where = [w for w in self._targets(index) if str(rows.iloc[w].pred) in self.classes]
        done = f"accepted {len(where)} predictions (u undoes them)" if len(where) > 1 else ""
        self._answer([(w, str(rows.iloc[w].pred), "accepted") for w in where], done=done)

    def accept_page(self, sender: Any = None) -> int:
        """Accept the prediction of every tile on the page without a label (and not answered unsure), in one
        transaction that one undo takes back; return how many."""
        rows = self.page_rows()
        sha256s = list(rows["sha256"])
        labels = self._current_labels(sha256s)
        unsure = {s for s, k in self.store.kinds(sha256s).items() if k == "unsure"} if sha256s else set()
        where = [
            i
            for i, row in enumerate(rows.itertuples(index=False))
            if row.sha256 not in labels and row.sha256 not in unsure and str(row.pred) in self.classes
        ]
        if not where:
            self.message.value = "every tile of this page is answered already"
            return 0
        self._answer(
            [(w, str(rows.iloc[w].pred), "accepted") for w in where],
            done=f"accepted {len(where)} predictions on this page (u undoes them)",
        )
        return len(where)

    def unsure(self, sender: Any = None, *, index: int | None = None) -> None:
        """Answer "unsure" for tile ``index`` (default: the selection, else the focused tile): an event with no
        class, kept in the store and left out of training."""
        where = self._targets(index)
        done = f"{len(where)} marked unsure (u undoes them)" if len(where) > 1 else ""
        self._answer([(w, "", "unsure") for w in where], done=done)

    def _warn(self, text: str) -> None:
        self.message.value = f"<span style='color:#b00'>{html.escape(text)}</span>"

    def undo(self, sender: Any = None) -> None:
        """Take back the focused tile's answer; when it has none, the annotator's latest. An answer given to many
        tiles at once (a selection, Accept page) is taken back with the rest of its batch."""
        row = self.focused_row()
        done: list[Any] = []
        who: dict[str, Any] = {"annotator": self.annotator, "round": int(self.session.round)}
        try:
            if row is not None and (
                self.store.label_of(row.sha256) is not None or self.store.kinds([row.sha256])
            ):
                done = self.store.undo_batch(row.sha256, **who)
            if not done:
                done = self.store.undo_batch(only_own=True, **who)
        except LabelStoreLockedError as exc:
            self._warn(str(exc))
            return
        if not done:
            self.message.value = "nothing to undo"
            return
        event = done[0]
        page = list(self.page_rows()["sha256"])
        if event.sha256 in page:
            self.focus = page.index(event.sha256)
        now = (
            self.display(event.label)
            if event.label
            else ("unsure" if event.kind == "unsure" else "unlabeled")
        )
        if len(done) > 1:
            self.message.value = f"undid {len(done)} answers given together"
        else:
            self.message.value = (
                f"undid the label of {html.escape(Path(event.path).name or event.sha256[:12])}"
                f" (now {html.escape(now)})"
            )
        self.render()

    def move(self, delta: int) -> None:
        """Move the focus by ``delta`` tiles, onto the next/previous page past the edges."""
        target = self.page * self.page_size + self.focus + int(delta)
        target = max(0, min(target, len(self._view) - 1))
        page, focus = divmod(target, self.page_size)
        if page != self.page:
            self.page = page
            self.focus = focus
            self.render()
        else:
            self.focus = focus
            self._draw_focus()
        if self.zoom_box.layout.display != "none":
            self.zoom()

    def skip(self, sender: Any = None) -> None:
        """Leave the focused tile unlabeled and focus the next one."""
        self.move(1)

    def next_page(self, sender: Any = None) -> None:
        """Show the next page (focus on its first tile)."""
        self.go_to_page(self.page + 1)

    def prev_page(self, sender: Any = None) -> None:
        """Show the previous page."""
        self.go_to_page(self.page - 1)

    def go_to_page(self, page: int) -> None:
        """Show page ``page`` (0-based, clipped to the pages there are)."""
        self.page = max(0, min(int(page), self.n_pages - 1))
        self.focus = 0
        self.render()

    def zoom(self, sender: Any = None, *, index: int | None = None) -> None:
        """Show the focused tile (or tile ``index``) at full resolution with its defect mask overlaid."""
        if index is not None:
            self.focus = int(index)
            self._draw_focus()
        row = self.focused_row()
        if row is None:
            return
        image = _read_bgr(str(row.path))
        notes = []
        if image is None:
            image = _placeholder(256, "missing")
            notes.append(f"<span style='color:#b00'>missing on disk: {html.escape(str(row.path))}</span>")
        mask_path = str(row.mask_path or "")
        if mask_path:
            mask = _read_mask(mask_path)
            if mask is None:
                notes.append(f"mask not readable: {html.escape(mask_path)}")
            elif not np.isin(mask, [*MASK_COLORS_BGR, 255]).any():
                notes.append("the mask marks no defect")
            else:
                image = overlay_mask(image, mask)
                notes.append("defect mask overlaid")
        else:
            notes.append("no defect mask for this image")
        probs = [
            f"p({html.escape(self.display(c))})={float(row[f'p_{c}']):.3f}"
            for c in self.classes
            if f"p_{c}" in row.index
        ]
        label = self.store.label_of(row.sha256)
        height, width = image.shape[:2]
        factor = max(1, self.zoom_min_px // max(height, width))
        if factor > 1:  # small patches: every pixel shown as a factor x factor block, nothing interpolated
            image = cv2.resize(image, (width * factor, height * factor), interpolation=cv2.INTER_NEAREST)
            notes.append(f"shown {factor}x, pixels kept")
        self.zoom_caption.value = (
            f"<b>{html.escape(str(row.path))}</b> · {width}×{height} px · "
            f"pred <b>{html.escape(self.display(str(row.pred)))}</b> ({', '.join(probs)}) · label "
            f"<b>{html.escape(self.display(label) if label else 'none')}</b><br>{' · '.join(notes)} · "
            "Escape or z closes"
        )
        self.zoom_image.value = _png(image)
        self.zoom_image.layout.width = f"{image.shape[1]}px"  # its own size, never stretched to the page
        self.zoom_box.layout.display = None
        self._zoomed = row.sha256

    def close_zoom(self, sender: Any = None) -> None:
        """Hide the zoomed image."""
        self.zoom_box.layout.display = "none"
        self._zoomed = None

    def on_key(self, event: Mapping[str, Any]) -> None:
        """Handle a key event from ipyevents (or a plain dict such as ``{"key": "2", "type": "keyup"}``).

        Keys act on ``keyup`` (one action per press, no auto-repeat); ``keydown`` events are ignored.
        """
        if event.get("type", "keyup") != "keyup":
            return
        if event.get("ctrlKey") or event.get("metaKey") or event.get("altKey"):
            return
        key = str(event.get("key", ""))
        if key in self.class_of_key:
            self.label(self.class_of_key[key])
        elif key == "a":
            self.accept()
        elif key == "A":
            self.accept_page()
        elif key == UNSURE_KEY:
            self.unsure()
        elif key in ("ArrowRight", "ArrowLeft", "ArrowDown", "ArrowUp"):
            step = {"ArrowRight": 1, "ArrowLeft": -1, "ArrowDown": self.columns, "ArrowUp": -self.columns}[
                key
            ]
            self.move(step)
        elif key.lower() == "u":
            self.undo()
        elif key.lower() == "z":
            row = self.focused_row()
            showing = self.zoom_box.layout.display != "none"
            if showing and row is not None and getattr(self, "_zoomed", None) == row.sha256:
                self.close_zoom()
            else:
                self.zoom()
        elif key == "Escape":
            self.close_zoom()
            self.clear_selection()
        elif key in ("n", "PageDown"):
            self.next_page()
        elif key in ("p", "PageUp"):
            self.prev_page()

    # ------------------------------------------------------------------ round actions
    def labels(self) -> dict[Sha256, ClassName]:
        """The store's current labels of this selection."""
        return self._current_labels(list(self.selection["sha256"]))

    def retrain(self, sender: Any = None) -> Any:
        """Run a round on the store's labels; show holdout before/after, the controls and confusion matrices.

        ``"refit"`` rounds (the default) take every labeled test image in the store, earlier rounds included;
        ``retrain_kwargs={"mode": "original"}`` only this selection's labels, as the original did.

        Returns the session's round result (also kept in ``last_result``), ``None`` when nothing is labeled.
        """
        self.output.outputs = ()
        self.message.value = "retraining..."
        only = list(self.selection["sha256"]) if self.retrain_kwargs.get("mode") == "original" else None
        try:
            result = retrain_from_store(self.session, self.store, only, **self.retrain_kwargs)
        except OlkitError as exc:
            self.output.append_stdout(f"{exc}\n")
            self.message.value = ""
            return None
        self.last_result = result
        self.output.append_display_data(_HTML(result_html(result, classes=self.classes)))
        self.message.value = html.escape(result.summary() if hasattr(result, "summary") else "retrained")
        advice = self.stop_advice()
        if advice is not None:
            color = "#1a7f37" if advice.stop else "#666"
            self.message.value += f"<br><b style='color:{color}'>{html.escape(advice.message)}</b>"
        self.refresh_predictions()
        return result

    def stop_advice(self) -> Any:
        """The session's stopping rule after the latest round (``session.stop_advice()``: e.g. "the last 20 labels
        changed 1 % of the predictions: you can stop"), ``None`` when the session has none."""
        advise = getattr(self.session, "stop_advice", None)
        return advise() if callable(advise) else None

    def refresh_predictions(self) -> None:
        """Re-read the session's predictions (after a retrain) into the selection and redraw."""
        preds = self.session.predictions("test").drop_duplicates("sha256").set_index("sha256")
        cols = [c for c in preds.columns if c in ("pred", "confidence") or c.startswith("p_")]
        for col in cols:
            mapped = self.selection["sha256"].map(preds[col])
            self.selection[col] = mapped.where(mapped.notna(), self.selection.get(col))
        self.selection["pred"] = self.selection["pred"].astype(str)
        self.refresh()

    def next_round(self, sender: Any = None) -> None:
        """Select anew with the current model, from the test images not labelled yet, and show them."""
        labelled = list(self.store.labels(list(self.session.predictions("test")["sha256"])))
        self.set_selection(self.session.select(**self.select_kwargs, exclude=labelled))
        self.message.value = f"round {self.session.round}: {len(self.selection)} images selected"

    def export(self, sender: Any = None) -> Any:
        """Write every current label as the original's ``ind_img/N``/``ind_img/P`` (or class) folders."""
        root = self.export_root
        if root is None:
            run = getattr(self.session, "run", None)
            root = getattr(run, "root", None) or Path.cwd()
        report = self.store.export_folders(root)
        self.output.outputs = ()
        self.output.append_stdout(f"{report}\n")
        self.message.value = html.escape(str(report).splitlines()[0])
        return report


# ---------------------------------------------------------------------------------------------- round display


def _metrics_dict(metrics: Any) -> dict[str, Any]:
    if metrics is None:
        return {}
    if isinstance(metrics, Mapping):
        return dict(metrics)
    for attr in ("to_dict", "_asdict"):
        if hasattr(metrics, attr):
            return dict(getattr(metrics, attr)())
    if hasattr(metrics, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(metrics)
    return dict(vars(metrics))


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _confusion_html(matrix: Any, classes: list[ClassName], title: str) -> str:
    cm = np.asarray(matrix)
    if cm.ndim != 2:
        return ""
    names = classes if len(classes) == cm.shape[0] else [str(i) for i in range(cm.shape[0])]
    head = "".join(f"<th>pred {html.escape(c)}</th>" for c in names)
    body = "".join(
        f"<tr><th>true {html.escape(c)}</th>" + "".join(f"<td>{int(v)}</td>" for v in cm[i]) + "</tr>"
        for i, c in enumerate(names)
    )
    return (
        f"<table style='display:inline-table;margin-right:16px'><caption>{html.escape(title)}</caption>"
        f"<tr><th></th>{head}</tr>{body}</table>"
    )


def result_html(result: Any, *, classes: list[ClassName]) -> str:
    """HTML of one round: holdout metrics before/after, random and ceiling controls, confusion matrices."""
    parts = {
        name: _metrics_dict(getattr(result, name, None)) for name in ("before", "after", "random", "ceiling")
    }
    titles = {
        "before": "before (last round's model)",
        "after": "after (retrained with the expert's labels)",
        "random": "control: random images, same number of labels",
        "ceiling": "control: ceiling, every test label",
    }
    # one random draw swings by several holdout images: show the mean of the draws
    draws = tuple(getattr(result, "random_accuracies", ()) or ())
    if parts["random"] and len(draws) > 1:
        parts["random"]["accuracy"] = float(np.mean(draws))
        titles["random"] += f" (accuracy: mean of {len(draws)} draws; the other figures: the first draw)"
    scalar_keys: list[str] = []
    for metrics in parts.values():
        for key, value in metrics.items():
            if np.isscalar(value) and not isinstance(value, str) and key not in scalar_keys:
                scalar_keys.append(key)
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(titles[name])}</th>"
        + "".join(
            f"<td>{metrics[k]:.3f}</td>"
            if isinstance(metrics.get(k), float)
            else f"<td>{metrics.get(k, '')}</td>"
            for k in scalar_keys
        )
        + "</tr>"
        for name, metrics in parts.items()
        if metrics
    )
    head = "".join(f"<th>{html.escape(k)}</th>" for k in scalar_keys)
    extra = ""
    if hasattr(result, "to_dict"):
        info = {k: v for k, v in result.to_dict().items() if k not in parts and (np.isscalar(v) or v is None)}
        if info:
            extra = (
                "<p>"
                + " · ".join(f"{html.escape(str(k))}: {html.escape(_fmt(v))}" for k, v in info.items())
                + "</p>"
            )
    matrices = "".join(
        _confusion_html(metrics.get("confusion"), classes, f"holdout confusion, {name}")
        for name, metrics in parts.items()
        if metrics.get("confusion") is not None
    )
    return (
        f"<h4>Holdout after this round</h4>{extra}<table><tr><th></th>{head}</tr>{rows}</table>"
        f"<div style='margin-top:8px'>{matrices}</div>"
    )
