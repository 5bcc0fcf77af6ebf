"""The payload schema, the node's encoder (real MicroPython) and the Python codec agree, byte for byte.

Random readings per message are batched: one MicroPython process per hypothesis example.
"""

from __future__ import annotations

import math

import cbor2
import pytest
from citynode.base import payload_schema as S
from citynode.base.paths import REPO_ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet import payloads as P
from fleet import payloads_gen

UPLINKS = [m for r in P.MESSAGES.values() for m in r.values() if m.direction == "up"]
DOWNLINKS = [m for r in P.MESSAGES.values() for m in r.values() if m.direction == "down"]
SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))

# One line per frame: hex of cbor [role, kind, values] -> hex of the node's payload, or ERR.
MPY_ENCODE = r"""
import sys, binascii, cbor, payload
while True:
    line = sys.stdin.readline().strip()
    if not line:
        break
    role, kind, values = cbor.loads(binascii.unhexlify(line))
    try:
        print(binascii.hexlify(payload.encode_uplink(role, kind, values)).decode())
    except ValueError as e:
        print("ERR", e)
"""

MPY_DOWNLINK = r"""
import sys, binascii, cbor, payload
while True:
    line = sys.stdin.readline().strip()
    if not line:
        break
    role, port, data = line.split(" ")
    try:
        got = payload.decode_downlink(role, int(port), binascii.unhexlify(data))
        print(binascii.hexlify(cbor.dumps(got)).decode())
    except ValueError as e:
        print("ERR", e)
"""


def run_lines(mpy, code: str, lines: list[str]) -> list[str]:
    out = mpy(code, stdin=("\n".join(lines) + "\n").encode()).split("\n")[:-1]
    assert len(out) == len(lines), out
    return out


# ------------------------------------------------------------------------------------------------ the schema


def test_every_message_fits_dr0_beside_full_fopts():
    for m in UPLINKS + DOWNLINKS:
        assert P.worst_case_size(m) <= S.MAX_BYTES == 36, (m.role, m.name)


@pytest.mark.parametrize(
    "role,name,goal",
    [
        ("classair", "periodic", 10),
        ("parking", "event", 2),
        ("bin", "periodic", 9),
        ("sonometer", "periodic", 16),
        ("greenhouse", "periodic", 14),
    ],
)
def test_size_goals_hold_even_in_the_worst_case(role, name, goal):
    assert P.worst_case_size(P.message(role, name)) <= goal


def test_worst_case_size_is_reached_by_real_extreme_frames():
    # The figure above is not a formula that could lie: the extreme readings really produce it.
    msg = P.message("classair", "periodic")
    data = P.encode_uplink(
        "classair", "periodic", {"co2_ppm": 10000, "temp_c": -40, "rh_pct": 0, "led": 3, "flags": 7}
    )
    assert len(data) == P.worst_case_size(msg) == 10
    data = P.encode_uplink(
        "sonometer",
        "periodic",
        {n: 30 for n in ("laeq_db", "lafmax_db", "lafmin_db", "l10_db", "l50_db", "l90_db", "lceq_db")}
        | {"flags": 31},
    )
    assert len(data) == 16


def test_ranges_cover_real_extremes():
    f = {f["name"]: f for m in UPLINKS for f in m.fields if f["type"] == "num"}
    assert f["co2_ppm"]["max"] >= 10000
    for t in ("temp_c", "air_temp_c", "soil_temp_c"):
        assert f[t]["min"] <= -40 and f[t]["max"] >= 85
    for db in ("laeq_db", "lafmax_db", "lafmin_db", "l10_db", "l50_db", "l90_db", "lceq_db"):
        assert f[db]["min"] <= 30 and f[db]["max"] >= 130


def test_fports_name_role_and_message():
    assert P.fport("classair", "periodic") == 10 and P.fport("parking", "event") == 31
    assert len(P.PORTS) == sum(len(r) for r in P.MESSAGES.values())
    assert all(1 <= p <= 223 for p in P.PORTS)


def test_generated_files_are_fresh():
    stale = payloads_gen.stale(REPO_ROOT)
    assert not stale, f"stale: {[str(p) for p in stale]}: run `python -m fleet.payloads_gen`"


# --------------------------------------------------------------------------------- node encoder == Python twin


