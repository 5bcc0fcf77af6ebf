"""Each MicroPython port as it really behaves (hil/port_rules.py): what the emulated board fails on, as the board would."""

import pytest

from hil.emulator import EmulatedBoard
from hil.testing import firmware_with, logs

PROBE = """
import machine
print("names", sorted(n for n in ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET")
                     if hasattr(machine, n)))
print("uid", len(machine.unique_id()))
for ms in (4294966, 4294967, 131072999, 131073000):
    try:
        machine.lightsleep(ms)
        print("sleep", ms, "ok")
    except ValueError:
        print("sleep", ms, "refused")
machine.deepsleep(1000)
"""


@pytest.mark.parametrize(
    ("board_id", "names", "uid", "refused"),
    [
        ("heltec-wifi-lora32-v3", 5, 6, []),
        ("rpi-pico-sx1262-hat", 2, 8, [4294967, 131072999, 131073000]),
        ("nucleo-wl55jc", 5, 12, [131073000]),
    ],
)
def test_constants_unique_id_and_sleep_limits_by_port(tmp_path, board_id, names, uid, refused):
    fw = firmware_with(tmp_path / "fw", {"main.py": PROBE})
    with EmulatedBoard(board_id, firmware_dir=fw, flash_dir=tmp_path / "flash") as b:
        b.run(wakes=1)
        out = logs(b)
    assert len(eval(next(ln for ln in out if ln.startswith("names"))[6:])) == names
    assert f"uid {uid}" in out
    assert sorted(int(ln.split()[1]) for ln in out if ln.endswith("refused")) == refused


def test_rp2_watchdog_in_deep_sleep_locks_the_chip_and_deep_sleep_reads_as_a_watchdog_reset(tmp_path):
    src = """
import machine, time
print("cause", machine.reset_cause(), "year", time.gmtime()[0])
if machine.reset_cause() == machine.PWRON_RESET:
    machine.RTC().datetime((2026, 9, 7, 0, 8, 0, 0, 0))
    machine.deepsleep(5000)
machine.WDT(timeout=8000)
machine.deepsleep(60000)
"""
    fw = firmware_with(tmp_path / "fw", {"main.py": src})
    with EmulatedBoard("rpi-pico-sx1262-hat", firmware_dir=fw, flash_dir=tmp_path / "flash") as b:
        r = b.run(wakes=3)
        out = logs(b)
    # after deep sleep: WDT_RESET, and the RTC back at 2021-01-01 (ports/rp2/main.c)
    assert out[:2] == ["cause 1 year 2021", "cause 3 year 2021"]
    assert r.halted and "micropython#17228" in r.halted  # hung until a power cycle


def test_esp32s3_non_rtc_pins_let_go_in_deep_sleep_without_gpio_deep_sleep_hold(tmp_path):
    src = """
import machine
machine.Pin(47, machine.Pin.OUT, value=1, hold=True)
if machine.reset_cause() == machine.DEEPSLEEP_RESET:
    import esp32
    esp32.gpio_deep_sleep_hold(True)
machine.deepsleep(60000)
"""
    from hil.testing import board_with

    fw = firmware_with(tmp_path / "fw", {"main.py": src})
    brd = board_with(app="probe", wiring={"leds": {"red": {"pin": 47}}})
    with EmulatedBoard(brd, "probe", firmware_dir=fw, flash_dir=tmp_path / "flash") as b:
        held = []
        b.run(wakes=2, stop=lambda x: held.append(x.led_states()["red"]) or False)
    assert held == [False, True]  # dark through the first sleep, lit through the second


def test_stm32_iwdg_runs_on_in_standby(tmp_path):
    src = """
import machine
print("cause", machine.reset_cause())
if machine.reset_cause() == machine.PWRON_RESET:
    machine.WDT(timeout=30000)
    machine.deepsleep(900000)
machine.deepsleep(1000)
"""
    fw = firmware_with(tmp_path / "fw", {"main.py": src})
    with EmulatedBoard("nucleo-wl55jc", firmware_dir=fw, flash_dir=tmp_path / "flash") as b:
        b.run(wakes=2)
        out = logs(b)
    assert out[:2] == ["cause 1", "cause 3"]  # the IWDG reset the chip 30 s into a 15 min standby


CLOCK_AND_BUS = """
import machine, time
print("year", time.gmtime()[0])
rtc = machine.RTC()
try:
    rtc.datetime((2026, 9, 13, 7, 12, 0, 0, 500000))  # a Sunday as weekday 7: stm32's numbering
    print("weekday7 ok", rtc.datetime()[7] // 100000)
except OSError:
    print("weekday7 refused")
t0 = time.ticks_ms()
machine.lightsleep(10000)
print("ticks", time.ticks_diff(time.ticks_ms(), t0) // 1000)
try:
    i2c = machine.I2C(0, scl=machine.Pin(1), sda=machine.Pin(2))
    print("i2c pins ok")
    try:
        i2c.writeto(0x10, b"x")  # nothing at 0x10: a NACK
    except OSError as e:
        print("nack", e.args[0])
except ValueError:
    print("i2c pins refused")
machine.deepsleep(1000)
"""


@pytest.mark.parametrize(
    ("board_id", "want"),
    [
        # epoch RTC; sub-seconds kept, weekday not checked; ticks run in light sleep; NACK is ENODEV (19)
        ("heltec-wifi-lora32-v3", ["year 1970", "weekday7 ok 5", "ticks 10", "i2c pins ok", "nack 19"]),
        # ports/rp2/main.c: 2021 at boot; machine_rtc.c: no sub-seconds, weekday 7 refused; I2C NACK is EIO (5)
        ("rpi-pico-sx1262-hat", ["year 2021", "weekday7 refused", "ticks 10", "i2c pins ok", "nack 5"]),
        # ports/stm32/rtc.c: 2015 at power-on, weekday 1-7, no sub-seconds; SysTick stops in Stop mode;
        # machine_i2c.c: a hardware bus's pins are fixed
        ("nucleo-wl55jc", ["year 2015", "weekday7 ok 0", "ticks 0", "i2c pins refused"]),
    ],
)
def test_clock_ticks_and_i2c_by_port(tmp_path, board_id, want):
    fw = firmware_with(tmp_path / "fw", {"main.py": CLOCK_AND_BUS})
    with EmulatedBoard(board_id, firmware_dir=fw, flash_dir=tmp_path / "flash") as b:
        b.run(wakes=1)
        out = logs(b)
    assert out == want


def test_the_network_time_sets_an_stm32_rtc_with_its_own_weekdays(tmp_path):
    """DeviceTimeAns sets the RTC (firmware/lorawan/maccmd.py): with weekday 1-7 on an stm32, as its rtc.c wants;
    a 0-6 weekday there is flagged by the emulator as a port misuse."""
    from hil.network import attach_network

    b = EmulatedBoard("nucleo-wl55jc", "lorawan_probe", flash_dir=tmp_path / "flash", heap_kb=192)
    attach_network(b)
    with b:
        b.run(wakes=2)
        misuse = [e for e in b.events if e["type"] == "port_misuse"]
        probe = [ln for ln in logs(b) if ln.startswith("[") and "probe: n=1" in ln]
    assert not misuse, misuse
    assert probe and "time=None" not in probe[0]  # the node has the network's time
