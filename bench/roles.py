"""Which roles fit which board: the smallest emulator heap each app (built roles and tool apps, citynode.base.roles) runs
its scenario in (hil/heap.py: ClassAir a school morning, lorawan_probe join and uplink wakes, counter a few
wakes), on every board, one process per boot as a board boots.

    python -m bench roles           # measure, and compare with the recorded figures
    python -m bench.roles --write   # measure, and record them in boards/measured/heap.json, with each one's
                                    # 32-bit estimate (hil/heap32.py measures the mix again)

`citynode boards`, `build`, `deploy` and `provision` read the recorded figures (citynode.fits);
tests/test_fits.py runs each app's scenario at its recorded figure.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from citynode import fits
from citynode.base import boards as boards_mod
from citynode.base import roles

from hil import heap, heap32


def pairs() -> list[tuple[str, str]]:
    """(board id, app) for every board and every app it can run: the apps its file wires, and the tool apps,
    which need no wiring. A role with wiring but not built yet is not measured."""
    missing = [a for a in roles.APPS if a not in heap.SCENARIOS]
    if missing:
        raise SystemExit(f"no heap scenario for {', '.join(missing)}: add one to hil/heap.py SCENARIOS")
    out = []
    for b in boards_mod.load_all():
        for app in roles.APPS:
            if app in b["apps"] or app in roles.TOOL_APPS:
                out.append((b["id"], app))
    return out


def _measure_one(pair):
    board, app = pair
    return (board, app, *heap.search(board, app))


def measure(todo: list[tuple[str, str]] | None = None) -> dict:
    """{app: {board: (smallest heap KB or None if it runs in no heap up to heap.HI_KB, why it failed one step
    below)}}; the searches run in parallel."""
    todo = todo or pairs()
    out: dict = {app: {} for _, app in todo}
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        for board, app, kb, why in ex.map(_measure_one, todo):
            out[app][board] = (kb, why)
    return {app: dict(sorted(per.items())) for app, per in out.items()}


def record(measured: dict) -> dict:
    from citynode.build import firmware_version

    version = firmware_version()
    today = datetime.date.today().isoformat()
    return {
        "about": (
            "Smallest emulator heap (KB, MicroPython unix port, 64-bit) each app runs its scenario in, per board: "
            "written by `python -m bench.roles --write`, checked by tests/test_fits.py, read by citynode.fits. "
            "An app fits a board when its figure here is at most the board's heap_kb x 2 and its estimate_32bit "
            "at most the board's heap_kb."
        ),
        "search": (
            f"going down from {heap.HI_KB} KB in {heap.STEP_KB} KB steps, the last size before the first that "
            "fails (MemoryError, a halt, or too few verified uplinks); null: fails at the top already"
        ),
        "hi_kb": heap.HI_KB,
        "step_kb": heap.STEP_KB,
        "apps": {
            app: {
                "mode": heap.MODE,
                "scenario": heap.SCENARIOS[app].name,
                "about": heap.SCENARIOS[app].about,
                "version": version,
                "measured": today,
                "heap_kb": {board: kb for board, (kb, _) in per.items()},
                "one_step_below": {board: why for board, (_, why) in per.items()},
            }
            for app, per in measured.items()
        },
    }


def write(measured: dict, path=None, mixes: dict | None = None):
    """Record the figures; with `mixes` (hil.heap32.measure) each one's 32-bit estimate too."""
    path = path or fits.FIGURES
    path.parent.mkdir(parents=True, exist_ok=True)
    out = record(measured)
    if mixes is not None:
        out = heap32.record(mixes, out)
    path.write_text(json.dumps(out, indent=2) + "\n")
    return path


def rows(measured: dict) -> list[tuple]:
    recorded = fits.figures().get("apps", {})
    out = []
    for app, found in measured.items():
        per = {board: kb for board, (kb, _) in found.items()}
        rec = recorded.get(app, {}).get("heap_kb", {})
        groups: dict = {}
        for board, kb in per.items():
            groups.setdefault(kb, []).append(board)
        figure = "; ".join(
            (f"{kb} KB" if kb else f"> {heap.HI_KB} KB") + f": {', '.join(bs)}"
            for kb, bs in sorted(groups.items(), key=lambda g: (g[0] is None, g[0] or 0))
        )
        stale = [f"{b} recorded {rec.get(b, 'nothing')}" for b, kb in per.items() if rec.get(b, "-") != kb]
        if stale:
            figure += f" (differs from the record: {', '.join(stale)})"
        no_fit = [
            b["id"]
            for b in boards_mod.load_all()
            if b["id"] in per and (per[b["id"]] is None or per[b["id"]] > boards_mod.emulator_heap_kb(b))
        ]
        out.append(
            (
                f"smallest emulator heap, {app} ({heap.SCENARIOS[app].name}, one process per boot)",
                figure,
                "as recorded (boards/measured/heap.json); fits every board"
                + (f" but {', '.join(no_fit)}" if no_fit else ""),
                not stale,
            )
        )
    return out


def run():
    return rows(measure())


if __name__ == "__main__":
    measured = measure()
    if "--write" in sys.argv[1:]:
        print(f"recorded in {write(measured, mixes=heap32.measure(pairs()))}", file=sys.stderr)
        fits._load.cache_clear()
    for row in rows(measured):
        print(" | ".join(str(x) for x in row))
