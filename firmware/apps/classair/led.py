# ClassAir's light: red and green LEDs (both = orange), held through deep sleep; the fault pattern.
import time
from micropython import const
from apps.classair.settings import get as _get

_OFF = const(0)
_GREEN = const(1)
_ORANGE = const(2)
_FAULT = const(4)
_BLINKS = const(3)
_BLINK_MS = const(150)


def _pin(node, name, lit):
    import machine

    spec = node.board.led_pin(name, "classair")
    if spec is None:
        return
    v = 1 if lit != bool(spec.get("active_low", False)) else 0
    if node.board.spec.get("port") == "esp32":
        # Release the hold, drive the level, hold it again: the light stays through deep sleep. A pin outside the
        # RTC domain (an S3's GPIO 22 and up: the Heltec V3's 47/48, the T3-S3's 43/44) keeps its hold in deep
        # sleep only with gpio_deep_sleep_hold (docs/esp32/quickref.rst).
        import esp32

        p = machine.Pin(spec["pin"], machine.Pin.OUT, value=v, hold=False)
        p.init(hold=True)
        esp32.gpio_deep_sleep_hold(True)
    else:
        # rp2 and stm32 have no pin hold: the runtime sleeps light there (node/runtime.py), which keeps the level.
        machine.Pin(spec["pin"], machine.Pin.OUT, value=v)


def show(node, state):
    mode = _get(node, "led_mode")
    if state == _FAULT:
        for i in range(2 * _BLINKS):
            _pin(node, "red", i % 2 == 0)
            _pin(node, "green", i % 2 == 1)
            time.sleep_ms(_BLINK_MS)
        red = green = False
    elif mode == "off" or state == _OFF:
        red = green = False
    else:
        red = state >= _ORANGE
        green = (state == _GREEN or state == _ORANGE) and mode != "red_only"
    _pin(node, "red", red)
    _pin(node, "green", green)
