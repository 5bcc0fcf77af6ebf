"""The emulated board from CPython: shims, virtual time, device models, faults, sleep, watchdog, power cuts.

Every test here runs firmware under the real MicroPython unix port through hil.emulator.
"""

import json
import threading

import pytest

from hil.devices import by_name
from hil.emulator import EmulatedBoard
from hil.testing import board_with, firmware_with, logs

SHT_WIRING = {
    "sensors": {"th": {"chip": "sht4x", "bus": "ext", "address": 0x44}},
    "leds": {"red": {"pin": 47}, "green": {"pin": 48, "active_low": True}},
}


def make(tmp_path, main_src, *, app="probe", wiring=SHT_WIRING, files=None, **kw):
    fw = firmware_with(tmp_path / "fw", {"main.py": main_src, **(files or {})})
    return EmulatedBoard(
        board_with(app=app, wiring=wiring), app, firmware_dir=fw, flash_dir=tmp_path / "flash", **kw
    )


READ_SHT = """
import machine, time
i2c = machine.I2C(1, scl=machine.Pin(42), sda=machine.Pin(41))
def crc8(d):
    c = 0xFF
    for b in d:
        c ^= b
        for _ in range(8):
            c = ((c << 1) ^ 0x31) & 0xFF if c & 0x80 else (c << 1) & 0xFF
    return c
def measure():
    i2c.writeto(0x44, b"\\xfd")
    time.sleep_ms(10)
    d = i2c.readfrom(0x44, 6)
    ok = crc8(d[0:2]) == d[2] and crc8(d[3:5]) == d[5]
    t = -45 + 175 * ((d[0] << 8) | d[1]) / 65535
    rh = -6 + 125 * ((d[3] << 8) | d[4]) / 65535
    return t, rh, ok
"""


def test_i2c_device_model_real_protocol(tmp_path):
    src = (
        READ_SHT
        + """
print("scan", i2c.scan())
t, rh, ok = measure()
print("T=%.1f RH=%.1f crc=%s" % (t, rh, ok))
i2c.writeto(0x44, b"\\xfd")
try:
    i2c.readfrom(0x44, 6)   # too early: the sensor is still measuring
    print("early read answered")
except OSError as e:
    print("early read NACK", e.args[0])
machine.deepsleep(60000)
"""
    )
    with make(tmp_path, src) as b:
        b.world.set("temp_c", 23.5)
        b.world.set("rh_pct", 61.0)
        b.run(wakes=1)
        out = logs(b)
    assert "scan [68]" in out
    assert "T=23.5 RH=61.0 crc=True" in out
    assert "early read NACK 19" in out


@pytest.mark.parametrize("fault,errno", [("absent", 19), ("nack", 19), ("stuck", 116)])
def test_bus_faults_raise_oserror(tmp_path, fault, errno):
    src = (
        READ_SHT
        + """
try:
    measure()
    print("read ok")
except OSError as e:
    print("errno", e.args[0])
machine.deepsleep(1000)
"""
    )
    with make(tmp_path, src) as b:
        by_name(b, "th").set_fault(fault)
        b.run(wakes=1)
        assert f"errno {errno}" in logs(b)


def test_garbage_fault_is_caught_by_crc(tmp_path):
    src = (
        READ_SHT
        + """
print("crc", measure()[2])
machine.deepsleep(1000)
"""
    )
    with make(tmp_path, src) as b:
        by_name(b, "th").set_fault("garbage")
        b.run(wakes=1)
        assert "crc False" in logs(b)


