# Emulated `esp32` module: only on boards whose port has one (hil/port_rules.py EXTRA_MODULES). What the emulator models
# of it: gpio_deep_sleep_hold(), without which a held non-RTC GPIO lets go in deep sleep (docs/esp32/quickref.rst,
# ports/esp32/modesp32.c esp32_gpio_deep_sleep_hold -> gpio_deep_sleep_hold_en/dis). On a board this module and
# its names are in ROM: here every name it holds is interned on the firmware's heap, so it holds as few as it can
# (names the machine shim has already: the event is a pin_hold for no pin in particular).
import _hil
import machine

if not machine._P[0]:
    raise ImportError("no module named 'esp32'")


def gpio_deep_sleep_hold(value):
    _hil.event("pin_hold", pin=None, hold=bool(value))