def _part_values(f, draw):
    out = {}
    if f.get("sign"):
        out[f["sign"]] = draw(st.booleans() | st.none())
    for p in f["parts"]:
        k = p["kind"]
        top = (1 << p["bits"]) - 1
        if k == "enum":
            v = draw(st.sampled_from(p["arg"]) | st.integers(0, top + 2) | st.none())
        elif k == "bool":
            v = draw(st.booleans() | st.none())
        elif k == "steps":
            v = draw(st.integers(0, 30000) | st.floats(0, 30000) | st.none())
        else:
            v = draw(st.integers(0, top + 3) | st.none())
        out[p["name"]] = v
    return out


@st.composite
def readings(draw, msg):
    values = {}
    for f in msg.fields:
        t = f["type"]
        if t == "pack":
            values.update(_part_values(f, draw))
            continue
        if t == "num":
            span = f["max"] - f["min"]
            v = draw(
                st.integers(f["wmin"] - 3, f["wmax"] + 3).map(lambda w, f=f: P.value_of(f, w))
                | st.floats(f["min"] - span / 4, f["max"] + span / 4)
                | st.sampled_from([math.nan, math.inf, -math.inf, None])
            )
        elif t == "bool":
            v = draw(st.booleans() | st.none())
        elif t == "text":
            v = draw(st.text(max_size=14) | st.none())
        else:
            v = draw(st.binary(max_size=12) | st.none())
        if draw(st.integers(0, 9)) or v is None:  # now and then the key is simply missing
            values[f["name"]] = v
    return msg, values


any_reading = st.sampled_from(UPLINKS).flatmap(readings)


@SETTINGS
@given(st.lists(any_reading, min_size=30, max_size=60))
def test_node_encoder_matches_python_codec(mpy, batch):
    lines = [cbor2.dumps([m.role, m.name, v]).hex() for m, v in batch]
    got = run_lines(mpy, MPY_ENCODE, lines)
    for (m, v), hexed in zip(batch, got, strict=True):
        want = P.encode_uplink(m.role, m.name, v)
        assert hexed == want.hex(), (m.role, m.name, v)


@settings(max_examples=200, deadline=None)
@given(any_reading)
def test_decoded_readings_are_within_half_a_step_or_flagged(item):
    msg, values = item
    data = P.encode_uplink(msg.role, msg.name, values)
    assert len(data) <= P.worst_case_size(msg)
    d = P.decode(msg.fport, data)
    # An enum code the schema has no name for is sent as is (a newer node) and read with a warning.
    assert all(": unknown code " in w for w in d.warnings) and (d.role, d.message) == (msg.role, msg.name)
    flags = d.data.get("flags", [])
    for f in msg.fields:
        if f["type"] != "num":
            continue
        v, got = values.get(f["name"]), d.data[f["name"]]
        if v is None or v != v:
            assert got is None
            if "flags" in d.data:
                assert "sensor_fault" in flags
        elif f["min"] - f["res"] / 2 < v < f["max"] + f["res"] / 2:
            assert abs(got - v) <= f["res"] / 2 + 1e-9 * max(1, abs(v)), (f["name"], v, got)
        else:
            assert got == (f["max"] if v > f["max"] else f["min"])  # clamped, never wrapped
            if "flags" in d.data:
                assert "out_of_range" in flags


def test_classair_periodic_is_6_bytes_typically_and_reads_back():
    values = {"co2_ppm": 1127, "temp_c": 21.4, "rh_pct": 45.5, "led": "green", "flags": 0}
    data = P.encode_uplink("classair", "periodic", values)
    assert data.hex() == "1904670e2801"
    d = P.decode(10, data)
    assert d.as_dict() == {
        "role": "classair",
        "message": "periodic",
        "co2_ppm": 1127,
        "temp_c": 21.4,
        "rh_pct": 45.5,
        "led": "green",
        "flags": [],
    }


def test_out_of_range_is_flagged_not_wrapped(mpy):
    out = mpy(
        "import payload\n"
        "d = payload.encode_uplink('classair', 'periodic', {'co2_ppm': 40000, 'temp_c': 21.4, 'rh_pct': 45.5,"
        " 'led': 'red', 'flags': payload.FLAG_LOW_BATTERY})\n"
        "print(d.hex())\n"
    )
    d = P.decode(10, bytes.fromhex(out.strip()))
    assert d.data["co2_ppm"] == 10000 and d.data["led"] == "red"
    assert d.data["flags"] == ["out_of_range", "low_battery"]


