"""The emulated modem (hil/mpy/lora) under the real emulator, the radio between boards and the network server
(hil/radio.py), and the path model (fleet.lorawan.pathmodel)."""

import json

import pytest

from fleet.lorawan import frames, region
from fleet.lorawan.airtime import time_on_air_us
from fleet.lorawan.pathmodel import Gateway, PathModel
from hil.network import attach_network
from hil.radio import run_boards

H = bytes.fromhex
DEV, JOIN, KEY = "0011223344556677", "8899aabbccddeeff", "000102030405060708090a0b0c0d0e0f"

# A firmware of our own: drives the modem directly with a script the test writes to the board's flash.
MAIN = r"""
import json, time, machine, lora
plan = json.load(open("plan.json"))
chip = plan.get("chip", "sx1262")
if chip == "sx1262":
    m = lora.SX1262(None, None, None, dio1=None, dio3_tcxo_millivolts=1800, lora_cfg={"syncword": 0x34})
elif chip == "sx1276":
    m = lora.SX1276(None, None, dio0=None)
else:
    m = lora.WL55SubGhzModem()
base = {"syncword": 0x34, "preamble_len": 8, "coding_rate": 5, "crc_en": True, "invert_iq_tx": False,
        "invert_iq_rx": True}
base.update(plan.get("cfg", {}))
m.configure(base)
for step in plan["steps"]:
    op = step[0]
    if op == "toa":
        m.configure({"sf": step[2], "bw": "125"})
        print("toa", step[1], step[2], m.get_time_on_air_us(step[1]))
    elif op == "cfg":
        try:
            m.configure(step[1])
            print("cfg ok")
        except Exception as e:
            print("cfg error", type(e).__name__, e)
    elif op == "tx":
        t0 = time.ticks_ms()
        m.configure({"freq_khz": step[2], "sf": step[3], "bw": "125", "output_power": 14})
        end = m.send(bytes.fromhex(step[1]))
        globals()["tx_end"] = end
        print("tx", time.ticks_diff(end, t0))
    elif op == "rx":
        # ("rx", delay_ms after tx end, freq_khz, sf, timeout_ms, invert_iq)
        now = time.ticks_ms()
        wait = time.ticks_diff(time.ticks_add(tx_end, step[1]), now)
        if wait > 0:
            time.sleep_ms(wait)
        m.configure({"freq_khz": step[2], "sf": step[3], "bw": "125", "invert_iq_rx": step[5]})
        t_open = time.ticks_ms()
        p = m.recv(step[4])
        if p is None:
            print("rx none", time.ticks_diff(time.ticks_ms(), t_open))
        else:
            print("rx", bytes(p).hex(), p.snr, p.rssi, p.crc_error, time.ticks_diff(p.ticks_ms, tx_end))
m.sleep()
machine.deepsleep(3600000)
"""


@pytest.fixture
def fw(tmp_path):
    d = tmp_path / "fw"
    d.mkdir()
    (d / "main.py").write_text(MAIN)
    return d


def run_plan(make_board, fw, steps, *, radio=None, position=(500.0, 0.0), chip="sx1262", cfg=None):
    b = make_board(firmware_dir=fw)
    radio = attach_network(b, dev_eui=DEV, join_eui=JOIN, app_key=KEY, radio=radio, position=position)
    (b.flash / "plan.json").write_text(json.dumps({"steps": steps, "chip": chip, "cfg": cfg or {}}))
    res = b.run(wakes=1)
    assert res.halted is None, b.events[-5:]
    radio.flush(b)
    lines = [e["line"] for e in b.events if e["type"] == "log"]
    return b, radio, lines


def join_request(nonce=1):
    return frames.JoinRequest(H(JOIN), H(DEV), nonce).build(H(KEY)).hex()


def test_modem_time_on_air_matches_an1200_13(make_board, fw):
    steps = [["toa", pl, sf] for pl in (13, 25, 64) for sf in range(7, 13)]
    _, _, lines = run_plan(make_board, fw, steps)
    got = {(int(a), int(b)): int(c) for _, a, b, c in (ln.split() for ln in lines if ln.startswith("toa"))}
    assert len(got) == 18
    for (pl, sf), us in got.items():
        assert us == pytest.approx(time_on_air_us(pl, sf), abs=1), (pl, sf)
    assert got[(25, 12)] == 1482752 and got[(13, 7)] == 46336