def test_leds_follow_polarity_and_go_dark_in_deep_sleep_unless_held(tmp_path):
    src = """
import machine
red = machine.Pin(47, machine.Pin.OUT)
green = machine.Signal(machine.Pin(48, machine.Pin.OUT), invert=True)
red.on()
green.on()
if machine.reset_cause() == machine.DEEPSLEEP_RESET:
    machine.Pin(47, machine.Pin.OUT, value=1, hold=True)
    import esp32
    esp32.gpio_deep_sleep_hold(True)  # GPIO47 is not an RTC GPIO on the ESP32-S3
machine.deepsleep(60000)
"""
    with make(tmp_path, src) as b:
        b.run(wakes=2)
    leds = [(e["name"], e["on"]) for e in b.events if e["type"] == "led"]
    # wake 1: the active-low green LED lights as soon as its pin is an output (latch 0), red when set;
    # both go dark in deep sleep; wake 2: red on and held.
    assert leds[:2] == [("green", True), ("red", True)]
    assert sorted(leds[2:4]) == [("green", False), ("red", False)]
    second_sleep = [i for i, e in enumerate(b.events) if e["type"] == "sleep"][1]
    after_second_sleep = [x for x in b.events[second_sleep:] if x["type"] == "led"]
    assert after_second_sleep == [
        {"t": b.events[second_sleep]["t"], "type": "led", "name": "green", "on": False}
    ]
    assert all(x["name"] != "red" for x in after_second_sleep), "a held pin keeps its level in deep sleep"


@pytest.mark.parametrize("mode", ["inprocess", "process"])
def test_soft_reset_restarts_the_interpreter_not_the_chip(tmp_path, mode):
    # machine.soft_reset(): a fresh interpreter (nothing the first boot loaded or interned is left), but the pins
    # keep their levels, RTC memory keeps its bytes, the tick counters run on and reset_cause() still gives the
    # chip's own cause; the emulator counts the two boots as one wake.
    src = """
import machine, sys, time
rtc = machine.RTC()
print("cause", machine.reset_cause(), "rtc", rtc.memory(), "loaded", "_soft_marker" in sys.modules)
if rtc.memory() != b"second":
    sys.modules["_soft_marker"] = sys
    machine.Pin(47, machine.Pin.OUT, value=1)
    rtc.memory(b"second")
    time.sleep_ms(2000)
    machine.soft_reset()
print("ticks since the chip's reset", time.ticks_ms() // 1000)
rtc.memory(b"")
machine.deepsleep(60000)
"""
    with make(tmp_path, src, mode=mode) as b:
        r = b.run(wakes=1)
        out = logs(b)
    assert r.boots == 1 and r.outcomes == {"soft_reset": 1, "deepsleep": 1}
    assert "cause 1 rtc b'' loaded False" in out and "cause 1 rtc b'second' loaded False" in out
    assert "ticks since the chip's reset 2" in out
    soft = [e["t"] for e in b.events if e["type"] == "soft_reset"]
    leds = [(e["name"], e["on"]) for e in b.events if e["type"] == "led"]
    # lit through the soft reset, dark asleep
    assert len(soft) == 1 and leds == [("red", True), ("red", False)]
    assert [e.get("soft_reset", False) for e in b.events if e["type"] == "boot"] == [False, True]
    assert [e["t"] for e in b.events if e["type"] == "led"][1] > soft[0]


@pytest.mark.parametrize(
    ("board_id", "longest_ms"),
    [("heltec-wifi-lora32-v3", None), ("rpi-pico-sx1262-hat", 8388), ("nucleo-wl55jc", 32767)],
)
def test_the_watchdog_takes_the_timeouts_the_chip_takes(tmp_path, board_id, longest_ms):
    src = """
import machine
for ms in (8388, 8389, 32767, 32768, 60000):
    try:
        machine.WDT(timeout=ms)
        print("wdt", ms, "ok")
    except ValueError:
        print("wdt", ms, "refused")
machine.deepsleep(1000)
"""
    fw = firmware_with(tmp_path / "fw", {"main.py": src})
    with EmulatedBoard(board_id, firmware_dir=fw, flash_dir=tmp_path / "flash") as b:
        b.run(wakes=1)
        out = [ln for ln in logs(b) if ln.startswith("wdt")]
    # every timeout answered, in order: a firmware that halted prints nothing, and that is no pass
    assert out == [
        f"wdt {ms} " + ("ok" if longest_ms is None or ms <= longest_ms else "refused")
        for ms in (8388, 8389, 32767, 32768, 60000)
    ]


