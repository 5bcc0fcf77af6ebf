"""LoRa time on air, per Semtech AN1200.13 (the SX127x/SX126x datasheet formula)."""

from __future__ import annotations

# Worked values (payload bytes, SF, ms at 125 kHz, CR 4/5, 8-symbol preamble, CRC on): Semtech's LoRa calculator,
# which the formula below must reproduce exactly (tests/test_fleet_lorawan.py, bench/netserver.py).
WORKED = (
    (13, 7, 46.336),
    (13, 9, 164.864),
    (13, 12, 1155.072),
    (25, 7, 61.696),
    (25, 8, 113.152),
    (25, 9, 205.824),
    (25, 10, 411.648),
    (25, 11, 823.296),
    (25, 12, 1482.752),
    (64, 7, 118.016),
    (64, 12, 2793.472),
)


def symbol_us(sf: int, bw_khz: float) -> float:
    return (1 << sf) * 1000.0 / bw_khz


def time_on_air_us(
    pl: int,
    sf: int,
    bw_khz: float = 125,
    coding_rate: int = 5,
    preamble: int = 8,
    crc: bool = True,
    implicit_header: bool = False,
    ldro: bool | None = None,
) -> float:
    """Time on air in microseconds of a PL-byte payload. coding_rate 5..8 means 4/5..4/8 (CR 1..4 in AN1200.13).
    Low data rate optimisation switches on by itself when a symbol lasts 16 ms or more (SF11/12 at 125 kHz)."""
    t_sym = symbol_us(sf, bw_khz)
    de = (t_sym >= 16000) if ldro is None else ldro
    cr = coding_rate - 4
    num = 8 * pl - 4 * sf + 28 + (16 if crc else 0) - (20 if implicit_header else 0)
    den = 4 * (sf - (2 if de else 0))
    n_payload = 8 + max(-(-num // den) * (cr + 4), 0)
    return (preamble + 4.25) * t_sym + n_payload * t_sym
