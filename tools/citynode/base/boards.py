"""Board definitions: `boards/*.json`, validated against `boards/schema.json` and then checked for consistency.

Every problem is reported as one line naming the file and the field: `<file>: field <path>: <what is wrong>`.
The schema catches shape errors (missing field, wrong type, unknown field); the checks here catch what a schema
cannot say well: MCU, port, `.mpy` arch and flash recipe that do not go together, pins the MCU does not have or
cannot drive, a pin used twice (radio and LED, two LEDs, ...), a sensor on a bus the board does not define.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path

from citynode.base.paths import BOARDS_DIR

# The unix port is 64-bit: MicroPython objects there take up to twice the bytes they take on a 32-bit MCU, so
# the emulator gives the interpreter twice the board's heap (see docs/architecture.md, "Heap scaling").
HEAP_SCALE_64BIT = 2

# What goes with each MCU: MicroPython port, .mpy arch, flash methods, esptool chip and image offset.
MCUS = {
    "esp32": {
        "port": "esp32",
        "mpy_arch": "xtensawin",
        "flash": ("esptool",),
        "esptool_chip": "esp32",
        "offset": 0x1000,
    },
    "esp32s3": {
        "port": "esp32",
        "mpy_arch": "xtensawin",
        "flash": ("esptool",),
        "esptool_chip": "esp32s3",
        "offset": 0,
    },
    "rp2040": {"port": "rp2", "mpy_arch": "armv6m", "flash": ("uf2",)},
    "stm32wl55": {"port": "stm32", "mpy_arch": "armv7emsp", "flash": ("stlink", "dfu")},
}

# Radio chip -> micropython-lib driver package, and the pins that driver needs.
RADIOS = {
    "sx1262": {"driver": "lora-sx126x", "needs": ("spi", "cs", "busy", "dio1", "reset")},
    "sx1276": {"driver": "lora-sx127x", "needs": ("spi", "cs", "dio0", "reset")},
    "stm32wl5": {"driver": "lora-stm32wl5", "needs": ()},
}

_STM32_PIN = re.compile(r"^[A-H](1[0-5]|[0-9])$")


class BoardError(ValueError):
    """A board file is missing, unreadable or wrong. The message names the file and the field."""


@cache
def _validator():
    import jsonschema

    # The schema itself is checked against the meta-schema by the tests (tests/test_boards.py), not on every load:
    # that check cost each command that loads a board 25-30 ms of start-up (jsonschema's import, ~60 ms, remains).
    schema = json.loads((BOARDS_DIR / "schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def _field(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def _describe(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _schema_message(err) -> tuple[list, str]:
    """(path of the field at fault, message) for a jsonschema error, worded for a person editing the file."""
    path = list(err.absolute_path)
    v = err.validator
    if v == "required":
        missing = [p for p in err.validator_value if isinstance(err.instance, dict) and p not in err.instance]
        return path + missing[:1], "missing (required)"
    if v == "additionalProperties":
        known = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(known)) if isinstance(err.instance, dict) else []
        hint = f"; known fields: {', '.join(known)}" if known else ""
        return path + extra[:1], f"unknown field{hint}"
    if v == "type":
        want = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        return (
            path,
            f"must be {' or '.join(_TYPE_NAMES.get(w, w) for w in want)}, not {_describe(err.instance)}",
        )
    if v == "enum":
        return path, f"{_describe(err.instance)} is not one of: {', '.join(map(str, err.validator_value))}"
    if v == "oneOf" and any(isinstance(s, dict) and s.get("type") == "integer" for s in err.validator_value):
        return path, f"must be a GPIO number or a pin name, not {_describe(err.instance)}"
    if v in ("minimum", "maximum"):
        word = "at least" if v == "minimum" else "at most"
        return path, f"must be {word} {err.validator_value}, not {_describe(err.instance)}"
    if v == "pattern":
        return path, f"{_describe(err.instance)} does not match the pattern {err.validator_value}"
    return path, err.message


def _fail(source: str, field: str, message: str):
    raise BoardError(f"{source}: field {field}: {message}")


def validate(data: dict, source: str) -> dict:
    """`data` if it is a good board definition; otherwise BoardError naming `source` and the field."""
    errors = sorted(
        _validator().iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator)
    )
    if errors:
        path, message = _schema_message(errors[0])
        more = (
            f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
            if len(errors) > 1
            else ""
        )
        raise BoardError(f"{source}: field {_field(path)}: {message}{more}")
    stem = Path(source).stem
    if data["id"] != stem:
        _fail(source, "id", f"{data['id']!r} must match the file name {stem!r}")
    _check_mcu(data, source)
    _check_radio(data, source)
    _check_pins(data, source)
    _check_apps(data, source)
    _check_flash(data, source)
    return data


def _check_mcu(data: dict, source: str):
    facts = MCUS[data["mcu"]]
    for key in ("port", "mpy_arch"):
        if data[key] != facts[key]:
            _fail(
                source, key, f"{data[key]!r} does not go with mcu {data['mcu']!r} (expected {facts[key]!r})"
            )


def _check_radio(data: dict, source: str):
    radio = data["radio"]
    facts = RADIOS[radio["chip"]]
    if radio["driver"] != facts["driver"]:
        _fail(
            source,
            "radio.driver",
            f"{radio['driver']!r} does not drive a {radio['chip']} (expected {facts['driver']!r})",
        )
    if (radio["chip"] == "stm32wl5") != (data["mcu"] == "stm32wl55"):
        _fail(
            source, "radio.chip", f"{radio['chip']!r}: the stm32wl5 radio exists only inside an stm32wl55 mcu"
        )
    for key in facts["needs"]:
        if key not in radio:
            _fail(source, f"radio.{key}", f"missing (a {radio['chip']} needs it)")


def _board_pins(data: dict):
    """(field path, pin, drives_it) for every pin the board itself uses, radio first."""
    radio = data["radio"]
    spi = radio.get("spi", {})
    for key, out in (("sck", True), ("mosi", True), ("miso", False)):
        if key in spi:
            yield f"radio.spi.{key}", spi[key], out
    for key, out in (("cs", True), ("reset", True), ("busy", False), ("dio0", False), ("dio1", False)):
        if key in radio:
            yield f"radio.{key}", radio[key], out
    for name, pin in ((radio.get("rf_switch") or {}).get("pins") or {}).items():
        yield f"radio.rf_switch.pins.{name}", pin, True
    for name, bus in data.get("i2c", {}).items():
        yield f"i2c.{name}.scl", bus["scl"], True
        yield f"i2c.{name}.sda", bus["sda"], True
        if "power_pin" in bus:
            yield f"i2c.{name}.power_pin", bus["power_pin"], True
    for name, bus in data.get("uart", {}).items():
        yield f"uart.{name}.tx", bus["tx"], True
        yield f"uart.{name}.rx", bus["rx"], False
    for name, bus in data.get("i2s", {}).items():
        yield f"i2s.{name}.sck", bus["sck"], True
        yield f"i2s.{name}.ws", bus["ws"], True
        yield f"i2s.{name}.sd", bus["sd"], False
    for name, led in data.get("leds", {}).items():
        yield f"leds.{name}.pin", led["pin"], True
    battery = data.get("battery") or {}
    if battery:
        yield "battery.adc_pin", battery["adc_pin"], False
        if "enable_pin" in battery:
            yield "battery.enable_pin", battery["enable_pin"], True
    if data.get("button"):
        yield "button.pin", data["button"]["pin"], False


def _app_pins(role: str, wiring: dict):
    for name, led in wiring.get("leds", {}).items():
        yield f"apps.{role}.leds.{name}.pin", led["pin"], True
    for name, sensor in wiring.get("sensors", {}).items():
        for key, pin in sensor.get("pins", {}).items():
            yield f"apps.{role}.sensors.{name}.pins.{key}", pin, False


def _pin_problem(mcu: str, pin, drives: bool) -> str | None:
    """Why `pin` cannot be used on `mcu` (None if it can)."""
    if mcu == "stm32wl55":
        if not isinstance(pin, str):
            return f'{pin!r}: stm32 pins are names like "B15", not numbers'
        if not _STM32_PIN.match(pin):
            hint = (
                f" (write {pin[1:]!r}: MicroPython names stm32 pins without the P)"
                if _STM32_PIN.match(pin[1:]) and pin[0] in "Pp"
                else ""
            )
            return f'{pin!r} is not an stm32 pin name like "B15"{hint}'
        return None
    if isinstance(pin, str):
        return None if (mcu == "rp2040" and pin == "LED") else f"{pin!r}: {mcu} pins are GPIO numbers"
    if mcu == "esp32":
        if pin > 39 or pin in (20, 24, 28, 29, 30, 31):
            return f"GPIO{pin} does not exist on the esp32"
        if 6 <= pin <= 11:
            return f"GPIO{pin} belongs to the esp32's SPI flash"
        if drives and pin >= 34:
            return f"GPIO{pin} is input-only on the esp32 and cannot be driven"
    elif mcu == "esp32s3":
        if pin > 48 or 22 <= pin <= 25:
            return f"GPIO{pin} does not exist on the esp32s3"
        if 27 <= pin <= 32:
            return f"GPIO{pin} belongs to the esp32s3's SPI flash"
    elif mcu == "rp2040" and pin > 29:
        return f"GPIO{pin} does not exist on the rp2040 (GP0-GP29)"
    return None


def _check_pins(data: dict, source: str):
    mcu = data["mcu"]
    owners: dict = {}
    for field, pin, drives in _board_pins(data):
        problem = _pin_problem(mcu, pin, drives)
        if problem:
            _fail(source, field, problem)
        if pin in owners:
            _fail(source, field, f"pin {pin} is already used by {owners[pin]}")
        owners[pin] = field
    for role, wiring in data["apps"].items():
        used = dict(owners)
        for field, pin, drives in _app_pins(role, wiring):
            problem = _pin_problem(mcu, pin, drives)
            if problem:
                _fail(source, field, problem)
            if pin in used:
                _fail(source, field, f"pin {pin} is already used by {used[pin]}")
            used[pin] = field


def _check_apps(data: dict, source: str):
    from citynode.base import roles

    for app in data["apps"]:
        # wiring for a role still being built is allowed (the hardware may come first); a name no list has is not
        if app not in roles.ALL and app not in roles.TOOL_APPS:
            _fail(source, f"apps.{app}", f"no role or tool app {app!r} (roles: {', '.join(roles.APPS)})")
    i2c, uart, i2s = data.get("i2c", {}), data.get("uart", {}), data.get("i2s", {})
    known = set(i2c) | set(uart) | set(i2s) | {"adc", "gpio"}
    # A sensor names its bus; one name must mean one bus, whatever its kind.
    for kind, other_kind, a, b in (
        ("uart", "i2c", uart, i2c),
        ("i2s", "i2c", i2s, i2c),
        ("i2s", "uart", i2s, uart),
    ):
        for name in sorted(set(a) & set(b)):
            _fail(
                source,
                f"{kind}.{name}",
                f"bus name {name!r} is already an {other_kind} bus; bus names must be unique",
            )
    for role, wiring in data["apps"].items():
        addresses: dict = {}
        for name, sensor in wiring.get("sensors", {}).items():
            field = f"apps.{role}.sensors.{name}"
            bus = sensor["bus"]
            if bus not in known:
                _fail(
                    source,
                    f"{field}.bus",
                    f"no bus named {bus!r} on this board (buses: {', '.join(sorted(known))})",
                )
            if bus in i2c:
                if "address" not in sensor:
                    _fail(
                        source, f"{field}.address", f"missing (a sensor on I2C bus {bus!r} needs its address)"
                    )
                key = (bus, sensor["address"])
                if key in addresses:
                    _fail(
                        source,
                        f"{field}.address",
                        f"address {sensor['address']} on bus {bus!r} is already taken by {addresses[key]}",
                    )
                addresses[key] = field


def _check_flash(data: dict, source: str):
    flash, mcu = data["flash"], data["mcu"]
    facts = MCUS[mcu]
    method = flash["method"]
    if method not in facts["flash"]:
        _fail(source, "flash.method", f"{method!r} cannot flash an {mcu} (use {' or '.join(facts['flash'])})")
    required = {"esptool": ("chip", "offset"), "uf2": ("volume_label",), "dfu": ("dfu_id",), "stlink": ()}[
        method
    ]
    for key in required:
        if key not in flash:
            _fail(source, f"flash.{key}", f"missing (flash method {method!r} needs it)")
    if method == "esptool":
        if flash["chip"] != facts["esptool_chip"]:
            _fail(
                source,
                "flash.chip",
                f"{flash['chip']!r} is not the esptool chip of an {mcu} (expected {facts['esptool_chip']!r})",
            )
        if flash["offset"] != facts["offset"]:
            _fail(
                source,
                "flash.offset",
                f"{flash['offset']:#x} is not where an {mcu} image goes (expected {facts['offset']:#x})",
            )


class _NotJSON(ValueError):
    pass


def _not_json(name: str):
    """NaN, Infinity, -Infinity: Python's json reads them, JSON (and the node's json) does not."""
    raise _NotJSON(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise _NotJSON(f"{text} is too large a number")
    return v


def load_file(path: Path) -> dict:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise BoardError(f"{path}: no such board file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BoardError(f"{path}: cannot read: {e}") from None
    try:
        data = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except json.JSONDecodeError as e:
        raise BoardError(f"{path}: not valid JSON: line {e.lineno} column {e.colno}: {e.msg}") from None
    except _NotJSON as e:
        raise BoardError(f"{path}: not valid JSON: {e} (the node could not read the file)") from None
    except RecursionError:
        raise BoardError(f"{path}: not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise BoardError(f"{path}: field (top level): must be a JSON object")
    return validate(data, str(path))


def board_files(directory: Path | None = None) -> list[Path]:
    d = Path(directory) if directory is not None else BOARDS_DIR
    return sorted(p for p in d.glob("*.json") if p.name != "schema.json")


def names() -> list[str]:
    return [p.stem for p in board_files()]


def load(name_or_path: str) -> dict:
    """A board by id (`heltec-wifi-lora32-v3`) or by path to a JSON file."""
    p = Path(name_or_path)
    if p.suffix == ".json" or p.exists():
        return load_file(p)
    candidate = BOARDS_DIR / f"{name_or_path}.json"
    if not candidate.exists():
        raise BoardError(f"unknown board {name_or_path!r}; known boards: {', '.join(names())}")
    return load_file(candidate)


def load_all(directory: Path | None = None) -> list[dict]:
    """Every board file in `directory` (default: the boards/ folder), validated; the first bad one raises."""
    return [load_file(p) for p in board_files(directory)]


def summary(board: dict) -> dict:
    """The fields `citynode boards` shows."""
    return {
        "id": board["id"],
        "name": board["name"],
        "mcu": board["mcu"],
        "radio": board["radio"]["chip"],
        "heap_kb": board["heap_kb"],
        "flash": board["flash"]["method"],
    }


def emulator_heap_kb(board: dict) -> int:
    return board["heap_kb"] * HEAP_SCALE_64BIT


# What the node reads of its board (written to the node as board.json by deploy and by the emulator): the
# hardware it drives, and only its own app's wiring. Names, URLs and the flash recipe stay on the desktop.
NODE_FIELDS = (
    "id",
    "mcu",
    "port",
    "rtc_memory_bytes",
    "deepsleep_keeps_ram",
    "cryptolib",
    "radio",
    "i2c",
    "uart",
    "i2s",
    "leds",
    "battery",
    "button",
)


BUS_KINDS = ("i2c", "uart", "i2s")


def node_view(board: dict, app: str) -> dict:
    """The board as one role's node sees it: its hardware, with only the buses that role's sensors are wired to
    (every dict costs the node heap: the Heltec's unused OLED bus, UART and microphone alone are ~1.5 KB)."""
    wiring = board["apps"].get(app, {})
    used = {s.get("bus") for s in wiring.get("sensors", {}).values()}
    view = {k: board[k] for k in NODE_FIELDS if k in board}
    for kind in BUS_KINDS:
        buses = {name: bus for name, bus in view.pop(kind, {}).items() if name in used}
        if buses:
            view[kind] = buses
    view["apps"] = {app: wiring}
    return view
