"""`citynode emulate` with the network attached: `--json` frame lines checked one by one, identity options,
secrets kept out of the output."""

import json
import shutil

import pytest
from citynode.base import roles
from citynode.base.paths import FIRMWARE_DIR
from citynode.cli import cli
from click.testing import CliRunner

from fleet.lorawan import crypto, frames

DEV, JOIN, KEY = "0011223344556677", "8899aabbccddeeff", "000102030405060708090a0b0c0d0e0f"
PROBE = """
# test app: one uplink per wake with a counter; logs any downlink and the network time
def run(node):
    n = node.store.get("probe_n", 0)
    dl = node.link.send(7, bytes([n & 0xFF, 0xAB]))
    if dl:
        node.log("probe: downlink %d %s" % (dl[0], bytes(dl[1]).hex()))
    node.log("probe: sent %d joined=%s time=%s" % (n, node.link.joined, node.link.time()))
    node.store.set("probe_n", n + 1, durable=True)
    return 300
"""
FRAME_TYPES = {"join_request", "join_accept", "uplink", "downlink"}


@pytest.fixture
def probe_firmware(tmp_path, monkeypatch):
    d = tmp_path / "fw"
    shutil.copytree(FIRMWARE_DIR, d, ignore=shutil.ignore_patterns("__pycache__"))
    (d / "apps" / "e2e_probe.py").write_text(PROBE)
    monkeypatch.setattr("hil.emulator.FIRMWARE_DIR", d)
    monkeypatch.setattr("citynode.base.roles.APPS", [*roles.APPS, "e2e_probe"])  # this test's own app
    return d


def emulate(*args):
    return CliRunner().invoke(cli, ["emulate", *args], catch_exceptions=False)


def test_json_lines_for_every_frame_then_summary(probe_firmware):
    r = emulate(
        "--app",
        "e2e_probe",
        "--hours",
        "1",
        "--json",
        "--dev-eui",
        DEV.upper(),
        "--join-eui",
        JOIN,
        "--app-key",
        KEY,
    )
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.splitlines()]  # every line is one JSON object
    fr = [x for x in lines if x["type"] in FRAME_TYPES]
    assert lines[-1]["type"] == "summary" and all(x["type"] != "summary" for x in lines[:-1])
    assert [x["type"] for x in fr[:3]] == ["join_request", "join_accept", "uplink"]
    ts = []
    for x in fr:
        for k, typ in (
            ("t", float),
            ("dev_eui", str),
            ("phy_payload", str),
            ("freq", int),
            ("dr", int),
            ("airtime_ms", float),
        ):
            assert isinstance(x[k], typ), (k, x)
        assert x["dev_eui"] == DEV
        assert 863_000_000 <= x["freq"] <= 870_000_000 and 0 <= x["dr"] <= 6 and x["airtime_ms"] > 20
        phy = bytes.fromhex(x["phy_payload"])
        frames.parse(phy)  # a well-formed LoRaWAN frame
        if x["type"] == "uplink":
            assert isinstance(x["fport"], int) and isinstance(x["fcnt"], int) and x["mic_ok"] is True
            f = frames.parse(phy)
            assert f.fcnt == x["fcnt"] & 0xFFFF and f.fport == x["fport"]
            assert len(bytes.fromhex(x["payload"])) == len(f.payload)
        ts.append(x["t"])
    ups = [x for x in fr if x["type"] == "uplink"]
    assert len(ups) == 12 and [x["fcnt"] for x in ups] == list(range(12))
    assert [x["payload"] for x in ups[:2]] == ["00ab", "01ab"]
    assert ts == sorted(ts)
    net = lines[-1]["network"]
    assert net["joins"] == 1 and net["uplinks"] == 12 and net["rejected"] == 0
    assert net["uplinks_heard"] == 12 and net["join_accepts_received"] == 1
    # no key ever reaches the output: not the AppKey, not the session keys derived from it
    jr = frames.parse(bytes.fromhex(fr[0]["phy_payload"]))
    ja = frames.parse(bytes.fromhex(fr[1]["phy_payload"])).decrypt(bytes.fromhex(KEY))
    nwk, app = crypto.session_keys(bytes.fromhex(KEY), ja.join_nonce, ja.net_id, jr.dev_nonce)
    for secret in (KEY, nwk.hex(), app.hex()):
        assert secret not in r.output.lower()


def test_text_mode_shows_frames(probe_firmware):
    r = emulate("--app", "e2e_probe", "--hours", "0.2")
    assert r.exit_code == 0, r.output
    assert "~ join-request DR5" in r.output and "~ uplink DR5" in r.output and "payload=00ab" in r.output
    assert "c17e0de0c17e0de0" not in r.output  # the demo AppKey


def test_without_identity_options_the_demo_identity_joins(probe_firmware):
    r = emulate("--app", "e2e_probe", "--hours", "0.1", "--json")
    fr = [x for x in map(json.loads, r.output.splitlines()) if x["type"] in FRAME_TYPES]
    assert fr[0]["type"] == "join_request" and fr[0]["dev_eui"] == "02c17e0de0000001"
    assert fr[1]["type"] == "join_accept" and fr[1]["received"] is True


@pytest.mark.parametrize(
    "opt, value, what",
    [
        ("--dev-eui", "0011", "DevEUI"),
        ("--join-eui", "zz11223344556677", "JoinEUI"),
        ("--app-key", "00" * 15, "AppKey"),
    ],
)
def test_bad_identity_is_one_line_exit_2(opt, value, what):
    r = CliRunner().invoke(cli, ["emulate", "--app", "classair", opt, value])
    assert r.exit_code == 2
    out = r.output.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("citynode: error: ") and what in out[0]
    assert "Traceback" not in r.output


def test_the_shipped_probe_app_through_the_real_command():
    """`citynode emulate` as a user runs it (console entry point, a separate process), with the node helper's
    firmware/apps/lorawan_probe.py: a join, then one uplink per 15 minutes, all verified."""
    import subprocess
    import sys

    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "citynode",
            "emulate",
            "--app",
            "lorawan_probe",
            "--hours",
            "2",
            "--json",
            "--app-key",
            KEY,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    fr = [x for x in lines if x["type"] in FRAME_TYPES]
    ups = [x for x in fr if x["type"] == "uplink"]
    assert fr[0]["type"] == "join_request" and len(ups) == 8 and all(x["mic_ok"] for x in ups)
    assert [x["fcnt"] for x in ups] == list(range(8))
    assert lines[-1]["type"] == "summary" and lines[-1]["network"]["rejected"] == 0
    assert KEY not in r.stdout + r.stderr


def test_counter_app_runs_without_a_network(tmp_path):
    r = emulate("--app", "counter", "--hours", "1", "--json")
    last = json.loads(r.output.splitlines()[-1])
    assert r.exit_code == 0 and last["type"] == "summary" and "network" not in last
