"""Network side figures: how fast the network server and radio path model take uplinks (the 1,300-node day
needs 1,300 x 96 = 124,800 of them), and time on air against the worked values of Semtech AN1200.13."""

import tempfile
import time
from pathlib import Path

from fleet.lorawan import crypto, frames
from fleet.lorawan.airtime import WORKED, time_on_air_us
from fleet.lorawan.pathmodel import PathModel
from fleet.lorawan.server import NetworkServer

NODES = 1300
ROUNDS = 8
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


def run():
    ns, devs = _fleet()
    path = PathModel(seed=0)
    # one uplink per node per round, spread over 15 minutes as a fleet's are; frames built beforehand (node side)
    spacing = 900_000_000 // NODES
    work = []
    t = T0
    for r in range(ROUNDS):
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
    rate = len(work) / dt
    delivered = sum(len(d["uplinks"]) for d in ns.devices.values())
    assert ns.counters["rejected"] == 0 and delivered > 0.9 * len(work)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        ns.save(Path(d) / "ns.json")
        save_s = time.perf_counter() - t0
    toa_ok = sum(abs(time_on_air_us(pl, sf) / 1000 - ms) < 1e-6 for pl, sf, ms in WORKED)
    day_s = NODES * 96 / rate
    return [
        ("network server + path model, uplinks per second", f"{rate:,.0f}/s", ">= 4,200/s", rate >= 4200),
        (
            "1,300 nodes x 96 uplinks (a day), network side",
            f"{day_s:.1f} s",
            "<= 30 s (1/10 of 5 min)",
            day_s <= 30,
        ),
        ("state file of 1,300 devices, atomic save", f"{save_s * 1000:.0f} ms", "<= 500 ms", save_s <= 0.5),
        (
            "time on air, AN1200.13 worked values",
            f"{toa_ok}/{len(WORKED)} exact",
            "all",
            toa_ok == len(WORKED),
        ),
    ]
