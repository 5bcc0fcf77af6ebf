"""Settings and the rules between them, defined once in the schema: the node, `citynode encode-downlink`, the
JavaScript codec, `citynode emulate --config` and `citynode provision --set` accept and refuse the same ones, for
the same reason, in the same words.

Random downlinks are batched: one MicroPython process and one Node.js process per hypothesis example.
"""

from __future__ import annotations

import json
import re

import cbor2
import pytest
from citynode.cli import cli
from citynode.paths import FIRMWARE_DIR
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_classair_net import IN_CLASS, net_board, wakes
from test_codec import run_js  # noqa: F401 - the Node.js fixture

from fleet import payloads as P
from fleet import payloads_gen
from fleet import role_settings as R
from hil.devices import by_name
from hil.network import DEMO_DEV_EUI

SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
CONFIG = P.config_message("classair")
FIELDS = {n: (k, f) for k, f in enumerate(CONFIG.fields) for n in P._names(f)}

# What node/downlink.py does with a configuration downlink, over the node's settings: a line per case,
# hex of cbor [downlink, node's stored settings] -> OK | RULE <reason> | ERR <decode error>.
MPY_CHECK = r"""
import sys, binascii, cbor, payload
from apps.classair.settings import DEFAULTS
while True:
    line = sys.stdin.readline().strip()
    if not line:
        break
    data, state = cbor.loads(binascii.unhexlify(line))
    try:
        cfg = payload.decode_downlink("classair", 15, data)
    except ValueError as e:
        print("ERR", e)
        continue
    why = payload.check_config("classair", cfg, lambda k: state[k] if k in state else DEFAULTS.get(k))
    print("OK" if why is None else "RULE " + why)
"""


def citynode(*args):
    return CliRunner().invoke(cli, list(args))


def one_line_error(r, *words):
    assert r.exit_code == 2, r.output
    assert r.output.count("\n") == 1 and r.output.startswith("citynode: error: "), r.output
    for w in words:
        assert w in r.output, r.output


# ------------------------------------------------------------------------------------------ the schema's settings


def test_classair_defaults_are_the_ones_the_node_always_had():
    assert P.defaults("classair", link=False) == {
        "interval_s": 900,
        "idle_interval_s": 3600,
        "red_ppm": 800,
        "orange_ppm": 0,
        "hysteresis_ppm": 100,
        "active_start_h": 7,
        "active_end_h": 18,
        "active_days": 0x1F,
        "led_mode": "traffic",
        "asc": True,
        "altitude_m": 0,
        "tz_min": 60,
        "dst": "eu",
        "confirmed": False,
    }
    # the node's table is generated from them (and kept fresh: test_payload checks staleness)
    text = (FIRMWARE_DIR / "apps" / "classair" / "settings.py").read_text()
    assert text == payloads_gen.role_settings("classair") and "Do not edit" in text
    assert "def get(node, key):\n    return node.setting(key, DEFAULTS[key])" in text


def test_every_setting_has_a_range_and_one_shots_have_no_default():
    for app in list(P.MESSAGES) + ["counter", "lorawan_probe"]:
        for name, f in P.SETTINGS[app].items():
            assert f["doc"], (app, name)
            if name != "dr":  # unset: the join picks
                assert f["default"] is not None, (app, name)
    assert P.one_shots("classair") == ["command", "frc_ppm"]
    assert set(R.names("lorawan_probe")) == {"interval_s", "fport", "confirmed", "dr", "adr"}
    assert R.names("counter") == ["interval_s"]
    for role in P.MESSAGES:
        assert P.check_config(role, P.defaults(role), P.defaults(role).get) is None


# ------------------------------------------------------------------------- node == encode-downlink == JavaScript

RULED = ("red_ppm", "orange_ppm", "hysteresis_ppm", "active_start_h", "active_end_h")


