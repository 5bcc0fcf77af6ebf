"""Benchmarks for the figures in ARCHITECTURE.md (`make bench`). One module per area, each with `run() -> list
of (figure, measured, goal, ok)` rows; `python -m bench [name...]` runs them and prints one table.

A timing figure is measured several times (`spread`) and shown as min / median / max over the runs: on a shared
2-core machine one run says little. A goal is judged on the worst run (the max of a time, the min of a rate)."""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Values of one figure over `len(values)` runs, sorted."""

    values: tuple

    @property
    def min(self):
        return self.values[0]

    @property
    def median(self):
        return statistics.median(self.values)

    @property
    def max(self):
        return self.values[-1]

    def fmt(self, unit: str = "s", digits: int = 2, scale: float = 1.0) -> str:
        """'0.08 / 0.09 / 0.12 s (min / median / max of 5)'; one run is shown alone."""
        f = [f"{v * scale:,.{digits}f}" for v in (self.min, self.median, self.max)]
        if len(self.values) == 1:
            return f"{f[0]} {unit} (1 run)"
        return f"{' / '.join(f)} {unit} (min / median / max of {len(self.values)})"


def spread(fn: Callable[[], float | None], runs: int = 5) -> Spread:
    """Call fn `runs` times; each call returns its own figure (seconds, a rate, ...) or None to be timed here."""
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        v = fn()
        out.append(time.perf_counter() - t0 if v is None else v)
    return Spread(tuple(sorted(out)))
