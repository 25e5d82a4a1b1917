"""Pruning candidates over leave factors and cut depths: building, evaluating, controls, hand-over to online learning."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from olkit.classify import classify_features
from olkit.data.io import grouped_split
from olkit.files import atomic_save, atomic_write_text
from olkit.models.flops import CONVENTION as FLOPS_CONVENTION
from olkit.models.flops import count_flops, count_params
from olkit.prune.graph import conv_units
from olkit.prune.measure import Pooling, extract_features, feature_model, time_models
from olkit.prune.score import (
    KeptFilters,
    MaskSet,
    ScoreMethod,
    UnitProbe,
    l1_selection,
    model_input,
    progress_bar,
    random_selection,
    score_filters,
)
from olkit.prune.surgery import prune_model
from olkit.types import PathLike


# --------------------------------------------------------------------------------------------------------------
# candidates
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CandidateGrid:
    """What :func:`build_candidates` makes.

    Attributes
    ----------
    leave_factors : tuple of float
        ``f`` values (the original swept 0.01..1.00 in steps of 0.01).
    depths : tuple of int or None
        Cut depths (blocks kept); None = the whole model. The original never cut.
    methods : tuple of str
        Mask scoring methods: "threshold", "contrast", "original" (see :func:`olkit.prune.score.layer_scores`).
    controls : tuple of str
        "l1" and/or "random", made at the sizes of the first method's candidates (depth None and every depth).
    target_class, background_class
        See :func:`score_filters`.
    seed : int
        For the random control.
    min_filters : int
        Every pruned layer keeps at least this many filters (:func:`olkit.prune.score.score_filters`); 1 is the
        original's rule alone.
    """

    leave_factors: tuple[float, ...] = (0.05, 0.1, 0.15, 0.21, 0.3, 0.5, 0.75, 1.0)
    depths: tuple[int | None, ...] = (None,)
    methods: tuple[ScoreMethod, ...] = ("threshold",)
    controls: tuple[str, ...] = ("l1", "random")
    target_class: int | tuple[int, ...] = 1
    background_class: int | tuple[int, ...] | None = None
    seed: int = 0
    min_filters: int = 1


def _candidate_id(method: str, f: float, depth: int | None) -> str:
    return f"{method}_f{f:.3f}_d{depth if depth is not None else 'all'}"


def _atomic_save_model(model: Any, path: Path) -> None:
    """Save a Keras model through :func:`olkit.files.atomic_save` (the temporary file keeps the ``.keras`` suffix)."""
    atomic_save(path, model.save)


def _atomic_write_json(doc: dict[str, Any], path: Path) -> None:
    """Write a sidecar through :func:`olkit.files.atomic_write_text` (numpy scalars written as numbers)."""
    atomic_write_text(path, json.dumps(doc, indent=1, default=float))


def _read_complete(path: Path, source: str) -> dict[str, Any] | None:
    """The sidecar of a finished candidate made from the same model, masks and grid, else None (redo it)."""
    side = path.with_suffix(".json")
    if not (path.is_file() and side.is_file()):
        return None
    try:
        doc = dict(json.loads(side.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
    return doc if doc.get("complete") and doc.get("source") == source else None


def _with_counts(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """``doc`` with ``params`` and ``gflop`` of the model at ``path`` under today's FLOP convention (a sidecar
    written under another one is recounted and rewritten; the model itself is not rebuilt)."""
    if doc.get("flops") == FLOPS_CONVENTION:
        return doc
    import keras

    model = keras.models.load_model(path, safe_mode=True, compile=False)
    doc = {**doc, "params": count_params(model), "gflop": count_flops(model) / 1e9, "flops": FLOPS_CONVENTION}
    _atomic_write_json(doc, path.with_suffix(".json"))
    return doc


def _digest(*parts: Any) -> str:
    """SHA-256 (first 16 hex) over arrays and JSON-able values: what a cached result was made from."""
    import hashlib

    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            arr = np.ascontiguousarray(part)
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(arr.tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def build_candidates(
    model: Any,
    masks: MaskSet,
    out_dir: PathLike,
    *,
    grid: CandidateGrid | None = None,
    background: MaskSet | None = None,
    preprocess: Callable[[Any], Any] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Make (or complete) every pruned candidate of ``grid`` under ``out_dir`` and return their table.

    Each candidate is ``<id>.keras`` (written to a temporary file and renamed) plus ``<id>.json`` written last with
    ``"complete": true`` and a digest of the model's weights, the masks and the grid's classes; a rerun skips
    complete candidates with the same digest and redoes any other, so an interrupted run resumes and a changed
    model or mask set never reuses stale candidates.
    The full model is saved as ``full.keras``. The table (also ``candidates.csv``) has one row per candidate:
    ``id, method, leave_factor, depth, params, gflop, path`` plus ``kept`` (filters kept per layer, JSON).
    """
    grid = grid or CandidateGrid()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    source = _digest(
        *model.get_weights(),
        model.to_json(),
        masks.images,
        masks.masks,
        [grid.target_class, grid.background_class, grid.seed]
        + ([grid.min_filters] if grid.min_filters != 1 else []),
        *([background.images, background.masks] if background is not None else []),
    )
    full_path = out / "full.keras"
    if _read_complete(full_path, source) is None:
        _atomic_save_model(model, full_path)
        _atomic_write_json(
            {
                "id": "full",
                "method": "full",
                "leave_factor": 1.0,
                "depth": None,
                "params": count_params(model),
                "gflop": count_flops(model) / 1e9,
                "flops": FLOPS_CONVENTION,
                "kept": {u.name: u.filters for u in conv_units(model)},
                "source": source,
                "complete": True,
            },
            full_path.with_suffix(".json"),
        )
    full_doc = _with_counts(json.loads(full_path.with_suffix(".json").read_text()), full_path)
    rows.append({**full_doc, "path": str(full_path)})
    probe: UnitProbe | None = None
    n_ctrl = len(grid.controls)
    total = len(grid.leave_factors) * len(grid.depths) * (len(grid.methods) + n_ctrl)
    bar = progress_bar(range(total), enabled=progress, desc="candidates")
    bar_it = iter(bar)
    for f in grid.leave_factors:
        for m_i, method in enumerate(grid.methods):
            selection: KeptFilters | None = None
            todo = []
            for depth in grid.depths:
                jobs = [(f"mask-{method}", depth)]
                if m_i == 0:
                    jobs += [(c, depth) for c in grid.controls]
                todo.extend(jobs)
            for kind, depth in todo:
                cid = _candidate_id(kind, f, depth)
                path = out / f"{cid}.keras"
                doc = _read_complete(path, source)
                if doc is None:
                    if selection is None:
                        probe = probe or UnitProbe(model)
                        selection = score_filters(
                            model,
                            masks,
                            leave_factor=f,
                            method=method,
                            target_class=grid.target_class,
                            background_class=grid.background_class,
                            background=background,
                            preprocess=preprocess,
                            min_filters=grid.min_filters,
                            _probe=probe,
                        )
                    if kind == "l1":
                        sel = l1_selection(model, selection.sizes())
                    elif kind == "random":
                        sel = random_selection(model, selection.sizes(), seed=grid.seed + round(f * 1000))
                    else:
                        sel = selection
                    pruned = prune_model(model, sel, depth=depth, name=cid.replace(".", "_"))
                    _atomic_save_model(pruned, path)
                    doc = {
                        "id": cid,
                        "method": kind,
                        "leave_factor": float(f),
                        "depth": depth,
                        "params": count_params(pruned),
                        "gflop": count_flops(pruned) / 1e9,
                        "flops": FLOPS_CONVENTION,
                        "kept": {k: len(v) for k, v in sel.keep.items()},
                        "keep": {k: v.tolist() for k, v in sel.keep.items()},
                        "source": source,
                        "complete": True,
                    }
                    _atomic_write_json(doc, path.with_suffix(".json"))
                else:
                    doc = _with_counts(doc, path)
                rows.append({**doc, "path": str(path)})
                next(bar_it, None)
    if hasattr(bar, "close"):
        bar.close()
    table = pd.DataFrame(rows)
    table = table.drop(columns=["keep", "complete", "flops"], errors="ignore")
    table["kept"] = table["kept"].map(json.dumps)
    table.to_csv(out / "candidates.csv", index=False)
    return table


