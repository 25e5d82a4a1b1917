"""The model card beside every export: ``model_card.json`` and ``model_card.md``.

What a line engineer needs to know about what they deploy: the data it was trained on (the manifest's SHA-256),
the classes, the accuracy with its 95 % Wilson interval, how far each export agrees with the notebook pipeline
(and int8's accuracy change), latency per runtime, parameters, FLOPs, the olkit version and the preprocessing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from olkit.deploy.export import DeployInfo, read_deploy_info
from olkit.files import atomic_write_json, atomic_write_text, utc_stamp
from olkit.types import PathLike

__all__ = ["CARD_FIELDS", "agreement", "build_card", "card_markdown", "wilson_interval", "write_card"]

CARD_FIELDS: tuple[str, ...] = (
    "olkit_version",
    "created",
    "data",
    "classes",
    "defect_class",
    "accuracy",
    "exports",
    "latency_ms",
    "params",
    "gflop",
    "preprocessing",
    "head",
    "source",
)
"""Keys every card has."""


def wilson_interval(correct: int, n: int, *, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of ``correct / n`` (95 % for ``z = 1.96``); ``(0, 1)`` when ``n`` is 0."""
    if n <= 0:
        return (0.0, 1.0)
    p = correct / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def agreement(
    proba: Mapping[str, npt.NDArray[Any]],
    reference: npt.NDArray[Any],
    classes: Sequence[str],
    *,
    labels: Sequence[Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per export: the largest probability difference to ``reference``, the share of identical classes and,
    with ``labels``, the accuracy and its change against the reference's accuracy."""
    ref = np.asarray(reference, dtype=np.float64)
    names = np.asarray([str(c) for c in classes])
    y = None if labels is None else np.asarray([str(v) for v in labels])
    ref_acc = None if y is None else float(np.mean(names[ref.argmax(1)] == y))
    out: dict[str, dict[str, Any]] = {}
    for fmt, p in proba.items():
        arr = np.asarray(p, dtype=np.float64)
        rec: dict[str, Any] = {
            "max_abs_diff": float(np.abs(arr - ref).max()) if len(ref) else 0.0,
            "same_class": float(np.mean(arr.argmax(1) == ref.argmax(1))) if len(ref) else 1.0,
            "n": len(ref),
        }
        if y is not None and ref_acc is not None:
            acc = float(np.mean(names[arr.argmax(1)] == y))
            rec.update(acc=acc, acc_delta=acc - ref_acc)
        out[fmt] = rec
    return out


def build_card(
    info: DeployInfo | PathLike,
    *,
    y_true: Sequence[Any],
    proba: npt.NDArray[Any],
    manifest: PathLike | None = None,
    data_note: str = "",
    exports: Mapping[str, Mapping[str, Any]] | None = None,
    latency: pd.DataFrame | None = None,
    params: int | None = None,
    gflop: float | None = None,
) -> dict[str, Any]:
    """The card's document.

    Parameters
    ----------
    info
        The export folder (or its :class:`~olkit.deploy.export.DeployInfo`).
    y_true, proba
        True classes of the evaluation images and the model's probabilities on them: the accuracy and its
        95 % Wilson interval.
    manifest
        The manifest of the training data (its SHA-256 identifies the data).
    data_note
        A line on the data (e.g. which split, how many images).
    exports
        Per export, its agreement with the notebook pipeline (:func:`agreement`).
    latency
        ``runtime, threads, batch, ms`` rows (:func:`olkit.deploy.runtime.time_runtimes`, one model).
    params, gflop
        Size of the model; default: counted from the Keras export.
    """
    from importlib.metadata import PackageNotFoundError, version

    from olkit.data.io import file_sha256

    if not isinstance(info, DeployInfo):
        info = read_deploy_info(info)
    try:
        olkit_version = version("olkit")
    except PackageNotFoundError:
        olkit_version = "unknown"
    if params is None or gflop is None:
        import keras

        from olkit.models.flops import count_flops

        model = keras.models.load_model(info.path("keras"), safe_mode=True, compile=False)
        params = int(model.count_params()) if params is None else params
        if gflop is None:
            try:
                gflop = float(count_flops(model)) / 1e9
            except Exception:  # a base whose layers do not chain: FLOPs unknown
                gflop = None
    y = np.asarray([str(v) for v in y_true])
    p = np.asarray(proba, dtype=np.float64)
    pred = np.asarray(info.classes)[p.argmax(axis=1)] if len(p) else np.asarray([], dtype=str)
    correct = int(np.sum(pred == y))
    lo, hi = wilson_interval(correct, len(y))
    lat: dict[str, Any] = {}
    if latency is not None and len(latency):
        for _, r in latency.iterrows():
            lat.setdefault(str(r["runtime"]), {})[f"b{int(r['batch'])}_t{int(r['threads'])}"] = round(
                float(r["ms"]), 4
            )
    manifest_doc: dict[str, Any] | None = None
    if manifest is not None and Path(manifest).is_file():
        manifest_doc = {"path": str(manifest), "sha256": file_sha256(manifest)}
    return {
        "olkit_version": olkit_version,
        "created": utc_stamp(),
        "data": {"manifest": manifest_doc, "note": data_note},
        "classes": list(info.classes),
        "defect_class": info.defect_class,
        "accuracy": {
            "value": correct / len(y) if len(y) else None,
            "ci95": [lo, hi],
            "n": len(y),
            "correct": correct,
            "interval": "Wilson score, 95 %",
        },
        "exports": {fmt: {**spec, **dict((exports or {}).get(fmt, {}))} for fmt, spec in info.files.items()},
        "latency_ms": lat,
        "params": params,
        "gflop": gflop,
        "preprocessing": {
            "read": "olkit.data.io.load_image(path, size=(h, w), mode='rgb' or 'gray'): EXIF orientation applied, "
            "alpha composited on white, area interpolation when shrinking",
            **info.preprocessing.to_dict(),
            "inside_model": "the value mapping of the preprocessing mode on the resized 0..255 values (float32)",
        },
        "head": info.doc.get("head", ""),
        "source": info.doc.get("source", {}),
    }


def card_markdown(card: Mapping[str, Any]) -> str:
    """The card as Markdown (what the JSON says, for people)."""
    acc = card["accuracy"]
    lines = [
        "# Model card",
        "",
        f"olkit {card['olkit_version']}, made {card['created']}.",
        "",
        "## What it does",
        f"Classes: {', '.join(card['classes'])} (defect class for `--threshold`: {card['defect_class']}). "
        f"Head: {card['head']}.",
        "",
        "## Data",
    ]
    man = card["data"].get("manifest")
    lines.append(
        f"Manifest `{man['path']}`, SHA-256 `{man['sha256']}`." if man else "Manifest: not recorded."
    )
    if card["data"].get("note"):
        lines.append(card["data"]["note"])
    value = "n/a" if acc["value"] is None else f"{acc['value']:.4f}"
    fragile = card.get("source", {}).get("fragile_features") or [0, 0]
    if fragile[0]:
        lines += [
            "",
            f"**Warning**: {fragile[0]} of {fragile[1]} features are constant up to float32 rounding (std below 1e-5 "
            "of their mean) and the scaler divides by that std: predictions follow the runtime's rounding, so "
            "exports may disagree with the notebook pipeline (see the agreement below).",
        ]
    lines += [
        "",
        "## Accuracy",
        f"{value} on {acc['n']} evaluation images, 95 % interval [{acc['ci95'][0]:.4f}, {acc['ci95'][1]:.4f}] "
        f"({acc['interval']}).",
        "",
        "## Exports",
        "| export | file | SHA-256 | max prob. diff | same class | accuracy change |",
        "|---|---|---|---|---|---|",
    ]
    for fmt, e in card["exports"].items():
        diff = f"{e['max_abs_diff']:.2e}" if "max_abs_diff" in e else ""
        same = f"{e['same_class']:.4f}" if "same_class" in e else ""
        delta = f"{e['acc_delta']:+.4f}" if "acc_delta" in e else ""
        lines.append(f"| {fmt} | `{e['file']}` | `{e['sha256'][:16]}` | {diff} | {same} | {delta} |")
    if card["latency_ms"]:
        keys = sorted({k for v in card["latency_ms"].values() for k in v})
        lines += ["", "## Latency (ms, batch b / threads t)", "| runtime | " + " | ".join(keys) + " |"]
        lines.append("|---|" + "---|" * len(keys))
        for rt, v in card["latency_ms"].items():
            lines.append(f"| {rt} | " + " | ".join(f"{v.get(k, float('nan')):.3f}" for k in keys) + " |")
    gflop = "n/a" if card["gflop"] is None else f"{card['gflop']:.4f}"
    pp = card["preprocessing"]
    lines += [
        "",
        "## Size",
        f"{card['params']:,} parameters, {gflop} GFLOP per image.",
        "",
        "## Preprocessing",
        f"Read: {pp['read']}. Size {pp['size'][0]}x{pp['size'][1]}, {pp['color']}. "
        f"Inside the model: {pp['inside_model']} (mode {pp.get('mode', 'scale')}, scale {pp['scale']:g}, "
        f"offset {pp['offset']:g}).",
        "",
    ]
    return "\n".join(lines)


def write_card(card: Mapping[str, Any], folder: PathLike) -> tuple[Path, Path]:
    """Write ``model_card.json`` and ``model_card.md`` into ``folder`` (atomically); returns both paths."""
    folder = Path(folder)
    j = atomic_write_json(folder / "model_card.json", dict(card))
    m = atomic_write_text(folder / "model_card.md", card_markdown(card))
    return j, m
