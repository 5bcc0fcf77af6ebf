"""The one wake pipeline (firmware/node/pipeline.py, uplink.py, downlink.py, schedule.py), tried with a role that
is nothing but its package: `bin`, whose messages the schema already has, written here in a few lines the way a
new role is written. Everything it gets (encoding, the send after a soft reset, the daily status, downlinks, the
schedule, one uplink per wake) comes from the pipeline, under MicroPython on the emulated board and network."""

from __future__ import annotations

import pytest
from citynode.views import decode_uplink

from fleet import payloads
from hil.emulator import EmulatedBoard
from hil.network import DEMO_DEV_EUI, attach_network
from hil.testing import firmware_with, logs

START = "2026-09-07T09:00:00+02:00"
SETTINGS = """
DEFAULTS = {"interval_s": 600, "confirmed": False, "full_pct": 80, "depth_mm": 1000, "fire_c": 60,
            "tilt_deg": 45, "confirm_n": 2}


def get(node, key):
    return node.setting(key, DEFAULTS[key])
"""
# The bin fills 5 % a wake; full at full_pct (an event, once); a one-shot 'fire drill' command logs itself.
WAKE = """
from apps.bin.settings import get


def wake(node):
    st = node.store
    fill = st.get("fill", 40) + 5
    st.set("fill", fill, durable=True)
    node.log("bin: fill=%d" % fill)
    if node.setting("quiet"):
        return 300
    full = fill >= get(node, "full_pct")
    if full and not st.get("full"):
        st.set("full", 1, durable=True)
        return "event", {"alarm": "full", "fill_pct": fill, "temp_c": 21, "flags": 32}
    return "periodic", {"distance_mm": 1000 - fill * 10, "fill_pct": fill, "temp_c": 21, "flags": 32 if full else 0}
"""
HOOK = """
def apply(node, cfg):
    node.log("bin hook: %s" % ",".join(sorted(cfg)))
"""
SCHEDULE = """
def next_wake_at(node):
    return [None, 1200]
"""


def bin_board(tmp_path, files=None, **kw):
    pkg = {"apps/bin/__init__.py": "# a waste bin (test role)\n", "apps/bin/settings.py": SETTINGS,
           "apps/bin/wake.py": WAKE}  # fmt: skip
    pkg.update(files or {})
    fw = firmware_with(tmp_path / "fw", pkg)
    b = EmulatedBoard(app="bin", firmware_dir=fw, flash_dir=tmp_path / "flash", start=START, **kw)
    radio = attach_network(b)
    return b, radio


def uplinks(b):
    out = []
    for e in b.events:
        if e["type"] == "lora_frame" and e.get("frame") == "uplink":
            assert e["mic_ok"]
            d = decode_uplink(e["fport"], e["payload"])
            out.append((d["message"], d, e))
    return out


def test_a_role_is_its_package_and_the_pipeline_does_the_rest(tmp_path):
    b, _ = bin_board(tmp_path)
    with b:
        r = b.run(wakes=10)
    assert not r.halted
    ups = uplinks(b)
    # one uplink per wake: the join's wake sends the reading, the next the status, then readings and one event
    assert len(ups) == 10 and [m for m, _, _ in ups[:2]] == ["periodic", "status"]
    assert all(d["role"] == "bin" for _, d, _ in ups)
    fills = [d["fill_pct"] for m, d, _ in ups if m == "periodic"]
    assert fills[0] == 45 and fills == sorted(fills)
    events = [d for m, d, _ in ups if m == "event"]
    assert [(e["alarm"], e["fill_pct"]) for e in events] == [("full", 80)]
    status = next(d for m, d, _ in ups if m == "status")
    assert status["fw"] and status["reset_cause"] in ("power_on", "deepsleep")
    # each uplink went out in the radio's half, after a soft reset, with the role's code gone
    assert sum("citynode resume app=bin" in ln for ln in logs(b)) >= 10
    boots = [e["t"] for e in b.events if e["type"] == "boot" and not e.get("soft_reset")]
    assert {round(y - x) for x, y in zip(boots[1:], boots[2:], strict=False)} == {600}  # interval_s default


def test_a_wake_with_nothing_to_send_sleeps_what_the_role_says(tmp_path):
    b, _ = bin_board(tmp_path, config={"quiet": True})
    with b:
        b.run(wakes=3)
    assert not uplinks(b) and not [e for e in b.events if e["type"] == "lora_frame"]
    assert not any("citynode resume" in ln for ln in logs(b))  # no half to hand over to
    boots = [e["t"] for e in b.events if e["type"] == "boot"]
    assert {round(y - x) for x, y in zip(boots, boots[1:], strict=False)} == {300}


def test_downlink_settings_commands_and_the_role_hook(tmp_path):
    b, radio = bin_board(tmp_path, {"apps/bin/downlink.py": HOOK})
    with b:
        b.run(wakes=2)
        port, data = payloads.encode_downlink("bin", {"full_pct": 95, "command": "status"})
        radio.server.enqueue(DEMO_DEV_EUI, port, data)
        b.run(wakes=3)
        out = logs(b)
        ups = uplinks(b)
    assert any("bin: config {" in ln and "'full_pct': 95" in ln for ln in out)
    assert any(ln.endswith("bin hook: command,full_pct") for ln in out)  # after the pipeline applied it
    # the status the network asked for goes at the next wake, in the periodic reading's place
    assert [m for m, _, _ in ups][-3:] in (
        ["periodic", "status", "periodic"],
        ["status", "periodic", "periodic"],
    )
    # the new threshold holds: 80 % no longer makes the bin full
    assert not [d for m, d, _ in ups if m == "event"]


def test_a_corrupt_downlink_changes_nothing_and_says_why(tmp_path):
    b, radio = bin_board(tmp_path)
    with b:
        b.run(wakes=2)
        radio.server.enqueue(DEMO_DEV_EUI, 25, b"\xa1\x03\x19\x07\xd0")  # full_pct = 2000: out of range
        b.run(wakes=2)
        out = logs(b)
    assert any("bin: downlink refused: bad downlink: full_pct: 2000 outside its range" in ln for ln in out)
    assert not any("bin: config" in ln for ln in out)


def test_the_roles_schedule_sets_the_next_wake(tmp_path):
    b, _ = bin_board(tmp_path, {"apps/bin/schedule.py": SCHEDULE})
    with b:
        b.run(wakes=4)
    boots = [e["t"] for e in b.events if e["type"] == "boot" and not e.get("soft_reset")]
    assert {round(y - x) for x, y in zip(boots, boots[1:], strict=False)} == {1200}


@pytest.mark.parametrize("mode", ["inprocess", "process"])
def test_a_broken_role_is_a_counted_crash_not_a_silent_one(tmp_path, mode):
    broken = WAKE.replace("fill = st.get", "fill = st.get_missing")
    b, _ = bin_board(tmp_path, {"apps/bin/wake.py": broken}, mode=mode)
    with b:
        b.run(wakes=2)
        out = logs(b)
    assert any("error in app: AttributeError" in ln for ln in out)
    assert any("crash 2 in a row" in ln for ln in out) and not uplinks(b)
