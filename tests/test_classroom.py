"""ClassAir's classroom world (hil/worlds/classair.py): mass balance, timetable in Paris time, determinism,
scenarios."""

from __future__ import annotations

from datetime import datetime

from hil.worlds import make_world, scenario_names
from hil.worlds.classair import CO2_OUT_PPM, DAY_S, PARIS, SCENARIOS, STEP_S

MONDAY = int(datetime(2026, 9, 7, tzinfo=PARIS).timestamp() * 1e6)


def at(world, day, h, m=0, q="co2_ppm"):
    t = datetime(2026, 9, 7 + day, h, m, tzinfo=PARIS).timestamp()
    return world.value(q, int(t * 1e6))


def test_scenarios_are_registered():
    assert set(SCENARIOS) == {"school-day", "school-week", "stuffy-room", "sensor-fault"}
    assert set(SCENARIOS) <= set(scenario_names())


def test_lessons_fill_the_room_and_breaks_air_it():
    w = make_world("school-week", start_us=MONDAY, seed=0)
    assert abs(at(w, 0, 7) - CO2_OUT_PPM) < 20  # empty all night
    assert at(w, 0, 9, 45) > 1500  # children breathing since 8:30, windows shut
    assert at(w, 0, 10, 14) < at(w, 0, 10, 0) - 1000  # windows open at break
    assert at(w, 0, 13, 15) < 500  # aired at lunch
    assert at(w, 2, 15) < 450 and at(w, 2, 15, q="occupants") == 0  # Wednesday afternoon: no class
    assert at(w, 5, 11) < 430 and at(w, 6, 15, q="occupants") == 0  # weekend
    # Heat and moisture of 25 people show too.
    assert at(w, 0, 11, 25, q="temp_c") > at(w, 0, 8, 25, q="temp_c") + 1
    assert 30 < at(w, 0, 11, q="rh_pct") < 95


def test_mass_balance_rise_rate_matches_the_occupants():
    w = make_world("stuffy-room", start_us=MONDAY, seed=0)
    n = at(w, 0, 9, q="occupants")
    # Right after the lesson starts: dC/dt ~ G / V (leakage small over 5 minutes).
    rise = (at(w, 0, 8, 35) - at(w, 0, 8, 30)) / 300
    g = ((n - 1) * 0.005 + 0.008) * 1e-3 / 180 * 1e6
    assert 0.8 * g < rise < 1.05 * g


def test_stuffy_room_is_never_aired():
    w = make_world("stuffy-room", start_us=MONDAY, seed=0)
    assert at(w, 0, 10, 14) > 2000
    assert max(at(w, 0, h, m, q="ach") for h in range(8, 17) for m in (5, 35)) < 1.0


def test_deterministic_per_seed_and_cheap():
    a = make_world("school-week", start_us=MONDAY, seed=3)
    b = make_world("school-week", start_us=MONDAY, seed=3)
    c = make_world("school-week", start_us=MONDAY, seed=4)
    pts = [(d, h) for d in range(5) for h in (9, 11, 14, 16)]
    assert [at(a, d, h) for d, h in pts] == [at(b, d, h) for d, h in pts]
    assert [at(a, d, h) for d, h in pts] != [at(c, d, h) for d, h in pts]
    # Cheap: the balance is integrated once per day queried, in one chunk; a lookup integrates nothing.
    fresh = make_world("school-week", start_us=MONDAY, seed=3)
    chunks = []
    integrate = fresh._integrate
    fresh._integrate = lambda steps: (chunks.append(steps), integrate(steps))
    for i in range(10000):  # a week, minute by minute
        fresh.value("co2_ppm", MONDAY + i * 60_000_000)
    assert chunks == [DAY_S // STEP_S] * 7


def test_sensor_fault_schedule():
    w = make_world("sensor-fault", start_us=MONDAY, seed=0)

    def f(h, m):
        return w.device_fault("co2", "scd4x", int(datetime(2026, 9, 7, h, m, tzinfo=PARIS).timestamp() * 1e6))

    assert f(10, 39) is None and f(10, 40) == "absent" and f(14, 9) == "absent" and f(14, 10) is None
    assert (
        make_world("school-day", start_us=MONDAY).device_fault("co2", "scd4x", MONDAY + 11 * 3600_000_000)
        is None
    )
