"""ClassAir figures: one emulated school day on the network (97 wakes, join, every uplink verified and decoded)
in <= 2 s wall; periodic uplink <= 10 B; the whole node within the 64 KB emulator heap; the light changes at most
once per crossing of the thresholds (no flicker) over a school week, a crossing counted when the true CO2 comes
within the sensor's noise of a threshold (reported beside the true CO2's own crossings); and the school week on each of the five boards
with its port's real behaviour (issue #22): the light on through every red hour, no watchdog reset, every wake
counted as one (hil/school_week.py)."""

from __future__ import annotations

import re
import tempfile
import time

from citynode.base import boards

from bench import Spread
from hil import heap, school_week
from hil.emulator import EmulatedBoard
from hil.network import attach_network

START = "2026-09-07T00:00:00+02:00"  # Monday, local midnight
BOARDS = [b["id"] for b in boards.load_all()]  # every board file: the figure is for all of them
# Heap enough that heap is not what the week measures (the NUCLEO's own does not fit ClassAir: `citynode boards`).
WEEK_HEAP_KB = 192
WAKE = re.compile(r"classair: co2=(\S+) t=(\S+) rh=(\S+) led=(\w+) level=(\w+)")


def _board(d, **kw):
    kw.setdefault("world", "school-day")
    b = EmulatedBoard(app="classair", start=START, flash_dir=d, **kw)
    attach_network(b)
    return b


def _wakes(b):
    out = []
    for e in b.events:
        if e["type"] == "log":
            m = WAKE.search(e["line"])
            if m:
                out.append(
                    {
                        "t": e["t"],
                        "co2": None if m.group(1) == "None" else int(m.group(1)),
                        "led": m.group(4),
                        "level": m.group(5),
                    }
                )
    return out


def _decode(fport, payload_hex):
    from citynode.views import decode_uplink

    return decode_uplink(fport, payload_hex)


