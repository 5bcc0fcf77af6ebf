"""LoRaWAN 1.0.x MAC commands (spec 1.0.1 section 5, 1.0.3 DeviceTime): encode and decode, both directions.

A command is a `MacCommand(name, fields)`. Uplink (node -> network) and downlink (network -> node) use the
same CIDs with different payloads, so encode/decode take the direction. An unknown CID ends decoding: its
length cannot be known, so the rest of the buffer is returned as `unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# name: (cid, uplink payload length, downlink payload length)
COMMANDS = {
    "LinkCheck": (0x02, 0, 2),
    "LinkADR": (0x03, 1, 4),
    "DutyCycle": (0x04, 0, 1),
    "RXParamSetup": (0x05, 1, 4),
    "DevStatus": (0x06, 2, 0),
    "NewChannel": (0x07, 1, 5),
    "RXTimingSetup": (0x08, 0, 1),
    "TxParamSetup": (0x09, 0, 1),
    "DlChannel": (0x0A, 1, 4),
    "DeviceTime": (0x0D, 0, 5),
    # Class B (1.0.3+): not used by Class A nodes, decoded so that a frame carrying them parses whole.
    "PingSlotInfo": (0x10, 1, 0),
    "PingSlotChannel": (0x11, 1, 4),
    "BeaconTiming": (0x12, 0, 3),
    "BeaconFreq": (0x13, 1, 3),
}
BY_CID = {cid: name for name, (cid, _, _) in COMMANDS.items()}
GPS_EPOCH_UNIX = 315964800  # 1980-01-06T00:00:00Z
GPS_LEAP_SECONDS = 18  # GPS - UTC since 2017-01-01


@dataclass
class MacCommand:
    name: str
    fields: dict = field(default_factory=dict)

    @property
    def cid(self) -> int:
        return COMMANDS[self.name][0]


def _f24(b: bytes) -> int:
    return int.from_bytes(b[:3], "little") * 100


def _enc_fields(name: str, uplink: bool, f: dict) -> bytes:
    if uplink:
        if name in ("LinkADR",):
            return bytes(
                (
                    (1 if f.get("power_ack") else 0) << 2
                    | (1 if f.get("dr_ack") else 0) << 1
                    | (1 if f.get("ch_mask_ack") else 0),
                )
            )
        if name == "RXParamSetup":
            return bytes(
                (
                    (1 if f.get("rx1_dr_offset_ack") else 0) << 2
                    | (1 if f.get("rx2_dr_ack") else 0) << 1
                    | (1 if f.get("channel_ack") else 0),
                )
            )
        if name == "DevStatus":
            return bytes((f["battery"] & 0xFF, f["margin"] & 0x3F))
        if name == "NewChannel":
            return bytes(((1 if f.get("dr_range_ok") else 0) << 1 | (1 if f.get("freq_ok") else 0),))
        if name == "DlChannel":
            return bytes(((1 if f.get("uplink_freq_exists") else 0) << 1 | (1 if f.get("freq_ok") else 0),))
        if name == "PingSlotInfo":
            return bytes((f["periodicity"] & 7,))
        if name == "PingSlotChannel":
            return bytes(((1 if f.get("dr_ok") else 0) << 1 | (1 if f.get("freq_ok") else 0),))
        if name == "BeaconFreq":
            return bytes((1 if f.get("freq_ok") else 0,))
        return b""
    if name == "LinkCheck":
        return bytes((f["margin"] & 0xFF, f["gw_cnt"] & 0xFF))
    if name == "LinkADR":
        return (
            bytes(((f["dr"] & 0x0F) << 4 | (f["tx_power"] & 0x0F),))
            + (f["ch_mask"] & 0xFFFF).to_bytes(2, "little")
            + bytes(((f.get("ch_mask_cntl", 0) & 7) << 4 | (f.get("nb_trans", 0) & 0x0F),))
        )
    if name == "DutyCycle":
        return bytes((f["max_dcycle"] & 0x0F,))
    if name == "RXParamSetup":
        return bytes(((f["rx1_dr_offset"] & 7) << 4 | (f["rx2_dr"] & 0x0F),)) + (f["freq"] // 100).to_bytes(
            3, "little"
        )
    if name == "NewChannel":
        return (
            bytes((f["ch_index"],))
            + (f["freq"] // 100).to_bytes(3, "little")
            + bytes(((f["max_dr"] & 0x0F) << 4 | (f["min_dr"] & 0x0F),))
        )
    if name == "RXTimingSetup":
        return bytes((f["delay"] & 0x0F,))
    if name == "TxParamSetup":
        return bytes(
            (
                (1 if f.get("downlink_dwell") else 0) << 5
                | (1 if f.get("uplink_dwell") else 0) << 4
                | (f.get("max_eirp", 0) & 0x0F),
            )
        )
    if name == "DlChannel":
        return bytes((f["ch_index"],)) + (f["freq"] // 100).to_bytes(3, "little")
    if name == "DeviceTime":
        return (f["seconds"] & 0xFFFFFFFF).to_bytes(4, "little") + bytes((f.get("fraction", 0) & 0xFF,))
    if name == "PingSlotChannel":
        return (f["freq"] // 100).to_bytes(3, "little") + bytes((f["dr"] & 0x0F,))
    if name == "BeaconTiming":
        return (f["delay"] & 0xFFFF).to_bytes(2, "little") + bytes((f["channel"] & 0xFF,))
    if name == "BeaconFreq":
        return (f["freq"] // 100).to_bytes(3, "little")
    return b""


def _dec_fields(name: str, uplink: bool, b: bytes) -> dict:
    if uplink:
        if name == "LinkADR":
            return {"power_ack": bool(b[0] & 4), "dr_ack": bool(b[0] & 2), "ch_mask_ack": bool(b[0] & 1)}
        if name == "RXParamSetup":
            return {
                "rx1_dr_offset_ack": bool(b[0] & 4),
                "rx2_dr_ack": bool(b[0] & 2),
                "channel_ack": bool(b[0] & 1),
            }
        if name == "DevStatus":
            m = b[1] & 0x3F
            return {"battery": b[0], "margin": m - 64 if m & 0x20 else m}
        if name == "NewChannel":
            return {"dr_range_ok": bool(b[0] & 2), "freq_ok": bool(b[0] & 1)}
        if name == "DlChannel":
            return {"uplink_freq_exists": bool(b[0] & 2), "freq_ok": bool(b[0] & 1)}
        if name == "PingSlotInfo":
            return {"periodicity": b[0] & 7}
        if name == "PingSlotChannel":
            return {"dr_ok": bool(b[0] & 2), "freq_ok": bool(b[0] & 1)}
        if name == "BeaconFreq":
            return {"freq_ok": bool(b[0] & 1)}
        return {}
    if name == "LinkCheck":
        return {"margin": b[0], "gw_cnt": b[1]}
    if name == "LinkADR":
        return {
            "dr": b[0] >> 4,
            "tx_power": b[0] & 0x0F,
            "ch_mask": int.from_bytes(b[1:3], "little"),
            "ch_mask_cntl": (b[3] >> 4) & 7,
            "nb_trans": b[3] & 0x0F,
        }
    if name == "DutyCycle":
        return {"max_dcycle": b[0] & 0x0F}
    if name == "RXParamSetup":
        return {"rx1_dr_offset": (b[0] >> 4) & 7, "rx2_dr": b[0] & 0x0F, "freq": _f24(b[1:4])}
    if name == "NewChannel":
        return {"ch_index": b[0], "freq": _f24(b[1:4]), "max_dr": b[4] >> 4, "min_dr": b[4] & 0x0F}
    if name == "RXTimingSetup":
        return {"delay": b[0] & 0x0F}
    if name == "TxParamSetup":
        return {
            "downlink_dwell": bool(b[0] & 0x20),
            "uplink_dwell": bool(b[0] & 0x10),
            "max_eirp": b[0] & 0x0F,
        }
    if name == "DlChannel":
        return {"ch_index": b[0], "freq": _f24(b[1:4])}
    if name == "DeviceTime":
        return {"seconds": int.from_bytes(b[0:4], "little"), "fraction": b[4]}
    if name == "PingSlotChannel":
        return {"freq": _f24(b[0:3]), "dr": b[3] & 0x0F}
    if name == "BeaconTiming":
        return {"delay": int.from_bytes(b[0:2], "little"), "channel": b[2]}
    if name == "BeaconFreq":
        return {"freq": _f24(b[0:3])}
    return {}


def encode(cmds: list[MacCommand], uplink: bool) -> bytes:
    out = b""
    for c in cmds:
        cid, up_len, down_len = COMMANDS[c.name]
        body = _enc_fields(c.name, uplink, c.fields)
        if len(body) != (up_len if uplink else down_len):
            raise ValueError(f"{c.name} payload of {len(body)} bytes")
        out += bytes((cid,)) + body
    return out


def decode(data: bytes, uplink: bool) -> tuple[list[MacCommand], bytes]:
    """Decode a FOpts / FPort-0 buffer. Returns (commands, unknown_tail); the tail is non-empty if an
    unknown CID or a truncated command stopped decoding."""
    cmds = []
    i = 0
    while i < len(data):
        name = BY_CID.get(data[i])
        if name is None:
            return cmds, bytes(data[i:])
        n = COMMANDS[name][1 if uplink else 2]
        if i + 1 + n > len(data):
            return cmds, bytes(data[i:])
        cmds.append(MacCommand(name, _dec_fields(name, uplink, bytes(data[i + 1 : i + 1 + n]))))
        i += 1 + n
    return cmds, b""


def gps_time(unix_s: float) -> tuple[int, int]:
    """(GPS seconds, 1/256 s fraction) for a unix time: what DeviceTimeAns carries."""
    g = unix_s - GPS_EPOCH_UNIX + GPS_LEAP_SECONDS
    sec = int(g)
    return sec & 0xFFFFFFFF, int((g - sec) * 256) & 0xFF


def unix_time(gps_seconds: int, fraction: int = 0) -> float:
    return gps_seconds + fraction / 256 + GPS_EPOCH_UNIX - GPS_LEAP_SECONDS
