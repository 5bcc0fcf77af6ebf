"""fleet.lorawan host crypto, frames, MAC commands and air time, on the public vectors (reference/lorawan.md)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.lorawan import airtime, crypto, frames, maccommands, region
from fleet.lorawan.airtime import time_on_air_us
from fleet.lorawan.maccommands import MacCommand

H = bytes.fromhex
RFC_K = H("2b7e151628aed2a6abf7158809cf4f3c")
RFC_M = H(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52ef"
    "f69f2445df4f9b17ad2b417be66c3710"
)
NWK = H("44024241ed4ce9a68c6a8bc055233fd3")
APP = H("ec925802ae430ca77fd3dd73cb2cc588")
APPKEY = H("98929b92c49edba9676d646d3b612456")


def test_aes_and_cmac_rfc4493():
    assert crypto.aes_encrypt(RFC_K, bytes(16)).hex() == "7df76b0c1ab899b33e42f047b91b546f"
    assert crypto.cmac(RFC_K, b"").hex() == "bb1d6929e95937287fa37d129b756746"
    assert crypto.cmac(RFC_K, RFC_M[:16]).hex() == "070a16b46b4d4144f79bdd9dd04a287c"
    assert crypto.cmac(RFC_K, RFC_M[:40]).hex() == "dfa66747de9ae63030ca32611497c827"
    assert crypto.cmac(RFC_K, RFC_M).hex() == "51f0bebf7e3b9d92fc49741779363cfe"


def test_data_uplink_vector_parse_mic_decrypt():
    phy = H("40F17DBE4900020001954378762B11FF0D")
    f = frames.parse(phy)
    assert (f.dev_addr, f.fcnt, f.fport, f.uplink) == (0x49BE7DF1, 2, 1, True)
    assert f.mic.hex() == "2b11ff0d" and f.mic_ok(NWK, 2)
    assert not f.mic_ok(NWK, 0x10002)
    assert f.decrypt(NWK, APP, 2) == b"test"
    assert crypto._block(0x49, 0, 0x49BE7DF1, 2, 13).hex() == "490000000000f17dbe4902000000000d"
    assert (
        crypto.aes_encrypt(APP, H("010000000000f17dbe49020000000001")).hex()
        == "e1260b024bb2816d42b7593702fed706"
    )
    # and built back byte for byte
    again = frames.DataFrame(frames.UNCONFIRMED_UP, 0x49BE7DF1, 2, fport=1, payload=b"test").build(NWK, APP)
    assert again == phy


def test_three_block_payload_and_downlink_ack():
    phy = H(
        "40f17dbe490004000155332de41a11adc072553544429ce7787707d1c316e027e7e5e334263376affb8aa17ad30075293f28dea8a20af3c5e7"
    )
    f = frames.parse(phy)
    assert f.mic_ok(NWK, 4) and f.mic.hex() == "0af3c5e7"
    assert f.decrypt(NWK, APP, 4) == b"The quick brown fox jumps over the lazy dog."
    ack = frames.parse(H("60f17dbe4920020001" + "f9d65d27"))  # FPort 1, empty FRMPayload
    assert not ack.uplink and ack.ack and ack.fport == 1 and ack.payload == b"" and ack.mic_ok(NWK, 2)
    assert frames.DataFrame(frames.UNCONFIRMED_DOWN, 0x49BE7DF1, 2, fport=1, ack=True).build(
        NWK, APP
    ).hex() == ("60f17dbe4920020001f9d65d27")


def test_join_request_and_accept_vectors():
    jr = frames.parse(H("0039363463336913AA05693574323831330489c65b1304"))
    assert isinstance(jr, frames.JoinRequest) and jr.mic_ok(APPKEY)
    assert frames.JoinRequest(jr.join_eui, jr.dev_eui, jr.dev_nonce).build(APPKEY).hex() == (
        "0039363463336913aa05693574323831330489c65b1304"
    )
    assert crypto.join_accept_mic(APPKEY, H("20386337CCBBAAE7CD2C010000")).hex() == "d9d0a6e7"
    enc = H("20e3de108795f776b8037610ef7869b5b3")
    assert frames.JoinAccept(0, 0, 0, rx_delay=0).build(bytes(16)) == enc
    ja = frames.parse(enc).decrypt(bytes(16))
    assert ja.mic.hex() == "f86f0a91"
    with pytest.raises(frames.FrameError, match="MIC"):
        frames.parse(enc).decrypt(bytes(15) + b"\x01")


def test_session_keys_vector():
    nwk, app = crypto.session_keys(APPKEY, 0x376338, 0xAABBCC, 0xF18E)
    assert nwk.hex() == "4e3d6e6afbcc67af2ba3c8e8ec4acf4b"
    assert app.hex() == "610897aa6f1460623443b527d3ac6a9d"


def test_join_accept_with_cflist_round_trip():
    cf = frames.cflist_from_freqs(region.CFLIST_CHANNELS_HZ)
    ja = frames.JoinAccept(0x123456, 0x13, 0x26011BDA, rx1_dr_offset=2, rx2_dr=3, rx_delay=1, cflist=cf)
    phy = ja.build(APPKEY)
    assert len(phy) == 33
    back = frames.parse(phy).decrypt(APPKEY)
    assert (back.join_nonce, back.net_id, back.dev_addr, back.rx1_dr_offset, back.rx2_dr, back.rx_delay) == (
        0x123456,
        0x13,
        0x26011BDA,
        2,
        3,
        1,
    )
    assert back.cflist_freqs_hz() == region.CFLIST_CHANNELS_HZ


@pytest.mark.parametrize("bad", ["", "40", "40f17dbe4900020001", "4ff17dbe4905020001ffff", "c0", "0011"])
def test_truncated_or_malformed_frames_raise_frame_error(bad):
    with pytest.raises(frames.FrameError):
        frames.parse(H(bad))


def test_proprietary_is_kept_raw():
    assert frames.parse(H("e0010203")).raw == H("e0010203")


@settings(max_examples=300, deadline=None)
@given(
    mtype=st.sampled_from([2, 3, 4, 5]),
    addr=st.integers(0, 2**32 - 1),
    fcnt=st.integers(0, 2**32 - 1),
    fport=st.one_of(st.none(), st.integers(1, 223)),
    payload=st.binary(max_size=64),
    fopts=st.binary(max_size=15),
    bits=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
)
def test_data_frames_round_trip(mtype, addr, fcnt, fport, payload, fopts, bits):
    if fport is None:
        payload = b""
    f = frames.DataFrame(
        mtype,
        addr,
        fcnt,
        fport=fport,
        payload=payload,
        fopts=fopts,
        adr=bits[0],
        adr_ack_req=bits[1],
        ack=bits[2],
        fpending=bits[3],
    )
    phy = f.build(NWK, APP)
    g = frames.parse(phy)
    assert (g.mtype, g.dev_addr, g.fcnt, g.fport, g.fopts) == (mtype, addr, fcnt & 0xFFFF, fport, fopts)
    assert (g.adr, g.adr_ack_req, g.ack, g.fpending) == bits
    assert g.mic_ok(NWK, fcnt) and g.decrypt(NWK, APP, fcnt) == payload
    assert frames.fcnt32(fcnt - 5 if fcnt >= 5 else None, g.fcnt) == (fcnt if fcnt >= 5 else fcnt & 0xFFFF)


DOWN_CMDS = [
    MacCommand("LinkCheck", {"margin": 20, "gw_cnt": 3}),
    MacCommand("LinkADR", {"dr": 5, "tx_power": 2, "ch_mask": 0x00FF, "ch_mask_cntl": 0, "nb_trans": 1}),
    MacCommand("DutyCycle", {"max_dcycle": 7}),
    MacCommand("RXParamSetup", {"rx1_dr_offset": 1, "rx2_dr": 3, "freq": 869_525_000}),
    MacCommand("DevStatus", {}),
    MacCommand("NewChannel", {"ch_index": 3, "freq": 867_100_000, "max_dr": 5, "min_dr": 0}),
    MacCommand("RXTimingSetup", {"delay": 2}),
    MacCommand("DlChannel", {"ch_index": 0, "freq": 868_100_000}),
    MacCommand("DeviceTime", {"seconds": 1_400_000_000, "fraction": 128}),
    MacCommand("TxParamSetup", {"downlink_dwell": True, "uplink_dwell": False, "max_eirp": 5}),
    MacCommand("PingSlotChannel", {"freq": 869_525_000, "dr": 3}),
    MacCommand("BeaconTiming", {"delay": 300, "channel": 2}),
    MacCommand("BeaconFreq", {"freq": 869_525_000}),
]
UP_CMDS = [
    MacCommand("LinkCheck", {}),
    MacCommand("LinkADR", {"power_ack": True, "dr_ack": False, "ch_mask_ack": True}),
    MacCommand("DevStatus", {"battery": 200, "margin": -5}),
    MacCommand("RXParamSetup", {"rx1_dr_offset_ack": True, "rx2_dr_ack": True, "channel_ack": True}),
    MacCommand("DeviceTime", {}),
    MacCommand("NewChannel", {"dr_range_ok": True, "freq_ok": False}),
    MacCommand("DlChannel", {"uplink_freq_exists": False, "freq_ok": True}),
    MacCommand("DutyCycle", {}),
    MacCommand("RXTimingSetup", {}),
    MacCommand("PingSlotInfo", {"periodicity": 5}),
    MacCommand("PingSlotChannel", {"dr_ok": True, "freq_ok": True}),
    MacCommand("BeaconFreq", {"freq_ok": False}),
]


def test_every_mac_command_is_covered_both_ways():
    assert {c.name for c in DOWN_CMDS if maccommands.COMMANDS[c.name][2] or c.name == "DevStatus"} | {
        "PingSlotInfo"
    } == set(maccommands.COMMANDS)
    assert {c.name for c in UP_CMDS} | {"TxParamSetup", "BeaconTiming"} == set(maccommands.COMMANDS)


def test_mac_commands_round_trip_both_ways():
    for cmds, up in ((DOWN_CMDS, False), (UP_CMDS, True)):
        data = maccommands.encode(cmds, uplink=up)
        back, unknown = maccommands.decode(data, uplink=up)
        assert unknown == b"" and back == cmds
    assert (
        maccommands.encode([MacCommand("LinkADR", DOWN_CMDS[1].fields)], uplink=False).hex() == "0352ff0001"
    )


def test_mac_decode_stops_at_unknown_or_truncated():
    cmds, rest = maccommands.decode(H("02" + "0d" + "7f0102"), uplink=True)
    assert [c.name for c in cmds] == ["LinkCheck", "DeviceTime"] and rest == H("7f0102")
    cmds, rest = maccommands.decode(H("0352ff"), uplink=False)
    assert cmds == [] and rest == H("0352ff")


def test_gps_time():
    # 2026-09-07T00:00:00Z
    sec, frac = maccommands.gps_time(1788739200.5)
    assert sec == 1788739200 - 315964800 + 18 and frac == 128
    assert maccommands.unix_time(sec, frac) == 1788739200.5


@pytest.mark.parametrize("pl,sf,ms", airtime.WORKED)
def test_time_on_air_worked_values(pl, sf, ms):
    assert time_on_air_us(pl, sf, 125) / 1000 == pytest.approx(ms, abs=1e-9)


def test_eu868_tables():
    assert region.dr_of(12, 125) == 0 and region.dr_of(7, 250) == 6
    assert (
        region.max_frm_payload(0) == 51
        and region.max_frm_payload(3) == 115
        and region.max_frm_payload(5) == 242
    )
    assert region.rx1_dr(5, 2) == 3 and region.rx1_dr(1, 3) == 0
    assert region.sub_band(868_300_000) == ("868.0-868.6", 0.01) and region.sub_band(869_525_000)[1] == 0.1
