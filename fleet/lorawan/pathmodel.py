"""Radio path between nodes and gateways: a link budget, fading, packet loss and collisions. Seeded and
deterministic: every random draw is keyed by (seed, node, gateway, time), never by call order, so the same
run gives the same frames whichever order boards are stepped in.

Link budget: log-distance path loss PL(d) = PL(1 m) + 10 n log10(d / 1 m) with PL(1 m) = 31.2 dB at 868 MHz
(free space) and n = 3.0 (urban), a fixed log-normal shadowing per node-gateway link, and a per-packet
fading draw. Noise floor = -174 dBm/Hz + 10 log10(BW) + noise figure. A frame is decoded if its SNR reaches
the spreading factor's demodulation floor (SF7 -7.5 dB ... SF12 -20 dB).

Collisions: a frame overlapping in time another frame on the same frequency and SF at the same gateway is
lost there unless it is at least `capture_db` stronger (capture effect). It is judged against frames already
on the air when it is sent: when boards are stepped in time order the later frame of a colliding pair is
lost and the earlier one kept (a slight under-estimate of collision losses).
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field

from fleet.lorawan.region import REQUIRED_SNR_DB

PL_1M_DB = 31.2
MAX_AIRTIME_US = 3_000_000  # longer than any EU868 frame (SF12, 51 B: 2.8 s)


@dataclass
class Gateway:
    id: str
    x: float = 0.0
    y: float = 0.0
    antenna_gain_dbi: float = 3.0
    tx_power_dbm: float = 14.0  # RX1 on the 868.x channels
    rx2_tx_power_dbm: float = 27.0  # 869.525 MHz allows 500 mW


@dataclass
class Reception:
    gateway: str
    rssi: float
    snr: float


@dataclass
class PathModel:
    gateways: list[Gateway] = field(default_factory=lambda: [Gateway("gw0")])
    seed: int = 0
    exponent: float = 3.0
    shadowing_db: float = 4.0
    fading_db: float = 2.0
    loss: float = 0.0  # extra random loss (interference), probability per frame per gateway
    noise_figure_db: float = 6.0
    node_antenna_gain_dbi: float = 0.0
    collisions: bool = True
    capture_db: float = 6.0
    _air: dict = field(default_factory=dict, repr=False)  # (freq, sf) -> sorted [(t0, t1, node, {gw: rssi})]

    def _rng(self, *key) -> random.Random:
        return random.Random(":".join(str(k) for k in (self.seed, *key)))

    def path_loss_db(self, d_m: float) -> float:
        return PL_1M_DB + 10 * self.exponent * math.log10(max(d_m, 1.0))

    def shadowing(self, node: str, gw: Gateway) -> float:
        return self._rng("shadow", node, gw.id).gauss(0, self.shadowing_db) if self.shadowing_db else 0.0

    def noise_dbm(self, bw_khz: float) -> float:
        return -174 + 10 * math.log10(bw_khz * 1000) + self.noise_figure_db

    def mean_rssi(self, node: str, pos: tuple[float, float], gw: Gateway, tx_power_dbm: float) -> float:
        d = math.hypot(pos[0] - gw.x, pos[1] - gw.y)
        return (
            tx_power_dbm
            + self.node_antenna_gain_dbi
            + gw.antenna_gain_dbi
            - self.path_loss_db(d)
            - self.shadowing(node, gw)
        )

    def _draw(self, kind, node, gw, t_us, mean_rssi, sf, bw_khz):
        rng = self._rng(kind, node, gw.id, t_us)
        rssi = mean_rssi + (rng.gauss(0, self.fading_db) if self.fading_db else 0.0)
        snr = rssi - self.noise_dbm(bw_khz)
        reason = None
        if snr < REQUIRED_SNR_DB.get(sf, -20.0):
            reason = "below sensitivity"
        elif self.loss and rng.random() < self.loss:
            reason = "interference"
        # The modem reports RSSI of signal + noise and saturates its SNR estimate near +13 dB.
        rssi_rep = 10 * math.log10(10 ** (rssi / 10) + 10 ** (self.noise_dbm(bw_khz) / 10))
        return round(rssi_rep, 1), round(max(min(snr, 13.75), -32.0), 2), reason

    def uplink(
        self,
        node: str,
        pos,
        t0_us: int,
        t1_us: int,
        freq_hz: int,
        sf: int,
        bw_khz: float,
        tx_power_dbm: float,
    ) -> tuple[list[Reception], dict]:
        """Which gateways decode a node's frame. Returns (receptions, {gateway: reason lost})."""
        got, lost = [], {}
        strengths = {}
        for gw in self.gateways:
            mean = self.mean_rssi(node, pos, gw, tx_power_dbm)
            rssi, snr, reason = self._draw("up", node, gw, t0_us, mean, sf, bw_khz)
            strengths[gw.id] = rssi
            if (
                reason is None
                and self.collisions
                and self._collides(node, t0_us, t1_us, freq_hz, sf, gw.id, rssi)
            ):
                reason = "collision"
            if reason:
                lost[gw.id] = reason
            else:
                got.append(Reception(gw.id, rssi, snr))
        air = self._air.setdefault((freq_hz, sf), [])
        bisect.insort(air, (t0_us, t1_us, node, strengths))
        got.sort(key=lambda r: -r.snr)
        return got, lost

    def _collides(self, node, t0, t1, freq_hz, sf, gw_id, rssi) -> bool:
        air = self._air.get((freq_hz, sf))
        if not air:
            return False
        i = bisect.bisect_left(air, (t0 - MAX_AIRTIME_US,))
        while i < len(air) and air[i][0] < t1:
            o0, o1, onode, ostrength = air[i]
            i += 1
            if onode == node or o1 <= t0 or gw_id not in ostrength:
                continue
            if rssi - ostrength[gw_id] < self.capture_db:
                return True
        return False

    def downlink(
        self, node: str, pos, gw_id: str, t0_us: int, freq_hz: int, sf: int, bw_khz: float, rx2: bool = False
    ) -> tuple[float, float, str | None]:
        """(rssi, snr, reason lost or None) of a gateway's downlink at the node."""
        gw = next(g for g in self.gateways if g.id == gw_id)
        power = gw.rx2_tx_power_dbm if rx2 else gw.tx_power_dbm
        mean = self.mean_rssi(node, pos, gw, power)
        return self._draw("down", node, gw, t0_us, mean, sf, bw_khz)