def school_day():
    """(wall s, problems list, periodic sizes)."""
    # Every quarter hour around the clock: 97 wakes from midnight to midnight.
    cfg = {"idle_interval_s": 900}
    with tempfile.TemporaryDirectory() as d:
        b = _board(d, config=cfg)
        b.run(wakes=2)  # warm the .mpy cache and the launcher
        b.close()
    with tempfile.TemporaryDirectory() as d:
        b = _board(d, config=cfg)
        t0 = time.perf_counter()
        r = b.run(wakes=97)
        frames = [e for e in b.events if e["type"] == "lora_frame"]
        problems = []
        if r.wakes != 97 or r.halted:
            problems.append(f"{r.wakes} wakes, halted={r.halted}")
        if not any(f["frame"] == "join_request" and f.get("mic_ok") for f in frames):
            problems.append("no verified join")
        ups = [f for f in frames if f["frame"] == "uplink"]
        periodic = []
        wakes = {round(w["t"]): w for w in _wakes(b)}
        for f in ups:
            if not f.get("mic_ok") or not f.get("heard"):
                problems.append(f"uplink fcnt {f.get('fcnt')} not verified: {f.get('lost') or 'MIC'}")
                continue
            dec = _decode(f["fport"], f["payload"])
            if dec is None:
                problems.append(f"uplink on port {f['fport']} not decoded")
                continue
            if f["fport"] == 10:
                periodic.append(len(f["payload"]) // 2)
                w = min(wakes.values(), key=lambda w: abs(w["t"] - f["t"]))
                fields = dec.get("fields", dec) if isinstance(dec, dict) else {}
                if fields.get("co2_ppm") != w["co2"]:
                    problems.append(f"decoded co2 {fields.get('co2_ppm')} != measured {w['co2']}")
        wall = time.perf_counter() - t0
        if len(ups) < 97:
            problems.append(f"{len(ups)} uplinks for 97 wakes")
        b.close()
    return wall, problems, periodic


def min_heap_kb(mode="process", board="heltec-wifi-lora32-v3"):
    """The smallest emulator heap (KB) a school morning runs in (hil/heap.py: the scenario and the search every
    app's figure uses, bench/roles.py)."""
    return heap.min_heap_kb(board, "classair", mode=mode)


def flicker_week():
    """(light changes, crossings of the room's true CO2 through the band, crossings the sensor could see,
    unjustified changes) over the school week."""
    with tempfile.TemporaryDirectory() as d:
        b = EmulatedBoard(app="classair", start=START, flash_dir=d, world="school-week")
        attach_network(b)
        b.run(days=7)
        ws = [x for x in _wakes(b) if x["co2"] is not None]
        w = b.world
        noise = b.devices[("ext", 0x62)].noise_ppm
        b.close()
    changes = flickers = 0
    for a, c in zip(ws, ws[1:], strict=False):
        if a["level"] != c["level"]:
            changes += 1
            # A change is justified only by the reading that caused it: red from 800, green below 700.
            flickers += not (
                (c["level"] == "red" and c["co2"] >= 800) or (c["level"] == "green" and c["co2"] < 700)
            )

    # Crossings of the room's CO2 through the hysteresis band (up to 800, down below 700), sampled every 30 s: the
    # true CO2's, and the ones the sensor could see, the band's edges widened by its noise (the true CO2 within
    # `noise` ppm of a threshold can read over it: the light then changes, rightly for its reading).
    def crossings(widen):
        n, state = 0, None
        t = ws[0]["t"]
        while t < ws[-1]["t"]:
            c = w.value("co2_ppm", int(t * 1e6))
            if state != "red" and c >= 800 - widen:
                n += state is not None
                state = "red"
            elif state != "green" and c < 700 + widen:
                n += state is not None
                state = "green"
            t += 30
        return n

    return changes, crossings(0), crossings(noise), noise, flickers


def school_week_boards():
    """One row per board: ClassAir's `school-week` with the network, in-process (no port rule needs a process of
    its own per boot: pins, RTC memory, ticks and the watchdog live in the supervisor)."""
    rows = []
    for board_id in BOARDS:
        t0 = time.perf_counter()
        w = school_week.run(board_id, hours=7 * 24, start=START, heap_kb=WEEK_HEAP_KB)
        wall = time.perf_counter() - t0
        p = w.problems()
        rows.append(
            (
                f"ClassAir school week on {board_id}, its port's real behaviour ({WEEK_HEAP_KB} KB heap)",
                w.summary() + f", {wall:.1f} s" + (f" ({p[0]}{' ...' if len(p) > 1 else ''})" if p else ""),
                "light on for every active hour CO2 is over the threshold, no watchdog reset, every wake counted as one",
                w.ok and w.red_hours > 0,
            )
        )
    return rows


def run():
    days = [school_day() for _ in range(5)]
    wall = Spread(tuple(sorted(d[0] for d in days)))
    problems = [p for d in days for p in d[1]]
    periodic = [n for d in days for n in d[2]]
    rows = [
        (
            "one school day: 97 wakes, join, every uplink verified and decoded",
            wall.fmt() + (f" ({problems[0]}{' ...' if len(problems) > 1 else ''})" if problems else ""),
            "<= 2 s",
            wall.max <= 2.0 and not problems,
        ),
        (
            "ClassAir periodic uplink",
            f"{max(periodic)} B" if periodic else "none decoded",
            "<= 10 B",
            bool(periodic) and max(periodic) <= 10,
        ),
    ]
    # "process" boots as a board does (a fresh interpreter each boot) and is the figure; "inprocess" keeps every
    # name earlier boots interned, which no board does, and is shown for what the fast test mode needs.
    for mode, goal in (("process", 64), ("inprocess", None)):
        kb = min_heap_kb(mode)
        rows.append(
            (
                f"heap, whole ClassAir node with LoRaWAN ({mode})",
                f"{kb} KB" if kb else "> 128 KB",
                f"<= {goal} KB" if goal else "(no goal: names kept across boots)",
                kb is not None and (goal is None or kb <= goal),
            )
        )
    changes, true_x, seen_x, noise, flickers = flicker_week()
    rows.append(
        (
            "light changes per threshold crossing, school-week: crossings of the true CO2 / of the true CO2 "
            f"within the sensor's +-{noise:g} ppm noise of a threshold; a flicker is a change its reading "
            "does not justify",
            f"{changes} for {true_x} / {seen_x}, {flickers} flickers",
            "<= 1 per crossing within the noise, 0 flickers",
            changes <= seen_x and flickers == 0,
        )
    )
    rows += school_week_boards()
    return rows
