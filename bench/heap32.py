"""The 64-bit emulator's heap figures as a 32-bit board would need them (hil/heap32.py): for each app, the
firmware's live heap at its high-water mark in its scenario, as the emulator holds it and as a 32-bit board
would (pointers halve, byte data stays, 16 B blocks), the ratio, and the estimated 32-bit need per board.

    python -m bench heap32       # measure the mix, and compare with the recorded estimates
    python -m bench.heap32 --write # and record them in boards/measured/heap.json ("estimate_32bit")
"""

from __future__ import annotations

import json
import sys

from citynode import fits
from citynode.base import boards as boards_mod

from hil import heap32

TOLERANCE = 0.02  # a ratio this far from the record: the mix changed, measure again


def rows(mixes: dict) -> list[tuple]:
    recorded = fits.figures().get("apps", {})
    out = []
    for app, per in mixes.items():
        rec = recorded.get(app, {})
        est = rec.get("estimate_32bit", {})
        parts, stale, no_fit = [], [], []
        for board, m in per.items():
            need = rec.get("heap_kb", {}).get(board)
            e = None if need is None else heap32.estimate_kb(need, round(m.ratio, 3))
            parts.append(f"{board} {need} -> {e} KB")
            old = est.get("ratio", {}).get(board)
            if old is None or abs(old - m.ratio) > TOLERANCE:
                stale.append(f"{board} recorded {old}")
            if e is None or e > boards_mod.load(board)["heap_kb"]:
                no_fit.append(board)
        ratios = sorted(m.ratio for m in per.values())
        figure = f"x{ratios[0]:.3f}-{ratios[-1]:.3f}: " + "; ".join(parts)
        if stale:
            figure += f" (ratio differs from the record: {', '.join(stale)})"
        out.append(
            (
                f"32-bit heap estimate, {app} (64-bit need -> 32-bit need, hil/heap32.py)",
                figure,
                "estimated, as recorded (boards/measured/heap.json); fits every board's own heap"
                + (f" but {', '.join(no_fit)}" if no_fit else ""),
                not stale,
            )
        )
    return out


def measure() -> dict:
    from bench.roles import pairs

    return heap32.measure(pairs())


def write(mixes: dict, path=None):
    path = path or fits.FIGURES
    path.write_text(json.dumps(heap32.record(mixes, fits.figures()), indent=2) + "\n")
    return path


def run():
    return rows(measure())


if __name__ == "__main__":
    mixes = measure()
    out = rows(mixes)
    if "--write" in sys.argv[1:]:
        print(f"recorded in {write(mixes)}", file=sys.stderr)
    for row in out:
        print(" | ".join(str(x) for x in row))
