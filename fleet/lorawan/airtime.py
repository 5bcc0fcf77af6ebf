"""LoRa time on air, per Semtech AN1200.13 (the SX127x/SX126x datasheet formula)."""

from __future__ import annotations


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
