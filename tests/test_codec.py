"""The generated JavaScript codec, run in real Node.js, reads and writes exactly what the Python codec does.

Random frames (well-formed, out of range, wrong types, truncated, bit-flipped, junk appended) are batched: one
Node.js process per hypothesis example. The codec runs in a bare `vm` context: no require, no import, as in The
Things Stack's and ChirpStack's sandboxes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cbor2
import pytest
from citynode.cli import cli
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet import codec_js
from fleet import payloads as P

SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))

HARNESS = r"""
const fs = require("fs"), vm = require("vm");
const ctx = {};
vm.runInNewContext(fs.readFileSync(process.argv[2], "utf8"), ctx);
const lines = fs.readFileSync(0, "utf8").split("\n").filter(Boolean);
const out = [];
for (const line of lines) {
  const call = JSON.parse(line);
  try {
    out.push(JSON.stringify(ctx[call.fn](call.input)));
  } catch (e) {
    out.push(JSON.stringify({thrown: String(e && e.message)}));
  }
}
process.stdout.write(out.join("\n") + "\n");
"""


def node_exe() -> str:
    exe = shutil.which("node") or ("/usr/bin/node" if Path("/usr/bin/node").exists() else None)
    if exe is None:
        pytest.fail("Node.js is needed to test the JavaScript codec: install it (apt-get install nodejs)")
    return exe


@pytest.fixture(scope="module")
def run_js(tmp_path_factory):
    d = tmp_path_factory.mktemp("codec")
    (d / "harness.js").write_text(HARNESS)
    paths = {}
    for fmt in codec_js.FORMATS:
        paths[fmt] = d / f"{fmt}.js"
        paths[fmt].write_text(codec_js.generate(fmt))
    exe = node_exe()

    def run(calls: list[dict], fmt: str = "tts", path: Path | None = None) -> list[dict]:
        stdin = "\n".join(json.dumps(c) for c in calls) + "\n"
        r = subprocess.run(
            [exe, str(d / "harness.js"), str(path or paths[fmt])],
            input=stdin.encode(),
            capture_output=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr.decode()
        out = [json.loads(x) for x in r.stdout.decode().split("\n")[:-1]]  # not splitlines: U+2028 is data
        assert len(out) == len(calls)
        return out

    return run


# ---------------------------------------------------------------------------------------------- random frames

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats()
    | st.text(max_size=6)
    | st.binary(max_size=6),
    lambda kids: (
        st.lists(kids, max_size=3)
        | st.dictionaries(st.integers(-3, 30) | st.text(max_size=2), kids, max_size=3)
    ),
    max_leaves=6,
)


def wire_item(f):
    t = f["type"]
    if t == "num":
        good = st.integers(f["wmin"] - 2, f["wmax"] + 2)
    elif t == "bool":
        good = st.booleans()
    elif t == "text":
        good = st.text(max_size=f["max_len"] + 2)
    elif t == "bytes":
        good = st.binary(max_size=f["max_len"] + 2)
    else:
        top = (1 << f["bits"]) - 1
        good = st.integers(-top - 3 if f.get("sign") else 0, top + 3) | st.integers(-4 * top - 9, 4 * top + 9)
    return st.one_of(good, good, good, st.none(), junk)


@st.composite
def frames(draw, direction="up"):
    msgs = [m for r in P.MESSAGES.values() for m in r.values() if m.direction == direction]
    msg = draw(st.sampled_from(msgs))
    if direction == "up":
        n = draw(st.integers(0, len(msg.fields) + 2))
        items = [draw(wire_item(msg.fields[i])) if i < len(msg.fields) else draw(junk) for i in range(n)]
        data = b"".join(cbor2.dumps(x, canonical=True) for x in items)
    else:
        keys = draw(st.lists(st.integers(0, len(msg.fields) + 2), max_size=6, unique=True))
        m = {k: draw(wire_item(msg.fields[k]) if k < len(msg.fields) else junk) for k in keys}
        data = cbor2.dumps(draw(st.sampled_from([m, m, m, [m], 5])), canonical=True)
    how = draw(st.integers(0, 5))
    if how == 1 and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == 2 and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    elif how == 3:
        data = draw(st.binary(max_size=10))
    port = msg.fport if draw(st.integers(0, 9)) else draw(st.integers(0, 230))
    return port, data


def python_side(port: int, data: bytes, direction: str):
    try:
        d = P.decode(port, data)
    except P.PayloadError:
        return None
    if d.direction != direction:
        return None
    return d.as_dict(), d.warnings


def assert_same(port, data, want, got):
    if want is None:
        assert got.get("errors"), (port, data.hex(), got)
        assert "data" not in got
    else:
        assert not got.get("errors"), (port, data.hex(), got, want)
        assert got["data"] == want[0], (port, data.hex())
        assert got["warnings"] == want[1], (port, data.hex())


@SETTINGS
@given(st.lists(frames("up"), min_size=40, max_size=80))
def test_decode_uplink_matches_python(run_js, batch):
    got = run_js([{"fn": "decodeUplink", "input": {"bytes": list(d), "fPort": p}} for p, d in batch])
    for (port, data), g in zip(batch, got, strict=True):
        assert_same(port, data, python_side(port, data, "up"), g)


@SETTINGS
@given(st.lists(frames("down"), min_size=40, max_size=80))
def test_decode_downlink_matches_python(run_js, batch):
    got = run_js([{"fn": "decodeDownlink", "input": {"bytes": list(d), "fPort": p}} for p, d in batch])
    for (port, data), g in zip(batch, got, strict=True):
        assert_same(port, data, python_side(port, data, "down"), g)


@st.composite
def settings_requests(draw):
    msg = draw(st.sampled_from([m for r in P.MESSAGES.values() for m in r.values() if m.direction == "down"]))
    values = {}
    for f in msg.fields:
        if not draw(st.integers(0, 2)):
            continue
        t = f["type"]
        if t == "num":
            v = draw(
                st.integers(f["wmin"] - 2, f["wmax"] + 2).map(lambda w, f=f: P.value_of(f, w))
                | st.floats(f["min"] - 5, f["max"] + 5)
                | st.integers(f["min"], f["max"])
            )
            values[f["name"]] = v
        elif t == "bool":
            values[f["name"]] = draw(st.booleans() | st.sampled_from([1, "yes"]))
        elif t == "pack":
            for p in f["parts"]:
                if p["kind"] == "enum":
                    values[p["name"]] = draw(
                        st.sampled_from(p["arg"]) | st.integers(0, (1 << p["bits"]) + 1) | st.just("nope")
                    )
                else:
                    values[p["name"]] = draw(st.integers(-1, (1 << p["bits"]) + 1))
    if draw(st.integers(0, 9)) == 0:
        values["nonsense"] = 1
    return msg.role, values


@SETTINGS
@given(st.lists(settings_requests(), min_size=40, max_size=80))
def test_encode_downlink_matches_python(run_js, batch):
    got = run_js([{"fn": "encodeDownlink", "input": {"data": {"role": r, **v}}} for r, v in batch])
    for (role, values), g in zip(batch, got, strict=True):
        try:
            port, data = P.encode_downlink(role, values)
        except P.PayloadError:
            assert g.get("errors"), (role, values, g)
            continue
        assert not g.get("errors"), (role, values, g)
        assert (g["fPort"], bytes(g["bytes"])) == (port, data), (role, values)


# ---------------------------------------------------------------------------------------- formats and the CLI


def test_script_is_self_contained():
    for fmt in codec_js.FORMATS:
        src = codec_js.generate(fmt)
        assert "require(" not in src and "import " not in src and "=>" not in src and "let " not in src


def test_chirpstack_format(run_js):
    got = run_js(
        [
            {
                "fn": "decodeUplink",
                "input": {"bytes": [0x19, 0x04, 0x67, 0x0E, 0x28, 0x01], "fPort": 10, "variables": {}},
            },
            {"fn": "decodeUplink", "input": {"bytes": [0x19], "fPort": 10, "variables": {}}},
            {"fn": "encodeDownlink", "input": {"data": {"red_ppm": 800}, "variables": {"role": "classair"}}},
            {"fn": "encodeDownlink", "input": {"data": {"red_ppm": 8000}, "variables": {"role": "classair"}}},
        ],
        fmt="chirpstack",
    )
    assert got[0] == {
        "data": {
            "role": "classair",
            "message": "periodic",
            "co2_ppm": 1127,
            "temp_c": 21.4,
            "rh_pct": 45.5,
            "led": "green",
            "flags": [],
        },
        "warnings": [],
    }
    assert got[1] == {"thrown": "CBOR data truncated"}
    assert got[2] == {"bytes": list(P.encode_downlink("classair", {"red_ppm": 800})[1])}
    assert got[3] == {"thrown": "red_ppm: 8000 outside 400..5000 ppm"}


def test_tts_format_shapes(run_js):
    got = run_js(
        [
            {"fn": "decodeUplink", "input": {"bytes": [0x38, 0x3E], "fPort": 31}},
            {"fn": "decodeUplink", "input": {"bytes": [0xA1, 0x03, 0x18, 0x50], "fPort": 15}},
            {"fn": "encodeDownlink", "input": {"data": {"red_ppm": 800}}},
            {"fn": "decodeDownlink", "input": {"bytes": [0xA1, 0x03, 0x18, 0x50], "fPort": 15}},
        ]
    )
    assert got[0] == {
        "data": {"role": "parking", "message": "event", "occupied": False, "prev_min": 70},
        "warnings": [],
        "errors": [],
    }
    assert got[1]["errors"] == ["FPort 15 is a downlink port (classair config)"]
    assert got[2]["errors"] == ["say which role: data.role (or the device variable role)"]
    assert got[3]["data"] == {"role": "classair", "message": "config", "red_ppm": 800}


def test_single_role_codec_needs_no_role(run_js, tmp_path):
    r = CliRunner().invoke(
        cli, ["codec", "--format", "tts", "--app", "classair", "-o", str(tmp_path / "ca.js")]
    )
    assert r.exit_code == 0, r.output
    got = run_js(
        [
            {"fn": "encodeDownlink", "input": {"data": {"red_ppm": 900}}},
            {"fn": "decodeUplink", "input": {"bytes": [0], "fPort": 20}},
        ],
        path=tmp_path / "ca.js",
    )
    assert (
        got[0]["fPort"] == 15 and bytes(got[0]["bytes"]) == P.encode_downlink("classair", {"red_ppm": 900})[1]
    )
    assert got[1]["errors"] == ["FPort 20 carries no citynode message"]  # bin is not in a classair codec


def test_codec_for_the_network_server_has_the_built_roles_only():
    r = CliRunner().invoke(cli, ["codec", "--format", "chirpstack"])
    assert r.exit_code == 0 and "roles classair." in r.output.splitlines()[0]
    assert '"bin"' not in r.output and '"classair"' in r.output


def test_codec_command_errors_are_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["codec", "--app", "toaster"])
    assert r.exit_code == 2 and "'toaster' is not a role" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["codec", "--app", "parking"])
    assert r.exit_code == 2 and "parking: that role is not built yet" in r.output
    r = CliRunner().invoke(cli, ["codec", "-o", str(tmp_path / "missing" / "c.js")])
    assert r.exit_code == 2 and "cannot write" in r.output
