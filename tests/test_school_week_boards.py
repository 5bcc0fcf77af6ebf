"""Issue #22's figure, kept: ClassAir's school week on each of the five boards with the ports' real behaviour (the
light on through every red hour, no watchdog reset, every wake counted as one), over two school days to stay fast.
`python -m bench classair` measures the whole week (hil/school_week.py: the properties, defined precisely)."""

from __future__ import annotations

import pytest
from citynode.base import boards
from citynode.base.paths import FIRMWARE_DIR

from hil import school_week
from hil.testing import firmware_with

BOARDS = [b["id"] for b in boards.load_all()]  # every board file: the figure is for all of them


@pytest.mark.parametrize("board_id", BOARDS)
def test_two_school_days_on_every_board(board_id):
    w = school_week.run(board_id, hours=47.5)  # Monday and Tuesday, to 23:30: clear of Wednesday's first wake
    assert w.problems() == [], w.summary()
    assert (
        w.red_hours >= 4
    )  # the unaired room goes over 800 ppm on both days: the light has something to hold
    assert w.wakes == w.expected == 2 * 57  # 44 quarter hours from 07:00 to 17:45, and every other hour


def _without(tmp_path, rel, old, new):
    src = (FIRMWARE_DIR / rel).read_text()
    assert old in src, f"{rel} changed: update this test's regression"
    return firmware_with(tmp_path / "fw", {rel: src.replace(old, new)})


def test_the_check_sees_an_s3_light_go_dark_without_gpio_deep_sleep_hold(tmp_path):
    # The Heltec V3's LEDs are on GPIO 47/48, outside the S3's RTC domain: without gpio_deep_sleep_hold their hold
    # lapses in deep sleep and the light goes out between wakes.
    fw = _without(tmp_path, "apps/classair/led.py", "esp32.gpio_deep_sleep_hold(True)", "pass")
    w = school_week.run("heltec-wifi-lora32-v3", hours=23.5, firmware_dir=fw)
    assert w.red_hours and len(w.dark_hours) == w.red_hours, w.summary()
    assert not w.watchdog and not w.bad_wakes


def test_the_check_sees_a_pico_deep_sleeping_with_its_watchdog(tmp_path):
    # An rp2 that deep-sleeps like an ESP32 sleeps past its 8 s watchdog: the RP2040 locks (micropython#17228).
    fw = _without(tmp_path, "node/runtime.py", '_LIGHT_ONLY = ("rp2", "stm32")', "_LIGHT_ONLY = ()")
    w = school_week.run("rpi-pico-sx1262-hat", hours=23.5, firmware_dir=fw, hang_timeout_s=2)
    assert w.watchdog and not w.ok, w.summary()


def test_the_check_sees_a_light_sleep_wake_that_does_not_say_timer_wake(tmp_path):
    # After its light sleep a NUCLEO starts the next wake with a soft reset, which its port reports as SOFT_RESET:
    # without the runtime's own note of the light sleep, the wake would not count as a timer wake.
    fw = _without(tmp_path, "node/runtime.py", "    if light:\n", "    if False:\n")
    w = school_week.run("nucleo-wl55jc", hours=23.5, firmware_dir=fw)
    assert w.wakes == w.expected and not w.dark_hours and not w.watchdog
    assert len(w.bad_wakes) == w.wakes - 1 and "cause=5, not 4" in w.bad_wakes[0][1], w.problems()[:2]
