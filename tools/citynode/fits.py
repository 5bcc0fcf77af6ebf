"""Which roles fit which board: each app's measured heap against the board's emulator heap.

The figures are in `boards/measured/heap.json`: for each app (the built roles and the tool apps, `citynode.base.roles`),
the smallest emulator heap its scenario runs in on each board, measured by `python -m bench.roles --write` and
held honest by `tests/test_fits.py`. An app fits a board when that figure is at most the board's emulator heap
(`boards.emulator_heap_kb`: `heap_kb` x 2, the 64-bit interpreter) AND its estimated 32-bit need is at most the
board's `heap_kb`. A board the file has no figure for (a new board file, one given by path) is judged by the app's
largest figures on any measured board: an estimate, said so.

Two kinds of figure, and neither is a measurement on hardware:
- measured on the emulator: the smallest 64-bit heap the scenario ran in (hil/heap.py). x2 is right for pointers
  and ints, but a GC block is 32 B there and 16 B on a board, and byte data (bytes, str text, bytecode) is the
  same size on both: the emulator's doubled heap gives byte data about twice the room a board has.
- estimated for 32-bit: that figure x the ratio of the app's live heap as a 32-bit board would hold it
  (hil/heap32.py: each allocation classed as pointers, halved, or byte data, kept; in 16 B blocks), recorded next
  to it ("estimate_32bit"). It is what keeps the margin: the emulator figure alone would ship lorawan_probe to the
  NUCLEO-WL55 (72 KB in 36 x 2), whose 32-bit estimate (~52 KB) is well over its 36 KB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from citynode.base import boards as boards_mod
from citynode.base.paths import BOARDS_DIR

FIGURES = BOARDS_DIR / "measured" / "heap.json"
# How the remaining gap is meant to close: said wherever a role is refused.
LATER_FIX = "freezing the lora driver and the MAC into the MicroPython image is the later fix"


class DoesNotFit(ValueError):
    """The message is one line for the user."""


@cache
def _load(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}


def figures() -> dict:
    """The recorded figures: {"hi_kb", "step_kb", "apps": {app: {"mode", "scenario", "about", "version",
    "measured", "heap_kb": {board: kb or null}, "one_step_below": {board: what failed}}}}."""
    return _load(str(FIGURES))


@dataclass
class Fit:
    app: str
    board: str  # board id
    heap_kb: int  # the board's heap (32-bit)
    has_kb: int  # the board's emulator heap
    # the app's recorded figure; None: nothing measured for this app, or it ran in no heap tried
    needs_kb: int | None
    measured_on: str | None = None  # board the figure comes from (this board unless `estimate`)
    estimate: bool = False  # this board was not measured: the app's largest figure on any board
    mode: str = ""
    scenario: str = ""
    step_kb: int = 2
    below: str = ""  # what went wrong one step below the figure, when it was measured
    # the app's estimated 32-bit need (KB of the board's own heap) and the ratio it comes from; None: no estimate
    est_kb: int | None = None
    ratio: float | None = None

    @property
    def emulator_fits(self) -> bool | None:
        """Measured on the emulator: the app ran its scenario in the board's heap x 2 (64-bit)."""
        if self.measured_on is None:
            return None
        return self.needs_kb is not None and self.needs_kb <= self.has_kb

    @property
    def estimate_fits(self) -> bool | None:
        """Estimated for 32-bit: the app's estimated need is at most the board's heap. None: no estimate."""
        if self.measured_on is None or self.ratio is None:
            return None
        return self.est_kb is not None and self.est_kb <= self.heap_kb

    @property
    def fits(self) -> bool | None:
        """True when both the emulator measurement and the 32-bit estimate fit (a figure with no estimate yet is
        judged by the emulator alone); None if nothing was measured for this app."""
        if self.measured_on is None:
            return None
        return bool(self.emulator_fits) and self.estimate_fits is not False

    def basis(self) -> str:
        """What the verdict rests on, honestly: nothing is measured on hardware."""
        if self.measured_on is None:
            return "not measured"
        if self.ratio is None:
            return "measured on the emulator (64-bit) only: no 32-bit estimate recorded"
        return "measured on the emulator (64-bit), estimated for 32-bit"

    def estimate_text(self) -> str:
        if self.ratio is None:
            return "no 32-bit estimate"
        if self.est_kb is None:
            return "an estimated 32-bit need of more than the emulator's top"
        return f"an estimated {self.est_kb} KB on a 32-bit board (x{self.ratio:g}, hil/heap32.py)"

    def needs_text(self) -> str:
        if self.measured_on is None:
            return "not measured"
        if self.needs_kb is None:
            return f"more than {figures().get('hi_kb', 128)} KB"
        return f"{self.needs_kb} KB"

    def refusal(self) -> str:
        """One line: both figures, why the app is not shipped to this board, what to do."""
        scale = boards_mod.HEAP_SCALE_64BIT
        if self.estimate:
            need = (
                f"{self.board} is not measured: {self.app} needs up to {self.needs_text()} of emulator heap on "
                f"the boards measured ({self.measured_on}; `python -m bench.roles --write` measures this one)"
            )
        else:
            how = "one process per boot" if self.mode == "process" else f"{self.mode} mode"
            oom = ""
            if self.needs_kb and self.below:
                oom = f"; at {self.needs_kb - self.step_kb} KB " + (
                    "it ran out of memory"
                    if self.below.startswith("out of memory")
                    else f"it failed: {self.below}"
                )
            need = (
                f"{self.app} needs {self.needs_text()} of emulator heap on {self.board} "
                f"(measured, {self.scenario}, {how}{oom})"
            )
        if self.ratio is not None:
            need += f", and {self.estimate_text()}"
        return (
            f"{need}; {self.board} has {self.heap_kb} KB x {scale} = {self.has_kb} KB on the emulator and "
            f"{self.heap_kb} KB on the board, so {self.app} is not shipped to it. "
            f"{LATER_FIX[0].upper() + LATER_FIX[1:]}; --ignore-heap to go ahead anyway"
        )


