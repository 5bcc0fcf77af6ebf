"""fleet.lorawan.server: joins, uplink checks (MIC, FCnt, replays), MAC commands, downlink queue, ADR, state file.
A device is played here with fleet.lorawan.frames directly (the node's own MAC is tested end to end elsewhere)."""

import json
import os
import stat

import pytest

from fleet.lorawan import crypto, frames, maccommands, region
from fleet.lorawan.maccommands import MacCommand
from fleet.lorawan.server import NetworkServer

H = bytes.fromhex
DEV, JOIN, KEY = "0011223344556677", "8899aabbccddeeff", "000102030405060708090a0b0c0d0e0f"
T0 = 1_788_739_200_000_000  # 2026-09-07T00:00Z in µs
GW = [("gw0", -100.0, 5.0)]


class Device:
    """A minimal device made of fleet frames: joins, sends, reads downlinks."""

    def __init__(self, ns, dev_eui=DEV, nonce=1):
        self.ns, self.dev_eui, self.nonce = ns, dev_eui, nonce
        self.fcnt = 0
        self.t = T0
        self.sess = None

    def join(self, receptions=GW, dr=5, freq=868_100_000):
        jr = frames.JoinRequest(H(JOIN), H(self.dev_eui), self.nonce)
        phy = jr.build(H(KEY))
        self.t += 10_000_000
        dl = self.ns.receive(phy, t_us=self.t, freq_hz=freq, dr=dr, receptions=receptions)
        if dl is None:
            return None
        ja = frames.parse(dl.phy).decrypt(H(KEY))
        nwk, app = crypto.session_keys(H(KEY), ja.join_nonce, ja.net_id, self.nonce)
        self.sess = (ja.dev_addr, nwk, app)
        self.fcnt = 0
        self.nonce += 1
        return dl, ja

    def frame(
        self,
        fport=1,
        payload=b"hi",
        fcnt=None,
        confirmed=False,
        fopts=b"",
        adr=False,
        ack=False,
        adr_ack_req=False,
    ):
        addr, nwk, app = self.sess
        fc = self.fcnt if fcnt is None else fcnt
        f = frames.DataFrame(
            frames.CONFIRMED_UP if confirmed else frames.UNCONFIRMED_UP,
            addr,
            fc,
            fport=fport,
            payload=payload,
            fopts=fopts,
            adr=adr,
            ack=ack,
            adr_ack_req=adr_ack_req,
        )
        return f.build(nwk, app, fc)

    def send(self, phy=None, receptions=GW, dr=5, freq=868_100_000, **kw):
        phy = phy or self.frame(**kw)
        if kw.get("fcnt") is None:
            self.fcnt += 1
        self.t += 60_000_000
        return self.ns.receive(phy, t_us=self.t, freq_hz=freq, dr=dr, receptions=receptions)

    def open(self, dl):
        f = frames.parse(dl.phy)
        addr, nwk, app = self.sess
        assert f.mic_ok(nwk, dl.info["fcnt"])
        plain = f.decrypt(nwk, app, dl.info["fcnt"])
        mac = f.fopts if f.fport != 0 else plain
        cmds, unknown = maccommands.decode(mac, uplink=False)
        assert unknown == b""
        return f, plain, {c.name: c.fields for c in cmds}


@pytest.fixture
def ns():
    s = NetworkServer(seed=1)
    s.register(DEV, JOIN, KEY)
    return s


def reasons(ns):
    return [r["reason"] for r in ns.records if r["type"] == "rejected"]


def test_join_accept_has_fresh_addr_cflist_settings_and_timing(ns):
    d = Device(ns)
    dl, ja = d.join()
    assert dl.kind == "join_accept" and dl.window == "rx1" and dl.t_us == d.t + 5_000_000
    assert dl.freq_hz == 868_100_000 and dl.dr == 5
    assert ja.cflist_freqs_hz() == region.CFLIST_CHANNELS_HZ
    assert (ja.rx1_dr_offset, ja.rx2_dr, ja.rx_delay, ja.join_nonce) == (0, 0, 1, 1)
    dl2, ja2 = d.join()
    assert ja2.dev_addr != ja.dev_addr and ja2.join_nonce == 2
    assert ns.counters["joins"] == 2


def test_join_rejections(ns):
    d = Device(ns)
    assert Device(ns, dev_eui="0011223344556600").join() is None
    bad = bytearray(frames.JoinRequest(H(JOIN), H(DEV), 5).build(H(KEY)))
    bad[-1] ^= 1
    assert ns.receive(bytes(bad), t_us=T0, freq_hz=868_100_000, dr=0, receptions=GW) is None
    d.nonce = 7
    assert d.join()
    d.nonce = 7  # the same DevNonce again
    assert d.join() is None
    d.nonce = 3  # a lower one: 1.0.4 DevNonce is a counter
    assert d.join() is None
    other = frames.JoinRequest(H("0000000000000001"), H(DEV), 9).build(H(KEY))
    assert ns.receive(other, t_us=T0, freq_hz=868_100_000, dr=0, receptions=GW) is None
    assert reasons(ns) == [
        "unknown DevEUI",
        "bad MIC",
        "DevNonce replay",
        "DevNonce not increasing",
        "JoinEUI mismatch",
    ]


