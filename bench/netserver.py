"""Network side figures: a day of the 1,300-node fleet's uplinks (1,300 x 96 = 124,800) through the network server
and radio path model, measured whole (not computed from a rate) and run DAYS times; the rate is each day's; and time
on air against the worked values of Semtech AN1200.13."""

import tempfile
import time
from pathlib import Path

from bench import Spread, spread
from fleet.lorawan import crypto, frames
from fleet.lorawan.airtime import WORKED, time_on_air_us
from fleet.lorawan.pathmodel import PathModel
from fleet.lorawan.server import NetworkServer

NODES = 1300
ROUNDS = 96  # a day at one uplink per 15 minutes: measured whole, not computed from a rate
DAYS = 3  # the day is run this many times, on a fresh server each time
T0 = 1_788_739_200_000_000


def _fleet():
    ns = NetworkServer(seed=0, keep_records=False)
    devs = []
    join = bytes(8)
    for i in range(NODES):
        eui = i.to_bytes(8, "big")
        key = crypto.aes_encrypt(bytes(16), i.to_bytes(16, "big"))
        ns.register(eui.hex(), join.hex(), key.hex())
        dl = ns.receive(
            frames.JoinRequest(join, eui, 1).build(key),
            t_us=T0,
            freq_hz=868_100_000,
            dr=5,
            receptions=[("gw0", -100.0, 5.0)],
        )
        ja = frames.parse(dl.phy).decrypt(key)
        nwk, app = crypto.session_keys(key, ja.join_nonce, ja.net_id, 1)
        devs.append((ja.dev_addr, nwk, app, (200.0 + 3 * i, 100.0)))
    return ns, devs


def _day(rounds: int = ROUNDS):
    """(seconds, uplinks, server) for one day of the fleet's uplinks through a fresh server and path model."""
    ns, devs = _fleet()
    path = PathModel(seed=0)
    # one uplink per node per round, spread over 15 minutes as a fleet's are; frames built beforehand (node side)
    spacing = 900_000_000 // NODES
    work = []
    t = T0
    for r in range(rounds):
        for addr, nwk, app, pos in devs:
            t += spacing
            phy = frames.DataFrame(
                frames.UNCONFIRMED_UP, addr, r, fport=2, payload=bytes(10), adr=True
            ).build(nwk, app)
            work.append((str(addr), pos, t, phy))
    t0 = time.perf_counter()
    for name, pos, t, phy in work:
        rx, _ = path.uplink(name, pos, t, t + 61_696, 868_100_000, 7, 125, 14)
        if rx:
            ns.receive(phy, t_us=t + 61_696, freq_hz=868_100_000, dr=5, receptions=rx)
        else:
            ns.inspect(phy)
    dt = time.perf_counter() - t0
    delivered = sum(len(d["uplinks"]) for d in ns.devices.values())
    assert ns.counters["rejected"] == 0 and delivered > 0.9 * len(work)
    return dt, len(work), ns


def run():
    days, rates = [], []
    for _ in range(DAYS):
        dt, n, ns = _day()
        days.append(dt)
        rates.append(n / dt)
    day, rate = Spread(tuple(sorted(days))), Spread(tuple(sorted(rates)))
    _, _, ns8 = _day(8)  # the state file figure as it has been measured: 8 uplinks a device

    def saver(server):
        def save():
            with tempfile.TemporaryDirectory() as d:
                server.save(Path(d) / "ns.json")

        return save

    save_s, save_day = spread(saver(ns8), 5), spread(saver(ns), 3)
    toa_ok = sum(abs(time_on_air_us(pl, sf) / 1000 - ms) < 1e-6 for pl, sf, ms in WORKED)
    return [
        (
            f"network server + path model, uplinks per second (over each day of {NODES * ROUNDS:,})",
            rate.fmt("/s", 0),
            ">= 4,200/s",
            rate.min >= 4200,
        ),
        (
            f"{NODES:,} nodes x {ROUNDS} uplinks (a day), network side, measured whole",
            day.fmt(),
            "<= 30 s (1/10 of 5 min)",
            day.max <= 30,
        ),
        (
            "state file of 1,300 devices (8 uplinks each), atomic save",
            save_s.fmt("ms", 0, 1000),
            "<= 500 ms",
            save_s.max <= 0.5,
        ),
        (
            "the same after the whole day (96 uplinks each kept)",
            save_day.fmt("ms", 0, 1000),
            "(information)",
            True,
        ),
        (
            "time on air, AN1200.13 worked values",
            f"{toa_ok}/{len(WORKED)} exact",
            "all",
            toa_ok == len(WORKED),
        ),
    ]
