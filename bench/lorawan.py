"""LoRaWAN node figures (issue 4), on the emulated board with the network server:

- 1,000 power cuts at random points (file writes cut short at a random byte, and kills at random wall-clock
  instants) during joins, uplinks and persistence: no DevNonce and no (DevAddr, FCntUp) ever reused, and the node
  always recovers.
- 7 virtual days at SF12 with a 15-minute app: zero duty-cycle violations per sub-band in any rolling hour; plus
  the same at a 1-minute app, where the ledger has to hold uplinks back.
- Joins with nobody answering for 2 days: the join back-off (36 s of airtime in the first hour, 36 s in the
  next 10 hours, 8.7 s per 24 h after) is respected.
- The smallest firmware heap (EmulatedBoard heap_kb) the whole node with LoRaWAN runs in, 6 hours without a
  MemoryError: in the emulator's in-process mode, and one process per boot (as a board boots).
"""

from __future__ import annotations

import random
import tempfile
import threading

from fleet.lorawan import frames, region
from hil import heap
from hil.emulator import EmulatedBoard
from hil.network import attach_network

DEV, JOIN, KEY = "70b3d57ed00000b1", "70b3d57ed0000000", "00112233445566778899aabbccddeeff"
BOARD = "heltec-wifi-lora32-v3"


def _board(d, **kw):
    cfg = kw.pop("config", {})
    b = EmulatedBoard(BOARD, "lorawan_probe", flash_dir=d, config=cfg, **kw)
    radio = attach_network(b, dev_eui=DEV, join_eui=JOIN, app_key=KEY, position=(1500.0, 0.0))
    return b, radio


def powercuts(n: int = 1000, seed: int = 7):
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as d:
        b, radio = _board(d, config={"interval_s": 120}, mode="process", seed=seed)
        cuts = kills = 0
        # the first 30 %: the network doesn't know the node's key yet, so every wake is a join attempt
        radio.server.register(DEV, JOIN, "ff" * 16)
        while cuts + kills < n:
            if cuts + kills == int(n * 0.3):
                radio.server.register(DEV, JOIN, KEY)
            if rng.random() < 0.8:
                # the next boot loses power once it has written this many bytes to flash
                b.powercut_after_bytes = rng.randrange(0, 700)
                b.run(wakes=1)
                cuts += 1
            else:
                # pull the plug at a random instant of a wake
                timer = threading.Timer(rng.uniform(0.0, 0.03), b.kill_now)
                timer.start()
                try:
                    b.run(wakes=1)
                except OSError:
                    # the kill landed while the supervisor was answering the firmware: still a power cut
                    b._close()
                    b._pulled_plug = False
                    b.power_cut()
                timer.cancel()
                timer.join()
                if b.halted:
                    b.halted = None
                    b.power_cut()
                kills += 1
            if rng.random() < 0.3:
                b.run(wakes=rng.randrange(1, 4))  # some undisturbed wakes between cuts
        b.run(hours=1)
        radio.flush(b)
        recovered = b.halted is None and any(
            f["frame"] == "uplink" and f["mic_ok"] for f in radio.frames[-6:]
        )
        nonces = [
            frames.parse(bytes.fromhex(f["phy_payload"])).dev_nonce
            for f in radio.frames
            if f["frame"] == "join_request"
        ]
        nonce_ok = len(nonces) == len(set(nonces)) and nonces == sorted(nonces)
        pairs = [
            (f["phy_payload"][2:10], f["fcnt"])
            for f in radio.frames
            if f["frame"] == "uplink" and f.get("mic_ok")
        ]
        fcnt_ok = len(pairs) == len(set(pairs))
        rej = radio.server.summary()["rejected_by_reason"]
        replays = (
            rej.get("DevNonce replay", 0) + rej.get("DevNonce not increasing", 0) + rej.get("FCnt replay", 0)
        )
        return {
            "cuts": cuts,
            "kills": kills,
            "joins": len(nonces),
            "uplinks": len(pairs),
            "reused": (not nonce_ok) + (not fcnt_ok) + replays,
            "recovered": recovered,
        }


def _violations(events) -> tuple[int, float]:
    """Transmissions after which some sub-band's airtime over the preceding hour exceeds its duty cycle, and the
    highest share of any sub-band's budget used in a rolling hour."""
    tx = sorted((e["t"], e["freq"], e["airtime_ms"]) for e in events if e["type"] == "radio_tx")
    bad = 0
    worst = 0.0
    for i, (t, f, _) in enumerate(tx):
        band = region.sub_band(f)
        if band is None:
            bad += 1
            continue
        limit_ms = 3600e3 * band[1]
        used = sum(a for (t2, f2, a) in tx[: i + 1] if t2 > t - 3600 and region.sub_band(f2) == band)
        worst = max(worst, used / limit_ms)
        if used > limit_ms:
            bad += 1
    return bad, worst


