"""olkit benchmarks: ``make bench`` (all sections) or ``make bench ONLY=<section>`` (see ../shared/BENCH.md)."""