def test_virtual_time_sleep_ticks_and_rtc(tmp_path):
    src = """
import machine, time
t0 = time.ticks_ms()
time.sleep(3600)
print("slept", time.ticks_diff(time.ticks_ms(), t0) // 1000)
print("wrap", time.ticks_diff(time.ticks_add(0x3FFFFFF0, 0x20), 0x3FFFFFF0), time.ticks_add(0x3FFFFFF0, 0x20))
rtc = machine.RTC()
if machine.reset_cause() != machine.DEEPSLEEP_RESET:
    print("year", time.gmtime()[0])
    rtc.datetime((2026, 9, 7, 0, 8, 0, 0, 0))
else:
    print("now", time.gmtime()[:5])
machine.deepsleep(1800000)
"""
    with make(tmp_path, src) as b:
        b.run(wakes=2)  # an hour and a half of virtual time; how long in wall time: bench/runtime.py
        out = logs(b)
    assert out.count("slept 3600") == 2
    assert "wrap 32 16" in out, "ticks wrap at 2**30 as on a board"
    assert "year 1970" in out, "an RTC nobody set reads the epoch"
    assert "now (2026, 9, 7, 9, 30)" in out, "the RTC keeps time through deep sleep: 8:00 + 1 h + 30 min"


def test_rtc_memory_survives_deep_sleep_not_power_cut_and_has_the_board_size(tmp_path):
    src = """
import machine
rtc = machine.RTC()
print("mem", bytes(rtc.memory()))
rtc.memory(b"kept")
try:
    rtc.memory(bytes(4096))
except ValueError:
    print("too big")
machine.deepsleep(1000)
"""
    with make(tmp_path, src) as b:
        b.run(wakes=2)
        b.power_cut()
        b.run(wakes=1)
        assert [ln for ln in logs(b) if ln.startswith("mem")] == ["mem b''", "mem b'kept'", "mem b''"]
        assert "too big" in logs(b)


def test_watchdog_bites_when_not_fed_and_reset_cause_says_so(tmp_path):
    src = """
import machine, time
print("cause", machine.reset_cause())
if machine.reset_cause() == machine.WDT_RESET:
    machine.deepsleep(1000)
wdt = machine.WDT(timeout=5000)
time.sleep(4); wdt.feed(); time.sleep(4); wdt.feed()
print("fed twice")
time.sleep(6)
print("never printed")
"""
    with make(tmp_path, src) as b:
        b.run(wakes=2)
        out = logs(b)
        assert "fed twice" in out and "never printed" not in out
        assert "cause 3" in out
        assert len(b.log.of("watchdog")) == 1


def test_uncaught_exception_without_watchdog_halts_the_node(tmp_path):
    with make(tmp_path, "x = 1 / 0\n") as b:
        r = b.run(hours=1)
        assert r.halted and "ZeroDivisionError" in r.halted
        assert b.log.of("halt")


def test_busy_loop_is_killed_by_the_wall_clock_timer(tmp_path):
    with make(tmp_path, "while True:\n    pass\n", hang_timeout_s=1.0) as b:
        r = b.run(hours=1)
        assert r.halted == "hang"


def test_asyncio_runs_on_virtual_time(tmp_path):
    src = """
import asyncio, time, machine
async def ticker(name, period, n, out):
    for _ in range(n):
        await asyncio.sleep(period)
        out.append((name, time.time()))
async def main():
    out = []
    await asyncio.gather(ticker("a", 60, 30, out), ticker("b", 90, 20, out))
    print("events", len(out), "elapsed", out[-1][1] - out[0][1] + 60)
asyncio.run(main())
machine.deepsleep(1000)
"""
    with make(tmp_path, src) as b:
        b.run(wakes=1)
        assert "events 50 elapsed 1800" in logs(b)


def test_timer_callbacks_fire_as_virtual_time_passes(tmp_path):
    src = """
import machine, time
n = 0
def tick(_):
    global n
    n += 1
t = machine.Timer(0)
t.init(mode=machine.Timer.PERIODIC, period=1000, callback=tick)
time.sleep(10)
t.deinit()
time.sleep(10)
print("fired", n)
machine.deepsleep(1000)
"""
    with make(tmp_path, src) as b:
        b.run(wakes=1)
        assert "fired 10" in logs(b)


