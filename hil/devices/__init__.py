"""Device models: emulated chips that sit on the board's buses and speak their real protocols.

A chip named ``foo`` in a board file (``apps.<role>.sensors.<name>.chip``) is modelled by the class ``Model`` in
``hil/devices/foo.py``. Models read the physical quantities they measure from the board's world, at the virtual
time of each bus transaction. Any model can be given a fault, handled at the bus for every chip alike:
``absent`` (no ACK at all), ``nack`` (answers nothing), ``stuck`` (SDA held low: the bus times out), ``garbage``
(data bytes corrupted). Models can add chip-specific faults of their own.
"""

from __future__ import annotations

import importlib

FAULTS = ("absent", "nack", "stuck", "garbage")


class Device:
    chip = ""

    def __init__(self, board, name: str, spec: dict):
        self.board = board
        self.name = name
        self.spec = spec
        self.address = spec.get("address")
        self.options = spec.get("options", {})
        self.fault: str | None = None

    @property
    def world(self):
        return self.board.world

    def set_fault(self, fault: str | None):
        if fault is not None and fault not in FAULTS and fault not in getattr(self, "extra_faults", ()):
            raise ValueError(f"unknown fault {fault!r} for {self.chip}")
        self.fault = fault


class I2CDevice(Device):
    def write(self, data: bytes, t_us: int) -> bool:
        """Bytes written by the controller. Return False to NACK."""
        raise NotImplementedError

    def read(self, n: int, t_us: int) -> bytes | None:
        """n bytes read by the controller; None to NACK the address."""
        raise NotImplementedError


class UARTDevice(Device):
    def write(self, data: bytes, t_us: int) -> None:
        raise NotImplementedError

    def read_available(self, t_us: int, wait_us: int) -> tuple[bytes, int]:
        """(bytes ready for the controller, microseconds it waited for them, at most wait_us)."""
        raise NotImplementedError


def model_class(chip: str):
    try:
        module = importlib.import_module(f"hil.devices.{chip}")
    except ModuleNotFoundError as e:
        if e.name == f"hil.devices.{chip}":
            raise ValueError(
                f"no emulated model for chip {chip!r} (expected hil/devices/{chip}.py)"
            ) from None
        raise
    return module.Model


def attach(board) -> dict:
    """Instantiate the models the board's wiring for its app names, keyed by (bus name, address)."""
    out = {}
    wiring = board.board["apps"].get(board.app, {})
    for name, spec in wiring.get("sensors", {}).items():
        model = model_class(spec["chip"])(board, name, spec)
        out[(spec["bus"], spec.get("address"))] = model
    return out


def by_name(board, name: str) -> Device:
    for dev in board.devices.values():
        if dev.name == name:
            return dev
    raise KeyError(
        f"no device named {name!r} on this board (have: {[d.name for d in board.devices.values()]})"
    )


def input_pins(board) -> set:
    pins = set()
    button = board.board.get("button")
    if button:
        pins.add(button["pin"])
    for dev in board.devices.values():
        pins.update(getattr(dev, "input_pins", ()))
    return pins


def pin_read(board, pin, t_us) -> int:
    for dev in board.devices.values():
        if pin in getattr(dev, "input_pins", ()):
            return dev.pin_value(pin, t_us)
    button = board.board.get("button")
    if button and pin == button["pin"]:
        pressed = bool(board.world.value("button", t_us))
        return int(pressed != button.get("active_low", True))
    return 0


def adc_read(board, pin, t_us) -> int:
    bat = board.board.get("battery")
    if bat and pin == bat["adc_pin"]:
        mv = board.world.value("battery_mv", t_us)
        return int(mv * 1000 / bat["divider"])
    for dev in board.devices.values():
        if pin in getattr(dev, "adc_pins", ()):
            return dev.adc_uv(pin, t_us)
    return 0


def pulse(board, pin, level, timeout_us, t_us) -> int:
    for dev in board.devices.values():
        if pin in getattr(dev, "pulse_pins", ()):
            return dev.pulse_us(pin, level, timeout_us, t_us)
    return -1  # timeout waiting for the pulse: what machine.time_pulse_us returns
