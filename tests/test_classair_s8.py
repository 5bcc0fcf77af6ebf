"""The second CO2 sensor family: Senseair S8 over UART/Modbus (firmware/sensors/senseair_s8.py) against its
emulated model (hil/devices/senseair_s8.py), and the ClassAir app running on it."""

from __future__ import annotations

import pytest

from hil.devices import by_name
from hil.devices.senseair_s8 import Model, crc16, frame
from hil.testing import board_with, firmware_with

S8_WIRING = {
    "sensors": {"co2": {"chip": "senseair_s8", "bus": "s8"}},
    "leds": {"red": {"pin": 47}, "green": {"pin": 48}},
}
# The Heltec's spare UART, under a name no I2C bus has (board.bus_for looks names up in i2c first).
S8_UART = {"s8": {"id": 1, "tx": 45, "rx": 46, "baudrate": 9600}}

PROBE_APP = """
def run(node):
    from sensors.senseair_s8 import S8, S8Error, forced_recalibration
    spec = node.board.sensors("probe")["co2"]
    dev = S8(node.board.bus_for(spec))
    def out(k, v):
        print("R %s=%r" % (k, v))
    def err(fn):
        try:
            return fn()
        except S8Error as e:
            return "E:" + e.kind
    g = {"dev": dev, "out": out, "err": err, "frc": forced_recalibration}
    with open("probe_code.py") as f:
        exec(f.read(), g)
    return 3600
"""


@pytest.fixture(scope="module")
def fw(tmp_path_factory):
    return firmware_with(tmp_path_factory.mktemp("fw") / "firmware", {"apps/probe.py": PROBE_APP})


def _run(make_board, fw, code, before=None):
    b = make_board(board_with(app="probe", wiring=S8_WIRING, uart=S8_UART), "probe", firmware_dir=fw)
    b.world.set("co2_ppm", 987.0)
    (b.flash / "probe_code.py").write_text(code)
    if before:
        before(b)
    b.run(wakes=1)
    assert not b.halted, b.halted
    res = {}
    for e in b.events:
        if e["type"] == "log" and e["line"].startswith("R "):
            k, v = e["line"][2:].split("=", 1)
            res[k] = eval(v)  # noqa: S307 - our probe's repr output
    return res, b


def test_modbus_crc_matches_the_known_request():
    # Senseair's documented "read CO2" request: FE 04 00 03 00 01 D5 C5.
    assert frame(bytes.fromhex("fe0400030001")) == bytes.fromhex("fe0400030001d5c5")
    assert crc16(bytes.fromhex("fe0400030001d5c5")) == 0  # a frame with its CRC checks to zero


def test_reads_co2_asc_serial_and_calibrates(make_board, fw):
    def skew(b):
        by_name(b, "co2").offset_ppm = 60.0

    res, b = _run(
        make_board,
        fw,
        "out('m', dev.measure())\n"
        "dev.set_asc(False)\n"
        "out('asc', dev.asc())\n"
        "out('id', dev.serial())\n"
        "out('frc500', err(lambda: frc(dev, 500)))\n"
        "frc(dev, 400)\n",
        before=skew,
    )
    assert res["m"] == (1047, None, None)
    assert res["asc"] is False and by_name(b, "co2").holding[31] == 0
    assert res["id"] == 0x0A0B0C0D
    assert res["frc500"] == "E:failed"
    # Background calibration: the present air (987 ppm true + 60 offset) is now taken as 400 ppm.
    assert round(by_name(b, "co2").correction_ppm) == 400 - 1047


def test_absent_and_faulty_sensor(make_board, fw):
    res, _ = _run(
        make_board, fw, "out('m', err(dev.measure))\n", before=lambda b: by_name(b, "co2").set_fault("absent")
    )
    assert res["m"] == "E:absent"
    res, _ = _run(
        make_board, fw, "out('m', err(dev.measure))\n", before=lambda b: by_name(b, "co2").set_fault("status")
    )
    assert res["m"] == "E:failed"


def test_model_ignores_damaged_frames():
    class B:
        t_us = 0
        world = None

    m = Model(B(), "co2", {"chip": "senseair_s8", "bus": "ext"})
    m.write(bytes.fromhex("fe0400030001d5c4"), 0)  # one bit off in the CRC
    assert m.read_available(0, 100_000) == (b"", 100_000)
    m.write(bytes.fromhex("fe0700030001") + b"\0\0", 0)  # bad CRC too: still silence
    assert m.read_available(0, 100_000)[0] == b""
    m.write(frame(bytes.fromhex("fe0700030001")), 0)  # unknown function: Modbus exception 1
    assert m.read_available(0, 100_000)[0] == frame(bytes.fromhex("fe8701"))


def test_classair_runs_on_an_s8(make_board):
    board = board_with(app="classair", wiring=S8_WIRING, uart=S8_UART)
    b = make_board(board, "classair", world="school-day", start="2026-09-07T00:00:00+02:00")
    b.run(hours=10)
    lines = [e["line"] for e in b.events if e["type"] == "log" and "classair: co2=" in e["line"]]
    assert len(lines) == 40
    assert all("co2=None" not in ln for ln in lines) and any("led=red" in ln for ln in lines)
    assert "t=None rh=None" in lines[0]