def test_parking_state_change_carries_occupancy_in_the_sign():
    for occupied in (True, False):
        for minutes, code_bytes in ((5, 1), (74, 2), (90000, 2)):
            data = P.encode_uplink("parking", "event", {"occupied": occupied, "prev_min": minutes})
            assert len(data) == code_bytes
            d = P.decode(31, data).data
            assert d["occupied"] is occupied
            assert d["prev_min"] <= minutes and (minutes - d["prev_min"] < 5 or minutes > 21240)


# ----------------------------------------------------------------------------------- downlinks: node == Python


@st.composite
def settings_values(draw, msg):
    values = {}
    for f in msg.fields:
        if not draw(st.booleans()):
            continue
        t = f["type"]
        if t == "num":
            values[f["name"]] = P.value_of(f, draw(st.integers(f["wmin"], f["wmax"])))
        elif t == "bool":
            values[f["name"]] = draw(st.booleans())
        elif t == "pack":
            for p in f["parts"]:
                if p["kind"] == "enum":
                    values[p["name"]] = draw(st.sampled_from(p["arg"]))
                else:
                    values[p["name"]] = draw(st.integers(0, (1 << p["bits"]) - 1))
    if not values:
        f = msg.fields[0]
        values[f["name"]] = f["max"]
    return msg, values


junk_value = (
    st.none()
    | st.booleans()
    | st.integers(-70000, 70000)
    | st.floats()
    | st.text(max_size=3)
    | st.binary(max_size=3)
)


@st.composite
def downlink_frames(draw):
    msg, values = draw(st.sampled_from(DOWNLINKS).flatmap(settings_values))
    port, data = P.encode_downlink(msg.role, values, rules=False)  # the wire only: rules are tested apart
    how = draw(st.integers(0, 4))
    if how == 1:  # a key with a junk value, maybe unknown
        m = cbor2.loads(data)
        m[draw(st.integers(0, len(msg.fields) + 3))] = draw(junk_value)
        data = cbor2.dumps(m, canonical=True)
    elif how == 2:  # not a map, or trailing bytes, or truncated
        data = draw(st.sampled_from([b"\x01", data + b"\x00", data[:-1] or b"\xa1", b"\x80"]))
    elif how == 3:  # wrong port for the role
        port = draw(st.sampled_from(list(P.PORTS)))
    return msg.role, port, data


@SETTINGS
@given(st.lists(downlink_frames(), min_size=30, max_size=60))
def test_node_accepts_exactly_what_the_python_codec_accepts(mpy, batch):
    got = run_lines(mpy, MPY_DOWNLINK, [f"{r} {p} {d.hex()}" for r, p, d in batch])
    for (role, port, data), line in zip(batch, got, strict=True):
        try:
            want = P.decode_downlink(role, port, data)
        except P.PayloadError:
            assert line.startswith("ERR"), (role, port, data.hex(), line)
            continue
        assert not line.startswith("ERR"), (role, port, data.hex(), line)
        assert cbor2.loads(bytes.fromhex(line)) == want


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(DOWNLINKS).flatmap(settings_values))
def test_encode_downlink_round_trips(item):
    msg, values = item
    port, data = P.encode_downlink(msg.role, values, rules=False)
    assert port == msg.fport and len(data) <= P.worst_case_size(msg)
    assert P.decode_downlink(msg.role, port, data) == values


