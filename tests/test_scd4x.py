"""The SCD4x driver (firmware/sensors/scd4x.py, under MicroPython) against the emulated chip (hil/devices/scd4x.py)."""

from __future__ import annotations

import pytest

from hil.devices import by_name
from hil.devices.scd4x import Model, crc8, word
from hil.testing import board_with, firmware_with

PROBE_APP = """
def run(node):
    from sensors.scd4x import SCD4x, SCD4xError, crc8
    import sensors.scd4x_extra as x
    import time
    spec = node.board.sensors("probe")["co2"]
    dev = SCD4x(node.board.bus_for(spec), spec["address"])
    def out(k, v):
        print("R %s=%r" % (k, v))
    def err(fn):
        try:
            return fn()
        except SCD4xError as e:
            return "E:" + e.kind
    g = {"node": node, "dev": dev, "out": out, "err": err, "time": time, "crc8": crc8, "SCD4xError": SCD4xError, "x": x}
    with open("probe_code.py") as f:
        exec(f.read(), g)
    return 3600
"""


@pytest.fixture(scope="module")
def fw(tmp_path_factory):
    return firmware_with(tmp_path_factory.mktemp("fw") / "firmware", {"apps/probe.py": PROBE_APP})


@pytest.fixture
def probe(make_board, fw):
    """probe(code, **board kw) -> (results dict, board): runs `code` for one wake on a board with an SCD41."""

    def run(code, board=None, variant="scd41", before=None, **kw):
        if board is None:
            wiring = {
                "sensors": {
                    "co2": {"chip": "scd4x", "bus": "ext", "address": 0x62, "options": {"variant": variant}}
                }
            }
            board = make_board(board_with(app="probe", wiring=wiring), "probe", firmware_dir=fw, **kw)
            board.world.set("co2_ppm", 1234.0)
        (board.flash / "probe_code.py").write_text(code)
        if before:
            before(board)
        n0 = len(board.events)
        board.run(wakes=1)
        assert not board.halted, board.halted
        res = {}
        for e in board.events[n0:]:
            if e["type"] == "log" and e["line"].startswith("R "):
                k, v = e["line"][2:].split("=", 1)
                res[k] = eval(v)  # noqa: S307 - our own probe's repr output
        return res, board

    return run


def test_crc8_matches_the_datasheet_example(mpy):
    # Datasheet: CRC of 0xBEEF is 0x92.
    assert crc8(b"\xbe\xef") == 0x92
    assert mpy("from sensors.scd4x import crc8\nprint(crc8(b'\\xbe\\xef'))").strip() == "146"


def test_single_shot_reads_the_world_after_five_seconds(probe):
    res, board = probe(
        "t0 = time.ticks_ms()\n"
        "out('m', dev.measure_single_shot())\n"
        "out('ms', time.ticks_diff(time.ticks_ms(), t0))\n"
        "out('serial', dev.serial())\n"
    )
    co2, t, rh = res["m"]
    assert abs(co2 - 1234) <= 6  # the model's noise is 5 ppm
    assert abs(t - 2100) <= 2 and abs(rh - 4500) <= 2  # the still world: 21 C, 45 %
    assert 5000 <= res["ms"] < 6500
    assert res["serial"] == by_name(board, "co2").serial


def test_busy_sensor_is_reported_not_misread(probe):
    res, _ = probe(
        "dev.command(0x219d, 0)\n"  # start a single shot and do not wait
        "out('ready', dev.data_ready())\n"
        "out('read', err(dev.read_measurement))\n"
        "out('serial', err(dev.serial))\n"
        "time.sleep_ms(5000)\n"
        "out('ready2', dev.data_ready())\n"
        "out('read2', err(dev.read_measurement)[0])\n"
        "out('again', err(dev.read_measurement))\n"  # the buffer is empty after a read: no stale sample
    )
    assert res["ready"] is False
    assert res["read"] == "E:absent"  # the command itself is refused while measuring
    assert res["serial"] == "E:absent"
    assert res["ready2"] is True
    assert abs(res["read2"] - 1234) <= 6
    assert res["again"] == "E:busy"


def test_crc_errors_are_detected(probe):
    res, board = probe(
        "out('m', err(dev.measure))\nout('sn', err(dev.serial))\n",
        before=lambda b: by_name(b, "co2").set_fault("crc"),
    )
    assert res == {"m": "E:crc", "sn": "E:crc"}


def test_absent_sensor_raises_a_clear_error(probe):
    res, _ = probe("out('m', err(dev.measure))\n", before=lambda b: by_name(b, "co2").set_fault("absent"))
    assert res["m"] == "E:absent"


def test_periodic_mode_allows_only_its_commands_and_measure_recovers(probe):
    res, board = probe(
        "dev.start_periodic()\n"
        "out('read0', err(dev.read_measurement))\n"
        "out('serial', err(dev.serial))\n"
        "dev.periodic = False\n"  # as after a node reset: the driver forgot, the sensor still measures
        "out('m', dev.measure()[0])\n"
        "out('serial2', dev.serial() > 0)\n"
    )
    assert res["read0"] == "E:busy"  # no sample yet
    assert res["serial"] == "E:absent"  # refused during periodic measurement
    assert abs(res["m"] - 1234) <= 6
    assert res["serial2"] is True
    assert by_name(board, "co2").mode == "idle"


def test_scd40_falls_back_to_one_periodic_sample(probe):
    res, board = probe("out('m', dev.measure()[0])\nout('ss', dev.single_shot)\n", variant="scd40")
    assert abs(res["m"] - 1234) <= 6 and res["ss"] is False
    assert by_name(board, "co2").mode == "idle"  # stopped again: no current drawn between wakes


