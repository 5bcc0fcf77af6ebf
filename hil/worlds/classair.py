"""ClassAir's world, a French primary-school classroom: CO2, temperature and humidity from a mass balance over
a school timetable.

The room (volume `volume_m3`, default 180 m3) exchanges air with outdoors at `ach` air changes per hour: a leaky
closed room about 0.5-1 /h, open windows 8-12 /h. Occupants breathe out CO2 (children about 0.005 L/s each, the
teacher 0.008 L/s), heat (70 W, 100 W) and water vapour (40 g/h, 60 g/h). Per step of `STEP_S` seconds:

    dC/dt = G / V - ach / 3600 * (C - C_out)          CO2 in ppm, G in ppm.m3/s, C_out about 420 ppm
    dW/dt = g / V - ach / 3600 * (W - W_out)          water vapour in g/m3; RH = W / saturation(T)
    dT/dt = (occupants' heat + heating - (UA + ach * V * rho c / 3600) (T - T_out)) / thermal mass

The timetable is in Europe/Paris local time (DST included, through zoneinfo): lessons 8:30-11:30 and
13:30-16:30 with breaks 10:00-10:15 and 15:00-15:15 (room empty, windows open), lunch 11:30-13:30 (empty,
aired for its first half hour), airing after school; Wednesday afternoon, Saturday and Sunday empty. A seed
varies the class size, the room's leakiness, how wide the windows open and whether a break's airing is
forgotten, deterministically. The state is integrated once, in day-long chunks, and cached: a query is a
lookup and a linear interpolation.

Scenarios: ``school-day`` and ``school-week`` (the timetable; runs default to one day / one week),
``stuffy-room`` (never aired), ``sensor-fault`` (a school day during which the CO2 sensor is unplugged from 10:40
to 14:10 local time, through the device-fault mechanism: see ``device_fault``). ``citynode emulate --app
classair`` runs a school day from local midnight.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from hil.worlds import World

STEP_S = 30
DAY_S = 86400
PARIS = ZoneInfo("Europe/Paris")
CO2_OUT_PPM = 420.0
CHILD_CO2_LS, ADULT_CO2_LS = 0.005, 0.008
CHILD_W, ADULT_W = 70.0, 100.0
CHILD_GH, ADULT_GH = 25.0, 50.0
RHO_C = 1200.0  # J/(m3.K) of air
MOISTURE_BUFFER = 4.0


def saturation_g_m3(t_c: float) -> float:
    e_hpa = 6.112 * math.exp(17.62 * t_c / (243.12 + t_c))
    return 216.7 * e_hpa / (t_c + 273.15)


def _hm(h: int, m: int = 0) -> int:
    return h * 60 + m


# (start, end, kind) in local minutes; kind "class" = occupied and closed, "air" = empty with windows open.
WEEKDAY = [
    (_hm(8, 20), _hm(8, 30), "arrive"),
    (_hm(8, 30), _hm(10), "class"),
    (_hm(10), _hm(10, 15), "air"),
    (_hm(10, 15), _hm(11, 30), "class"),
    (_hm(11, 30), _hm(12), "air"),
    (_hm(13, 20), _hm(13, 30), "arrive"),
    (_hm(13, 30), _hm(15), "class"),
    (_hm(15), _hm(15, 15), "air"),
    (_hm(15, 15), _hm(16, 30), "class"),
    (_hm(16, 30), _hm(16, 45), "air"),
]
WEDNESDAY = [p for p in WEEKDAY if p[1] <= _hm(12)]


class Classroom(World):
    name = "school-day"
    aired = True
    unplug: tuple[tuple[int, int], tuple[int, int]] | None = None

    def __init__(self, start_us: int = 0, seed: int = 0, **options):
        super().__init__(start_us, seed, **options)
        self.volume = float(options.get("volume_m3", 180.0))
        self.t0 = start_us // 1_000_000
        self._c: list[float] = []
        self._t: list[float] = []
        self._rh: list[float] = []
        self._occ: list[int] = []
        self._ach: list[float] = []
        self._days: dict = {}
        self._hours: dict = {}
        self._state = None

    # ------------------------------------------------------------------ inputs

    def _day_plan(self, date) -> dict:
        """What happens in the room that local day: seeded per date, so any start gives the same day."""
        plan = self._days.get(date)
        if plan is None:
            rng = random.Random(f"{self.seed}:{date.isoformat()}")
            wd = date.weekday()
            periods = [] if wd >= 5 else (WEDNESDAY if wd == 2 else WEEKDAY)
            forgotten = {i for i, p in enumerate(periods) if p[2] == "air" and rng.random() < 0.1}
            plan = {
                "periods": periods,
                "forgotten": forgotten,
                "children": rng.randint(22, 28),
                "ach_closed": rng.uniform(0.5, 0.9),
                "ach_open": rng.uniform(8.0, 12.0),
            }
            self._days[date] = plan
        return plan

    def _inputs(self, t: int):
        """(children, adults, air changes per hour, heating setpoint C, outdoor T C) at unix time t."""
        # Local time changes offset only on whole UTC hours: convert once per hour, then count minutes.
        hour = t - t % 3600
        local = self._hours.get(hour)
        if local is None:
            local = self._hours[hour] = datetime.fromtimestamp(hour, PARIS)
        plan = self._day_plan(local.date())
        minute = local.hour * 60 + local.minute + (t - hour) // 60
        children = adults = 0
        ach = plan["ach_closed"]
        for i, (a, b, kind) in enumerate(plan["periods"]):
            if a <= minute < b:
                if kind == "class":
                    children, adults = plan["children"], 1
                elif kind == "arrive":
                    children, adults = plan["children"] // 2, 1
                elif kind == "air" and self.aired and i not in plan["forgotten"]:
                    ach = plan["ach_open"]
                break
        doy = local.timetuple().tm_yday
        hour = minute / 60
        t_out = (
            12.5
            - 8.0 * math.cos(2 * math.pi * (doy - 20) / 365)
            + 4.5 * math.cos(2 * math.pi * (hour - 15) / 24)
        )
        school_hours = local.weekday() < 5 and 7 * 60 <= minute < 17 * 60
        setpoint = 20.0 if school_hours else 16.0
        return children, adults, ach, setpoint, t_out

    # ------------------------------------------------------------------ integration

    def _extend(self, upto_s: int):
        while self.t0 + (len(self._c) - 1) * STEP_S < upto_s:
            self._integrate(DAY_S // STEP_S)

    def _integrate(self, steps: int):
        v = self.volume
        if self._state is None:
            _, _, _, _, t_out = self._inputs(self.t0)
            c, temp = CO2_OUT_PPM + 15.0, 19.0
            w = 0.75 * saturation_g_m3(t_out) + 1.0
            self._state = (c, temp, w)
            self._append(self.t0, c, temp, w)
        c, temp, w = self._state
        mass = 8.0e6  # J/K: air, furniture and the inner surface of the walls
        ua = 250.0  # W/K through the envelope
        n = len(self._c) - 1
        for k in range(1, steps + 1):
            t = self.t0 + (n + k) * STEP_S
            children, adults, ach, setpoint, t_out = self._inputs(t - STEP_S // 2)
            flow = ach / 3600.0  # per second
            gen = (children * CHILD_CO2_LS + adults * ADULT_CO2_LS) * 1e-3 / v * 1e6  # ppm/s
            # Exact step of the linear balance: stable for any air-change rate.
            decay = math.exp(-flow * STEP_S)
            c_eq = CO2_OUT_PPM + gen / flow
            c = c_eq + (c - c_eq) * decay
            w_out = 0.75 * saturation_g_m3(t_out)
            # Walls and furniture take up and give back moisture: the vapour balance acts on a larger volume.
            w_eq = w_out + (children * CHILD_GH + adults * ADULT_GH) / 3600.0 / v / flow
            w = w_eq + (w - w_eq) * math.exp(-flow * STEP_S / MOISTURE_BUFFER)
            heating = min(6000.0, 2000.0 * (setpoint - temp)) if temp < setpoint and t_out < 16.0 else 0.0
            gains = children * CHILD_W + adults * ADULT_W + heating
            loss_k = ua + ach * v * RHO_C / 3600.0
            temp += (gains - loss_k * (temp - t_out)) * STEP_S / mass
            self._append(t, c, temp, w)
        self._state = (c, temp, w)

    def _append(self, t, c, temp, w):
        children, adults, ach, _, _ = self._inputs(t)
        self._c.append(c)
        self._t.append(temp)
        self._rh.append(max(0.0, min(100.0, 100.0 * w / saturation_g_m3(temp))))
        self._occ.append(children + adults)
        self._ach.append(ach)

    def _lookup(self, series: str, t_us: int) -> float:
        s = max(0.0, t_us / 1e6 - self.t0)
        self._extend(int(self.t0 + s) + STEP_S)
        arr = getattr(self, series)
        i = int(s // STEP_S)
        f = (s - i * STEP_S) / STEP_S
        return arr[i] + (arr[i + 1] - arr[i]) * f

    def sample(self, quantity: str, t_us: int):
        if quantity == "co2_ppm":
            return self._lookup("_c", t_us)
        if quantity == "temp_c":
            return self._lookup("_t", t_us)
        if quantity == "rh_pct":
            return self._lookup("_rh", t_us)
        if quantity in ("occupants", "ach"):
            self._lookup("_c", t_us)
            arr = self._occ if quantity == "occupants" else self._ach
            return arr[int(max(0, t_us / 1e6 - self.t0) // STEP_S)]
        return super().sample(quantity, t_us)

    # ------------------------------------------------------------------ faults

    def device_fault(self, name: str, chip: str, t_us: int):
        """A fault the scenario puts on a device at t_us (the board applies it like a test's set_fault)."""
        if self.unplug is None or chip not in ("scd4x", "senseair_s8"):
            return None
        local = datetime.fromtimestamp(t_us / 1e6, PARIS)
        first = datetime.fromtimestamp(self.t0, PARIS).date()
        if local.date() != first:
            return None
        minute = local.hour * 60 + local.minute
        (h0, m0), (h1, m1) = self.unplug
        return "absent" if _hm(h0, m0) <= minute < _hm(h1, m1) else None


class SchoolWeek(Classroom):
    name = "school-week"
    default_hours = 24.0 * 7


class StuffyRoom(Classroom):
    name = "stuffy-room"
    aired = False


class SensorFault(Classroom):
    name = "sensor-fault"
    unplug = ((10, 40), (14, 10))


def local_time(t_s: float) -> datetime:
    return datetime.fromtimestamp(t_s, timezone.utc).astimezone(PARIS)


SCENARIOS = {
    "school-day": Classroom,
    "school-week": SchoolWeek,
    "stuffy-room": StuffyRoom,
    "sensor-fault": SensorFault,
}
DEFAULT_SCENARIO = "school-day"
# A Monday in term time, local midnight in Paris (summer time): a day's plot reads from 00:00 to 24:00.
DEFAULT_START = "2026-09-07T00:00:00+02:00"
DEFAULT_HOURS = 24.0
