"""The radio between emulated boards and the network: `board.radio` for one or many EmulatedBoards.

The emulated modem (hil/mpy/lora) sends `lora_tx` (a frame with its modem settings, at the virtual time its
transmission starts) and `lora_rx` (a receive window opening now, with a timeout). Here each uplink goes
through the path model (fleet.lorawan.pathmodel: link budget, fading, loss, collisions) to the gateways and the
network server (fleet.lorawan.server), and the downlink the server answers with waits, with its time, frequency
and data rate, for the node to listen for it.

A node receives a downlink only if its modem is on the same frequency, SF and bandwidth, with inverted IQ and the
public sync word, the path delivers it, and its window opens in time: no later than a few preamble symbols into
the frame (the receiver needs MIN_LOCK_SYMBOLS of the 8 to lock) and staying open until then.

Every frame on the air, both ways, is reported: as a `lora_frame` event on the board's log (fields `frame`:
join_request | join_accept | uplink | downlink, `t`, `dev_eui`, `phy_payload`, `freq` (Hz), `dr`, `airtime_ms`,
uplinks also `fport`, `fcnt`, `payload`, `mic_ok`), in `Radio.frames` and to `Radio.listeners`. Radio settings
and outcomes go to the log as `radio_tx` / `radio_rx` events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from fleet.lorawan import region
from fleet.lorawan.airtime import symbol_us, time_on_air_us
from fleet.lorawan.pathmodel import Gateway, PathModel
from fleet.lorawan.server import NetworkServer

MIN_LOCK_SYMBOLS = 5  # preamble symbols a receiver needs to lock onto a frame
DOWNLINK_PREAMBLE = region.PREAMBLE
GATEWAY_CHANNELS_HZ = set(region.DEFAULT_CHANNELS_HZ + region.CFLIST_CHANNELS_HZ)


@dataclass
class _Pending:
    dl: object  # fleet.lorawan.server.Downlink
    t0: int
    t1: int
    freq_khz: int
    sf: int
    bw: float
    rssi: float
    snr: float
    lost: str | None
    frame: dict


@dataclass
class NodeRadio:
    """One board on the air: where it is and what the gateways are about to send it."""

    name: str
    position: tuple[float, float]
    pending: list[_Pending] = field(default_factory=list)


class Radio:
    def __init__(
        self,
        server: NetworkServer | None = None,
        path: PathModel | None = None,
        *,
        seed: int = 0,
        gateways: list[Gateway] | None = None,
        keep_frames: bool = True,
    ):
        self.server = server or NetworkServer(seed=seed)
        self.path = path or PathModel(gateways=gateways or [Gateway("gw0")], seed=seed)
        self.nodes: dict[int, NodeRadio] = {}
        self.frames: list[dict] = []
        self.keep_frames = keep_frames
        self.listeners: list[Callable[[dict], None]] = []
        self.counters: Counter = Counter()

    def attach(
        self, board, *, position: tuple[float, float] = (500.0, 0.0), name: str | None = None
    ) -> NodeRadio:
        """Put a board on the air at `position` (metres, same plane as the gateways)."""
        if name is None:
            try:
                name = board.config().get("dev_eui") or f"board{len(self.nodes)}"
            except (OSError, ValueError):
                name = f"board{len(self.nodes)}"
        node = NodeRadio(name, tuple(position))
        self.nodes[id(board)] = node
        board.radio = self
        return node

    def node(self, board) -> NodeRadio:
        n = self.nodes.get(id(board))
        return n if n is not None else self.attach(board)

    # ------------------------------------------------------------------ supervisor entry point

    def handle(self, op: str, msg: dict, board) -> dict:
        if op == "lora_tx":
            return self._tx(msg, board)
        if op == "lora_rx":
            return self._rx(msg, board)
        return {"error": "EINVAL"}

    def _report(self, board, t_us: int, frame: dict):
        self.counters[frame["frame"]] += 1
        if frame.get("heard"):
            self.counters[frame["frame"] + "s_heard"] += 1
        if self.keep_frames:
            self.frames.append(dict(frame, t=round(t_us / 1e6, 6)))
        board.emit("lora_frame", t_us, **frame)
        for fn in self.listeners:
            fn(dict(frame, t=round(t_us / 1e6, 6)))

    def _expire(self, board, node: NodeRadio, now_us: int):
        """Downlinks the node can no longer catch: report them as sent and missed."""
        keep = []
        for p in node.pending:
            late = p.t0 + self._late_tol_us(p)
            if late < now_us:
                self._finish(board, p, received=False, reason=p.lost or "node not listening")
            else:
                keep.append(p)
        node.pending = keep

    def flush(self, board):
        """Report the downlinks still waiting for this board (end of a run)."""
        node = self.nodes.get(id(board))
        if node:
            for p in node.pending:
                self._finish(board, p, received=False, reason=p.lost or "node not listening")
            node.pending = []

    def _finish(self, board, p: _Pending, received: bool, reason: str | None):
        f = dict(p.frame, received=received)
        if reason:
            f["lost"] = reason
        self.counters[f"{p.frame['frame']}s_{'received' if received else 'missed'}"] += 1
        self._report(board, p.t0, f)

    @staticmethod
    def _late_tol_us(p: _Pending) -> float:
        return (DOWNLINK_PREAMBLE - MIN_LOCK_SYMBOLS) * symbol_us(p.sf, p.bw)

    # ------------------------------------------------------------------ uplink

    def _tx(self, msg: dict, board) -> dict:
        node = self.node(board)
        t0 = msg["t"]
        data = bytes.fromhex(msg["data"])
        sf, bw = msg["sf"], float(msg["bw"])
        freq_hz = int(round(msg["freq_khz"] * 1000))
        toa = time_on_air_us(len(data), sf, bw, msg["cr"], msg["preamble"], msg["crc"], msg["ih"])
        t1 = t0 + int(round(toa))
        self._expire(board, node, t0)
        dr = region.dr_of(sf, bw)
        board.emit(
            "radio_tx",
            t0,
            freq=freq_hz,
            sf=sf,
            bw=bw,
            dr=dr,
            power=msg["power"],
            len=len(data),
            airtime_ms=round(toa / 1000, 3),
        )
        why_not = None
        if msg["syncword"] != region.SYNCWORD_PUBLIC:
            why_not = "not the LoRaWAN public sync word"
        elif msg["iq"]:
            why_not = "inverted IQ on an uplink"
        elif not msg["crc"] or msg["ih"]:
            why_not = "no CRC or implicit header"
        elif dr is None:
            why_not = "not an EU868 data rate"
        elif freq_hz not in GATEWAY_CHANNELS_HZ:
            why_not = "not a gateway channel"
        receptions, lost = [], {}
        if why_not is None:
            receptions, lost = self.path.uplink(
                node.name, node.position, t0, t1, freq_hz, sf, bw, msg["power"]
            )
        dl = info = verdict = None
        if receptions:
            dl = self.server.receive(data, t_us=t1, freq_hz=freq_hz, dr=dr, receptions=receptions)
            verdict = self.server.last_verdict
            if verdict is not None and verdict["type"] in ("uplink", "join_request"):
                info = dict(verdict, mic_ok=True)
        if info is None:
            info = self.server.inspect(data)  # not heard, or rejected: what the network would make of it
        kind = info["type"] if info["type"] in ("join_request", "uplink") else "uplink"
        frame = {
            "frame": kind,
            "dev_eui": info.get("dev_eui") or node.name,
            "phy_payload": data.hex(),
            "freq": freq_hz,
            "dr": dr,
            "airtime_ms": round(toa / 1000, 3),
            "heard": bool(receptions),
            "gateways": len(receptions),
        }
        if kind == "uplink":
            frame.update(
                fport=info.get("fport"),
                fcnt=info.get("fcnt"),
                payload=info.get("payload"),
                mic_ok=info.get("mic_ok", False),
            )
        else:
            frame["mic_ok"] = info.get("mic_ok", False)
        if receptions:
            frame["rssi"], frame["snr"] = receptions[0].rssi, receptions[0].snr
        else:
            frame["lost"] = why_not or ", ".join(sorted(set(lost.values()))) or "no gateway"
        if verdict is not None and verdict["type"] == "rejected":
            frame["rejected"] = verdict["reason"]
        self._report(board, t0, frame)
        if dl is not None:
            self._schedule(board, node, dl)
        return {"toa_us": int(round(toa))}

    def _schedule(self, board, node: NodeRadio, dl):
        sf, bw = region.DATA_RATES[dl.dr]
        toa = time_on_air_us(len(dl.phy), sf, bw, 5, DOWNLINK_PREAMBLE, crc=False)
        rssi, snr, lost = self.path.downlink(
            node.name,
            node.position,
            dl.gateway or self.path.gateways[0].id,
            dl.t_us,
            dl.freq_hz,
            sf,
            bw,
            rx2=dl.window == "rx2",
        )
        frame = {
            "frame": dl.kind,
            "dev_eui": dl.dev_eui,
            "phy_payload": dl.phy.hex(),
            "freq": dl.freq_hz,
            "dr": dl.dr,
            "airtime_ms": round(toa / 1000, 3),
            "window": dl.window,
            "gateway": dl.gateway,
        }
        if dl.kind == "downlink":
            frame.update(
                fport=dl.info.get("fport"),
                fcnt=dl.info.get("fcnt"),
                payload=dl.info.get("payload"),
                ack=dl.info.get("ack"),
                mac=dl.info.get("mac"),
            )
        node.pending.append(
            _Pending(
                dl, dl.t_us, dl.t_us + int(round(toa)), dl.freq_hz // 1000, sf, bw, rssi, snr, lost, frame
            )
        )
        node.pending.sort(key=lambda p: p.t0)

    # ------------------------------------------------------------------ receive windows

    def _rx(self, msg: dict, board) -> dict:
        node = self.node(board)
        t_open = msg["t"]
        timeout_ms = msg.get("timeout_ms")
        t_close = None if timeout_ms is None else t_open + timeout_ms * 1000
        sf, bw, freq_khz = msg["sf"], float(msg["bw"]), msg["freq_khz"]
        self._expire(board, node, t_open)
        for p in list(node.pending):
            lock_at = p.t0 + MIN_LOCK_SYMBOLS * symbol_us(p.sf, p.bw)
            if t_close is not None and t_close < lock_at:
                break  # the window closes before this frame could be caught; it stays on schedule
            node.pending.remove(p)
            reason = None
            if abs(freq_khz - p.freq_khz) > 1 or sf != p.sf or bw != p.bw:
                reason = "modem on another channel or data rate"
            elif not msg["iq"]:
                reason = "modem not inverting IQ"
            elif msg["syncword"] != region.SYNCWORD_PUBLIC:
                reason = "modem sync word is not 0x34"
            elif p.lost:
                reason = p.lost
            if reason:
                self._finish(board, p, received=False, reason=reason)
                continue
            self._finish(board, p, received=True, reason=None)
            board.emit(
                "radio_rx",
                p.t1,
                ok=True,
                freq=p.freq_khz * 1000,
                sf=sf,
                bw=bw,
                len=len(p.dl.phy),
                rssi=p.rssi,
                snr=p.snr,
                airtime_ms=round((p.t1 - p.t0) / 1000, 3),
            )
            return {
                "data": p.dl.phy.hex(),
                "end_us": p.t1,
                "snr": int(round(p.snr * 4)),
                "rssi": int(round(p.rssi)),
            }
        if t_close is None:
            return {"wait_us": None}
        board.emit(
            "radio_rx", t_open, ok=False, freq=int(freq_khz * 1000), sf=sf, bw=bw, timeout_ms=timeout_ms
        )
        return {"wait_us": timeout_ms * 1000}

    def summary(self) -> dict:
        c = self.counters
        return {
            "join_requests": c["join_request"],
            "join_accepts": c["join_accept"],
            "join_accepts_received": c["join_accepts_received"],
            "uplinks": c["uplink"],
            "uplinks_heard": c["uplinks_heard"],
            "downlinks": c["downlink"],
            "downlinks_received": c["downlinks_received"],
            "downlinks_missed": c["downlinks_missed"],
        }


def run_boards(boards: list, *, hours: float | None = None, until_us: int | None = None) -> dict:
    """Run several boards sharing one radio in virtual-time order, one wake at a time: always the board whose
    clock is furthest behind, so frames reach the air (and the collision model) in time order, to within a
    wake. Returns {"boots": n, "halted": [board indexes]}."""
    if until_us is None:
        start = min(b.t_us for b in boards)
        until_us = start + int((hours or 0) * 3600e6)
    boots = 0
    try:
        while True:
            live = [b for b in boards if not b.halted and b.t_us < until_us]
            if not live:
                break
            min(live, key=lambda b: b.t_us).wake_once()
            boots += 1
    finally:
        for b in boards:
            if b.halted or b.mode == "process":
                b._close()
    return {"boots": boots, "halted": [i for i, b in enumerate(boards) if b.halted]}
