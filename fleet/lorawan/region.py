"""EU868 regional parameters (LoRaWAN Regional Parameters, EU863-870) used by the network server and radio model."""

from __future__ import annotations

# DR -> (SF, bandwidth kHz); DR7 is FSK and not modelled.
DATA_RATES = {0: (12, 125), 1: (11, 125), 2: (10, 125), 3: (9, 125), 4: (8, 125), 5: (7, 125), 6: (7, 250)}
DEFAULT_CHANNELS_HZ = [868_100_000, 868_300_000, 868_500_000]
# Channels 4-8 (indexes 3-7) the server hands out in the join-accept's CFList: a common EU868 plan.
CFLIST_CHANNELS_HZ = [867_100_000, 867_300_000, 867_500_000, 867_700_000, 867_900_000]
RX2_FREQ_HZ = 869_525_000
RX2_DR = 0
RECEIVE_DELAY1_S, RECEIVE_DELAY2_S = 1, 2
JOIN_ACCEPT_DELAY1_S, JOIN_ACCEPT_DELAY2_S = 5, 6
MAX_EIRP_DBM = 16
DEFAULT_TX_POWER_DBM = 14
# Max MACPayload (FHDR + FPort + FRMPayload) per DR, and FRMPayload with no FOpts (= M - 8).
MAX_MAC_PAYLOAD = {0: 59, 1: 59, 2: 59, 3: 123, 4: 250, 5: 250, 6: 250, 7: 250}
# Demodulator floor: lowest SNR (dB) at which each SF decodes (Semtech SX127x/SX126x datasheets).
REQUIRED_SNR_DB = {7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}
SYNCWORD_PUBLIC = 0x34
PREAMBLE = 8


def dr_of(sf: int, bw_khz: float) -> int | None:
    for dr, (s, b) in DATA_RATES.items():
        if s == sf and b == int(bw_khz):
            return dr
    return None


def rx1_dr(up_dr: int, offset: int) -> int:
    """EU868 RX1 data rate: uplink DR minus RX1DROffset (0..5), not below DR0."""
    return max(0, up_dr - offset)


def tx_power_dbm(index: int) -> int:
    """EU868 TXPower index 0..7 -> EIRP dBm (max EIRP minus 2 dB per step)."""
    return MAX_EIRP_DBM - 2 * index


def max_frm_payload(dr: int, fopts_len: int = 0) -> int:
    return MAX_MAC_PAYLOAD[dr] - 8 - fopts_len


def sub_band(freq_hz: int) -> tuple[str, float] | None:
    """(name, duty-cycle limit) of the ETSI sub-band a frequency falls in."""
    bands = [
        ("863-865", 863_000_000, 865_000_000, 0.001),
        ("865-868", 865_000_000, 868_000_000, 0.01),
        ("868.0-868.6", 868_000_000, 868_600_000, 0.01),
        ("868.7-869.2", 868_700_000, 869_200_000, 0.001),
        ("869.4-869.65", 869_400_000, 869_650_000, 0.1),
        ("869.7-870", 869_700_000, 870_000_000, 0.01),
    ]
    for name, lo, hi, dc in bands:
        if lo <= freq_hz <= hi:
            return name, dc
    return None
