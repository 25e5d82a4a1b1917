"""Export, check and describe in one call: the exports, their agreement with the notebook pipeline, the card."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from olkit.deploy.card import agreement, build_card, write_card
from olkit.deploy.export import FORMATS, DeployInfo, export_model
from olkit.deploy.fold import DeployModel
from olkit.deploy.runtime import open_session, time_runtimes
from olkit.types import PathLike

if TYPE_CHECKING:
    from olkit.deploy.predict import PredictResult
    from olkit.prune.candidates import EvaluationSample
    from olkit.prune.measure import Pooling

__all__ = ["Bundle", "bundle", "export_chosen", "export_run", "run_exports"]


@dataclass(frozen=True)
class Bundle:
    """An export folder after :func:`bundle`: its ``deploy.json``, the card, agreement and latency tables."""

    info: DeployInfo
    card: dict[str, Any]
    agreement: pd.DataFrame
    latency: pd.DataFrame | None

    @property
    def folder(self) -> Path:
        return self.info.folder


def run_exports(
    info: DeployInfo, images: npt.NDArray[Any], *, batch_size: int = 32
) -> dict[str, npt.NDArray[np.float32]]:
    """Probabilities of ``images`` (resized, 0..255) from every export of the folder, each on its runtime."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    out = {}
    for fmt in info.files:
        sess = open_session(info.path(fmt))
        out[fmt] = np.concatenate([sess.run(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    return out


def bundle(
    deploy: DeployModel,
    out_dir: PathLike,
    *,
    eval_images: npt.NDArray[Any],
    eval_labels: Sequence[Any],
    reference: npt.NDArray[Any],
    formats: Sequence[str] = FORMATS,
    calibration: npt.NDArray[Any] | None = None,
    manifest: PathLike | None = None,
    data_note: str = "",
    measure: bool = False,
    batches: Sequence[int] = (1, 32),
    threads: Sequence[int] = (1, 2),
    repeats: int = 10,
) -> Bundle:
    """Export ``deploy`` into ``out_dir``, check every export against ``reference`` and write the card.

    Parameters
    ----------
    deploy
        The folded model.
    out_dir
        The export folder.
    eval_images, eval_labels
        Evaluation images (resized, 0..255) and their true classes.
    reference
        The two-part notebook pipeline's probabilities on ``eval_images``
        (:func:`olkit.deploy.fold.pipeline_proba`): float32 exports should match them within 1e-4.
    formats, calibration
        See :func:`olkit.deploy.export.export_model` (``calibration`` defaults to ``eval_images`` for int8; pass
        the training images to keep the evaluation images out of the calibration).
    manifest, data_note
        The training data's manifest (hashed into the card) and a line about it.
    measure
        Time every export (:func:`olkit.deploy.runtime.time_runtimes`) and put it in the card.
    """
    if "litert-int8" in formats and calibration is None:
        calibration = eval_images
    info = export_model(deploy, out_dir, formats=formats, calibration=calibration)
    proba = run_exports(info, eval_images)
    agree = agreement(proba, reference, deploy.classes, labels=eval_labels)
    latency = None
    if measure:
        runtime_files = {
            "tensorflow": info.path("keras"),
            **({"litert": info.path("litert")} if "litert" in info.files else {}),
            **({"litert-int8": info.path("litert-int8")} if "litert-int8" in info.files else {}),
            **({"onnxruntime": info.path("onnx")} if "onnx" in info.files else {}),
        }
        latency = time_runtimes(
            {"model": runtime_files}, batches=batches, threads=threads, repeats=repeats, rounds=2
        )
    card = build_card(
        info,
        y_true=eval_labels,
        proba=proba["keras"],
        manifest=manifest,
        data_note=data_note,
        exports=agree,
        latency=latency,
    )
    write_card(card, info.folder)
    table = pd.DataFrame([{"export": k, **v} for k, v in agree.items()])
    return Bundle(info=info, card=card, agreement=table, latency=latency)


def export_chosen(
    model: Any | PathLike,
    sample: EvaluationSample,
    out_dir: PathLike,
    *,
    runtimes: str | Sequence[str] = "litert,onnx",
    classifier: Literal["logreg", "mlp"] = "logreg",
    seed: int = 0,
    pooling: Pooling = "flatten",
    manifest: PathLike | None = None,
    measure: bool = False,
    progress: bool = True,
    source_file: PathLike | None = None,
) -> tuple[Bundle, PredictResult]:
    """Export a pruned conv base with the classifier the evaluation fitted, check it and classify the held-out part.

    The one export of a pruning result, shared by the pruning notebook (its evaluation sample, in memory) and
    ``olkit export RUN`` (:func:`export_run`, which draws the sample again): the classifier is fitted on
    ``sample.train`` as the evaluation fitted it (:func:`olkit.deploy.fold.from_prune`), folded and exported with
    :func:`bundle` (checked against the two-part pipeline on ``sample.test``, int8 calibrated on ``sample.train``,
    the model card beside it), and the held-out images are classified with the export
    (``predictions_heldout.csv`` in the export folder).

    Parameters
    ----------
    model
        The pruned conv model, or its ``.keras`` file (a run's ``prune/chosen.keras``: the card records its digest).
    sample
        The evaluation sample (:func:`olkit.prune.candidates.evaluation_sample`) at the model's input size.
    out_dir
        The export folder.
    runtimes
        Exports beside ``model.keras`` (:func:`olkit.deploy.export.formats_for`: ``"litert,onnx"``; ``""`` none).
    classifier, seed
        The evaluation's classifier (the first of the notebook's ``classifiers``) and seed.
    pooling
        How the evaluation made features of the base's last map (the evaluated table's ``pooling`` column,
        :func:`olkit.prune.measure.table_pooling`); the pooling layer becomes part of the exported model.
    manifest
        The training data's manifest, hashed into the card.
    measure
        Time every export into the card (:func:`bundle`).
    progress
        Show the predict progress bar.
    source_file
        The ``.keras`` file an already loaded ``model`` came from (recorded in the card, not loaded again).
    """
    from olkit.deploy.export import formats_for
    from olkit.deploy.fold import from_prune, load_base, pipeline_proba
    from olkit.deploy.predict import predict_files

    base, path = load_base(model)
    deployed, head = from_prune(
        base,
        sample.images,
        sample.labels,
        train=sample.train,
        classifier=classifier,
        pooling=pooling,
        seed=seed,
        source_file=source_file if source_file is not None else path,
    )
    test = sample.images[sample.test]
    out = bundle(
        deployed,
        out_dir,
        eval_images=test,
        eval_labels=list(sample.labels[sample.test]),
        reference=pipeline_proba(base, head, test, pooling=pooling),
        formats=formats_for(runtimes),
        calibration=sample.images[sample.train],
        manifest=manifest,
        data_note=sample.summary(),
        measure=measure,
    )
    held_out = predict_files(
        out.folder,
        [sample.paths[i] for i in sample.test],
        out.folder / "predictions_heldout.csv",
        progress=progress,
    )
    return out, held_out


def export_run(
    run: PathLike,
    *,
    out_dir: PathLike | None = None,
    runtimes: str | Sequence[str] = "litert,onnx",
    n_eval: int = 600,
    classifier: Literal["logreg", "mlp"] = "logreg",
    seed: int = 0,
    measure: bool = False,
    progress: bool = True,
) -> tuple[Bundle, PredictResult]:
    """Export a run's pruning result as the pruning notebook does: ``prune/chosen.keras`` and its classifier.

    The evaluation sample is drawn again from the data the run pruned for (``metrics.json``'s
    ``prune.data_root``; its ``data_train`` images) with the notebook's ``n_eval`` and ``seed``
    (:func:`olkit.prune.candidates.evaluation_sample`: the same images, the same grouped split), then exported by
    :func:`export_chosen`, the call the notebook makes on the sample it holds: the classifier fitted on the train
    part, the folded model checked and carded, the held-out images classified (``predictions_heldout.csv``).

    Parameters
    ----------
    run
        The run folder (``olkit run``'s, or one that notebook 3 wrote).
    out_dir
        The export folder (default ``<run>/prune/export``).
    runtimes
        Exports beside ``model.keras`` (:func:`olkit.deploy.export.formats_for`: ``"litert,onnx"``).
    n_eval, classifier, seed
        The pruning notebook's ``n_eval``, first of its ``classifiers`` and ``seed``.
    measure
        Time every export into the card (:func:`bundle`).
    progress
        Show the predict progress bar.

    Raises
    ------
    FileNotFoundError
        The run has no ``prune/chosen.keras`` or no pruning data root.
    """
    from olkit.data.prepare import manifest_file, run_manifest
    from olkit.deploy.fold import load_base
    from olkit.paths import RunFolder
    from olkit.prune.candidates import evaluation_sample

    folder = RunFolder(Path(run).expanduser().resolve())
    if not folder.chosen.is_file():
        raise FileNotFoundError(
            f"{folder.chosen}: no chosen model in this run (run the pruning notebook first)"
        )
    root = folder.read_metrics().get("prune", {}).get("data_root") or folder.read_metrics().get(
        "data", {}
    ).get("root")
    if not root:
        raise FileNotFoundError(
            f"{folder.metrics}: no pruning data root recorded (run the pruning notebook first)"
        )
    manifest = run_manifest(folder, root).query("split == 'data_train'")
    # the pooling notebook 3 evaluated the candidates with (metrics.json)
    pooling = folder.read_metrics().get("prune", {}).get("pooling", "flatten")
    chosen, _ = load_base(folder.chosen)  # loaded once: its input size draws the sample, then it is exported
    return export_chosen(
        chosen,
        evaluation_sample(manifest, n_eval=n_eval, size=int(chosen.inputs[0].shape[1]), seed=seed),
        out_dir if out_dir is not None else folder.prune / "export",
        runtimes=runtimes,
        classifier=classifier,
        seed=seed,
        pooling=pooling,
        manifest=manifest_file(folder, root),
        measure=measure,
        progress=progress,
        source_file=folder.chosen,
    )
