"""The ``olkit`` console script.

``olkit data`` makes (or completes) every data set under the data root and prints a summary;
``olkit run`` executes the notebook series headless with papermill; ``olkit lab`` opens JupyterLab on it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _cmd_data(args: argparse.Namespace) -> int:
    from olkit.datasets import prepare_data

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
    print(summary)
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
    data.set_defaults(func=_cmd_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