@dataclass(frozen=True)
class EvaluationSample:
    """The images every candidate is evaluated on (:func:`evaluation_sample`).

    Attributes
    ----------
    images : uint8 array ``(n, size, size, 3)``
    labels, groups : arrays ``(n,)``
        Class names and source groups (image, photograph, wear sequence) of the images.
    train, test : int arrays
        The grouped split :func:`evaluate_candidates` makes with the same seed: a model trained for pruning
        (e.g. from scratch) may see ``train`` only, so no test image leaks into it.
    paths : tuple of str
        Where the images came from.
    problems : list
        Images that could not be read (left out).
    """

    images: npt.NDArray[np.uint8]
    labels: npt.NDArray[Any]
    groups: npt.NDArray[Any]
    train: npt.NDArray[np.int64]
    test: npt.NDArray[np.int64]
    paths: tuple[str, ...] = ()
    problems: tuple[Any, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)

    def summary(self) -> str:
        """One line: images, classes with counts, train/test sizes."""
        names, counts = np.unique(self.labels.astype(str), return_counts=True)
        classes = ", ".join(f"{n}: {c}" for n, c in zip(names, counts))
        skipped = f"; {len(self.problems)} unreadable left out" if self.problems else ""
        return (
            f"{len(self)} evaluation images ({classes}); {len(self.train)} train / {len(self.test)} test, "
            f"split by group{skipped}"
        )


