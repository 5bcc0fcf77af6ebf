"""LoRaWAN 1.0.x PHYPayloads: build and parse every message type (spec 1.0.1 section 4).

`parse()` never trusts its input: a truncated or malformed frame raises FrameError with a one-line reason.
MIC checking and decryption need keys and live in `crypto`; helpers here tie the two together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet.lorawan import crypto

(
    JOIN_REQUEST,
    JOIN_ACCEPT,
    UNCONFIRMED_UP,
    UNCONFIRMED_DOWN,
    CONFIRMED_UP,
    CONFIRMED_DOWN,
    RFU,
    PROPRIETARY,
) = range(8)
MTYPE_NAMES = {
    JOIN_REQUEST: "join_request",
    JOIN_ACCEPT: "join_accept",
    UNCONFIRMED_UP: "unconfirmed_up",
    UNCONFIRMED_DOWN: "unconfirmed_down",
    CONFIRMED_UP: "confirmed_up",
    CONFIRMED_DOWN: "confirmed_down",
    RFU: "rfu",
    PROPRIETARY: "proprietary",
}
UPLINK_TYPES = (UNCONFIRMED_UP, CONFIRMED_UP)
DOWNLINK_TYPES = (UNCONFIRMED_DOWN, CONFIRMED_DOWN)
MAJOR_R1 = 0


class FrameError(ValueError):
    pass


def mhdr(mtype: int, major: int = MAJOR_R1) -> int:
    return (mtype << 5) | major


@dataclass
class JoinRequest:
    join_eui: bytes  # 8 bytes, written big-endian (as printed); reversed on the wire
    dev_eui: bytes
    dev_nonce: int
    mic: bytes = b""
    signed: bytes = field(default=b"", repr=False, compare=False)  # as received, MIC excluded

    def body(self) -> bytes:
        return (
            bytes((mhdr(JOIN_REQUEST),))
            + self.join_eui[::-1]
            + self.dev_eui[::-1]
            + self.dev_nonce.to_bytes(2, "little")
        )

    def build(self, app_key: bytes) -> bytes:
        b = self.body()
        self.mic = crypto.join_request_mic(app_key, b)
        return b + self.mic

    def mic_ok(self, app_key: bytes) -> bool:
        return crypto.join_request_mic(app_key, self.signed or self.body()) == self.mic


@dataclass
class JoinAccept:
    join_nonce: int
    net_id: int
    dev_addr: int
    rx1_dr_offset: int = 0
    rx2_dr: int = 0
    rx_delay: int = 1
    cflist: bytes = b""  # 16 bytes or empty
    opt_neg: bool = False
    mic: bytes = b""

    def plain(self) -> bytes:
        dl = ((1 << 7) if self.opt_neg else 0) | ((self.rx1_dr_offset & 7) << 4) | (self.rx2_dr & 0x0F)
        if self.cflist and len(self.cflist) != 16:
            raise ValueError("CFList is 16 bytes")
        return (
            bytes((mhdr(JOIN_ACCEPT),))
            + self.join_nonce.to_bytes(3, "little")
            + self.net_id.to_bytes(3, "little")
            + self.dev_addr.to_bytes(4, "little")
            + bytes((dl, self.rx_delay & 0x0F))
            + self.cflist
        )

    def build(self, app_key: bytes) -> bytes:
        p = self.plain()
        self.mic = crypto.join_accept_mic(app_key, p)
        return crypto.encrypt_join_accept(app_key, p)

    def cflist_freqs_hz(self) -> list[int]:
        """EU868-style CFList (type 0): up to five channel frequencies, 0 = no channel."""
        if len(self.cflist) != 16 or self.cflist[15] != 0:
            return []
        return [int.from_bytes(self.cflist[i : i + 3], "little") * 100 for i in range(0, 15, 3)]


def cflist_from_freqs(freqs_hz: list[int]) -> bytes:
    if len(freqs_hz) > 5:
        raise ValueError("a CFList holds at most 5 frequencies")
    out = b"".join((f // 100).to_bytes(3, "little") for f in freqs_hz)
    return out + bytes(15 - len(out)) + b"\x00"


@dataclass
class DataFrame:
    mtype: int
    dev_addr: int
    fcnt: int  # the 16 bits on the wire when parsed; any width when building (truncated on the wire)
    fport: int | None = None
    payload: bytes = b""  # FRMPayload as on the wire (encrypted) after parse; plaintext given to build()
    fopts: bytes = b""
    adr: bool = False
    adr_ack_req: bool = False  # uplink only (same bit as RFU on downlinks)
    ack: bool = False
    fpending: bool = False  # downlink: FPending; uplink: ClassB
    major: int = MAJOR_R1
    mic: bytes = b""
    signed: bytes = field(default=b"", repr=False, compare=False)  # as received, MIC excluded

    @property
    def uplink(self) -> bool:
        return self.mtype in UPLINK_TYPES

    @property
    def confirmed(self) -> bool:
        return self.mtype in (CONFIRMED_UP, CONFIRMED_DOWN)

    @property
    def direction(self) -> int:
        return crypto.UP if self.uplink else crypto.DOWN

    def fctrl(self) -> int:
        if len(self.fopts) > 15:
            raise ValueError("FOpts holds at most 15 bytes")
        return (
            (0x80 if self.adr else 0)
            | (0x40 if self.adr_ack_req else 0)
            | (0x20 if self.ack else 0)
            | (0x10 if self.fpending else 0)
            | len(self.fopts)
        )

    def _msg(self, frm: bytes) -> bytes:
        out = (
            bytes((mhdr(self.mtype, self.major),))
            + self.dev_addr.to_bytes(4, "little")
            + bytes((self.fctrl(),))
            + (self.fcnt & 0xFFFF).to_bytes(2, "little")
            + self.fopts
        )
        if self.fport is not None:
            out += bytes((self.fport,))
        elif frm:
            raise ValueError("an FRMPayload needs an FPort")
        return out + frm

    def build(self, nwk_skey: bytes, app_skey: bytes, fcnt32: int | None = None) -> bytes:
        """Encrypt `payload` (plaintext) and sign; `fcnt32` is the full counter (default: `fcnt`)."""
        if self.fport == 0 and self.fopts:
            raise ValueError("MAC commands go either in FOpts or on FPort 0, not both")
        fc = self.fcnt if fcnt32 is None else fcnt32
        key = nwk_skey if self.fport == 0 else app_skey
        frm = crypto.frm_crypt(key, self.direction, self.dev_addr, fc, self.payload) if self.payload else b""
        msg = self._msg(frm)
        self.mic = crypto.data_mic(nwk_skey, self.direction, self.dev_addr, fc, msg)
        return msg + self.mic

    def mic_ok(self, nwk_skey: bytes, fcnt32: int) -> bool:
        # Over the bytes as received when parsed (RFU bits included), not a re-encoding of the fields.
        msg = self.signed or self._msg(self.payload)
        return crypto.data_mic(nwk_skey, self.direction, self.dev_addr, fcnt32, msg) == self.mic

    def decrypt(self, nwk_skey: bytes, app_skey: bytes, fcnt32: int) -> bytes:
        if not self.payload:
            return b""
        key = nwk_skey if self.fport == 0 else app_skey
        return crypto.frm_crypt(key, self.direction, self.dev_addr, fcnt32, self.payload)


@dataclass
class Proprietary:
    raw: bytes
    mtype: int = PROPRIETARY


@dataclass
class EncryptedJoinAccept:
    """A join-accept as parsed without the AppKey: only its ciphertext is known."""

    raw: bytes
    mtype: int = JOIN_ACCEPT

    def decrypt(self, app_key: bytes) -> JoinAccept:
        return parse_join_accept(crypto.decrypt_join_accept(app_key, self.raw), app_key)


def parse_join_accept(plain: bytes, app_key: bytes | None = None) -> JoinAccept:
    """Parse a decrypted join-accept (MHDR | fields | MIC); with app_key, raise FrameError on a bad MIC."""
    if len(plain) not in (17, 33):
        raise FrameError(f"join-accept of {len(plain)} bytes (17 or 33 expected)")
    ja = JoinAccept(
        join_nonce=int.from_bytes(plain[1:4], "little"),
        net_id=int.from_bytes(plain[4:7], "little"),
        dev_addr=int.from_bytes(plain[7:11], "little"),
        rx1_dr_offset=(plain[11] >> 4) & 7,
        rx2_dr=plain[11] & 0x0F,
        rx_delay=plain[12] & 0x0F,
        cflist=bytes(plain[13:-4]),
        opt_neg=bool(plain[11] & 0x80),
        mic=bytes(plain[-4:]),
    )
    if app_key is not None and crypto.join_accept_mic(app_key, plain[:-4]) != ja.mic:
        raise FrameError("join-accept MIC mismatch")
    return ja


def parse(phy: bytes):
    """Parse a PHYPayload into JoinRequest, EncryptedJoinAccept, DataFrame or Proprietary."""
    phy = bytes(phy)
    if len(phy) < 1:
        raise FrameError("empty frame")
    mtype = phy[0] >> 5
    major = phy[0] & 3
    if mtype == PROPRIETARY:
        return Proprietary(phy)
    if major != MAJOR_R1:
        raise FrameError(f"unknown LoRaWAN major version {major}")
    if mtype == RFU:
        raise FrameError("RFU message type")
    if mtype == JOIN_REQUEST:
        if len(phy) != 23:
            raise FrameError(f"join-request of {len(phy)} bytes (23 expected)")
        return JoinRequest(
            join_eui=phy[1:9][::-1],
            dev_eui=phy[9:17][::-1],
            dev_nonce=int.from_bytes(phy[17:19], "little"),
            mic=phy[19:23],
            signed=phy[:19],
        )
    if mtype == JOIN_ACCEPT:
        if len(phy) not in (17, 33):
            raise FrameError(f"join-accept of {len(phy)} bytes (17 or 33 expected)")
        return EncryptedJoinAccept(phy)
    if len(phy) < 12:
        raise FrameError(f"data frame of {len(phy)} bytes (at least 12)")
    fctrl = phy[5]
    fopts_len = fctrl & 0x0F
    end_fhdr = 8 + fopts_len
    if len(phy) < end_fhdr + 4:
        raise FrameError("frame shorter than its FOpts")
    rest = phy[end_fhdr:-4]
    fport = None
    payload = b""
    if rest:
        fport = rest[0]
        payload = rest[1:]
        if fport == 0 and fopts_len:
            raise FrameError("FOpts and FPort 0 in one frame")
    return DataFrame(
        mtype=mtype,
        dev_addr=int.from_bytes(phy[1:5], "little"),
        fcnt=int.from_bytes(phy[6:8], "little"),
        fport=fport,
        payload=payload,
        fopts=phy[8:end_fhdr],
        adr=bool(fctrl & 0x80),
        adr_ack_req=bool(fctrl & 0x40),
        ack=bool(fctrl & 0x20),
        fpending=bool(fctrl & 0x10),
        major=major,
        mic=phy[-4:],
        signed=phy[:-4],
    )


@dataclass
class Session:
    """What both ends of an activated device share (used by tests and tools)."""

    dev_addr: int
    nwk_skey: bytes
    app_skey: bytes
    fcnt_up: int = 0
    fcnt_down: int = 0
    extra: dict = field(default_factory=dict)


def fcnt32(last: int | None, fcnt16: int) -> int:
    """The 32-bit counter closest ahead of `last` whose low 16 bits are fcnt16 (not checking replay)."""
    if last is None:
        return fcnt16
    cand = (last & ~0xFFFF) | fcnt16
    if cand < last:
        cand += 0x10000
    return cand