def fit(board: dict, app: str) -> Fit:
    """How `app` fits `board` (a loaded board dict)."""
    rec = figures().get("apps", {}).get(app)
    f = Fit(app, board["id"], board["heap_kb"], boards_mod.emulator_heap_kb(board), None)
    if not rec or not rec.get("heap_kb"):
        return f
    f.mode, f.scenario, f.step_kb = rec.get("mode", ""), rec.get("scenario", ""), figures().get("step_kb", 2)
    per_board = rec["heap_kb"]
    est = rec.get("estimate_32bit", {})
    if board["id"] in per_board:
        f.needs_kb, f.measured_on = per_board[board["id"]], board["id"]
        f.below = rec.get("one_step_below", {}).get(board["id"], "")
    else:
        # Not measured on this board: the hungriest measured board's figure (None, "more than hi", is hungriest).
        worst = max(per_board, key=lambda b: float("inf") if per_board[b] is None else per_board[b])
        f.needs_kb, f.measured_on, f.estimate = per_board[worst], worst, True
    if f.measured_on in est.get("ratio", {}):
        f.ratio, f.est_kb = est["ratio"][f.measured_on], est["heap_kb"].get(f.measured_on)
    return f


def fits_of(board: dict) -> list[Fit]:
    """Every app a node can run (built roles, then tool apps; citynode.base.roles), as it fits `board`. A role the board
    file wires but that is not built yet is not among them."""
    from citynode.base import roles

    return [fit(board, app) for app in roles.APPS]


def require(board: dict, app: str) -> Fit:
    """The fit, or DoesNotFit (one line) when the app's recorded heap is more than the board's emulator heap, or
    its estimated 32-bit need more than the board's heap.
    An app nothing was measured for passes: there is no figure to refuse it by."""
    f = fit(board, app)
    if f.fits is False:
        raise DoesNotFit(f.refusal())
    return f