def evaluation_sample(
    manifest: pd.DataFrame,
    *,
    n_eval: int,
    size: int,
    seed: int = 0,
    test_size: float = 0.25,
) -> EvaluationSample:
    """Which images the candidates are evaluated on: up to ``n_eval / classes`` of each class, read at ``size``.

    The manifest (``path``, ``label``, ``group`` columns) is shuffled with ``seed`` and the first images of every
    class are kept (any number of classes; a class with fewer images gives all it has). The grouped train/test
    split is the one :func:`evaluate_candidates` makes with the same ``seed`` and ``test_size``.
    """
    from olkit.data.io import load_images

    per_class = max(1, n_eval // max(1, manifest["label"].nunique()))
    sample = manifest.sample(frac=1.0, random_state=seed).groupby("label").head(per_class)
    images, ok, problems = load_images(list(sample["path"]), size=(size, size), progress=False)
    labels, groups = sample["label"].to_numpy()[ok], sample["group"].to_numpy()[ok]
    train, test = grouped_split(labels, groups, test_size=test_size, seed=seed)
    paths = tuple(str(p) for p in sample["path"].to_numpy()[ok])
    return EvaluationSample(images, labels, groups, train, test, paths, tuple(problems))


def evaluate_candidates(
    candidates: pd.DataFrame | PathLike,
    images: npt.NDArray[Any],
    labels: Sequence[Any] | npt.NDArray[Any],
    *,
    groups: Sequence[Any] | npt.NDArray[Any] | None = None,
    pooling: Pooling = "flatten",
    classifiers: Sequence[Literal["logreg", "mlp"]] = ("logreg", "mlp"),
    test_size: float = 0.25,
    seed: int = 0,
    time_batches: Sequence[int] = (1, 32),
    repeats: int = 5,
    preprocess: Callable[[Any], Any] | None = None,
    out_csv: PathLike | None = None,
    progress: bool = True,
    recover_epochs: int = 0,
    recover_lr: float = 1e-4,
    draws: int = 1,
) -> pd.DataFrame:
    """Evaluate every candidate the same way and return the table of figures.

    For each candidate: features of ``images`` (flattened as the original, or pooled), the original's
    LogisticRegression grid search and an MLP trained on a train part and scored on a held-out part split by
    ``groups`` (source image), time at batch 1 and 32 (``ms_b1``, ``ms_b32``: median of ``repeats`` after warm-up),
    parameters and GFLOP. Columns ``acc``, ``f1``, ``auc`` (and ``cv_acc``: cross-validated on the train part, to
    choose by) are those of the first classifier; every classifier also has ``acc_<name>``, ``f1_<name>``,
    ``auc_<name>``. With ``out_csv``, rows already evaluated there (same candidate id and digest, same images,
    labels and settings) are reused, so an interrupted evaluation resumes. Column ``pooling`` records ``pooling``:
    the re-timing of :func:`olkit.prune.decide.choose` and the export read it back.

    ``recover_epochs=0`` (default) is the original's faithful mode: no pruned network is retrained. With
    ``recover_epochs > 0`` every pruned candidate is also fine-tuned on the train part (:func:`recover_candidates`,
    ``recover_epochs`` epochs at ``recover_lr``) and the recovered ones are evaluated beside the others, as method
    ``<method>+rec`` (same sizes and times, other weights).

    ``draws > 1`` repeats the classification over that many grouped splits (seeds ``seed .. seed + draws - 1``) on
    the same features: ``acc``, ``cv_acc`` and every metric are then means over the draws, ``acc_sd`` their
    standard deviation, ``acc_ci95`` the half-width of the 95 % t interval of the mean and ``acc_draws`` the
    accuracies one by one (JSON). A recovered candidate was trained on the first draw's train part, so it is scored
    on that draw alone (``n_draws`` says how many a row has).
    """
    import keras

    table = (
        pd.read_csv(Path(candidates) / "candidates.csv")
        if not isinstance(candidates, pd.DataFrame)
        else candidates
    )
    if recover_epochs > 0:
        recovered = recover_candidates(
            table,
            images,
            labels,
            groups=groups,
            epochs=recover_epochs,
            learning_rate=recover_lr,
            test_size=test_size,
            seed=seed,
            preprocess=preprocess,
            progress=progress,
        )
        table = pd.concat([table, recovered], ignore_index=True)
    y = np.asarray(labels)
    splits = [grouped_split(y, groups, test_size=test_size, seed=seed + d) for d in range(max(1, draws))]
    train, test = splits[0]
    eval_key = _digest(
        np.asarray(images),
        y,
        np.asarray(groups) if groups is not None else None,
        [pooling, list(classifiers), test_size, seed, list(time_batches)] + ([draws] if draws > 1 else []),
    )
    done: dict[str, dict[str, Any]] = {}
    if out_csv is not None and Path(out_csv).is_file():
        prev = pd.read_csv(out_csv)
        if "eval_key" in prev.columns:
            done = {
                f"{r['id']}:{r.get('source', '')}": dict(r)
                for _, r in prev.iterrows()
                if r["eval_key"] == eval_key
            }
    rows = []
    for _, row in progress_bar(list(table.iterrows()), enabled=progress, desc="evaluating"):
        cid = str(row["id"])
        key = f"{cid}:{row.get('source', '')}"
        if key in done:  # the candidate's own columns (params, gflop, path) as they are now
            rows.append({**done[key], **dict(row)})
            continue
        model = keras.models.load_model(row["path"], safe_mode=True, compile=False)
        rec: dict[str, Any] = dict(row)
        # timed first: right after a scikit-learn fit, its BLAS threads still spin and slow TensorFlow down
        times = time_models({cid: model}, batches=time_batches, rounds=1, repeats=repeats, pooling=pooling)[
            cid
        ]
        for b in time_batches:
            rec[f"ms_b{b}"] = times[b]
        feats = extract_features(model, images, pooling=pooling, preprocess=preprocess)
        own = splits[:1] if str(row["method"]).endswith(RECOVERED_SUFFIX) else splits
        for i, clf in enumerate(classifiers):
            per_draw = [
                classify_features(feats, y, tr, te, classifier=clf, seed=seed + d)
                for d, (tr, te) in enumerate(own)
            ]
            for k in per_draw[0]:
                v = float(np.mean([m[k] for m in per_draw]))
                rec[f"{k}_{clf}"] = v
                if i == 0:
                    rec[k] = v
            if i == 0:
                accs = np.array([m["acc"] for m in per_draw], dtype=np.float64)
                rec["n_draws"] = len(accs)
                rec["acc_draws"] = json.dumps([round(float(a), 4) for a in accs])
                rec["acc_sd"] = float(accs.std(ddof=1)) if len(accs) > 1 else float("nan")
                rec["acc_ci95"] = _ci95(accs)
        rec["feature_dim"] = int(feats.shape[1])
        rec["n_train"], rec["n_test"] = len(train), len(test)
        rec["eval_key"] = eval_key
        rows.append(rec)
        if out_csv is not None:
            pd.DataFrame(rows).to_csv(out_csv, index=False)
    result = pd.DataFrame(rows)
    result["pooling"] = pooling  # what decide's re-timing and the export's head read back
    full = result[result["method"] == "full"]
    if len(full):
        result["params_ratio"] = result["params"] / float(full["params"].iloc[0])
    if out_csv is not None:
        result.to_csv(out_csv, index=False)
    return result


def _ci95(values: npt.NDArray[np.float64]) -> float:
    """Half-width of the 95 % Student-t interval of the mean of ``values`` (NaN for fewer than two)."""
    if len(values) < 2:
        return float("nan")
    from scipy import stats

    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


# --------------------------------------------------------------------------------------------------------------
# recovery: the standard fine-tuning after pruning (the original does not retrain; off by default)
# --------------------------------------------------------------------------------------------------------------
RECOVERED_SUFFIX = "+rec"
"""Appended to a candidate's ``method`` by :func:`recover_candidates` (``"mask-threshold+rec"``)."""


def _fine_tune(
    model: Any,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.int64],
    n_classes: int,
    *,
    epochs: int,
    learning_rate: float,
    head_epochs: int,
    batch_size: int,
    seed: int,
) -> Any:
    """Fine-tune ``model`` (a copy) with a global-average-pool + softmax head: the head alone first on the frozen
    features (``head_epochs`` at 1e-3), then every layer for ``epochs`` at ``learning_rate``; the head is dropped."""
    import keras

    from olkit.models.conv_base import seed_training

    seed_training(seed)
    net = type(model).from_config(model.get_config())
    net.set_weights(model.get_weights())
    pool = keras.layers.GlobalAveragePooling2D(name="rec_pool")
    head = keras.layers.Dense(
        n_classes,
        activation="softmax",
        kernel_initializer=keras.initializers.GlorotUniform(seed),
        name="rec_head",
    )
    # the head on the frozen net's pooled features (computed once): a fresh head does not wreck the features
    feats = np.concatenate(
        [np.asarray(pool(net(x[i : i + batch_size], training=False))) for i in range(0, len(x), batch_size)]
    )
    scale = float(np.std(feats)) + 1e-6
    norm = keras.layers.Rescaling(1.0 / scale, name="rec_scale")  # VGG activations run into the hundreds
    probe = keras.Sequential([keras.Input(feats.shape[1:]), norm, head])
    probe.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    probe.fit(feats, y, epochs=head_epochs, batch_size=batch_size, verbose=0, shuffle=True)
    if epochs > 0:
        inp = keras.Input(shape=net.input_shape[1:])
        full = keras.Model(inp, head(norm(pool(net(inp)))))
        full.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy")
        full.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)
    return net