def test_join_request_gets_join_accept_in_rx1(make_board, fw):
    steps = [["tx", join_request(), 868100, 12], ["rx", 5000, 868100, 12, 200, True]]
    b, radio, lines = run_plan(make_board, fw, steps)
    # TX took the time on air in virtual time
    assert lines[0] == f"tx {int(time_on_air_us(23, 12) // 1000)}"
    kind, phy, snr, rssi, crc_err, dt = lines[1].split()
    assert kind == "rx" and crc_err == "False"
    ja = frames.parse(H(phy)).decrypt(H(KEY))  # the MIC checks under the device's AppKey
    assert ja.cflist_freqs_hz() == region.CFLIST_CHANNELS_HZ and ja.rx_delay == 1
    assert ja.dev_addr == radio.server.devices[DEV]["pending"]["dev_addr"]
    # reception ends after the accept's own time on air (downlinks: no CRC)
    assert int(dt) == pytest.approx(5000 + time_on_air_us(33, 12, crc=False) / 1000, abs=2)
    assert -20 * 4 <= int(snr) <= 14 * 4 and int(rssi) < -30
    tx = [e for e in b.events if e["type"] == "radio_tx"]
    assert tx and tx[0]["airtime_ms"] == pytest.approx(1482.752) and tx[0]["freq"] == 868_100_000
    kinds = [e["frame"] for e in b.events if e["type"] == "lora_frame"]
    assert kinds == ["join_request", "join_accept"]
    assert [e for e in b.events if e["type"] == "lora_frame"][1]["received"] is True


@pytest.mark.parametrize(
    "rx, why",
    [
        (["rx", 5000, 868300, 12, 200, True], "modem on another channel or data rate"),
        (["rx", 5000, 868100, 11, 200, True], "modem on another channel or data rate"),
        (["rx", 5000, 868100, 12, 200, False], "modem not inverting IQ"),
        (["rx", 5200, 868100, 12, 200, True], "node not listening"),  # opened 200 ms late at SF12
        (["rx", 4800, 868100, 12, 100, True], "node not listening"),  # closed before the frame came
    ],
)
def test_downlink_missed_when_settings_or_timing_are_wrong(make_board, fw, rx, why):
    steps = [["tx", join_request(), 868100, 12], rx]
    b, radio, lines = run_plan(make_board, fw, steps)
    assert lines[1].startswith("rx none")
    waited = int(lines[1].split()[2])
    assert waited == pytest.approx(rx[4], abs=2)  # a window times out in virtual time
    ja = [e for e in b.events if e["type"] == "lora_frame" and e["frame"] == "join_accept"]
    assert len(ja) == 1 and ja[0]["received"] is False and ja[0]["lost"] == why


def test_window_tolerance_is_a_few_symbols(make_board, fw):
    # SF7: a symbol is 1.024 ms; opening 2 ms late still locks on the 8-symbol preamble, 5 ms late does not.
    ok = run_plan(make_board, fw, [["tx", join_request(), 868500, 7], ["rx", 5002, 868500, 7, 50, True]])[2]
    late = run_plan(make_board, fw, [["tx", join_request(), 868500, 7], ["rx", 5005, 868500, 7, 50, True]])[2]
    assert ok[1].startswith("rx ") and not ok[1].startswith("rx none")
    assert late[1].startswith("rx none")


def test_uplink_not_heard_with_private_syncword_or_far_away(make_board, fw):
    b, radio, _ = run_plan(make_board, fw, [["tx", join_request(), 868100, 12]], cfg={"syncword": 0x12})
    f = [e for e in b.events if e["type"] == "lora_frame"]
    assert f[0]["heard"] is False and "sync word" in f[0]["lost"]
    b, radio, _ = run_plan(make_board, fw, [["tx", join_request(), 868100, 7]], position=(20_000.0, 0.0))
    f = [e for e in b.events if e["type"] == "lora_frame"]
    assert f[0]["heard"] is False and f[0]["lost"] == "below sensitivity"
    assert radio.server.counters["join_request"] == 0


def test_rejected_uplink_is_reported_with_the_reason(make_board, fw):
    stranger = frames.DataFrame(frames.UNCONFIRMED_UP, 0x01020304, 5, fport=1, payload=b"x")
    phy = stranger.build(bytes(16), bytes(16)).hex()
    b, radio, _ = run_plan(make_board, fw, [["tx", phy, 868100, 9]])
    f = [e for e in b.events if e["type"] == "lora_frame"]
    assert f[0]["frame"] == "uplink" and f[0]["heard"] and f[0]["rejected"] == "unknown DevAddr"
    assert f[0]["mic_ok"] is False and f[0]["fcnt"] == 5
    assert radio.server.counters["rejected:unknown DevAddr"] == 1


def test_sx127x_rx_boost_needs_lna_boost_hf_like_the_real_driver(make_board, fw):
    steps = [
        ["cfg", {"rx_boost": True}],
        ["cfg", {"rx_boost": True, "lna_boost_hf": True}],
        ["cfg", {"sf": 13}],
    ]
    _, _, lines = run_plan(make_board, fw, steps, chip="sx1276")
    assert lines[:3] == [
        "cfg error KeyError lna_boost_hf",
        "cfg ok",
        "cfg error ConfigError Invalid lora_cfg sf",
    ]


def test_two_boards_share_one_server(make_board, fw):
    b1, radio, _ = run_plan(
        make_board, fw, [["tx", join_request(1), 868100, 9], ["rx", 5000, 868100, 9, 100, True]]
    )
    b2 = make_board(firmware_dir=fw)
    attach_network(
        b2, dev_eui="0011223344556688", join_eui=JOIN, app_key=KEY, radio=radio, position=(800, 300)
    )
    jr2 = frames.JoinRequest(H(JOIN), H("0011223344556688"), 1).build(H(KEY)).hex()
    (b2.flash / "plan.json").write_text(
        json.dumps({"steps": [["tx", jr2, 868300, 9], ["rx", 5000, 868300, 9, 100, True]]})
    )
    b2.run(wakes=1)
    assert radio.server.counters["joins"] == 2
    addrs = {d["pending"]["dev_addr"] for d in radio.server.devices.values()}
    assert len(addrs) == 2
    assert sum(1 for f in radio.frames if f["frame"] == "join_accept" and f["received"]) == 2