def test_forced_recalibration_and_asc(probe):
    def skew(b):
        b.world.set("co2_ppm", 420.0)
        by_name(b, "co2").offset_ppm = 90.0  # the sensor reads 90 ppm high

    res, board = probe(
        "out('frc0', err(lambda: x.forced_recalibration(dev, 420)))\n"  # never measured since power-on
        "out('before', dev.measure()[0])\n"
        "out('corr', x.forced_recalibration(dev, 420))\n"
        "out('after', dev.measure()[0])\n"
        "dev.set_asc(False)\n"
        "out('asc', x.asc(dev))\n",
        before=skew,
    )
    assert res["frc0"] == "E:failed"
    assert abs(res["before"] - 510) <= 6
    assert abs(res["corr"] + 90) <= 6
    assert abs(res["after"] - 420) <= 10
    assert res["asc"] is False


def test_settings_survive_a_power_cut_only_when_persisted(probe):
    res, board = probe(
        "dev.set_asc(False)\ndev.set_altitude(120)\ndev.persist()\ndev.set_altitude(300)\nout('alt', x.altitude(dev))\n"
    )
    assert res["alt"] == 300
    board.power_cut()
    res, _ = probe("out('alt', x.altitude(dev))\nout('asc', x.asc(dev))\n", board=board)
    assert res == {"alt": 120, "asc": False}


def test_pressure_compensation(probe):
    def thin_air(b):
        b.world.set("pressure_pa", 90000.0)
        by_name(b, "co2").noise_ppm = 0

    res, _ = probe(
        "out('raw', dev.measure()[0])\n"
        "x.set_pressure(dev, 90000)\n"
        "out('p', x.pressure(dev))\n"
        "out('comp', dev.measure()[0])\n",
        before=thin_air,
    )
    assert res["raw"] == round(1234 * 90000 / 101325)
    assert res["p"] == 90000
    assert res["comp"] == 1234


def test_self_test_and_temperature_offset(probe):
    res, _ = probe(
        "out('ok', x.self_test(dev))\nx.set_temperature_offset(dev, 250)\nout('off', x.temperature_offset(dev))\n"
    )
    assert res["ok"] is True and abs(res["off"] - 250) <= 1
    res, _ = probe("out('ok', x.self_test(dev))\n", before=lambda b: by_name(b, "co2").set_fault("selftest"))
    assert res["ok"] is False


# ---------------------------------------------------------------------- the model alone, byte by byte


class _Board:
    t_us = 0
    unique_id = b"\x01" * 6
    world = None


def _model():
    from hil.worlds import World

    b = _Board()
    b.world = World()
    b.world.set("co2_ppm", 600.0)
    return Model(b, "co2", {"chip": "scd4x", "bus": "ext", "address": 0x62, "options": {"noise_ppm": 0}})


def test_model_checks_write_crcs_and_rejects_unknown_commands():
    m = _model()
    assert m.write(b"\x24\x27" + word(100), 0)  # set_sensor_altitude 100 m, good CRC
    assert not m.write(b"\x24\x27\x00\x64\x00", 10_000)  # bad CRC: NACK
    assert not m.write(b"\x12\x34", 20_000)  # no such command
    assert m.write(b"\x23\x22", 30_000)
    assert m.read(3, 30_500) is None  # answer not ready before the 1 ms execution time
    assert m.read(3, 31_000) == word(100)


def test_model_periodic_buffer_and_timing():
    m = _model()
    assert m.write(b"\x21\xb1", 0)
    assert m.write(b"\xe4\xb8", 4_000_000)
    assert m.read(3, 4_001_000) == word(0x8000)
    assert m.write(b"\xec\x05", 5_000_000)
    data = m.read(9, 5_001_000)
    assert data[:3] == word(600) and all(crc8(data[i : i + 2]) == data[i + 2] for i in (0, 3, 6))
    assert m.write(b"\xec\x05", 6_000_000)
    assert m.read(9, 6_001_000) is None  # already read: no stale copy
    assert not m.write(b"\x36\x82", 7_000_000)  # serial number refused while measuring
    assert m.write(b"\x3f\x86", 7_000_000)
    assert not m.write(b"\x36\x82", 7_400_000)  # still stopping (500 ms)
    assert m.write(b"\x36\x82", 7_600_000)


def test_model_asc_pulls_the_lowest_reading_to_400_ppm():
    m = _model()
    m.offset_ppm = 60.0  # the sensor reads 60 ppm high; the room sees fresh air (420 ppm) at times
    m.board.world.set("co2_ppm", lambda t: 420.0 if (t // 3_600_000_000) % 24 < 8 else 1200.0)
    t = 0
    readings = []
    for _ in range(600):  # single shots count as 5 minutes each for ASC: 50 h, past the 44 h first period
        assert m.write(b"\x21\x9d", t)
        assert m.write(b"\xec\x05", t + 5_000_000)
        data = m.read(9, t + 5_001_000)
        readings.append((data[0] << 8) | data[1])
        t += 300_000_000
    assert readings[0] == 480
    assert m.asc_periods == 1 and round(m.correction_ppm) == -80  # lowest was 480: now reads 400
    m.settings["asc"] = 0
    before = m.correction_ppm
    for _ in range(600):
        m.write(b"\x21\x9d", t)
        m.write(b"\xec\x05", t + 5_000_000)
        m.read(9, t + 5_001_000)
        t += 300_000_000
    assert m.correction_ppm == before  # ASC off: no correction
