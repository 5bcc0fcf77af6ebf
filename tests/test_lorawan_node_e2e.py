"""The node's LoRaWAN link end to end on the emulated board: unmodified firmware (node runtime + firmware/lorawan +
the lorawan_probe app) through the emulated modem (hil/mpy/lora) and radio path (hil/radio.py) to the network
server (fleet.lorawan.server), in virtual time."""

from __future__ import annotations

import pytest

from fleet.lorawan import region
from fleet.lorawan.maccommands import MacCommand
from hil.network import attach_network
from hil.testing import logs as _logs

DEV, JOIN, KEY = "70b3d57ed00000a1", "70b3d57ed0000000", "5a5a5a5a5a5a5a5a0102030405060708"


def _net(b, **kw):
    return attach_network(b, dev_eui=DEV, join_eui=JOIN, app_key=KEY, **kw)


def test_probe_joins_once_and_keeps_its_session_across_deep_sleeps(make_board):
    b = make_board(app="lorawan_probe", config={"interval_s": 900})
    radio = _net(b)
    r = b.run(hours=6)
    radio.flush(b)
    assert r.halted is None, _logs(b)[-15:]
    fr = radio.frames
    kinds = [f["frame"] for f in fr]
    assert kinds.count("join_request") == 1 and kinds.count("join_accept") == 1
    ups = [f for f in fr if f["frame"] == "uplink"]
    assert len(ups) >= 22 and all(f["mic_ok"] for f in ups)
    assert [f["fcnt"] for f in ups] == list(range(len(ups)))
    assert radio.server.counters["rejected"] == 0
    # the wake counter the probe sends arrives in order
    assert [int(f["payload"][:4], 16) for f in ups] == list(range(len(ups)))
    # DeviceTime: the node knows the time of day, and it matches the emulator's virtual clock
    last = [ln for ln in _logs(b) if "probe: n=" in ln][-1]
    t_node = int(last.rsplit("time=", 1)[1])
    t_virtual = [e for e in b.events if e["type"] == "log" and "probe: n=" in e["line"]][-1]["t"]
    assert abs(t_node - t_virtual) <= 2
    assert "margin=None" not in last


def test_mac_commands_end_to_end(make_board):
    b = make_board(app="lorawan_probe", config={"interval_s": 600})
    radio = _net(b)
    b.run(hours=0.5)
    s = radio.server
    s.request_status(DEV)
    s.request_mac(
        DEV, MacCommand("NewChannel", {"ch_index": 8, "freq": 867_500_000, "min_dr": 0, "max_dr": 5})
    )
    s.request_mac(DEV, MacCommand("RXParamSetup", {"rx1_dr_offset": 1, "rx2_dr": 3, "freq": 869_525_000}))
    s.request_mac(DEV, MacCommand("RXTimingSetup", {"delay": 3}))
    r = b.run(hours=1)
    radio.flush(b)
    assert r.halted is None, _logs(b)[-15:]
    ups = [u for u in s.records if u["type"] == "uplink"]
    answers = {m["name"]: m for u in ups for m in (u.get("mac") or [])}
    assert answers["NewChannel"]["freq_ok"] and answers["NewChannel"]["dr_range_ok"]
    assert answers["RXParamSetup"]["channel_ack"] and answers["RXParamSetup"]["rx2_dr_ack"]
    assert "RXTimingSetup" in answers
    st = s._dev(DEV)["status"]
    assert st and 1 <= st["battery"] <= 255
    # after the answers, every uplink is still accepted and the node still hears the server's downlinks
    assert s.counters["rejected"] == 0
    # a channel the emulated gateway listens on (it also hears the CFList channels): every frame stays on them
    tx = [e for e in b.events if e["type"] == "radio_tx"]
    assert {e["freq"] for e in tx} <= set(region.DEFAULT_CHANNELS_HZ + region.CFLIST_CHANNELS_HZ)


def test_power_cuts_during_writes_never_reuse_devnonce_or_fcnt(make_board):
    b = make_board(app="lorawan_probe", config={"interval_s": 300}, mode="process")
    radio = _net(b)
    import random

    rng = random.Random(4)
    for _ in range(25):
        b.powercut_after_bytes = rng.randrange(0, 400)
        b.run(wakes=rng.randrange(1, 3))
    b.run(hours=1)
    radio.flush(b)
    assert b.halted is None
    joins = [f for f in radio.frames if f["frame"] == "join_request"]
    from fleet.lorawan import frames

    nonces = [frames.parse(bytes.fromhex(j["phy_payload"])).dev_nonce for j in joins]
    assert len(nonces) == len(set(nonces))
    seen = set()
    for f in radio.frames:
        if f["frame"] == "uplink":
            key = (f.get("dev_addr"), f["fcnt"])
            assert key not in seen
            seen.add(key)
    assert radio.server.summary()["rejected_by_reason"].get("DevNonce replay", 0) == 0
    assert any(f["frame"] == "uplink" for f in radio.frames[-5:])  # recovered and sending


@pytest.mark.parametrize(("mode", "heap_kb"), [("inprocess", 60), ("process", 62)])
def test_whole_node_with_lorawan_in_the_heap_the_readme_gives(make_board, mode, heap_kb):
    # The node's whole heap (runtime, store, app, lora driver, LoRaWAN MAC), 6 virtual hours with the network, at the
    # figures README Benchmarks gives for the 64-bit emulator (bench/lorawan.py measures them): 60 KB in-process,
    # 62 KB one process per boot. A change that makes the node need more fails here until they are measured again.
    b = make_board(app="lorawan_probe", config={"interval_s": 900}, heap_kb=heap_kb, mode=mode)
    radio = _net(b)
    r = b.run(hours=6)
    radio.flush(b)
    assert r.halted is None, _logs(b)[-10:]
    assert not [ln for ln in _logs(b) if "MemoryError" in ln]
    assert len([f for f in radio.frames if f["frame"] == "uplink" and f["mic_ok"]]) >= 23