def test_boards_stepped_together_collide_on_the_same_channel_and_sf(make_board, fw):
    radio = None
    boards = []
    for i, (freq, sf) in enumerate([(868100, 9), (868100, 9), (868100, 10), (868300, 9)]):
        b = make_board(firmware_dir=fw)
        eui = f"00112233445566{i:02x}"
        radio = attach_network(
            b, dev_eui=eui, join_eui=JOIN, app_key=KEY, radio=radio, position=(1000 + i, 0)
        )
        jr = frames.JoinRequest(H(JOIN), H(eui), 1).build(H(KEY)).hex()
        (b.flash / "plan.json").write_text(json.dumps({"steps": [["tx", jr, freq, sf]]}))
        boards.append(b)
    out = run_boards(boards, hours=0.5)
    assert out["halted"] == [] and out["boots"] == 4
    heard = [f["heard"] for f in radio.frames if f["frame"] == "join_request"]
    lost = [f.get("lost") for f in radio.frames if f["frame"] == "join_request"]
    # the first on 868.1/SF9 goes through, the second collides with it; other SF or channel: no collision
    assert heard == [True, False, True, True] and lost[1] == "collision"
    assert radio.server.counters["join_request"] == 3


def test_several_gateways_hear_a_node_and_the_best_one_answers(make_board, fw):
    from hil.radio import Radio

    gws = [Gateway("tower", 0, 0), Gateway("church", 3000, 0), Gateway("depot", 0, 9000)]
    radio = Radio(path=PathModel(gateways=gws, seed=1, shadowing_db=0, fading_db=0))
    steps = [["tx", join_request(), 868100, 10], ["rx", 5000, 868100, 10, 200, True]]
    b, radio, lines = run_plan(make_board, fw, steps, radio=radio, position=(2500.0, 0.0))
    f = [e for e in b.events if e["type"] == "lora_frame"]
    assert f[0]["gateways"] == 2  # the depot, 9 km away, is out of reach at SF10
    assert f[1]["gateway"] == "church" and f[1]["received"]  # the nearest answers
    assert not lines[1].startswith("rx none")


def test_path_model_link_budget_is_deterministic_and_monotonic():
    m = PathModel(seed=3, fading_db=0, shadowing_db=0)
    rssi = [m.mean_rssi("n", (d, 0), m.gateways[0], 14) for d in (100, 1000, 3000, 10000)]
    assert rssi == sorted(rssi, reverse=True)
    assert rssi[1] == pytest.approx(14 + 3 - (31.2 + 90), abs=0.01)
    a = PathModel(seed=7).uplink("n1", (4000, 0), 10, 20, 868100000, 9, 125, 14)
    b = PathModel(seed=7).uplink("n1", (4000, 0), 10, 20, 868100000, 9, 125, 14)
    assert a == b


def test_path_model_sf_reach_and_loss_rate():
    m = PathModel(seed=1, shadowing_db=0)

    def ok(d, sf, n=200):
        return (
            sum(
                bool(m.uplink(f"n{d}", (d, 0), i * 10**7, i * 10**7 + 1, 868100000, sf, 125, 14)[0])
                for i in range(n)
            )
            / n
        )

    assert ok(3000, 7) > 0.95 and ok(6000, 7) < 0.05 and ok(6000, 12) > 0.95
    lossy = PathModel(seed=2, shadowing_db=0, loss=0.2)
    got = sum(
        bool(lossy.uplink("x", (100, 0), i * 10**7, i * 10**7 + 1, 868100000, 7, 125, 14)[0])
        for i in range(1000)
    )
    assert 750 < got < 850


def test_path_model_collisions_and_capture():
    m = PathModel(seed=0, shadowing_db=0, fading_db=0, gateways=[Gateway("g")])
    assert m.uplink("a", (2000, 0), 0, 100_000, 868100000, 7, 125, 14)[0]
    # same channel and SF, overlapping, similar strength: lost
    got, lost = m.uplink("b", (2100, 0), 50_000, 150_000, 868100000, 7, 125, 14)
    assert not got and lost == {"g": "collision"}
    # other SF or other channel: fine
    assert m.uplink("c", (2100, 0), 50_000, 150_000, 868100000, 8, 125, 14)[0]
    assert m.uplink("d", (2100, 0), 50_000, 150_000, 868300000, 7, 125, 14)[0]
    # much stronger (much closer): captures the receiver
    assert m.uplink("e", (200, 0), 60_000, 160_000, 868100000, 7, 125, 14)[0]
    # after the others ended: fine
    assert m.uplink("f", (2100, 0), 200_000, 300_000, 868100000, 7, 125, 14)[0]