def duty_week(interval_s: int, days: float = 7.0):
    with tempfile.TemporaryDirectory() as d:
        b, radio = _board(d, config={"interval_s": interval_s, "dr": 0, "adr": False})
        r = b.run(days=days)
        radio.flush(b)
        tx = [e for e in b.events if e["type"] == "radio_tx"]
        bad, worst = _violations(b.events)
        deferred = sum(1 for e in b.events if e["type"] == "log" and "duty cycle: deferred" in e["line"])
        ups = [f for f in radio.frames if f["frame"] == "uplink" and f["mic_ok"]]
        return {
            "halted": r.halted,
            "tx": len(tx),
            "sf12": all(e["sf"] == 12 for e in tx),
            "violations": bad,
            "worst": worst,
            "deferred": deferred,
            "uplinks": len(ups),
            "wall_s": r.wall_s,
        }


def join_backoff(days: float = 2.0):
    with tempfile.TemporaryDirectory() as d:
        b, radio = _board(d, config={"interval_s": 900})
        radio.server.register(DEV, JOIN, "ff" * 16)  # the network has another key: no join-accept ever
        b.run(days=days)
        joins = [e for e in b.events if e["type"] == "radio_tx"]
        t0 = joins[0]["t"]

        def air(a, z):
            return sum(e["airtime_ms"] for e in joins if a <= e["t"] - t0 < z) / 1000

        first, next10 = air(0, 3600), air(3600, 39600)
        days_air = [
            air(39600 + 86400 * k, 39600 + 86400 * (k + 1))
            for k in range(int((days * 86400 - 39600) // 86400))
        ]
        gaps = [b2["t"] - a["t"] for a, b2 in zip(joins, joins[1:], strict=False)]
        return {
            "joins": len(joins),
            "first_h_s": first,
            "next_10h_s": next10,
            "per_day_s": days_air,
            "distinct_gaps": len({round(g, 1) for g in gaps}),
            "ok": first <= 36 and next10 <= 36 and all(x <= 8.7 for x in days_air),
        }


def min_heap_kb(lo: int = 40, hi: int = 128, step: int = 2, mode: str = "inprocess") -> int | None:
    """Going down from `hi` in `step` KB: the last heap size before the first that fails (tests/test_lorawan_node_e2e.py
    runs the probe at the figures the README gives)."""

    def runs(kb):
        with tempfile.TemporaryDirectory() as d:
            b, radio = _board(d, config={"interval_s": 900}, heap_kb=kb, mode=mode)
            r = b.run(hours=6)
            radio.flush(b)
            mem = [e for e in b.events if e["type"] == "log" and "MemoryError" in e["line"]]
            ups = [f for f in radio.frames if f["frame"] == "uplink" and f["mic_ok"]]
            return r.halted is None and not mem and len(ups) >= 23

    return heap.smallest_heap_kb(runs, hi=hi, lo=lo, step=step)


def run():
    rows = []
    pc = powercuts()
    rows.append(
        (
            f"power cuts during joins/uplinks/persistence ({pc['cuts']} write cuts + {pc['kills']} kills): "
            "DevNonce/FCntUp reused",
            f"{pc['reused']} ({pc['joins']} joins, {pc['uplinks']} uplinks)",
            "0",
            pc["reused"] == 0,
        )
    )
    rows.append(
        ("node recovers after the last power cut", "yes" if pc["recovered"] else "no", "yes", pc["recovered"])
    )
    wk = duty_week(900)
    rows.append(
        (
            "7 days at SF12, 15-min app: duty-cycle violations per sub-band in any rolling hour",
            f"{wk['violations']} ({wk['tx']} TX, worst hour {wk['worst'] * 100:.0f} % of a sub-band's budget)",
            "0",
            wk["violations"] == 0 and wk["sf12"] and not wk["halted"],
        )
    )
    st = duty_week(60, days=1.0)
    rows.append(
        (
            "1 day at SF12, 1-min app (over budget): violations / uplinks held back",
            f"{st['violations']} / {st['deferred']} (worst hour {st['worst'] * 100:.0f} %)",
            "0 / > 0",
            st["violations"] == 0 and st["deferred"] > 0 and not st["halted"],
        )
    )
    jb = join_backoff()
    rows.append(
        (
            "join back-off, nobody answering for 2 days: airtime 1st hour / next 10 h / per day after",
            f"{jb['first_h_s']:.1f} s / {jb['next_10h_s']:.1f} s / "
            + ", ".join(f"{x:.1f}" for x in jb["per_day_s"])
            + f" s ({jb['joins']} tries)",
            "<= 36 / 36 / 8.7 s",
            jb["ok"],
        )
    )
    for mode, how in (("inprocess", "in-process"), ("process", "one process per boot")):
        kb = min_heap_kb(mode=mode)
        rows.append(
            (
                f"smallest firmware heap for the whole node with LoRaWAN (64-bit emulator, 6 h, {how})",
                f"{kb} KB" if kb else "> 128 KB",
                "<= 64 KB",
                kb is not None and kb <= 64,
            )
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
