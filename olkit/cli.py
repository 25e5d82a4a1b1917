"""The ``olkit`` console script.

``olkit data`` makes (or completes) every data set under olkit's data root and prints a summary;
``olkit data check DIR`` shows what olkit sees in a data root of yours (and writes nothing there);
``olkit embed MODEL IMAGES --cache DIR [--scheduler ADDRESS]`` fills an embedding cache, on a Dask cluster too;
``olkit run`` executes the notebook series headless with papermill; ``olkit lab`` opens JupyterLab on it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _cmd_data(args: argparse.Namespace) -> int:
    from olkit.data.prepare import prepare_data
    from olkit.errors import ReadOnlyDataError

    if args.data_command == "check":
        return _cmd_data_check(args)
    try:
        summary = prepare_data(
            root=args.root,
            n_train=args.n_train,
            n_new=args.n_new,
            shift=args.shift,
            n_crack=args.n_crack,
            seed=args.seed,
            bsdata=args.bsdata,
            overwrite=args.overwrite,
        )
    except ReadOnlyDataError as exc:
        print(f"olkit data: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0


def _cmd_data_check(args: argparse.Namespace) -> int:
    from olkit.data.prepare import check_data_root
    from olkit.errors import DataNotFoundError

    try:
        check = check_data_root(args.dir, progress=not args.quiet)
    except DataNotFoundError as exc:
        print(f"olkit data check: {exc}", file=sys.stderr)
        return 2
    print(check)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from olkit.errors import NotebookExecutionError, OlkitError
    from olkit.pipeline import run_series

    try:
        result = run_series(
            args.profile,
            run_id=args.run_id,
            params=dict(args.param or []),
            from_notebook=args.from_notebook,
            runs_dir=args.runs_dir,
            report=not args.no_report,
        )
    except NotebookExecutionError as exc:
        print(f"olkit run: {exc}", file=sys.stderr)
        return 1
    except OlkitError as exc:
        print(f"olkit run: {exc}", file=sys.stderr)
        return 2
    print()
    print(result.summary)
    return 0


def _cmd_lab(args: argparse.Namespace) -> int:
    import os
    import subprocess

    from olkit.paths import project_root

    folder = args.notebooks or str(project_root() / "notebooks")
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={folder}", *args.lab_args]
    print("olkit lab:", " ".join(cmd))
    return subprocess.call(cmd, env=os.environ.copy())


def _cmd_predict(args: argparse.Namespace) -> int:
    from olkit.deploy.predict import predict_folder

    try:
        result = predict_folder(
            args.model, args.folder, args.out, threshold=args.threshold, batch_size=args.batch_size
        )
    except (FileNotFoundError, NotADirectoryError, ValueError, KeyError) as exc:
        print(f"olkit predict: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from olkit.deploy.bundle import export_run

    try:
        out, held_out = export_run(
            args.run,
            out_dir=args.out,
            runtimes=args.runtimes,
            n_eval=args.n_eval,
            classifier=args.classifier,
            seed=args.seed,
            measure=args.measure,
        )
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"olkit export: {exc}", file=sys.stderr)
        return 2
    print(
        f"exported {', '.join(out.info.files)} to {out.folder} (deploy.json, model_card.json, model_card.md)"
    )
    print(out.agreement.to_string(index=False))
    print(held_out.summary())
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from pathlib import Path

    from olkit.data.io import IMAGE_EXTENSIONS, file_sha256, read_manifest
    from olkit.errors import OlkitError
    from olkit.online.cluster import embed_on
    from olkit.online.embed import EmbeddingCache

    src = Path(args.images)
    try:
        if src.is_file():  # a manifest CSV (path, sha256)
            df = read_manifest(src)
            paths, shas = [str(p) for p in df["path"]], [str(s) for s in df["sha256"]]
        elif src.is_dir():
            paths = sorted(str(p) for p in src.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
            shas = [file_sha256(p) for p in paths]
        else:
            raise FileNotFoundError(f"{src}: neither an image folder nor a manifest CSV")
        side = Path(args.model).with_suffix(".json")
        import json

        meta = json.loads(side.read_text(encoding="utf-8"))
        cache = EmbeddingCache(
            args.cache,
            fingerprint=meta["fingerprint"],
            dim=int(meta["embedding_dim"]),
            describe={"recipe": meta.get("recipe"), "embedding_layer": meta.get("embedding_layer")},
        )
        res = embed_on(
            paths,
            shas,
            args.model,
            cache,
            scheduler=args.scheduler,
            workers=args.workers,
            batch_size=args.batch_size,
            shard_size=args.shard_size,
            progress=not args.quiet,
        )
    except (FileNotFoundError, KeyError, ValueError, OlkitError) as exc:
        print(f"olkit embed: {exc}", file=sys.stderr)
        return 2
    print({"images": len(paths), "cache": str(cache.folder), **res.summary()})
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command (kept separate so tests can inspect it)."""
    parser = argparse.ArgumentParser(prog="olkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="make the synthetic sets, import BSData, print a summary")
    data.add_argument("--root", default=None, help="data root (default: $OLKIT_DATA_ROOT or ./data_bsd)")
    data.add_argument("--n-train", type=int, default=23717, help="synthetic data_train size (the original's)")
    data.add_argument("--n-new", type=int, default=360, help="synthetic data_new size (the original's)")
    data.add_argument(
        "--shift", type=float, default=1.0, help="strength of the new wear/soiling patterns, 0..2"
    )
    data.add_argument("--n-crack", type=int, default=1200, help="crack-family images for the pruning work")
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--bsdata", default=None, help="a BSData checkout (default: ../shared/data/BSData)")
    data.add_argument(
        "--overwrite", action="store_true", help="replace existing sets instead of keeping them"
    )
    data.set_defaults(func=_cmd_data, data_command=None)
    data_sub = data.add_subparsers(dest="data_command", metavar="{check}")
    check = data_sub.add_parser(
        "check",
        help="what olkit sees in a data root: sets, classes, counts, masks, unreadable files, duplicates",
        description="Read a data root in the original's layout (data_train/<class>/, data_new/<class>/, "
        "masks/<set>/) and summarise what olkit sees there before anything runs; nothing is written. Exits 0 "
        "with the summary, 2 when DIR is not a data root.",
    )
    check.add_argument("dir", help="the data root to look at")
    check.add_argument("--quiet", action="store_true", help="no progress bar")

    run = sub.add_parser(
        "run",
        help="execute the notebook series headless (papermill) into runs/<id>/ and write the report",
        description="Execute the notebook series with papermill into runs/<id>/, resume a run id at its first "
        "notebook that did not complete, write report.html and print the summary.",
    )
    run.add_argument(
        "--profile", default="demo", help="tiny | demo | full, or a profile JSON file (default demo)"
    )
    run.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="set a notebook parameter (typed as the notebook declares it); repeatable",
    )
    run.add_argument(
        "--run-id", default=None, help="run folder name under runs/ (default: the profile's name)"
    )
    run.add_argument(
        "--from", dest="from_notebook", default=None, help="start at this notebook (e.g. 04 or embedding)"
    )
    run.add_argument(
        "--runs-dir", default=None, help="parent of the run folder (default: $OLKIT_RUNS_ROOT or ./runs)"
    )
    run.add_argument("--no-report", action="store_true", help="skip report.html")
    run.set_defaults(func=_cmd_run)

    lab = sub.add_parser(
        "lab",
        help="open JupyterLab on the notebook series",
        description="Open JupyterLab on the notebook series; other options (e.g. --port 8890) go to jupyter lab.",
    )
    lab.add_argument("--notebooks", default=None, help="folder to open (default: the checkout's notebooks/)")
    lab.set_defaults(func=_cmd_lab)

    predict = sub.add_parser(
        "predict",
        help="classify every image of a folder with an exported model into a CSV",
        description="Classify every image under FOLDER (recursively) with an exported model (a file or the "
        "export folder of olkit.deploy) and write path, sha256, predicted class, probabilities and the model's "
        "fingerprint; unreadable files are skipped and listed. Exit code 2 only on a usage error.",
    )
    predict.add_argument("model", help="model.onnx / model_float32.tflite / model.keras, or their folder")
    predict.add_argument("folder", help="folder of images (searched recursively)")
    predict.add_argument(
        "--out", default="predictions.csv", help="the CSV to write (default predictions.csv)"
    )
    predict.add_argument(
        "--threshold", type=float, default=None, help="predict the defect class when its probability >= T"
    )
    predict.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    predict.set_defaults(func=_cmd_predict)

    export = sub.add_parser(
        "export",
        help="export a run's chosen pruned model with its classifier (LiteRT, ONNX, model card)",
        description="Fold RUN/prune/chosen.keras and the pruning evaluation's classifier (fitted again on the same "
        "images with the notebook's n_eval and seed) into one model, export it, check every export against the "
        "two-part pipeline, write the model card and classify the held-out images.",
    )
    export.add_argument("run", help="the run folder (with prune/chosen.keras)")
    export.add_argument("--out", default=None, help="export folder (default RUN/prune/export)")
    export.add_argument("--runtimes", default="litert,onnx", help="exports beside model.keras: litert, onnx")
    export.add_argument("--n-eval", type=int, default=600, help="the pruning notebook's n_eval")
    export.add_argument("--classifier", choices=("logreg", "mlp"), default="logreg", help="the head to fold")
    export.add_argument("--seed", type=int, default=0, help="the pruning notebook's seed")
    export.add_argument("--measure", action="store_true", help="time every export into the model card")
    export.set_defaults(func=_cmd_export)

    embed = sub.add_parser(
        "embed",
        help="embed a folder of images (or a manifest's) into a sharded cache, in-process or on a Dask cluster",
        description="Embed every image under IMAGES (a folder, searched recursively, or a manifest CSV with path "
        "and sha256) with the saved backbone MODEL into the embedding cache CACHE (only what is missing; one "
        "shard per task, resumable). --scheduler '' runs in this process, 'local' on a LocalCluster of --workers "
        "processes, an address (tcp://host:8786) on that cluster, whose workers read the same paths.",
    )
    embed.add_argument("model", help="a saved backbone (.keras with its .json sidecar)")
    embed.add_argument("images", help="an image folder or a manifest CSV")
    embed.add_argument(
        "--cache", required=True, help="the embedding cache folder (shared storage on a cluster)"
    )
    embed.add_argument(
        "--scheduler", default="", help="'' in-process (default), 'local', or a scheduler address"
    )
    embed.add_argument("--workers", type=int, default=2, help="worker processes of --scheduler local")
    embed.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    embed.add_argument("--shard-size", type=int, default=512, help="images per shard (one task)")
    embed.add_argument("--quiet", action="store_true", help="no progress bar")
    embed.set_defaults(func=_cmd_embed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the console script; returns the exit status."""
    import os

    from olkit.pipeline import KERNEL_ENV

    for key, value in KERNEL_ENV.items():  # before TensorFlow loads here (predict) or in a kernel (run, lab)
        os.environ.setdefault(key, value)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "lab":
        args.lab_args = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
