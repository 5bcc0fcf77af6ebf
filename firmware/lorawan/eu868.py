# EU868 regional parameters (RP002-1.0.x): the one place the MAC reads them from.
from micropython import const

# Data rates: DR0..DR5 = SF12..SF7 at 125 kHz, DR6 = SF7 at 250 kHz. DR7 (FSK) is not supported by the node.
DR_MAX = const(6)
SF = b"\x0c\x0b\x0a\x09\x08\x07\x07"
BW = ("125", "125", "125", "125", "125", "125", "250")
BW_KHZ = (125, 125, 125, 125, 125, 125, 250)
# N: max FRMPayload with no FOpts (MACPayload M = N + 8), repeater-compatible figures are not used.
MAX_FRM = (51, 51, 51, 115, 242, 242, 242)

DEFAULT_DR = const(5)
JOIN_DR_MIN = const(0)
# Channels 0..2: the join channels, always defined, DR0..DR5, never changed by NewChannelReq.
DEFAULT_FREQS = (868100, 868300, 868500)  # kHz
NUM_CHANNELS = const(16)
FREQ_MIN_KHZ = const(863000)
FREQ_MAX_KHZ = const(870000)

RX2_FREQ = const(869525)  # kHz
RX2_DR = const(0)
RECEIVE_DELAY1 = const(1000)  # ms after the end of the uplink
JOIN_ACCEPT_DELAY1 = const(5000)
ACK_TIMEOUT_MIN = const(1000)  # ms, ACK_TIMEOUT = 2 s +- 1 s
ACK_TIMEOUT_MAX = const(3000)
RX1_DR_OFFSET_MAX = const(5)

# TX power index 0..7 = MaxEIRP - 2 dB * index, MaxEIRP 16 dBm; the radio's output is EIRP minus antenna gain.
MAX_EIRP = const(16)
ANTENNA_GAIN = const(2)
TXPOWER_MAX_INDEX = const(7)

ADR_ACK_LIMIT = const(64)
ADR_ACK_DELAY = const(32)
MAX_FCNT_GAP = const(16384)

# Sub-bands (ETSI EN 300 220, as in the regional parameters): [low kHz, high kHz), duty-cycle divisor.
BANDS = (
    (863000, 865000, 1000),  # 0.1 %
    (865000, 868000, 100),  # 1 %
    (868000, 868600, 100),  # 1 %: the three default channels
    (868700, 869200, 1000),  # 0.1 %
    (869400, 869650, 10),  # 10 %: RX2
    (869700, 870000, 100),  # 1 %
)


def band(freq_khz):
    """Index of the sub-band holding freq_khz, or -1 (not a frequency the node may transmit on)."""
    for i in range(len(BANDS)):
        b = BANDS[i]
        if b[0] <= freq_khz < b[1]:
            return i
    return -1


def rx1_dr(dr, offset):
    d = dr - offset
    return d if d > 0 else 0


def output_power(index):
    return MAX_EIRP - 2 * index - ANTENNA_GAIN


def time_on_air_ms(pl, dr):
    """Airtime of a PHYPayload of pl bytes at `dr` (LoRa, CR 4/5, explicit header, CRC on, preamble 8), in ms."""
    sf = SF[dr]
    bw = BW_KHZ[dr]
    de = 1 if (sf >= 11 and bw == 125) else 0
    num = 8 * pl - 4 * sf + 28 + 16
    den = 4 * (sf - 2 * de)
    n = 8 + (max(0, (num + den - 1) // den) * 5)
    # (preamble 8 + 4.25 + n) symbols of 2^sf / bw ms, in microseconds then rounded up to ms
    us = ((8 * 4 + 17 + 4 * n) * (1 << sf) * 1000) // (4 * bw)
    return (us + 999) // 1000


def symbol_us(dr):
    return ((1 << SF[dr]) * 1000) // BW_KHZ[dr]
