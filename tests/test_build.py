"""`citynode build` from the command line: the bundle, its manifest, and one-line errors."""

import hashlib
import json

from kit import citynode

from fleet.payloads import decode_uplink

BOARD = "heltec-wifi-lora32-v3"


def run_cli(*args):
    return citynode(*args, ok=False)


def test_build_cli_writes_a_verifiable_bundle(tmp_path):
    out = tmp_path / "bundle"
    r = run_cli("build", "-b", BOARD, "-a", "counter", "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m == json.loads((out / "manifest.json").read_text())
    for rel, h in m["files"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == h
    # The version is written into node/version of the bundle (compiled): the string is in the .mpy.
    assert m["version"].encode() in (out / "fw" / "node" / "version.mpy").read_bytes()
    assert (out / "fw" / "node" / "runtime.mpy").read_bytes()[:2] == b"M\x06"  # .mpy version 6
    assert (out / "main.py").read_text().startswith("# citynode loader")


def test_build_errors_are_one_line(tmp_path):
    r = run_cli("build", "-b", BOARD, "-a", "nosuchapp", "-o", str(tmp_path / "x"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "'nosuchapp' is not a role" in r.stderr
    r = run_cli("build", "-b", "nosuchboard", "-a", "counter", "-o", str(tmp_path / "x"))
    assert r.returncode == 2 and "unknown board 'nosuchboard'" in r.stderr and "Traceback" not in r.stderr


def test_bundle_runs_under_micropython_with_only_its_own_modules(tmp_path, mpy):
    # Every module in the bundle imports with nothing but the bundle (and the board's built-ins) on the path.
    out = tmp_path / "b"
    assert run_cli("build", "-b", BOARD, "-a", "counter", "-o", str(out)).returncode == 0
    mods = [
        p.relative_to(out / "fw").with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
        for p in (out / "fw").rglob("*.mpy")
    ]
    code = f"import sys\nsys.path[:] = [{str(out / 'fw')!r}, '.frozen']\n"
    code += "".join(f"import {m}\n" for m in sorted(mods))
    code += "print('ok')\n"
    assert mpy(code, firmware_dir=out / "fw").strip().endswith("ok")


def test_classair_bundle_carries_its_payload_table_and_encodes(tmp_path, mpy):
    # payload.py loads its role's table by name (__import__("payload_" + role)): the bundle must carry that one
    # table, and no other role's, or every uplink of a deployed node fails.
    out = tmp_path / "b"
    assert run_cli("build", "-b", BOARD, "-a", "classair", "-o", str(out)).returncode == 0
    tables = sorted(p.name for p in (out / "fw").glob("payload_*.mpy"))
    assert tables == ["payload_classair.mpy"]
    code = f"import sys\nsys.path[:] = [{str(out / 'fw')!r}, '.frozen']\n"
    code += "import payload\n"
    code += "v = {'co2_ppm': 1127, 'temp_c': 21.4, 'rh_pct': 45.5, 'led': 'green', 'flags': 0}\n"
    code += "print(payload.encode_uplink('classair', 'periodic', v).hex())\n"
    got = bytes.fromhex(mpy(code, firmware_dir=out / "fw").strip().splitlines()[-1])
    d = decode_uplink(10, got, role="classair")
    assert (d.message, d.data["co2_ppm"], d.data["led"]) == ("periodic", 1127, "green")


def test_the_bundles_board_json_is_what_the_emulator_gives_the_node(tmp_path):
    # The node reads its board.json into its heap: it gets its hardware and its own role's wiring, with only the
    # buses that role's sensors use, exactly as the emulator measures it; names, notes and the flash recipe stay
    # on the desktop.
    from citynode.base import boards

    out = tmp_path / "b"
    assert run_cli("build", "-b", BOARD, "-a", "classair", "-o", str(out)).returncode == 0
    node = json.loads((out / "board.json").read_text())
    assert node == boards.node_view(boards.load(BOARD), "classair")
    assert set(node["apps"]) == {"classair"} and node["i2c"].keys() == {"ext"}  # the SCD4x's bus; no OLED bus
    assert not {"name", "notes", "flash", "uart", "i2s"} & node.keys()
    assert node["radio"] == boards.load(BOARD)["radio"]
