# The board's hardware helpers, as methods of node.board.Board (`board.i2c("ext")` calls i2c(board, "ext")):
# buses built from board.json, LEDs, the battery reading. Loaded the first time an app asks for one of them.
import machine


def i2c(b, name):
    bus = b._buses.get(("i2c", name))
    if bus is None:
        s = b.spec["i2c"][name]
        if "power_pin" in s:
            machine.Pin(s["power_pin"], machine.Pin.OUT, value=0 if s.get("power_active_low") else 1)
        freq = s.get("freq", 100000)
        if s["id"] < 0:
            bus = machine.SoftI2C(scl=machine.Pin(s["scl"]), sda=machine.Pin(s["sda"]), freq=freq)
        elif b.spec.get("port") == "stm32":
            # The stm32 port's hardware buses have fixed pins and reject explicit ones.
            bus = machine.I2C(s["id"], freq=freq)
        else:
            bus = machine.I2C(s["id"], scl=machine.Pin(s["scl"]), sda=machine.Pin(s["sda"]), freq=freq)
        b._buses[("i2c", name)] = bus
    return bus


def uart(b, name, **kw):
    s = b.spec["uart"][name]
    if b.spec.get("port") == "stm32":
        return machine.UART(s["id"], s.get("baudrate", 9600), **kw)
    return machine.UART(s["id"], s.get("baudrate", 9600), tx=machine.Pin(s["tx"]), rx=machine.Pin(s["rx"]), **kw)


def bus_for(b, sensor):
    """The bus object a sensor of this app is wired to."""
    bus = sensor["bus"]
    if bus in b.spec.get("i2c", {}):
        return i2c(b, bus)
    if bus in b.spec.get("uart", {}):
        return uart(b, bus)
    return None


def sensors(b, app):
    return b.spec["apps"].get(app, {}).get("sensors", {})


def led_pin(b, name, app=None):
    spec = b.spec.get("leds", {}).get(name)
    if spec is None and app is not None:
        spec = b.spec["apps"].get(app, {}).get("leds", {}).get(name)
    return spec


def led(b, name, app=None):
    """A machine.Signal for an LED by name: the board's own, or one the app's wiring adds."""
    spec = led_pin(b, name, app)
    if spec is None:
        return None
    return machine.Signal(machine.Pin(spec["pin"], machine.Pin.OUT), invert=spec.get("active_low", False))


def battery_mv(b):
    s = b.spec.get("battery")
    if not s:
        return None
    en = None
    if "enable_pin" in s:
        en = machine.Pin(s["enable_pin"], machine.Pin.OUT, value=0 if s.get("enable_active_low") else 1)
    uv = machine.ADC(machine.Pin(s["adc_pin"])).read_uv()
    if en is not None:
        en.value(1 if s.get("enable_active_low") else 0)
    return int(uv * s["divider"] / 1000)