@pytest.mark.parametrize(
    "values,message",
    [
        ({"red_ppm": 6000}, "red_ppm: 6000 outside 400..5000 ppm"),
        ({"red_ppm": 805}, "red_ppm: 805 is not a multiple of 10 ppm"),
        ({"led_mode": "blink"}, "led_mode: 'blink' is not one of traffic, red_only, off"),
        ({"asc": "yes"}, "asc: expected true or false, got 'yes'"),
        ({"colour": 1}, "classair has no setting 'colour'"),
        ({}, "nothing to send"),
    ],
)
def test_encode_downlink_refuses_bad_values_with_one_line(values, message):
    with pytest.raises(P.PayloadError) as e:
        P.encode_downlink("classair", values)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "port,hex_,message",
    [
        (10, "19", "CBOR data truncated"),
        (10, "c24105", "CBOR tags are not used"),
        (10, "6161", "co2_ppm: expected an integer, got text"),
        (99, "00", "FPort 99 carries no citynode message"),
        (0, "00", "FPort 0 is not an application port"),
        (15, "01", "classair config is one CBOR map"),
        (15, "a1031901f4", None),
        (15, "a10319ffff", "red_ppm: 655350 outside 400..5000"),
    ],
)
def test_decode_errors_are_one_line(port, hex_, message):
    if message is None:
        assert P.decode(port, bytes.fromhex(hex_)).data == {"red_ppm": 5000}
        return
    with pytest.raises(P.PayloadError) as e:
        P.decode(port, bytes.fromhex(hex_))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_trailing_and_missing_items_are_warnings():
    data = P.encode_uplink("bin", "periodic", {"distance_mm": 500, "fill_pct": 80, "temp_c": 20, "flags": 0})
    d = P.decode(20, data + b"\x01")
    assert d.warnings == ["1 items after the last known field ignored"] and d.data["distance_mm"] == 500
    d = P.decode(20, data[:3])
    assert d.warnings == ["frame ends before fill_pct"] and d.data == {"distance_mm": 500}


def test_node_loads_only_its_role_and_stays_small(mpy):
    out = mpy(
        "import gc, sys\n"
        "gc.collect(); a = gc.mem_free()\n"
        "import payload\n"
        "d = payload.encode_uplink('parking', 'event', {'occupied': True, 'prev_min': 3})\n"
        "gc.collect()\n"
        "print(d.hex(), sorted(m for m in sys.modules if m.startswith('payload')), a - gc.mem_free())\n"
    )
    hexed, mods, used = out.split(" ", 1)[0], out[out.index("[") : out.index("]") + 1], int(out.split()[-1])
    assert hexed == "03"
    assert mods == "['payload', 'payload_parking']"
    assert used < 24000  # source-compiled on the 64-bit port; about half of it on a 32-bit board from .mpy


def test_readme_size_table_matches_the_codec():
    from fleet import payloads_compare as C

    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("## Payloads") :]
    section = section[: section.index("\n## ")]
    rows = {(r["role"], r["message"]): r for r in C.rows()}
    for role, label in [
        ("classair", "ClassAir periodic"),
        ("bin", "bin periodic"),
        ("sonometer", "sonometer periodic"),
        ("greenhouse", "greenhouse periodic"),
    ]:
        r = rows[(role, "periodic")]
        assert f"| **{r['cbor']} B** | {r['worst']} B" in section.split(label, 1)[1].split("\n", 1)[0], role
        assert f"| {r['lpp']} B | {r['json']} B |" in section.split(label, 1)[1].split("\n", 1)[0], role
    r = rows[("parking", "event")]
    assert (
        f"| **{r['cbor']} B** | {r['worst']} B"
        in section.split("parking state change", 1)[1].split("\n", 1)[0]
    )


# Issue #18: a map key that only compares equal to a setting's number (true == 1, false == 0, 3.0 == 3) was taken
# for it (`a1f502` on FPort 15 rebooted a ClassAir node); an empty or oversized downlink read as "no settings".
# Node and fleet codec both refuse them; a key that is an integer the schema does not know is still ignored.
HOSTILE_DOWNLINKS = [
    "a1f502",
    "a1f400",
    "a1f9420001",
    "a1fb400800000000000001",
    "",
    "a11863" + "59ea60" + "00" * 60000,
]


def test_downlinks_with_lookalike_keys_empty_or_oversized_are_refused(mpy):
    code = MPY_DOWNLINK.replace('line.split(" ")', '(line + " ").split(" ")[:3]')
    out = run_lines(mpy, code, [f"classair 15 {h}" for h in HOSTILE_DOWNLINKS + ["a11863f5"]])
    assert all(o.startswith("ERR ") for o in out[:-1]), out
    assert out[-1] == "a0"  # an unknown integer key: ignored (a newer schema)
    for h in HOSTILE_DOWNLINKS:
        with pytest.raises(P.PayloadError):
            P.decode_downlink("classair", 15, bytes.fromhex(h))
    assert P.decode_downlink("classair", 15, bytes.fromhex("a11863f5")) == {}
    with pytest.raises(P.PayloadError, match="empty"):
        P.decode(10, b"")
    with pytest.raises(P.PayloadError, match="more than 242 bytes"):
        P.decode(10, bytes.fromhex("1904670e2801") + bytes(237))