def test_uplinks_verified_decrypted_and_replays_rejected(ns):
    d = Device(ns)
    d.join()
    assert d.send(payload=b"one") is None
    assert d.send(payload=b"two") is None
    assert [u["payload"] for u in ns.delivered(DEV)] == [b"one", b"two"]
    assert [u["fcnt"] for u in ns.delivered(DEV)] == [0, 1]
    # replay of FCnt 0 with other content, and an exact replay of FCnt 0
    d.send(d.frame(payload=b"evil", fcnt=0))
    d.send(d.frame(payload=b"one", fcnt=0))
    # a frame signed with the wrong key
    addr, nwk, app = d.sess
    forged = frames.DataFrame(frames.UNCONFIRMED_UP, addr, 2, fport=1, payload=b"x").build(bytes(16), app)
    d.send(forged)
    assert reasons(ns) == ["FCnt replay", "FCnt replay", "bad MIC"]
    assert len(ns.delivered(DEV)) == 2
    # the session is not corrupted: the next real frame goes through
    d.fcnt = 2
    d.send(payload=b"three")
    assert ns.delivered(DEV)[-1]["payload"] == b"three"


def test_retransmission_is_not_delivered_twice_but_acked_again(ns):
    d = Device(ns)
    d.join()
    phy = d.frame(payload=b"c", confirmed=True)
    dl1 = d.send(phy)
    dl2 = d.send(phy, fcnt=0)
    assert dl1.info["ack"] and dl2.info["ack"] and dl2.info["fcnt"] == dl1.info["fcnt"] + 1
    assert len(ns.delivered(DEV)) == 1 and ns.counters["retransmissions"] == 1


def test_fcnt_rollover_past_16_bits(ns):
    d = Device(ns)
    d.join()
    d.send(payload=b"a", fcnt=65534)
    d.send(payload=b"b", fcnt=65535)
    d.send(d.frame(payload=b"c", fcnt=65536))  # 0 on the air
    assert [u["fcnt"] for u in ns.delivered(DEV)] == [65534, 65535, 65536]
    d.send(d.frame(payload=b"d", fcnt=70000 + 20000))  # gap beyond MAX_FCNT_GAP
    assert reasons(ns) == ["FCnt gap too large"]


def test_old_session_kept_until_the_new_one_is_used(ns):
    d = Device(ns)
    d.join()
    old = d.sess
    d.send(payload=b"s1")
    d.join()  # the device never got this accept...
    new = d.sess
    d.sess, d.fcnt = old, 1
    d.send(payload=b"still old")  # ...so it goes on with the old session, which still works
    d.sess, d.fcnt = new, 0
    d.send(payload=b"new")
    d.sess, d.fcnt = old, 2
    d.send(payload=b"old again")  # once the new session is used, the old one is gone
    assert [u["payload"] for u in ns.delivered(DEV)] == [b"s1", b"still old", b"new"]
    assert reasons(ns) == ["unknown DevAddr"]


def test_link_check_device_time_and_dev_status(ns):
    d = Device(ns)
    d.join()
    req = maccommands.encode([MacCommand("LinkCheck"), MacCommand("DeviceTime")], uplink=True)
    dl = d.send(fopts=req, receptions=[("gw0", -110.0, 2.5), ("gw1", -120.0, -4.0)])
    f, plain, cmds = d.open(dl)
    assert cmds["LinkCheck"] == {"margin": int(2.5 + 7.5), "gw_cnt": 2}
    t = maccommands.unix_time(cmds["DeviceTime"]["seconds"], cmds["DeviceTime"]["fraction"])
    assert t == pytest.approx(d.t / 1e6, abs=1 / 256)
    assert dl.t_us == d.t + 1_000_000 and dl.window == "rx1"
    ns.request_status(DEV)
    dl = d.send(payload=b"x")
    assert "DevStatus" in d.open(dl)[2]
    ans = maccommands.encode([MacCommand("DevStatus", {"battery": 180, "margin": -3})], uplink=True)
    d.send(fopts=ans)
    assert ns.devices[DEV]["status"]["battery"] == 180 and ns.devices[DEV]["status"]["margin"] == -3


