# Emulated `esp32` module: only on boards whose port has one (hil/ports.py EXTRA_MODULES). What the emulator models
# of it: gpio_deep_sleep_hold(), without which a held non-RTC GPIO lets go in deep sleep (docs/esp32/quickref.rst,
# ports/esp32/modesp32.c esp32_gpio_deep_sleep_hold -> gpio_deep_sleep_hold_en/dis).
import _hil
import machine

if machine._port != "esp32":
    raise ImportError("no module named 'esp32'")


def gpio_deep_sleep_hold(enable):
    _hil.event("deep_sleep_hold", on=bool(enable))


def wake_on_timer(*a, **k):
    pass
