"""Board definitions: `boards/*.json`, validated against `boards/schema.json`."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from citynode.paths import BOARDS_DIR

# The unix port is 64-bit: MicroPython objects there take up to twice the bytes they take on a 32-bit MCU, so
# the emulator gives the interpreter twice the board's heap (see docs/architecture.md, "Heap scaling").
HEAP_SCALE_64BIT = 2


class BoardError(ValueError):
    """A board file is missing, unreadable or does not match the schema. The message names file and field."""


@cache
def _validator():
    import jsonschema

    schema = json.loads((BOARDS_DIR / "schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _field(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate(data: dict, source: str) -> dict:
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        err = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise BoardError(f"{source}: field {_field(err.absolute_path)}: {err.message}{more}")
    stem = Path(source).stem
    if data["id"] != stem:
        raise BoardError(f"{source}: field id: {data['id']!r} must match the file name {stem!r}")
    for role, wiring in data["apps"].items():
        for name, sensor in wiring.get("sensors", {}).items():
            bus = sensor["bus"]
            known = set(data.get("i2c", {})) | set(data.get("uart", {})) | set(data.get("i2s", {})) | {"adc", "gpio"}
            if bus not in known:
                raise BoardError(f"{source}: field apps.{role}.sensors.{name}.bus: no bus named {bus!r} on this board")
    return data


def load_file(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BoardError(f"{path}: no such board file") from None
    except json.JSONDecodeError as e:
        raise BoardError(f"{path}: not valid JSON: line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(data, dict):
        raise BoardError(f"{path}: field (top level): must be a JSON object")
    return validate(data, str(path))


def board_files() -> list[Path]:
    return sorted(p for p in BOARDS_DIR.glob("*.json") if p.name != "schema.json")


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


def emulator_heap_kb(board: dict) -> int:
    return board["heap_kb"] * HEAP_SCALE_64BIT
