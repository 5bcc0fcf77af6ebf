"""How much heap an app needs on a board: one representative scenario per app, run on the emulated board at a
given heap, and the one search for the smallest heap it runs in.

`bench/roles.py` measures every app on every board with these and records the figures (`boards/measured/heap.json`,
read by `citynode.fits`); `tests/test_fits.py` runs each app's scenario at its recorded figure, so a change that
makes the node need more heap fails until the figure is measured again. `bench/classair.py` and
`bench/lorawan.py` use the same search for their own figures.

The figures are in `process` mode unless said otherwise: one interpreter per boot, as a board boots (an
in-process run keeps every name earlier boots interned, which no board does).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

MODE = "process"
HI_KB = 128  # the search starts here: a figure above it is recorded as null ("more than HI_KB")
STEP_KB = 2


@dataclass(frozen=True)
class Scenario:
    app: str
    name: str  # a few words, for messages ("a school morning")
    about: str  # what it runs: recorded next to the figures
    start: str
    world: str | None = None
    network: bool = False
    config: dict = field(default_factory=dict)
    hours: float | None = None
    wakes: int | None = None
    min_uplinks: int = 0  # uplinks the network must have verified (MIC) for the run to count


SCENARIOS = {
    "classair": Scenario(
        "classair",
        "a school morning",
        "a school morning: Monday 00:00-10:00 Paris time, school-day world, with the network (join, then an "
        "uplink every wake)",
        start="2026-09-07T00:00:00+02:00",
        world="school-day",
        network=True,
        hours=10,
        min_uplinks=18,
    ),
    "lorawan_probe": Scenario(
        "lorawan_probe",
        "6 join and uplink wakes",
        "6 wakes 15 minutes apart with the network: a join, then an uplink every wake",
        start="2026-09-07T08:00:00+02:00",
        network=True,
        config={"interval_s": 900},
        wakes=6,
        min_uplinks=6,
    ),
    "counter": Scenario(
        "counter",
        "6 wakes",
        "6 wakes 15 minutes apart, no network",
        start="2026-09-07T08:00:00+02:00",
        config={"interval_s": 900},
        wakes=6,
    ),
}


@dataclass
class Outcome:
    ok: bool
    why: str = ""  # when not ok: the first reason, one line
    wakes: int = 0
    uplinks: int = 0


_OUT_OF_MEMORY = ("MemoryError", "memory allocation failed")


def run_at(board, app: str, heap_kb: int, *, mode: str = MODE, flash_dir=None) -> Outcome:
    """Run `app`'s scenario on `board` (id or dict) with `heap_kb` of emulator heap: ok when the node never
    ran out of memory, never halted, and the network verified the scenario's uplinks."""
    from hil.emulator import EmulatedBoard
    from hil.network import attach_network

    sc = SCENARIOS[app]
    with tempfile.TemporaryDirectory(prefix="citynode-heap-") as tmp:
        b = EmulatedBoard(
            board,
            app,
            flash_dir=flash_dir or tmp,
            config=dict(sc.config),
            world=sc.world,
            start=sc.start,
            heap_kb=heap_kb,
            mode=mode,
        )
        try:
            if sc.network:
                attach_network(b)
            r = b.run(hours=sc.hours, wakes=sc.wakes)
            oom = [
                e["line"]
                for e in b.events
                if e["type"] == "log" and any(s in e["line"] for s in _OUT_OF_MEMORY)
            ]
            ups = sum(
                1
                for e in b.events
                if e["type"] == "lora_frame" and e.get("frame") == "uplink" and e.get("mic_ok")
            )
        finally:
            b.close()
    halted = (r.halted or "").strip()
    if halted and any(s in halted for s in _OUT_OF_MEMORY):
        oom.append(halted.splitlines()[-1])  # out of memory before the firmware could log it: the traceback
    why = ""
    if oom:
        why = "out of memory: " + re.sub(r"^\[\d+\] ", "", oom[0].strip())[:160]  # without the node's ticks
    elif halted:
        why = f"halted: {halted.splitlines()[-1][:160]}"
    elif ups < sc.min_uplinks:
        why = f"{ups} verified uplinks, the scenario needs {sc.min_uplinks}"
    return Outcome(not why, why, r.wakes, ups)


def smallest_heap_kb(runs: Callable[[int], bool], *, hi: int = HI_KB, lo: int = STEP_KB, step: int = STEP_KB):
    """The smallest heap (KB) `runs(kb)` holds at: going down from `hi` in `step` KB, the last size before the
    first that fails (a lucky size below a failing one does not count: the heap's threshold can be uneven).
    None if it fails at `hi` already."""
    best = None
    for kb in range(hi, lo - 1, -step):
        if not runs(kb):
            break
        best = kb
    return best


def search(
    board, app: str, *, mode: str = MODE, hi: int = HI_KB, step: int = STEP_KB
) -> tuple[int | None, str]:
    """(the smallest emulator heap `app`'s scenario runs in on `board`, why it failed one step below)."""
    last = Outcome(True)

    def runs(kb):
        nonlocal last
        last = run_at(board, app, kb, mode=mode)
        return last.ok

    kb = smallest_heap_kb(runs, hi=hi, step=step)
    return kb, last.why


def min_heap_kb(board, app: str, *, mode: str = MODE, hi: int = HI_KB, step: int = STEP_KB) -> int | None:
    """The smallest emulator heap `app`'s scenario runs in on `board`."""
    return search(board, app, mode=mode, hi=hi, step=step)[0]
