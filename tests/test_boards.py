"""Board definitions: every file validates, bad files fail with one line naming file and field, the CLI lists
them, and the minimal app runs on every board on the emulator with that board's heap."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from citynode.base import boards, roles
from citynode.base.paths import BOARDS_DIR
from citynode.cli import cli
from click.testing import CliRunner

from hil.testing import board_with, firmware_with

ALL = boards.names()
ROOT = Path(__file__).resolve().parents[1]


def test_the_five_boards_are_there():
    assert set(ALL) >= {
        "heltec-wifi-lora32-v3",
        "lilygo-t3-s3-sx1262",
        "ttgo-lora32-v21",
        "rpi-pico-sx1262-hat",
        "nucleo-wl55jc",
    }


@pytest.mark.parametrize("board_id", ALL)
def test_every_board_file_validates_and_carries_what_deploy_and_apps_need(board_id):
    b = boards.load(board_id)
    assert b["id"] == board_id
    assert b["url"].startswith("https://")
    assert b["apps"]["counter"] == {}
    co2 = b["apps"]["classair"]["sensors"]["co2"]
    assert co2["chip"] == "scd4x" and co2["address"] == 98 and co2["bus"] in b["i2c"]
    assert set(b["apps"]["classair"]["leds"]) == {"red", "green"}
    assert b["flash"]["usb_vid_pid"]
    assert boards.emulator_heap_kb(b) == 2 * b["heap_kb"]


def test_vendor_facts_the_brief_fixes():
    pico = boards.load("rpi-pico-sx1262-hat")
    assert (pico["mcu"], pico["mpy_arch"], pico["rtc_memory_bytes"]) == ("rp2040", "armv6m", 0)
    assert pico["flash"]["method"] == "uf2" and pico["flash"]["volume_label"] == "RPI-RP2"
    wl = boards.load("nucleo-wl55jc")
    assert (wl["radio"]["chip"], wl["radio"]["driver"], wl["mpy_arch"]) == (
        "stm32wl5",
        "lora-stm32wl5",
        "armv7emsp",
    )
    assert wl["cryptolib"] is False and 32 <= wl["heap_kb"] <= 40
    ttgo = boards.load("ttgo-lora32-v21")
    assert (ttgo["flash"]["chip"], ttgo["flash"]["offset"]) == ("esp32", 0x1000)
    assert ttgo["radio"]["chip"] == "sx1276" and ttgo["radio"]["dio0"] == 26
    for s3 in ("heltec-wifi-lora32-v3", "lilygo-t3-s3-sx1262"):
        b = boards.load(s3)
        assert (b["flash"]["chip"], b["flash"]["offset"]) == ("esp32s3", 0)
    heltec = boards.load("heltec-wifi-lora32-v3")
    r = heltec["radio"]
    assert (
        r["cs"],
        r["spi"]["sck"],
        r["spi"]["mosi"],
        r["spi"]["miso"],
        r["reset"],
        r["busy"],
        r["dio1"],
    ) == (8, 9, 10, 11, 12, 13, 14)


# ---------------------------------------------------------------- bad files


def _heltec():
    return json.loads((BOARDS_DIR / "heltec-wifi-lora32-v3.json").read_text())


def _board(board_id):
    return json.loads((BOARDS_DIR / f"{board_id}.json").read_text())


def _set(d, path, value):
    *head, last = path.split(".")
    for k in head:
        d = d[k]
    if value is _DELETE:
        del d[last]
    else:
        d[last] = value


_DELETE = object()

# (case, base board, {dotted path: new value or _DELETE}, field the error must name, words it must contain)
# fmt: off
BAD = [
    ("missing top-level field", "heltec-wifi-lora32-v3", {"heap_kb": _DELETE}, "heap_kb", "missing"),
    ("missing nested field", "heltec-wifi-lora32-v3", {"radio.driver": _DELETE}, "radio.driver", "missing"),
    ("wrong type", "heltec-wifi-lora32-v3", {"heap_kb": "160"}, "heap_kb", "must be an integer"),
    ("wrong type of pin", "heltec-wifi-lora32-v3", {"radio.cs": 8.5}, "radio.cs", "GPIO number or a pin name"),
    ("unknown field", "heltec-wifi-lora32-v3", {"radio.nss": 8}, "radio.nss", "unknown field"),
    ("unknown mcu", "heltec-wifi-lora32-v3", {"mcu": "esp8266"}, "mcu", "not one of"),
    ("heap out of range", "heltec-wifi-lora32-v3", {"heap_kb": 4}, "heap_kb", "at least 16"),
    ("unknown bus in app wiring", "heltec-wifi-lora32-v3", {"apps.classair.sensors.co2.bus": "qwiic"},
     "apps.classair.sensors.co2.bus", "no bus named 'qwiic'"),
    ("id not matching file name", "heltec-wifi-lora32-v3", {"id": "heltec-v3"}, "id", "must match the file name"),
    ("app LED on the board's LED pin", "heltec-wifi-lora32-v3", {"apps.classair.leds.red.pin": 35},
     "apps.classair.leds.red.pin", "already used by leds.status.pin"),
    ("two app LEDs on one pin", "heltec-wifi-lora32-v3", {"apps.classair.leds.green.pin": 47},
     "apps.classair.leds.green.pin", "already used by apps.classair.leds.red.pin"),
    ("app LED on a radio pin", "rpi-pico-sx1262-hat", {"apps.classair.leds.red.pin": 3},
     "apps.classair.leds.red.pin", "already used by radio.cs"),
    ("bus on a radio pin", "ttgo-lora32-v21", {"i2c.main.sda": 23}, "i2c.main.sda", "already used by radio.reset"),
    ("LED on an input-only pin", "ttgo-lora32-v21", {"leds.status.pin": 34}, "leds.status.pin", "input-only"),
    ("pin on the SPI flash", "ttgo-lora32-v21", {"apps.classair.leds.red.pin": 7}, "apps.classair.leds.red.pin",
     "SPI flash"),
    ("pin the MCU does not have", "rpi-pico-sx1262-hat", {"apps.classair.leds.red.pin": 30},
     "apps.classair.leds.red.pin", "does not exist"),
    ("stm32 pin written with P", "nucleo-wl55jc", {"leds.status.pin": "PB15"}, "leds.status.pin", "write 'B15'"),
    ("stm32 pin as a number", "nucleo-wl55jc", {"button.pin": 0}, "button.pin", "names like"),
    ("port not matching the mcu", "rpi-pico-sx1262-hat", {"port": "esp32"}, "port", "does not go with mcu"),
    ("arch not matching the mcu", "nucleo-wl55jc", {"mpy_arch": "armv6m"}, "mpy_arch", "expected 'armv7emsp'"),
    ("driver not matching the radio", "ttgo-lora32-v21", {"radio.driver": "lora-sx126x"}, "radio.driver",
     "does not drive a sx1276"),
    ("radio pin the driver needs", "heltec-wifi-lora32-v3", {"radio.busy": _DELETE}, "radio.busy",
     "a sx1262 needs it"),
    ("stm32wl5 radio on another mcu", "heltec-wifi-lora32-v3", {"radio.chip": "stm32wl5",
                                                                "radio.driver": "lora-stm32wl5"},
     "radio.chip", "only inside an stm32wl55"),
    ("esptool offset wrong for the chip", "ttgo-lora32-v21", {"flash.offset": 0}, "flash.offset",
     "expected 0x1000"),
    ("esptool chip wrong", "heltec-wifi-lora32-v3", {"flash.chip": "esp32"}, "flash.chip", "expected 'esp32s3'"),
    ("flash method the mcu cannot use", "heltec-wifi-lora32-v3", {"flash.method": "uf2"}, "flash.method",
     "cannot flash an esp32s3"),
    ("uf2 without its volume", "rpi-pico-sx1262-hat", {"flash.volume_label": _DELETE}, "flash.volume_label",
     "missing"),
    ("i2c sensor without address", "heltec-wifi-lora32-v3", {"apps.classair.sensors.co2.address": _DELETE},
     "apps.classair.sensors.co2.address", "needs its address"),
    ("two sensors at one address", "heltec-wifi-lora32-v3",
     {"apps.classair.sensors.co2b": {"chip": "scd4x", "bus": "ext", "address": 98}},
     "apps.classair.sensors.co2b.address", "already taken by apps.classair.sensors.co2"),
]
# fmt: on


@pytest.mark.parametrize(("case", "base", "changes", "field", "words"), BAD, ids=[c[0] for c in BAD])
def test_a_bad_board_file_gives_one_line_naming_file_and_field(tmp_path, case, base, changes, field, words):
    data = _board(base)
    for path, value in changes.items():
        _set(data, path, value)
    name = data["id"] if case != "id not matching file name" else base
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(data))
    with pytest.raises(boards.BoardError) as e:
        boards.load_file(p)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{p}: field {field}: "), msg
    assert words in msg, msg


def test_the_unchanged_copies_are_fine(tmp_path):
    # The bad-file cases above differ from a good file only by their change.
    for board_id in ALL:
        p = tmp_path / f"{board_id}.json"
        p.write_text(json.dumps(_board(board_id)))
        assert boards.load_file(p)["id"] == board_id


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"id": "x",}', "not valid JSON: line 1 column 12"),
        ("[1, 2]", "field (top level): must be a JSON object"),
        ("", "not valid JSON: line 1 column 1"),
    ],
)
def test_unreadable_board_files(tmp_path, text, words):
    p = tmp_path / "x.json"
    p.write_text(text)
    with pytest.raises(boards.BoardError, match=re.escape(f"{p}: {words}")):
        boards.load_file(p)


def test_an_unknown_board_id_lists_the_known_ones():
    with pytest.raises(boards.BoardError, match="unknown board 'nope'; known boards: .*nucleo-wl55jc"):
        boards.load("nope")


# ---------------------------------------------------------------- the CLI


def test_cli_lists_every_board():
    r = CliRunner().invoke(cli, ["boards"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split()[:6] == ["id", "name", "MCU", "radio", "heap", "flash"]
    for board_id in ALL:
        b = boards.load(board_id)
        row = next(ln for ln in lines if ln.startswith(board_id + " "))
        assert b["mcu"] in row and b["radio"]["chip"] in row and f"{b['heap_kb']} KB" in row
        assert b["flash"]["method"] in row


def test_cli_json_is_one_object_per_line():
    r = CliRunner().invoke(cli, ["boards", "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert [row["id"] for row in rows] == ALL
    pico = next(row for row in rows if row["id"] == "rpi-pico-sx1262-hat")
    # which apps fit, each with the emulator heap it needs: tests/test_fits.py
    assert list(pico.pop("fits")) == roles.APPS
    assert pico == {
        "id": "rpi-pico-sx1262-hat",
        "name": "Raspberry Pi Pico + Waveshare Pico-LoRa-SX1262-868M",
        "vendor": "Raspberry Pi / Waveshare",
        "mcu": "rp2040",
        "port": "rp2",
        "mpy_arch": "armv6m",
        "radio": "sx1262",
        "heap_kb": 180,
        "rtc_memory_bytes": 0,
        "flash": "uf2",
        "url": "https://www.waveshare.com/wiki/Pico-LoRa-SX1262",
        "emulator_heap_kb": 360,
    }


def test_installed_console_script_lists_boards_as_json():
    exe = Path(sys.executable).with_name("citynode")
    r = subprocess.run([str(exe), "boards", "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert {json.loads(line)["id"] for line in r.stdout.splitlines()} == set(ALL)


def test_cli_bad_board_file_is_one_line_and_exit_2(tmp_path):
    for board_id in ("heltec-wifi-lora32-v3", "nucleo-wl55jc"):
        (tmp_path / f"{board_id}.json").write_text(json.dumps(_board(board_id)))
    bad = _heltec()
    bad["apps"]["classair"]["leds"]["red"]["pin"] = 8
    (tmp_path / "heltec-wifi-lora32-v3.json").write_text(json.dumps(bad))
    for args in (
        ["boards", "--dir", str(tmp_path)],
        ["boards", "--dir", str(tmp_path), "--json"],
        ["boards", "check", str(tmp_path / "heltec-wifi-lora32-v3.json")],
    ):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 2, r.output
        assert r.output == (
            f"citynode: error: {tmp_path / 'heltec-wifi-lora32-v3.json'}: field "
            "apps.classair.leds.red.pin: pin 8 is already used by radio.cs\n"
        )
    r = CliRunner().invoke(cli, ["boards", "check", str(tmp_path / "nucleo-wl55jc.json")])
    assert r.exit_code == 0 and r.output == f"ok {tmp_path / 'nucleo-wl55jc.json'}\n"


@pytest.mark.parametrize("board_id", ALL)
def test_cli_show(board_id):
    r = CliRunner().invoke(cli, ["boards", "show", board_id])
    assert r.exit_code == 0, r.output
    b = boards.load(board_id)
    assert r.output.startswith(f"{b['name']} ({board_id})")
    assert "classair: co2: scd4x" in r.output and "0x62" in r.output
    r = CliRunner().invoke(cli, ["boards", "show", board_id, "--json"])
    assert json.loads(r.output) == b


def test_cli_show_unknown_board():
    r = CliRunner().invoke(cli, ["boards", "show", "nope"])
    assert r.exit_code == 2 and r.output.startswith("citynode: error: unknown board 'nope'")


def test_schema_is_a_valid_draft_2020_12_schema():
    # Checked here rather than on every board load (boards._validator): it cost each command 25-30 ms of start-up.
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(json.loads((BOARDS_DIR / "schema.json").read_text()))


def test_docs_explain_every_schema_field():
    doc = (ROOT / "docs" / "boards.md").read_text()
    schema = json.loads((BOARDS_DIR / "schema.json").read_text())
    fields = set(schema["properties"])
    for section in ("radio", "flash", "battery"):
        fields |= set(schema["properties"][section]["properties"])
    missing = sorted(f for f in fields if f"`{f}`" not in doc)
    assert not missing, f"docs/boards.md does not explain: {missing}"


# ---------------------------------------------------------------- on the emulator


@pytest.mark.parametrize("board_id", ALL)
def test_minimal_app_runs_on_every_board_with_its_heap(make_board, board_id):
    b = make_board(board_id, "counter")
    assert b.heap_kb == 2 * boards.load(board_id)["heap_kb"]
    res = b.run(hours=2)
    assert res.halted is None and b.halted is None
    assert res.wakes >= 8
    lines = [e["line"] for e in b.events if e["type"] == "log"]
    assert any(f"board={board_id} app=counter" in ln for ln in lines)
    wakes = [int(ln.rsplit(" ", 1)[1]) for ln in lines if re.search(r"\] wake \d+$", ln)]
    assert len(wakes) == res.boots and wakes == sorted(set(wakes))


BLINK = """
import time


