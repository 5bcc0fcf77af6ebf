# EU868 regional parameters (RP002-1.0.x): the one place the MAC reads them from.
from micropython import const

# Data rates: DR0..DR5 = SF12..SF7 at 125 kHz, DR6 = SF7 at 250 kHz. DR7 (FSK) is not supported by the node.
DR_MAX = const(6)
SF = b"\x0c\x0b\x0a\x09\x08\x07\x07"
BW = ("125", "125", "125", "125", "125", "125", "250")  # kHz, as the lora driver takes it
# N: max FRMPayload with no FOpts (MACPayload M = N + 8), repeater-compatible figures are not used.
MAX_FRM = b"\x33\x33\x33\x73\xf2\xf2\xf2"  # 51, 51, 51, 115, 242, 242, 242

# Channels 0..2: the join channels, always defined, DR0..DR5, never changed by NewChannelReq.
DEFAULT_FREQS = (868100, 868300, 868500)  # kHz
FREQ_MIN_KHZ = const(863000)
FREQ_MAX_KHZ = const(870000)

RX2_FREQ = const(869525)  # kHz
RX2_DR = const(0)
JOIN_ACCEPT_DELAY1 = const(5000)  # ms after the end of the join-request (RECEIVE_DELAY1 comes in the session)
ACK_TIMEOUT_MIN = const(1000)  # ms, ACK_TIMEOUT = 2 s +- 1 s
RX1_DR_OFFSET_MAX = const(5)

# TX power index 0..7 = MaxEIRP - 2 dB * index, MaxEIRP 16 dBm; the radio's output is EIRP minus antenna gain.
_MAX_EIRP = const(16)
_ANTENNA_GAIN = const(2)
TXPOWER_MAX_INDEX = const(7)

ADR_ACK_LIMIT = const(64)
ADR_ACK_DELAY = const(32)
MAX_FCNT_GAP = const(16384)

# Sub-bands (ETSI EN 300 220, as in the regional parameters), flat: band i is BANDS[3 * i .. 3 * i + 2] =
# [low kHz, high kHz), duty-cycle divisor.
BANDS = (
    863000, 865000, 1000,  # 0.1 %
    865000, 868000, 100,  # 1 %
    868000, 868600, 100,  # 1 %: the three default channels
    868700, 869200, 1000,  # 0.1 %
    869400, 869650, 10,  # 10 %: RX2
    869700, 870000, 100,  # 1 %
)


def band(f):
    """Index of the sub-band holding frequency f (kHz), or -1 (not a frequency the node may transmit on)."""
    for i in range(0, len(BANDS), 3):
        if BANDS[i] <= f < BANDS[i + 1]:
            return i // 3
    return -1


def rx1_dr(dr, o):
    d = dr - o
    return d if d > 0 else 0


def output_power(i):
    return _MAX_EIRP - 2 * i - _ANTENNA_GAIN


def time_on_air_ms(n, dr):
    """Airtime of a PHYPayload of n bytes at `dr` (LoRa, CR 4/5, explicit header, CRC on, preamble 8), in ms."""
    sf = SF[dr]
    bw = 250 if dr == 6 else 125
    de = 1 if (sf >= 11 and bw == 125) else 0
    num = 8 * n - 4 * sf + 28 + 16
    den = 4 * (sf - 2 * de)
    n = 8 + (max(0, (num + den - 1) // den) * 5)
    # (preamble 8 + 4.25 + n) symbols of 2^sf / bw ms, in microseconds then rounded up to ms
    us = ((8 * 4 + 17 + 4 * n) * (1 << sf) * 1000) // (4 * bw)
    return (us + 999) // 1000


def symbol_us(dr):
    return ((1 << SF[dr]) * 1000) // (250 if dr == 6 else 125)