def recover_candidates(
    candidates: pd.DataFrame | PathLike,
    images: npt.NDArray[Any],
    labels: Sequence[Any] | npt.NDArray[Any],
    *,
    groups: Sequence[Any] | npt.NDArray[Any] | None = None,
    epochs: int = 3,
    learning_rate: float = 1e-4,
    head_epochs: int = 30,
    batch_size: int = 16,
    augment: bool = True,
    methods: Sequence[str] | None = None,
    test_size: float = 0.25,
    seed: int = 0,
    preprocess: Callable[[Any], Any] | None = None,
    out_dir: PathLike | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """The recovery step: every pruned candidate fine-tuned on the train part, as new candidates to evaluate.

    The original never retrains a pruned network, and neither does olkit by default (``recover_epochs=0`` of
    :func:`evaluate_candidates`): that is the faithful mode. The standard recovery after pruning is a short
    fine-tuning at a low learning rate; here each candidate gets a global-average-pool + softmax head, trained
    alone on the frozen features first (``head_epochs`` at 1e-3, so that a random head does not wreck the pruned
    filters), then the whole net for ``epochs`` at ``learning_rate`` (Adam), on the train part of the grouped
    split that :func:`evaluate_candidates` makes with the same ``seed`` and ``test_size`` (no test image is
    seen), with quarter turns as augmentation (``augment``: surfaces have no up or down). The head is dropped: the
    recovered candidate has the same layers, parameters and time as the one it came from.

    Parameters
    ----------
    candidates : DataFrame or path
        :func:`build_candidates` table (or its folder).
    images, labels, groups
        The evaluation images (raw RGB), their labels and source groups, as given to :func:`evaluate_candidates`.
    epochs, learning_rate, head_epochs, batch_size, augment
        The fine-tuning (see above).
    methods : sequence of str, optional
        The methods to recover; default every pruned one (not ``"full"``: a full-size VGG16 costs minutes an epoch
        on two cores; pass ``methods=["full", ...]`` to recover it too as a reference).
    test_size, seed
        The split (as :func:`evaluate_candidates`'s) and the training seed.
    preprocess : callable, optional
        As in :func:`evaluate_candidates` (none for the zoo's models: they take raw RGB).
    out_dir : path, optional
        Where ``<id>_rec<epochs>.keras`` (+ ``.json`` written last) go; default the candidates' folder. A rerun
        with the same candidate, images, split and settings reuses them.
    progress : bool
        A tqdm bar.

    Returns
    -------
    DataFrame
        One row per recovered candidate with the columns of the candidate table (``method`` gets the suffix
        :data:`RECOVERED_SUFFIX`, ``id`` and ``path`` are the new model's), plus ``recover_epochs`` and
        ``recovered_from``; concatenate it with the table and evaluate both with :func:`evaluate_candidates`.
    """
    import keras

    table = (
        pd.read_csv(Path(candidates) / "candidates.csv")
        if not isinstance(candidates, pd.DataFrame)
        else candidates
    )
    y_raw = np.asarray(labels)
    train, _ = grouped_split(y_raw, groups, test_size=test_size, seed=seed)
    classes = sorted(set(y_raw.tolist()), key=str)
    y_all = np.array([classes.index(v) for v in y_raw.tolist()], dtype=np.int64)
    x = model_input(np.asarray(images)[train], preprocess)
    y = y_all[train]
    if augment:
        x = np.concatenate([x, np.rot90(x, k=1, axes=(1, 2))])
        y = np.concatenate([y, y])
    settings = [epochs, learning_rate, head_epochs, batch_size, augment, test_size, seed]
    data_key = _digest(np.asarray(images)[train], y_all[train], settings)
    todo = table[~table["method"].astype(str).str.endswith(RECOVERED_SUFFIX)]
    todo = todo[todo["method"] != "full"] if methods is None else todo[todo["method"].isin(list(methods))]
    rows = []
    for _, row in progress_bar(list(todo.iterrows()), enabled=progress, desc="recovering"):
        src = Path(str(row["path"]))
        folder = Path(out_dir) if out_dir is not None else src.parent
        folder.mkdir(parents=True, exist_ok=True)
        cid = f"{row['id']}_rec{epochs}"
        path = folder / f"{cid}.keras"
        source = _digest(str(row.get("source", "")), data_key)
        doc = _read_complete(path, source)
        if doc is None:
            model = keras.models.load_model(src, safe_mode=True, compile=False)
            t0 = time.perf_counter()
            net = _fine_tune(
                model,
                x,
                y,
                len(classes),
                epochs=epochs,
                learning_rate=learning_rate,
                head_epochs=head_epochs,
                batch_size=batch_size,
                seed=seed,
            )
            _atomic_save_model(net, path)
            doc = {
                **{k: v for k, v in dict(row).items() if k not in ("path", "kept")},
                "id": cid,
                "method": f"{row['method']}{RECOVERED_SUFFIX}",
                "recover_epochs": int(epochs),
                "recover_seconds": round(time.perf_counter() - t0, 2),
                "recovered_from": str(row["id"]),
                "source": source,
                "complete": True,
            }
            _atomic_write_json(doc, path.with_suffix(".json"))
        rows.append({**doc, "kept": row.get("kept"), "path": str(path)})
    out = pd.DataFrame(rows)
    return out.drop(columns=["complete"], errors="ignore")


def as_backbone(
    model: Any | PathLike,
    *,
    pooling: Pooling = "avg",
    scale: float = 1.0,
    offset: float = 0.0,
    recipe: str = "pruned",
) -> Any:
    """Turn a (pruned) conv model into an :class:`olkit.models.conv_base.Backbone` for the online-learning session.

    The pooling head is appended so the backbone's embedding layer yields one vector per image (global average by
    default: a flattened map ties the embedding to the input size). ``scale``/``offset`` map the uint8 pixels to
    the model's input; the default (1, 0) feeds raw 0..255 as the zoo's models expect (they rescale inside).
    """
    import keras

    from olkit.models.conv_base import Backbone, Preprocessing

    net: Any = (
        model if hasattr(model, "layers") else keras.models.load_model(model, safe_mode=True, compile=False)
    )
    fm = feature_model(net, pooling=pooling) if len(net.output_shape) == 4 else net
    # rebuilt from its config, so that weight paths read as after a save/load and the fingerprint survives one
    fresh = type(fm).from_config(fm.get_config())
    fresh.set_weights(fm.get_weights())
    fm = fresh
    h, w = (int(d) for d in net.input_shape[1:3])
    # the zoo's models rescale inside (raw 0..255 in); a user model without a Rescaling layer may need other values
    preprocessing = Preprocessing(size=(h, w), color="rgb", scale=scale, offset=offset)
    return Backbone(fm, embedding_layer=fm.layers[-1].name, preprocessing=preprocessing, recipe=recipe)
