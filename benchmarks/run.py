"""Run benchmark sections and merge them into ``bench/results.json``.

Each section lives in ``benchmarks/<section>.py`` and exposes ``run() -> dict``; a section that raises is
recorded as ``{"error": "..."}`` so the file always says why a figure is missing. The ``machine`` section,
with a float32 matmul measuring the practical peak, is re-measured on every call.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

SECTIONS = (
    "online",
    "online_real",
    "online_small",
    "online_curve",
    "online_curve_real",
    "embed",
    "relabel",
    "grid_browser",
    "prune",
    "prune_real",
    "pipeline",
    "synth",
    "deploy",
    "scale",
)
RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results.json"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _best_seconds(fn: Any, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def fp32_matmul_gflops(n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """GFLOP/s of an ``n``x``n`` float32 matmul (2 n^3 flops) in NumPy (its BLAS) and in TensorFlow (oneDNN).

    The two differ by up to 2x on one machine: NumPy's wheels ship OpenBLAS built for AVX2, while TensorFlow's oneDNN
    uses AVX-512 where the CPU has it, and the embedding runs on the latter.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flops = 2 * n**3
    out = {"numpy": flops / _best_seconds(lambda: a @ b, repeats) / 1e9}
    import tensorflow as tf

    ta, tb = tf.constant(a), tf.constant(b)
    matmul = tf.function(tf.linalg.matmul, autograph=False)
    out["tensorflow"] = flops / _best_seconds(lambda: matmul(ta, tb).numpy(), repeats) / 1e9
    return out


def fp32_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """The practical fp32 peak of this machine: the best float32 matmul of NumPy and TensorFlow."""
    return max(fp32_matmul_gflops(n, repeats).values())


def machine() -> dict[str, Any]:
    """The machine block of the results file."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    matmul = fp32_matmul_gflops()
    return {
        "cpu": _cpu_name(),
        "cores": os.cpu_count() or 1,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "gpu": gpus[0].name if gpus else None,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "fp32_gflop_s": round(max(matmul.values()), 1),
        "fp32_gflop_s_by_library": {k: round(v, 1) for k, v in matmul.items()},
    }


def run_section(name: str) -> dict[str, Any]:
    """Import ``benchmarks.<name>`` and call its ``run()``; an exception becomes an ``error`` entry."""
    try:
        module = importlib.import_module(f"benchmarks.{name}")
        return dict(module.run())
    except Exception as exc:  # a section that cannot run says why instead of giving figures
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=SECTIONS, help="run one section and merge it")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    names = [args.only] if args.only else list(SECTIONS)
    figures = {"machine": machine()}
    for name in names:
        print(f"== bench {name}", flush=True)
        figures[name] = run_section(name)
        print(json.dumps(figures[name], indent=2), flush=True)
        merge_results(args.out, {"machine": figures["machine"], name: figures[name]})
    print(f"wrote {args.out}")
    return 1 if any("error" in figures[n] for n in names) else 0


def merge_results(path: Path, sections: dict[str, Any]) -> None:
    """Merge ``sections`` into the results file, re-reading it first so that sections run in other processes
    meanwhile keep their figures; the file is replaced atomically."""
    results: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    results.update(sections)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=True))
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