def test_battery_adc_reads_the_world_through_the_boards_divider(tmp_path):
    src = """
import json
from node.board import Board
b = Board(json.load(open("board.json")))
print("mv", b.battery_mv())
import machine
machine.deepsleep(1000)
"""
    with make(tmp_path, src) as b:
        b.world.set("battery_mv", 3912)
        b.run(wakes=1)
        mv = int([ln for ln in logs(b) if ln.startswith("mv")][0].split()[1])
        assert abs(mv - 3912) <= 2


def test_process_and_inprocess_modes_agree(tmp_path):
    runs = {}
    for mode in ("process", "inprocess"):
        with EmulatedBoard(mode=mode, flash_dir=tmp_path / mode) as b:
            b.run(hours=6)
            runs[mode] = [(e["t"], e["type"], e.get("line")) for e in b.events]
    assert runs["process"] == runs["inprocess"]
    assert len([e for e in runs["process"] if e[1] == "sleep"]) == 24


def test_pulling_the_plug_is_a_power_cut(tmp_path):
    src = """
import machine, time
import os
print("cause", machine.reset_cause())
if "marker" not in os.listdir():
    open("marker", "w").close()
    while True:
        time.sleep_ms(1)
machine.deepsleep(1000)
"""
    with make(tmp_path, src, hang_timeout_s=30) as b:
        threading.Timer(0.5, b.kill_now).start()
        r = b.run(wakes=2)
        assert r.outcomes.get("powercut") == 1 and not r.halted
        assert logs(b).count("cause 1") == 2, "after the plug is pulled the node boots from power-on"


def test_event_log_is_jsonl(tmp_path):
    path = tmp_path / "events.jsonl"
    with EmulatedBoard(flash_dir=tmp_path / "f", event_log=path) as b:
        b.run(hours=1)
        n = len(b.events)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == n and {"boot", "log", "sleep"} <= {e["type"] for e in lines}


def test_an_interpreter_pool_serves_many_boards_each_with_its_own_flash(tmp_path):
    from hil.emulator import InterpreterPool

    with InterpreterPool() as pool:
        boards = [
            EmulatedBoard(flash_dir=tmp_path / f"b{i}", pool=pool, unique_id=bytes([i] * 6)) for i in range(6)
        ]
        for _ in range(5):
            for b in boards:
                assert b.boot_once() == "deepsleep"
        assert pool.spawned == 1, "a board in deep sleep hands its interpreter to the next"
        for b in boards:
            assert [ln.split()[-1] for ln in logs(b) if " wake " in ln] == ["0", "1", "2", "3", "4"]
            assert (b.flash / "state.0").exists()
            b.close()


def test_plug_pulled_while_the_supervisor_answers_is_still_a_power_cut(tmp_path):
    # A firmware that keeps calling into the supervisor (I2C) when the plug is pulled: the reply's write fails.
    src = (
        READ_SHT
        + """
import os
if "marker" not in os.listdir():
    open("marker", "w").close()
    while True:
        measure()
machine.deepsleep(1000)
"""
    )
    with make(tmp_path, src, hang_timeout_s=30) as b:
        threading.Timer(0.3, b.kill_now).start()
        r = b.run(wakes=2)
        assert r.outcomes.get("powercut") == 1 and not r.halted


def test_pin_hold_exists_only_on_the_esp32_port(tmp_path):
    src = """
import machine
try:
    machine.Pin(25, machine.Pin.OUT, value=1, hold=True)
    print("held")
except TypeError as e:
    print("no hold:", e)
machine.deepsleep(1000)
"""
    fw = firmware_with(tmp_path / "fw", {"main.py": src})
    with EmulatedBoard("rpi-pico-sx1262-hat", firmware_dir=fw, flash_dir=tmp_path / "flash") as b:
        b.run(wakes=1)
        assert "no hold: unexpected keyword argument 'hold'" in logs(b)
