"""ClassAir's school week on one emulated board, read from the event log: the three properties of issue #22's figure.

"The light on for every active hour that CO2 is above the threshold, no watchdog reset, every wake counted as one."
Precisely (the defaults of firmware/apps/classair/settings.py: red from 800 ppm, active 07:00-18:00 Monday to
Friday in Paris time, a wake every 15 minutes then, every hour otherwise):

- a *red hour* is an active hour with a wake whose reading, or the room's CO2 at that moment
  (``world.value("co2_ppm", t)``), is >= red_ppm. It is *dark* if the red LED is off at any moment from such a
  reading to the next wake's boot (the light must hold through the sleep, on every port), or if the red LED is lit
  at no moment of the hour at all;
- *watchdog resets*: the emulator's watchdog events, a halt (an RP2040 locked by its watchdog in light sleep), and
  boots the node itself reports as cause=3;
- *wakes*: the node's own boot lines ("citynode boot ... cause=N"; a wake's later halves log "citynode resume"),
  against the schedule's slots from the start to the end of the run. Each must fall on its own slot, and say cause=4
  (timer wake) except the very first (power-on, 1). A wake that is counted twice, or as a watchdog reset, fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
BOOT = re.compile(r"citynode boot .* cause=(\d+)")
READING = re.compile(r"classair: co2=(\S+) ")
SLOT_TOLERANCE_S = 60  # a wake falls on its slot to within this (boot time, awake time the runtime takes off)


@dataclass
class Week:
    red_hours: int = 0
    dark_hours: list = field(default_factory=list)  # (local "Mon 09:00", why)
    watchdog: list = field(default_factory=list)  # (t, what)
    wakes: int = 0
    expected: int = 0
    bad_wakes: list = field(default_factory=list)  # (t, why)

    @property
    def ok(self) -> bool:
        return (
            not self.dark_hours and not self.watchdog and not self.bad_wakes and self.wakes == self.expected
        )

    def summary(self) -> str:
        return (
            f"light on through {self.red_hours - len(self.dark_hours)}/{self.red_hours} red hours, "
            f"{len(self.watchdog)} watchdog resets, {self.wakes} wakes (expected {self.expected})"
        )

    def problems(self) -> list[str]:
        out = [f"dark in red hour {h}: {why}" for h, why in self.dark_hours]
        out += [f"watchdog at {_local(t):%a %H:%M:%S}: {what}" for t, what in self.watchdog]
        out += [f"wake at {_local(t):%a %H:%M:%S}: {why}" for t, why in self.bad_wakes]
        if self.wakes != self.expected:
            out.append(f"{self.wakes} wakes, expected {self.expected}")
        return out


def _local(t: float) -> datetime:
    return datetime.fromtimestamp(t, PARIS)


def _active(local: datetime, start_h=7, end_h=18, days=31) -> bool:
    return bool(days >> local.weekday() & 1) and start_h <= local.hour < end_h


def slots(t0: float, t1: float, interval_s=900, idle_s=3600) -> list[int]:
    """The schedule's wake times in [t0, t1): the first boot, every quarter hour in active hours, every hour
    otherwise (firmware/apps/classair/schedule.py next_wake: the hour grid in local time; Paris is whole hours
    off UTC)."""
    out = [int(t0)]
    t = int(t0) - int(t0) % interval_s + interval_s
    while t < t1:
        if t % idle_s == 0 or _active(_local(t)):
            out.append(t)
        t += interval_s
    return out


def check(board, t0: float, t1: float, red_ppm=800) -> Week:
    """The properties over the run of `board` from t0 to t1 (unix seconds)."""
    ev = board.events
    w = Week()
    # Wakes: the node's boot lines against the schedule.
    boots = [(e["t"], int(m.group(1))) for e in ev if e["type"] == "log" and (m := BOOT.search(e["line"]))]
    # The run stops once the board's time reaches t1: a wake due at t1 that starts a moment early (a light sleep's
    # slices end to within a second) is in the run, one that starts on time is not.
    want = slots(t0, t1 + SLOT_TOLERANCE_S)
    if want[-1] >= t1 and not (boots and abs(boots[-1][0] - want[-1]) <= SLOT_TOLERANCE_S):
        want.pop()
    w.wakes, w.expected = len(boots), len(want)
    taken = set()
    for i, (t, cause) in enumerate(boots):
        slot = min(want, key=lambda s: abs(s - t))
        if abs(slot - t) > SLOT_TOLERANCE_S:
            w.bad_wakes.append((t, f"on no slot of the schedule (nearest {_local(slot):%H:%M})"))
        elif slot in taken:
            w.bad_wakes.append((t, f"counted twice: slot {_local(slot):%a %H:%M} already had its wake"))
        taken.add(slot)
        if cause != (1 if i == 0 else 4):
            w.bad_wakes.append((t, f"cause={cause}, not {1 if i == 0 else 4}"))
    # Watchdog resets.
    for e in ev:
        if e["type"] in ("watchdog", "halt"):
            w.watchdog.append((e["t"], e.get("detail") or e.get("reason", "")))
    w.watchdog += [(t, "the node reports cause=3") for t, c in boots if c == 3]
    # Red hours.
    lit_at = []  # (t, red lit from then on)
    for e in ev:
        if e["type"] == "led" and e["name"] == "red":
            lit_at.append((e["t"], e["on"]))
    readings = [
        (e["t"], None if m.group(1) == "None" else int(m.group(1)))
        for e in ev
        if e["type"] == "log" and (m := READING.search(e["line"]))
    ]
    boot_ts = [t for t, _ in boots] + [t1]

    def red_at(t):
        on = False
        for te, v in lit_at:
            if te > t:
                break
            on = v
        return on

    hours: dict = {}
    for t, co2 in readings:
        loc = _local(t)
        if not _active(loc):
            continue
        room = board.world.value("co2_ppm", int(t * 1e6))
        if (co2 is None or co2 < red_ppm) and room < red_ppm:
            continue
        key = loc.strftime("%a %H:00")
        hours.setdefault(key, [loc.replace(minute=0, second=0, microsecond=0).timestamp(), None])
        if co2 is None or co2 < red_ppm:
            continue  # the room over, the reading under: the hour needs the light lit at some moment only
        end = next(b for b in boot_ts if b > t)
        if not red_at(t):
            hours[key][1] = f"reading {co2} ppm at {loc:%H:%M:%S}, red LED off"
        else:
            off = [te for te, v in lit_at if t < te < end and not v]
            if off:
                hours[key][1] = f"reading {co2} ppm at {loc:%H:%M}, red LED off at {_local(off[0]):%H:%M:%S}"
    for key, (h0, why) in hours.items():
        if why is None and not (red_at(h0) or any(h0 <= te < h0 + 3600 and v for te, v in lit_at)):
            why = "the room over the threshold, the red LED lit at no moment of the hour"
        if why:
            w.dark_hours.append((key, why))
    w.red_hours = len(hours)
    return w


def run(
    board_id: str,
    hours: float = 7 * 24,
    start="2026-09-07T00:00:00+02:00",
    heap_kb=192,
    mode="inprocess",
    **kw,
):
    """ClassAir's `school-week` on `board_id` with the network attached, `hours` long from `start`: a Week."""
    import tempfile

    from hil.emulator import EmulatedBoard
    from hil.network import attach_network

    with tempfile.TemporaryDirectory() as d:
        b = EmulatedBoard(
            board_id,
            app="classair",
            start=start,
            flash_dir=d,
            world="school-week",
            heap_kb=heap_kb,
            mode=mode,
            **kw,
        )
        try:
            attach_network(b)
            t0 = b.t_us / 1e6
            b.run(hours=hours)
            return check(b, t0, t0 + hours * 3600)
        finally:
            b.close()
