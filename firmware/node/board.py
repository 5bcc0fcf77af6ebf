# The board layer: builds buses, LEDs and the battery reading from /board.json. Drivers get these objects;
# nothing else in the firmware knows a pin number.
import json
import machine


class Board:
    def __init__(self, spec):
        self.spec = spec
        self.id = spec["id"]
        self._buses = {}

    def _pin(self, p, *args, **kw):
        return machine.Pin(p, *args, **kw)

    def i2c(self, name):
        bus = self._buses.get(("i2c", name))
        if bus is None:
            s = self.spec["i2c"][name]
            if "power_pin" in s:
                self._pin(s["power_pin"], machine.Pin.OUT, value=0 if s.get("power_active_low") else 1)
            freq = s.get("freq", 100000)
            if s["id"] < 0:
                bus = machine.SoftI2C(scl=self._pin(s["scl"]), sda=self._pin(s["sda"]), freq=freq)
            elif self.spec.get("port") == "stm32":
                # The stm32 port's hardware buses have fixed pins and reject explicit ones.
                bus = machine.I2C(s["id"], freq=freq)
            else:
                bus = machine.I2C(s["id"], scl=self._pin(s["scl"]), sda=self._pin(s["sda"]), freq=freq)
            self._buses[("i2c", name)] = bus
        return bus

    def uart(self, name, **kw):
        s = self.spec["uart"][name]
        if self.spec.get("port") == "stm32":
            return machine.UART(s["id"], s.get("baudrate", 9600), **kw)
        return machine.UART(s["id"], s.get("baudrate", 9600), tx=self._pin(s["tx"]), rx=self._pin(s["rx"]), **kw)

    def bus_for(self, sensor):
        """The bus object a sensor of this app is wired to."""
        bus = sensor["bus"]
        if bus in self.spec.get("i2c", {}):
            return self.i2c(bus)
        if bus in self.spec.get("uart", {}):
            return self.uart(bus)
        return None

    def sensors(self, app):
        return self.spec["apps"].get(app, {}).get("sensors", {})

    def led(self, name, app=None):
        """A machine.Signal for an LED by name: the board's own, or one the app's wiring adds."""
        spec = self.spec.get("leds", {}).get(name)
        if spec is None and app is not None:
            spec = self.spec["apps"].get(app, {}).get("leds", {}).get(name)
        if spec is None:
            return None
        return machine.Signal(machine.Pin(spec["pin"], machine.Pin.OUT), invert=spec.get("active_low", False))

    def led_pin(self, name, app=None):
        spec = self.spec.get("leds", {}).get(name)
        if spec is None and app is not None:
            spec = self.spec["apps"].get(app, {}).get("leds", {}).get(name)
        return spec

    def battery_mv(self):
        b = self.spec.get("battery")
        if not b:
            return None
        en = None
        if "enable_pin" in b:
            en = machine.Pin(b["enable_pin"], machine.Pin.OUT, value=0 if b.get("enable_active_low") else 1)
        uv = machine.ADC(machine.Pin(b["adc_pin"])).read_uv()
        if en is not None:
            en.value(1 if b.get("enable_active_low") else 0)
        return int(uv * b["divider"] / 1000)


def load(path="board.json"):
    with open(path) as f:
        return Board(json.load(f))
