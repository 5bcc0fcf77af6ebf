"""Which roles fit which board: each app's measured heap against the board's emulator heap.

The figures are in `boards/measured/heap.json`: for each app (the built roles and the tool apps, `fleet.roles`),
the smallest emulator heap its scenario runs in on each board, measured by `python -m bench.roles --write` and
held honest by `tests/test_fits.py`. An app fits a board when that figure is at most the board's emulator heap
(`boards.emulator_heap_kb`: `heap_kb` x 2, the 64-bit interpreter). A board the file has no figure for (a new
board file, one given by path) is judged by the app's largest figure on any measured board: an estimate, said so.

The figures are 64-bit emulator figures: an estimate of what a 32-bit board needs, not a measurement on one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from citynode import boards as boards_mod
from citynode.paths import BOARDS_DIR

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

    @property
    def fits(self) -> bool | None:
        """True or False; None if nothing was measured for this app."""
        if self.measured_on is None:
            return None
        return self.needs_kb is not None and self.needs_kb <= self.has_kb

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
        return (
            f"{need}; {self.board} has {self.heap_kb} KB x {scale} = {self.has_kb} KB, so {self.app} is not "
            f"shipped to it. {LATER_FIX[0].upper() + LATER_FIX[1:]}; --ignore-heap to go ahead anyway"
        )


def fit(board: dict, app: str) -> Fit:
    """How `app` fits `board` (a loaded board dict)."""
    rec = figures().get("apps", {}).get(app)
    f = Fit(app, board["id"], board["heap_kb"], boards_mod.emulator_heap_kb(board), None)
    if not rec or not rec.get("heap_kb"):
        return f
    f.mode, f.scenario, f.step_kb = rec.get("mode", ""), rec.get("scenario", ""), figures().get("step_kb", 2)
    per_board = rec["heap_kb"]
    if board["id"] in per_board:
        f.needs_kb, f.measured_on = per_board[board["id"]], board["id"]
        f.below = rec.get("one_step_below", {}).get(board["id"], "")
        return f
    # Not measured on this board: the hungriest measured board's figure (None, "more than hi", is hungriest).
    worst = max(per_board, key=lambda b: float("inf") if per_board[b] is None else per_board[b])
    f.needs_kb, f.measured_on, f.estimate = per_board[worst], worst, True
    return f


def fits_of(board: dict) -> list[Fit]:
    """Every app a node can run (built roles, then tool apps; fleet.roles), as it fits `board`. A role the board
    file wires but that is not built yet is not among them."""
    from fleet import roles

    return [fit(board, app) for app in roles.APPS]


def require(board: dict, app: str) -> Fit:
    """The fit, or DoesNotFit (one line) when the app's recorded heap is more than the board's emulator heap.
    An app nothing was measured for passes: there is no figure to refuse it by."""
    f = fit(board, app)
    if f.fits is False:
        raise DoesNotFit(f.refusal())
    return f