def test_mac_on_fport_0_and_unknown_commands_counted(ns):
    d = Device(ns)
    d.join()
    dl = d.send(fport=0, payload=maccommands.encode([MacCommand("LinkCheck")], uplink=True))
    assert "LinkCheck" in d.open(dl)[2]
    d.send(fopts=b"\x7f\x01")
    assert ns.counters["unknown_mac"] == 1
    assert len(ns.delivered(DEV)) == 1  # FPort 0 is not application data


def test_application_downlink_queue_rx1_and_confirmed_retry(ns):
    d = Device(ns)
    d.join()
    ns.enqueue(DEV, 10, b"\x01\x02", confirmed=True)
    ns.enqueue(DEV, 11, b"\x03")
    dl = d.send(payload=b"u")
    f, plain, _ = d.open(dl)
    assert (f.fport, plain, f.confirmed, f.fpending) == (10, b"\x01\x02", True, True)
    dl = d.send(payload=b"u2")  # no ACK bit: the confirmed downlink goes again
    f, plain, _ = d.open(dl)
    assert (f.fport, plain) == (10, b"\x01\x02") and dl.info["fcnt"] == 1
    dl = d.send(payload=b"u3", ack=True)
    f, plain, _ = d.open(dl)
    assert (f.fport, plain, f.fpending) == (11, b"\x03", False)
    assert ns.counters["downlink_acked"] == 1
    assert d.send(payload=b"u4") is None


def test_rx2_and_big_payload_waits_for_room():
    ns = NetworkServer(seed=2, rx_window="rx2")
    ns.register(DEV, JOIN, KEY)
    d = Device(ns)
    dl, _ = d.join()
    assert dl.window == "rx2" and dl.freq_hz == 869_525_000 and dl.dr == 0 and dl.t_us == d.t + 6_000_000
    ns.enqueue(DEV, 5, bytes(60))  # more than DR0's 51 bytes
    dl = d.send(payload=b"a", dr=0)
    assert dl.t_us == d.t + 2_000_000 and dl.info["payload"] == "" and ns.devices[DEV]["queue"]


def test_adr_raises_data_rate_then_lowers_power():
    ns = NetworkServer(seed=3, adr_history=5)
    ns.register(DEV, JOIN, KEY)
    d = Device(ns)
    d.join(dr=0)
    dls = [d.send(payload=b"a", adr=True, dr=0, receptions=[("gw0", -80.0, 10.0)]) for _ in range(5)]
    assert dls[:4] == [None] * 4
    cmds = d.open(dls[4])[2]
    # margin 10 - (-20) - 10 = 20 dB: 6 steps of 3 dB: DR0 -> DR5, then one power step
    assert (
        cmds["LinkADR"]["dr"] == 5 and cmds["LinkADR"]["tx_power"] == 1 and cmds["LinkADR"]["ch_mask"] == 0xFF
    )
    d.send(
        fopts=maccommands.encode(
            [MacCommand("LinkADR", {"power_ack": 1, "dr_ack": 1, "ch_mask_ack": 1})], uplink=True
        ),
        dr=5,
    )
    assert ns.session(DEV)["tx_power"] == 1 and ns.counters["adr_accepted"] == 1
    # weak link at DR5: ask for more power back
    dls = [d.send(payload=b"a", adr=True, dr=5, receptions=[("gw0", -118.0, -6.0)]) for _ in range(5)]
    assert d.open(dls[-1])[2]["LinkADR"]["tx_power"] == 0


def _new_channel_ans(ok: bool) -> bytes:
    return maccommands.encode([MacCommand("NewChannel", {"freq_ok": ok, "dr_range_ok": ok})], uplink=True)


@pytest.mark.parametrize("accepted", [True, False])
def test_adr_mask_keeps_a_channel_the_node_took(accepted):
    ns = NetworkServer(seed=3, adr_history=5)
    ns.register(DEV, JOIN, KEY)
    d = Device(ns)
    d.join(dr=0)
    ns.request_mac(
        DEV, MacCommand("NewChannel", {"ch_index": 9, "freq": 868_900_000, "min_dr": 0, "max_dr": 5})
    )
    dl = d.send(payload=b"a", dr=0)
    assert "NewChannel" in d.open(dl)[2]
    d.send(fopts=_new_channel_ans(accepted), dr=0)
    dls = [d.send(payload=b"a", adr=True, dr=0, receptions=[("gw0", -80.0, 10.0)]) for _ in range(5)]
    mask = d.open(dls[-1])[2]["LinkADR"]["ch_mask"]
    # a mask without the added channel would switch it off again behind the node's back
    assert mask == (0x2FF if accepted else 0xFF)


def test_adr_ack_req_gets_a_downlink(ns):
    d = Device(ns)
    d.join()
    dl = d.send(payload=b"a", adr=True, adr_ack_req=True)
    assert dl is not None and dl.kind == "downlink"


