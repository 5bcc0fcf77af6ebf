"""ClassAir end to end on the emulated network: what reaches the server, decoded; configuration by downlink
through deep sleep and power cuts; the schedule once the network has given the time; the heap."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from citynode.views import decode_uplink
from citynode.views.classair import _fields
from kit import classair_wakes as wakes
from kit import uplink_frames

from fleet import payloads
from hil.devices import by_name
from hil.network import DEMO_DEV_EUI, attach_network

PARIS = ZoneInfo("Europe/Paris")
START = "2026-09-07T00:00:00+02:00"  # Monday, local midnight
IN_CLASS = "2026-09-07T09:00:00+02:00"


def net_board(make_board, **kw):
    kw.setdefault("start", START)
    b = make_board(app="classair", **kw)
    radio = attach_network(b)
    return b, radio


def uplinks(b):
    return [dict(e, fields=_fields(decode_uplink(e["fport"], e["payload"]))) for e in uplink_frames(b)]


def encode_downlink(rules=True, **settings) -> bytes:
    """The configuration downlink as the toolkit builds it (fleet's codec, ranges and rules checked; rules=False
    sends one the toolkit would refuse, as a network server's console could)."""
    port, data = payloads.encode_downlink("classair", settings, rules=rules)
    assert port == 15
    return data


def test_a_school_day_on_the_air(make_board):
    b, _ = net_board(make_board, world="school-day")
    b.run(hours=24)
    ws, ups = wakes(b), uplinks(b)
    assert ws and not b.halted
    periodic = [u for u in ups if u["fport"] == 10]
    events = [u for u in ups if u["fport"] == 11]
    status = [u for u in ups if u["fport"] == 12]
    assert periodic and max(len(u["payload"]) // 2 for u in periodic) <= 10
    # Every wake's reading reaches the server, decoded to the value the node measured.
    for u in periodic + events:
        w = min(ws, key=lambda w: abs(w["t"] - u["t"]))
        assert u["fields"]["co2_ppm"] == w["co2"]
    # An event at each turn to red and each return to green, and only then.
    turns = [c for a, c in zip(ws, ws[1:], strict=False) if a["level"] != c["level"]]
    assert len(events) == len(turns) >= 4
    assert [e["fields"]["led"] for e in events] == [c["level"] for c in turns]
    assert len(status) == 1  # once a day (the wake after the join)


def test_threshold_set_by_downlink_survives_deep_sleep_and_power_cuts(make_board):
    b, radio = net_board(make_board, start=IN_CLASS)
    co2 = {"v": 900.0}
    b.world.set("co2_ppm", lambda t: co2["v"])
    by_name(b, "co2").noise_ppm = 0
    b.run(wakes=2)
    assert wakes(b)[-1]["led"] == "red"
    radio.server.enqueue(DEMO_DEV_EUI, 15, encode_downlink(red_ppm=1100))
    b.run(wakes=2)  # the downlink arrives after the next uplink; the wake after that uses it
    assert wakes(b)[-1]["led"] == "green"  # 900 < 1100 - 100
    b.power_cut()
    b.run(wakes=1)
    assert wakes(b)[-1]["led"] == "green"
    co2["v"] = 1150.0
    b.run(wakes=1)
    assert wakes(b)[-1]["led"] == "red"
    assert "red_ppm" not in b.config()  # kept by the node's store, not by rewriting config.json


def test_inconsistent_downlink_changes_nothing(make_board):
    b, radio = net_board(make_board, start=IN_CLASS)
    b.world.set("co2_ppm", 850.0)
    b.run(wakes=1)
    radio.server.enqueue(DEMO_DEV_EUI, 15, encode_downlink(rules=False, red_ppm=600, orange_ppm=700))
    b.run(wakes=2)
    refused = "downlink refused: orange_ppm must be below red_ppm (or 0) (orange_ppm=700, red_ppm=600)"
    assert any(e["line"].endswith(refused) for e in b.events if e["type"] == "log")
    assert wakes(b)[-1]["led"] == "red"


def test_a_night_with_no_measurements(make_board):
    b, _ = net_board(make_board, world="school-week", config={"idle_interval_s": 0})
    held = {}  # the light through each sleep, by the time the sleep began

    def record(board):
        held[board.log.of("sleep")[-1]["t"]] = dict(board.led_states())
        return False

    b.run(hours=48, stop=record)
    local = [datetime.fromtimestamp(w["t"], PARIS) for w in wakes(b)]
    night = [d for d in local if d.day == 7 and d.hour >= 18 or d.day == 8 and d.hour < 7]
    assert night == []  # from 18:00 to 07:00: asleep
    assert any(d.day == 8 and d.hour == 7 and d.minute == 0 for d in local)  # back at 7:00 sharp
    # The light goes off for the night.
    evening = [v for t, v in held.items() if datetime.fromtimestamp(t, PARIS).hour >= 18]
    assert evening and not any(v["red"] or v["green"] for v in evening)


def test_sensor_fault_is_flagged_in_the_uplink_and_the_link_stays_up(make_board):
    b, _ = net_board(make_board, world="sensor-fault")
    b.run(hours=24)
    ups = [u for u in uplinks(b) if u["fport"] == 10]
    faulty = [u for u in ups if "sensor_fault" in u["fields"]["flags"]]
    assert faulty and all(u["fields"].get("co2_ppm") is None for u in faulty)
    for u in faulty:
        lt = datetime.fromtimestamp(u["t"], PARIS)
        assert (10, 40) <= (lt.hour, lt.minute) < (14, 10)
    assert ups[-1]["fields"]["flags"] == [] and ups[-1]["fields"]["co2_ppm"]


def _school_morning_in(make_board, heap_kb, mode):
    b, _ = net_board(make_board, world="school-day", heap_kb=heap_kb, mode=mode)
    b.run(hours=10)
    bad = [e["line"] for e in b.events if e["type"] == "log" and "memory allocation failed" in e["line"]]
    assert not b.halted and not bad
    assert len([u for u in uplinks(b) if u["fields"]]) >= 18


def test_commands_by_downlink_status_reboot_and_rejoin(make_board):
    b, radio = net_board(make_board, start=IN_CLASS)
    b.world.set("co2_ppm", 600.0)
    b.run(wakes=3)  # join (the status goes on the next wake), then periodic uplinks

    def frames(kind):
        return [
            e for e in b.events if e["type"] == "lora_frame" and e.get("frame") == kind and e.get("mic_ok")
        ]

    def boots():
        return [e["line"] for e in b.events if e["type"] == "log" and "citynode boot" in e["line"]]

    status = len([u for u in uplinks(b) if u["fport"] == 12])
    radio.server.enqueue(DEMO_DEV_EUI, 15, encode_downlink(command="status"))
    b.run(wakes=2)  # heard after the next uplink; the status goes on the wake after
    assert len([u for u in uplinks(b) if u["fport"] == 12]) == status + 1

    n = len(boots())
    radio.server.enqueue(DEMO_DEV_EUI, 15, encode_downlink(command="reboot"))
    b.run(wakes=2)
    assert any("cause=2" in ln or "cause=5" in ln for ln in boots()[n:])  # a reset, not a timer wake

    joins = len(frames("join_request"))
    radio.server.enqueue(DEMO_DEV_EUI, 15, encode_downlink(command="rejoin"))
    b.run(wakes=3)
    assert len(frames("join_request")) == joins + 1
    assert any("link lost (the network asked)" in e["line"] for e in b.events if e["type"] == "log")
    last = uplinks(b)[-1]
    assert last["fport"] in (10, 12) and not b.halted  # the new session carries the readings on


def test_whole_node_within_64_kb_heap(make_board):
    # The figure, in the mode that boots as a board does (a fresh interpreter per boot): bench/classair.py
    # measures 62 KB.
    _school_morning_in(make_board, 64, "process")


def test_whole_node_in_process_within_72_kb_heap(make_board):
    # One interpreter for every boot keeps every name any earlier boot interned (a board's reset frees them),
    # so this mode needs a 640-entry name pool a board never allocates: 68 KB today, held here with 4 KB to spare.
    _school_morning_in(make_board, 72, "inprocess")


def test_calibration_by_downlink(make_board):
    b, radio = net_board(make_board, start=IN_CLASS)
    sensor = by_name(b, "co2")
    sensor.noise_ppm = 0
    sensor.offset_ppm = 100.0  # reads 100 ppm high
    b.world.set("co2_ppm", 420.0)  # the room aired, at the outdoor level
    b.run(wakes=1)
    assert wakes(b)[-1]["co2"] == 520
    radio.server.enqueue(DEMO_DEV_EUI, 15, encode_downlink(frc_ppm=420, asc=False))
    b.run(wakes=3)
    assert wakes(b)[-1]["co2"] == 420
    assert any(
        "recalibrated to 420 ppm, correction -100" in e["line"] for e in b.events if e["type"] == "log"
    )
    assert sensor.settings["asc"] == 0 and sensor.eeprom["asc"] == 0  # applied and persisted in the sensor


def test_without_pin_hold_the_light_stays_on_through_a_light_sleep_the_watchdog_never_bites(make_board):
    # The Pico has no pin hold: while a light is on the node sleeps light, waking to feed its 60 s watchdog, and
    # starts each wake in a fresh interpreter as after deep sleep (a timer wake, exact counters); once active
    # hours end and the light is off, it deep-sleeps again.
    b, _ = net_board(make_board, board="rpi-pico-sx1262-hat", start="2026-09-07T15:00:00+02:00", heap_kb=192)
    b.world.set("co2_ppm", 1200.0)
    r = b.run(hours=5)  # 15:00 to 20:00: active hours end at 18:00
    out = "\n".join(e["line"] for e in b.events if e["type"] == "log")
    leds = [(e["name"], e["on"]) for e in b.events if e["type"] == "led"]
    light = [e for e in b.events if e["type"] == "lightsleep"]
    deep = b.log.of("sleep")
    assert not r.halted and not b.log.of("watchdog") and r.wakes >= 14
    assert {e["timeout_ms"] for e in b.log.of("wdt_start")} == {8000}  # an RP2040 takes 8.3 s at most
    assert leds == [("red", True), ("red", False)]  # lit from the first wake to the end of active hours
    assert light and max(e["ms"] for e in light) <= 30000  # in slices the watchdog allows
    # an RP2040 never deep-sleeps with its watchdog running (micropython#17228): light sleep, lit or not
    assert not deep
    assert out.count("cause=1") == 1 and "cause=4" in out  # every wake after the first is a timer wake
    fcnts = [e["fcnt"] for e in b.events if e["type"] == "lora_frame" and e.get("frame") == "uplink"]
    assert fcnts == list(range(len(fcnts)))  # the link's counters exact through every light sleep