def run(node):
    n = int(time.time()) // 900
    node.board.led("red" if n % 2 else "green", "blink").on()
    node.board.led("status").value(n % 2)
    return 900
"""


@pytest.mark.parametrize("board_id", ["nucleo-wl55jc", "ttgo-lora32-v21"])
def test_board_leds_light_on_the_emulator_by_pin_number_or_name(make_board, tmp_path, board_id):
    # NUCLEO pins are names ("B11"), the others numbers: both reach the emulator's LED events.
    spec = boards.load(board_id)
    board = board_with(board_id, app="blink", wiring={"leds": spec["apps"]["classair"]["leds"]})
    fw = firmware_with(tmp_path / "fw", {"apps/blink.py": BLINK})
    b = make_board(board, "blink", firmware_dir=fw)
    b.run(hours=0.6)
    on = [(e["name"], e["on"]) for e in b.events if e["type"] == "led" and e["on"]]
    assert ("green", True) in on and ("red", True) in on and ("status", True) in on


def test_a_bus_name_used_for_two_kinds_of_bus_is_refused(tmp_path):
    import json

    from citynode.base import boards

    data = boards.load("heltec-wifi-lora32-v3")
    data["uart"] = {"ext": {"id": 1, "tx": 33, "rx": 34}}
    path = tmp_path / "heltec-wifi-lora32-v3.json"
    path.write_text(json.dumps(data))
    with pytest.raises(boards.BoardError, match=r"field uart\.ext: bus name 'ext' is already an i2c bus"):
        boards.load_file(path)