@pytest.mark.parametrize(
    "bad", ["", "40", "40aabbccdd", "c0ffee", "60f17dbe4920020001f9d65d27", "2001020304"]
)
def test_malformed_or_downward_frames_rejected_without_crash(ns, bad):
    assert ns.receive(H(bad), t_us=T0, freq_hz=868_100_000, dr=5, receptions=GW) is None
    assert ns.counters["rejected"] == 1


def test_state_file_atomic_private_and_reloaded(tmp_path):
    path = tmp_path / "ns.json"
    ns = NetworkServer(seed=4, state_path=path, autosave=True)
    ns.register(DEV, JOIN, KEY)
    d = Device(ns)
    d.join()
    d.send(payload=b"a")
    d.send(payload=b"b")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["ns.json"]  # no temporary file left behind
    data = json.loads(path.read_text())
    assert data["devices"][DEV]["session"]["fcnt_up"] == 1
    ns2 = NetworkServer(seed=4, state_path=path)
    d.ns = ns2
    d.send(d.frame(payload=b"replayed", fcnt=1))
    assert reasons(ns2) == ["FCnt replay"]
    d.send(payload=b"c")
    assert ns2.delivered(DEV)[-1]["payload"] == b"c"
    d.nonce = 1
    assert d.join() is None  # DevNonce history survived too
    d.nonce = 2
    dl, ja = d.join()
    assert ja.join_nonce == 2 and ja.dev_addr != ns.session(DEV)["dev_addr"]


def test_inspect_changes_nothing(ns):
    d = Device(ns)
    d.join()
    phy = d.frame(payload=b"peek")
    info = ns.inspect(phy)
    assert info["mic_ok"] and info["payload"] == b"peek".hex() and info["dev_eui"] == DEV
    assert ns.counters["uplink"] == 0
    d.send(phy)
    assert ns.delivered(DEV)[0]["payload"] == b"peek"


def test_register_validates(ns):
    with pytest.raises(ValueError):
        ns.register("0011", JOIN, KEY)
    with pytest.raises(ValueError):
        ns.enqueue(DEV, 0, b"x")


def test_mac_commands_never_cut_and_the_rest_waits():
    ns = NetworkServer(seed=5, rx_window="rx2")  # RX2 at DR0: 51 bytes
    ns.register(DEV, JOIN, KEY)
    d = Device(ns)
    d.join()
    for i in range(12):  # 12 x 6 bytes = 72 > 51
        ns.request_mac(
            DEV,
            MacCommand("NewChannel", {"ch_index": 3 + i % 5, "freq": 867_100_000, "max_dr": 5, "min_dr": 0}),
        )
    f, plain, _ = d.open(d.send(payload=b"a"))
    cmds, rest = maccommands.decode(plain, uplink=False)
    assert f.fport == 0 and rest == b"" and len(cmds) == 8  # 48 bytes: a 9th would not fit
    f, plain, _ = d.open(d.send(payload=b"b"))
    assert len(maccommands.decode(plain, uplink=False)[0]) == 4


def test_unanswered_link_adr_is_worked_out_again():
    ns = NetworkServer(seed=6, adr_history=3)
    ns.register(DEV, JOIN, KEY)
    d = Device(ns)
    d.join(dr=0)
    strong = [("gw0", -80.0, 10.0)]
    sent = [d.send(payload=b"a", adr=True, dr=0, receptions=strong) for _ in range(9)]
    adr = [i for i, dl in enumerate(sent) if dl is not None and "LinkADR" in d.open(dl)[2]]
    assert adr == [2, 5, 8]  # never answered (lost downlinks?): asked again after each 3 more uplinks


def test_random_and_mutated_frames_never_crash_or_corrupt_a_session():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    ns = NetworkServer(seed=7)
    ns.register(DEV, JOIN, KEY)
    d = Device(ns)
    d.join()
    d.send(payload=b"base")
    good = d.frame(payload=b"template")

    @settings(max_examples=600, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        st.one_of(
            st.binary(max_size=80),
            st.tuples(st.integers(0, len(good) - 1), st.integers(1, 255)).map(
                lambda m: good[: m[0]] + bytes((good[m[0]] ^ m[1],)) + good[m[0] + 1 :]
            ),
            st.integers(0, len(good) - 1).map(lambda n: good[:n]),
        )
    )
    def fuzz(phy):
        ns.receive(phy, t_us=d.t, freq_hz=868_100_000, dr=5, receptions=GW)

    fuzz()
    assert ns.counters["rejected"] > 500
    assert len(ns.delivered(DEV)) == 1  # nothing forged got through
    d.send(payload=b"after")  # and the real device carries on
    assert ns.delivered(DEV)[-1]["payload"] == b"after"