def _wire(name, draw, ref):
    """A wire value near the rules' edges (relative to `ref`, the settings the node would hold), sometimes
    beyond the field's range."""
    f = FIELDS[name][1]
    near = {
        "red_ppm": st.integers(37, 60) | st.integers(f["wmin"] - 2, f["wmax"] + 2),
        "orange_ppm": st.just(0) | st.integers(ref["red_ppm"] // 10 - 3, ref["red_ppm"] // 10 + 3),
        "hysteresis_ppm": st.integers(ref["red_ppm"] // 10 - 43, ref["red_ppm"] // 10 - 37)
        | st.integers(-1, 101),
        "active_start_h": st.integers(ref["active_end_h"] - 2, ref["active_end_h"] + 2),
        "active_end_h": st.integers(ref["active_start_h"] - 2, ref["active_start_h"] + 2),
    }[name]
    return draw(near | st.integers(f["wmin"] - 1, f["wmax"] + 1))


@st.composite
def cases(draw, node_state=True):
    """(values for encode-downlink, the raw frame the node gets, the node's stored settings)."""
    state = {}
    if node_state and draw(st.booleans()):
        for name in draw(st.lists(st.sampled_from(RULED), unique=True, max_size=3)):
            f = FIELDS[name][1]
            state[name] = P.value_of(f, draw(st.integers(f["wmin"], f["wmax"])))
    ref = {**P.defaults("classair"), **state}
    values, frame = {}, {}
    for name in draw(st.lists(st.sampled_from(RULED), unique=True, min_size=1, max_size=5)):
        key, f = FIELDS[name]
        w = _wire(name, draw, {**ref, **values})
        values[name] = P.value_of(f, w)
        frame[key] = w
    if draw(st.booleans()):  # a setting no rule reads, or a one-shot: (value, wire)
        name, (v, w) = draw(
            st.sampled_from(
                [
                    ("interval_s", (600, 10)),
                    ("asc", (False, False)),
                    ("command", ("status", 1)),
                    ("led_mode", ("off", 2)),
                ]
            )
        )
        values[name] = v
        frame[FIELDS[name][0]] = w
    return values, cbor2.dumps(frame, canonical=True), state


def fleet_side(values, state):
    """("OK", bytes) | ("RULE", reason, message, the RuleError) | ("ERR", message)"""
    try:
        return "OK", P.encode_downlink("classair", values, state)[1]
    except P.RuleError as e:
        return "RULE", e.reason, str(e), e
    except P.PayloadError as e:
        return "ERR", str(e)


def node_side(mpy, batch):
    lines = [cbor2.dumps([frame, state]).hex() for _, frame, state in batch]
    out = mpy(MPY_CHECK, stdin=("\n".join(lines) + "\n").encode()).split("\n")[:-1]
    assert len(out) == len(batch), out
    return out


@SETTINGS
@given(st.lists(cases(node_state=False), min_size=40, max_size=80))
def test_node_cli_and_javascript_refuse_the_same_downlinks_in_the_same_words(mpy, run_js, batch):  # noqa: F811
    node = node_side(mpy, batch)
    js = run_js([{"fn": "encodeDownlink", "input": {"data": {"role": "classair", **v}}} for v, _, _ in batch])
    for (values, frame, _), n, j in zip(batch, node, js, strict=True):
        got = fleet_side(values, {})
        if got[0] == "OK":
            assert got[1] == frame, values  # the frame the node was given is what the CLI sends
            assert n == "OK", (values, n)
            assert not j.get("errors") and bytes(j["bytes"]) == got[1], (values, j)
        elif got[0] == "RULE":
            assert n == "RULE " + got[1], (values, n, got)
            assert j.get("errors") == [got[2]], (values, j, got)
            assert got[2].startswith(got[1]) and "\n" not in got[2]
        else:  # outside a field's range: refused by all three before any rule
            assert n.startswith("ERR"), (values, n)
            assert j.get("errors") == [got[1]], (values, j)


@SETTINGS
@given(st.lists(cases(), min_size=40, max_size=80))
def test_encode_downlink_told_the_nodes_settings_refuses_what_that_node_refuses(mpy, batch):
    node = node_side(mpy, batch)
    for (values, _, state), n in zip(batch, node, strict=True):
        got = fleet_side(values, state)
        want = {"OK": "OK", "RULE": f"RULE {got[1]}", "ERR": "ERR"}[got[0]]
        assert n == want or (got[0] == "ERR" and n.startswith("ERR")), (values, state, n, got)
        if got[0] == "RULE":  # says which of the node's settings it assumed: the rule's that it was not told
            e = got[3]
            rule_keys = {e.rule["left"], e.rule["right"]}
            assert set(e.assumed) == rule_keys - set(state) - set(values) or (
                e.rule["unless_zero"] and set(e.assumed) < rule_keys
            )
            for k, v in e.assumed.items():
                assert f"{k}={v}" in got[2].split("; assumed the node's ")[1]


def test_a_refusal_says_the_rule_and_what_it_assumed():
    with pytest.raises(P.RuleError) as e:
        P.encode_downlink("classair", {"orange_ppm": 900})
    assert str(e.value) == (
        "orange_ppm must be below red_ppm (or 0) (orange_ppm=900, red_ppm=800): orange comes before red; "
        "assumed the node's red_ppm=800 (the default)"
    )
    assert P.encode_downlink("classair", {"orange_ppm": 900}, {"red_ppm": 1000})[0] == 15
    assert P.encode_downlink("classair", {"orange_ppm": 0, "red_ppm": 410, "hysteresis_ppm": 0})[0] == 15


def test_chirpstack_codec_throws_the_rule(run_js):  # noqa: F811
    got = run_js(
        [
            {
                "fn": "encodeDownlink",
                "input": {"data": {"red_ppm": 600, "orange_ppm": 700}, "variables": {"role": "classair"}},
            }
        ],
        fmt="chirpstack",
    )
    assert got == [
        {
            "thrown": "orange_ppm must be below red_ppm (or 0) (orange_ppm=700, red_ppm=600): orange comes before red"
        }
    ]


# ------------------------------------------------------------------------------------------------- the commands


def test_encode_downlink_refuses_a_broken_rule_in_its_words():
    r = citynode("encode-downlink", "--app", "classair", "red_ppm=600", "orange_ppm=700")
    one_line_error(
        r, "orange_ppm must be below red_ppm (or 0) (orange_ppm=700, red_ppm=600): orange comes before red"
    )
    r = citynode("encode-downlink", "--app", "classair", "red_ppm=450")
    one_line_error(
        r,
        "hysteresis_ppm must be below red_ppm - 400 (hysteresis_ppm=100, red_ppm=450)",
        "assumed the node's hysteresis_ppm=100 (the default: say the node's own with --node KEY=VALUE)",
    )
    r = citynode(
        "encode-downlink", "--app", "classair", "red_ppm=450", "--node", "hysteresis_ppm=0", "--json"
    )
    assert r.exit_code == 0 and json.loads(r.output)["fport"] == 15
    one_line_error(
        citynode("encode-downlink", "--app", "classair", "red_ppm=900", "--node", "hysteresis_ppm=5"),
        "--node: hysteresis_ppm: 5 is not a multiple of 10 ppm",
    )
    one_line_error(
        citynode("encode-downlink", "--app", "classair", "red_ppm=900", "--node", "volume=5"),
        "--node: classair has no setting 'volume' (settings: interval_s,",
    )


def _wake_count(output):
    return json.loads(output.strip().splitlines()[-1])["wakes"]


def test_emulate_config_sets_the_nodes_settings():
    r = citynode("emulate", "--app", "counter", "--config", "interval_s=60", "--hours", "1", "--json")
    assert r.exit_code == 0, r.output
    assert 59 <= _wake_count(r.output) <= 61
    r = citynode("emulate", "--app", "counter", "--hours", "1", "--json")
    assert _wake_count(r.output) == 4  # every 900 s by default


def test_emulate_config_a_classair_red_threshold():
    r = citynode("emulate", "--app", "classair", "--config", "red_ppm=1500", "--json")
    assert r.exit_code == 0, r.output
    seen = []
    for line in r.output.splitlines():
        e = json.loads(line)
        m = (
            re.search(r"classair: co2=(\d+) .* level=(\w+)", e.get("line", ""))
            if e["type"] == "log"
            else None
        )
        if m:
            seen.append((int(m.group(1)), m.group(2)))
    assert seen and all(lv == "red" for co2, lv in seen if co2 >= 1500)
    assert all(lv == "green" for co2, lv in seen if co2 < 1400)
    assert any(lv == "green" for co2, lv in seen if 800 <= co2 < 1400)  # red at the default 800


@pytest.mark.parametrize(
    "app,items,words",
    [
        ("counter", ["volume=3"], "--config: counter has no setting 'volume' (settings: interval_s)"),
        ("counter", ["interval_s=0"], "--config: interval_s: 0 outside 1..86400 s"),
        ("counter", ["interval_s"], "expected KEY=VALUE"),
        ("classair", ["interval_s=90"], "interval_s: 90 is not a multiple of 60 s"),
        ("classair", ["led_mode=disco"], "led_mode: 'disco' is not one of traffic, red_only, off"),
        ("classair", ["asc=maybe"], "asc: expected true or false (or 1/0), got 'maybe'"),
        ("classair", ["frc_ppm=420"], "frc_ppm is a one-shot action, not a setting"),
        (
            "classair",
            ["orange_ppm=900"],
            "--config: orange_ppm must be below red_ppm (or 0) (orange_ppm=900, red_ppm=800): orange comes before "
            "red; red_ppm=800 by default",
        ),
        (
            "classair",
            ["active_start_h=9", "active_end_h=8"],
            "active_start_h must be below active_end_h (active_start_h=9, active_end_h=8)",
        ),
        ("lorawan_probe", ["fport=224"], "fport: 224 outside 1..223"),
    ],
)
def test_emulate_config_refuses_in_one_line(app, items, words):
    args = [x for i in items for x in ("--config", i)]
    one_line_error(citynode("emulate", "--app", app, "--hours", "1", *args), words)


def test_settings_parse_by_type():
    assert R.check(
        "classair", dict(R.parse("classair", i) for i in ["interval_s=600.0", "asc=0", "dst=none"])
    ) == {
        "interval_s": 600,
        "asc": False,
        "dst": "none",
    }
    assert R.check("lorawan_probe", {"dr": "3", "adr": "false", "confirmed": "1"}) == {
        "dr": 3,
        "adr": False,
        "confirmed": True,
    }
    assert R.check("classair", {"led_mode": 1, "active_days": "0b11"}) == {
        "led_mode": "red_only",
        "active_days": 3,
    }
    # over a node's config: only the rules the given settings take part in
    assert R.check("classair", {"orange_ppm": 900}, base={"red_ppm": 1000}) == {"orange_ppm": 900}
    with pytest.raises(R.SettingError) as e:
        R.check("classair", {"red_ppm": 600}, base={"orange_ppm": 700})
    assert str(e.value).endswith("; orange_ppm=700 in the node's config")
    assert R.check("classair", {"interval_s": 600}, base={"orange_ppm": 700, "red_ppm": 600}) == {
        "interval_s": 600
    }


# ----------------------------------------------------------------------------------- end to end, on the air


def test_what_the_cli_accepts_the_node_applies_and_what_it_refuses_the_node_refuses_too(make_board):
    b, radio = net_board(make_board, start=IN_CLASS)
    b.world.set("co2_ppm", lambda t: 850.0)
    by_name(b, "co2").noise_ppm = 0
    b.run(wakes=1)
    assert wakes(b)[-1]["led"] == "red"  # the default red, 800
    r = citynode("encode-downlink", "--app", "classair", "red_ppm=1000", "orange_ppm=900", "--json")
    assert r.exit_code == 0, r.output
    radio.server.enqueue(DEMO_DEV_EUI, 15, bytes.fromhex(json.loads(r.output)["hex"]))
    b.run(wakes=2)  # heard after the next uplink, used by the wake after
    assert wakes(b)[-1]["led"] == "orange"

    r = citynode("encode-downlink", "--app", "classair", "orange_ppm=1100", "--node", "red_ppm=1000")
    one_line_error(r, "orange_ppm must be below red_ppm (or 0) (orange_ppm=1100, red_ppm=1000)")
    reason = r.output.split("error: ")[1].split(":")[0]
    forced = P.encode_downlink("classair", {"orange_ppm": 1100}, rules=False)[1]  # past the CLI
    radio.server.enqueue(DEMO_DEV_EUI, 15, forced)
    b.run(wakes=2)
    logs = [e["line"] for e in b.events if e["type"] == "log"]
    assert any(ln.endswith(f"classair: downlink refused: {reason}") for ln in logs), logs[-6:]
    assert wakes(b)[-1]["led"] == "orange"  # nothing applied
