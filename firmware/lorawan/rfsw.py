# An RF switch driven by GPIOs, for boards whose radio doesn't switch its antenna path itself.
# board.json radio.rf_switch: {"pins": {name: pin}, "rx": {name: level}, "tx_lp": {...}, "tx_hp": {...},
# optional "idle": {...} (default: every pin low)}: the level of each control pin in each mode.
# It implements micropython-lib lora's ant_sw interface: tx(hp), rx(), idle().
from machine import Pin


class RfSwitch:
    def __init__(self, spec):
        self._pins = {}
        for name, p in spec["pins"].items():
            self._pins[name] = Pin(p, Pin.OUT, value=0)
        self._s = spec

    def _set(self, levels):
        for name, pin in self._pins.items():
            pin.value(levels.get(name, 0) if levels else 0)

    def tx(self, hp=False):
        s = self._s
        self._set(s.get("tx_hp") if hp and "tx_hp" in s else s.get("tx_lp", s.get("tx")))

    def rx(self):
        self._set(self._s.get("rx"))

    def idle(self):
        self._set(self._s.get("idle"))
