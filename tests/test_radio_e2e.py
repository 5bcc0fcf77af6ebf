"""End to end on the emulated board: the node's own LoRaWAN MAC (firmware/lorawan) through the emulated modem
(hil/mpy/lora) and radio (hil/radio.py) to the network server (fleet.lorawan.server): join, uplinks, a downlink."""

import shutil

import pytest
from citynode.base.paths import FIRMWARE_DIR

from fleet.lorawan import frames
from fleet.lorawan.pathmodel import PathModel
from fleet.lorawan.server import NetworkServer
from hil.network import attach_network

DEV, JOIN, KEY = "0011223344556677", "8899aabbccddeeff", "000102030405060708090a0b0c0d0e0f"

PROBE = """
# test app: one uplink per wake with a counter; logs any downlink and the network time
def run(node):
    n = node.store.get("probe_n", 0)
    dl = node.link.send(7, bytes([n & 0xFF, 0xAB]), node.setting("confirmed", False))
    if dl:
        node.log("probe: downlink %d %s" % (dl[0], bytes(dl[1]).hex()))
    node.log("probe: sent %d joined=%s time=%s" % (n, node.link.joined, node.link.time()))
    node.store.set("probe_n", n + 1, durable=True)
    return 300
"""


@pytest.fixture
def fw(tmp_path):
    d = tmp_path / "fw"
    shutil.copytree(FIRMWARE_DIR, d, ignore=shutil.ignore_patterns("__pycache__"))
    (d / "apps" / "e2e_probe.py").write_text(PROBE)
    return d


def test_join_uplinks_and_a_downlink_end_to_end(make_board, fw):
    b = make_board(app="e2e_probe", firmware_dir=fw)
    radio = attach_network(b, dev_eui=DEV, join_eui=JOIN, app_key=KEY, position=(800.0, 0.0))
    radio.server.enqueue(DEV, 42, b"\x01\x02\x03")
    res = b.run(hours=1)
    radio.flush(b)
    assert res.halted is None, [e for e in b.events if e["type"] == "log"][-10:]
    fr = radio.frames
    kinds = [f["frame"] for f in fr]
    assert kinds[:2] == ["join_request", "join_accept"] and fr[1]["received"] is True
    ups = [f for f in fr if f["frame"] == "uplink"]
    assert len(ups) >= 10
    assert all(f["mic_ok"] and f["heard"] for f in ups)
    assert [bytes.fromhex(f["payload"]) for f in ups[:3]] == [b"\x00\xab", b"\x01\xab", b"\x02\xab"]
    assert [f["fcnt"] for f in ups] == sorted(f["fcnt"] for f in ups)
    # every uplink the server delivered, nothing rejected
    assert [u["payload"] for u in radio.server.delivered(DEV)] == [bytes.fromhex(f["payload"]) for f in ups]
    assert radio.server.counters["rejected"] == 0, [
        r for r in radio.server.records if r["type"] == "rejected"
    ]
    # the application downlink arrived, decrypted, on the first uplink after the join
    logs = [e["line"] for e in b.events if e["type"] == "log"]
    assert any("probe: downlink 42 010203" in ln for ln in logs), logs[:20]
    dls = [f for f in fr if f["frame"] == "downlink"]
    assert dls and dls[0]["received"] and dls[0]["fport"] == 42
    # radio events carry time on air; the join used a default channel
    tx = [e for e in b.events if e["type"] == "radio_tx"]
    assert len(tx) == len(ups) + 1 and all(e["airtime_ms"] > 0 for e in tx)
    assert tx[0]["freq"] in (868_100_000, 868_300_000, 868_500_000)
    # the node did not rejoin at every wake
    assert kinds.count("join_request") == 1
    jr = frames.parse(bytes.fromhex(fr[0]["phy_payload"]))
    assert jr.dev_eui.hex() == DEV and jr.mic_ok(bytes.fromhex(KEY))


def test_adr_moves_a_near_node_from_dr0_to_dr5(make_board, fw):
    b = make_board(app="e2e_probe", firmware_dir=fw, config={"dr": 0})
    ns = NetworkServer(seed=1, adr_history=5)
    radio = attach_network(b, dev_eui=DEV, join_eui=JOIN, app_key=KEY, server=ns, position=(300.0, 0.0))
    res = b.run(hours=1.5)
    assert res.halted is None
    ups = [f for f in radio.frames if f["frame"] == "uplink"]
    assert ups[0]["dr"] == 0 and ups[-1]["dr"] == 5
    adr = [m for r in ns.records if r["type"] == "downlink" for m in r["mac"] if m["name"] == "LinkADR"]
    # first DR0 -> DR5, then (the link still strong) TX power down step by step, each accepted by the node
    assert adr[0]["dr"] == 5 and len(adr) >= 2 and ns.counters["adr_accepted"] >= len(adr) - 1
    assert [m["tx_power"] for m in adr] == sorted(m["tx_power"] for m in adr) and adr[-1]["tx_power"] > adr[
        0
    ]["tx_power"]
    assert ns.counters["adr_refused"] == 0
    powers = [e["power"] for e in b.events if e["type"] == "radio_tx"]
    assert powers[-1] < powers[0]
    # the node answered in its next uplink, then stayed at DR5: shorter frames, less air time
    assert ups[-1]["airtime_ms"] < ups[0]["airtime_ms"] / 20
    assert ns.counters["rejected"] == 0


def test_lossy_path_exercises_retries_without_duplicates(make_board, fw):
    b = make_board(app="e2e_probe", firmware_dir=fw, config={"confirmed": True})
    path = PathModel(seed=5, loss=0.35)
    radio = attach_network(b, dev_eui=DEV, join_eui=JOIN, app_key=KEY, path=path, position=(500.0, 0.0))
    res = b.run(hours=3)
    assert res.halted is None
    ups = [f for f in radio.frames if f["frame"] == "uplink"]
    lost = [f for f in ups if not f["heard"]]
    assert lost and all(f["lost"] == "interference" for f in lost)
    fcnts = [f["fcnt"] for f in ups]
    assert len(fcnts) > len(set(fcnts))  # confirmed uplinks went again with the same FCnt
    delivered = [u["fcnt"] for u in radio.server.delivered(DEV)]
    assert len(delivered) == len(set(delivered))  # the network never delivered one twice
    assert radio.server.counters["rejected"] == 0
