"""A LoRaWAN 1.0.x join server + network server for EU868 Class A devices, driven frame by frame.

The radio side (hil/radio.py) hands it each uplink a gateway decoded, with the time the transmission ended and
the link quality; it answers with the downlink to send in RX1 or RX2, if any. Everything it sees is kept in
`records` (one dict per frame, join, delivery or rejection, with the reason) and `counters`.

State per device (session, counters, nonces, queues, ADR history) lives in memory and, with `state_path`, in a
JSON file written atomically (temporary file, fsync, rename; mode 0600 since it holds keys).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fleet.lorawan import crypto, frames, maccommands, region
from fleet.lorawan.frames import FrameError
from fleet.lorawan.maccommands import MacCommand

MAX_FCNT_GAP = 16384
MAX_DEV_NONCES_KEPT = 64
CONFIRMED_DOWN_TRIES = 3
ADR_STEP_DB = 3.0
MAX_TX_POWER_INDEX = 7


@dataclass
class Downlink:
    """A frame for a gateway to send: at `t_us` (virtual unix µs, start of transmission)."""

    dev_eui: str
    kind: str  # "join_accept" or "downlink"
    phy: bytes
    t_us: int
    freq_hz: int
    dr: int
    window: str  # "rx1" or "rx2"
    gateway: str
    info: dict = field(default_factory=dict)


def _hex(b: bytes) -> str:
    return bytes(b).hex()


class NetworkServer:
    def __init__(
        self,
        *,
        net_id: int = 0x000000,
        state_path: str | Path | None = None,
        seed: int = 0,
        rx_window: str = "rx1",
        rx1_dr_offset: int = 0,
        rx2_dr: int = region.RX2_DR,
        rx_delay: int = 1,
        adr_history: int = 20,
        adr_margin_db: float = 10.0,
        dev_nonce_policy: str = "counter",
        status_every: int = 0,
        autosave: bool = False,
        keep_records: bool = True,
        keep_uplinks: int = 1000,
    ):
        if rx_window not in ("rx1", "rx2"):
            raise ValueError("rx_window is 'rx1' or 'rx2'")
        if dev_nonce_policy not in ("counter", "unique"):
            raise ValueError("dev_nonce_policy is 'counter' (1.0.4) or 'unique' (1.0.2)")
        self.net_id = net_id
        self.rx_window = rx_window
        self.rx1_dr_offset = rx1_dr_offset
        self.rx2_dr = rx2_dr
        self.rx_delay = rx_delay
        self.adr_history = adr_history
        self.adr_margin_db = adr_margin_db
        self.dev_nonce_policy = dev_nonce_policy
        self.status_every = status_every
        self.autosave = autosave
        self.keep_records = keep_records
        self.keep_uplinks = keep_uplinks
        self.state_path = Path(state_path) if state_path else None
        self._rng = random.Random(f"netserver:{seed}")
        self.devices: dict[str, dict] = {}
        self.by_addr: dict[int, str] = {}
        self.records: list[dict] = []
        self.counters: Counter = Counter()
        self.last_verdict: dict | None = None
        if self.state_path and self.state_path.exists():
            self._load()

    # ------------------------------------------------------------------ devices and state

    def register(self, dev_eui: str, join_eui: str, app_key: str):
        """Add (or re-key) a device: EUIs as 16 hex digits, AppKey as 32."""
        dev_eui, join_eui, app_key = dev_eui.lower(), join_eui.lower(), app_key.lower()
        for v, n in ((dev_eui, 16), (join_eui, 16), (app_key, 32)):
            if len(v) != n:
                raise ValueError("DevEUI/JoinEUI are 16 hex digits, AppKey 32")
            bytes.fromhex(v)
        dev = self.devices.get(dev_eui)
        if dev is None:
            dev = self.devices[dev_eui] = {
                "dev_eui": dev_eui,
                "last_dev_nonce": None,
                "dev_nonces": [],
                "join_nonce": 0,
                "session": None,
                "pending": None,
                "queue": [],
                "mac_queue": [],
                "uplinks": [],
                "status": None,
            }
        dev["join_eui"] = join_eui
        dev["app_key"] = app_key
        self._changed()
        return dev

    def enqueue(self, dev_eui: str, fport: int, payload: bytes, confirmed: bool = False):
        """Queue an application downlink for the device's next receive window."""
        if not 1 <= fport <= 223:
            raise ValueError("application FPort is 1..223")
        dev = self._dev(dev_eui)
        dev["queue"].append(
            {"fport": fport, "payload": _hex(payload), "confirmed": bool(confirmed), "tries": 0}
        )
        self._changed()

    def request_status(self, dev_eui: str):
        """Ask the device for its battery and link margin (DevStatusReq) in the next downlink."""
        self._queue_mac(self._dev(dev_eui), MacCommand("DevStatus"))

    def request_mac(self, dev_eui: str, cmd: MacCommand):
        """Send any network-side MAC command (e.g. DutyCycleReq, RXParamSetupReq) in the next downlink."""
        self._queue_mac(self._dev(dev_eui), cmd)

    def session(self, dev_eui: str) -> dict | None:
        return self._dev(dev_eui)["session"]

    def delivered(self, dev_eui: str) -> list[dict]:
        """Application uplinks delivered for a device: [{t, fcnt, fport, payload(bytes)}]."""
        return [dict(u, payload=bytes.fromhex(u["payload"])) for u in self._dev(dev_eui)["uplinks"]]

    def _dev(self, dev_eui: str) -> dict:
        try:
            return self.devices[dev_eui.lower()]
        except KeyError:
            raise KeyError(f"unknown DevEUI {dev_eui}") from None

    def _queue_mac(self, dev, cmd: MacCommand):
        dev["mac_queue"].append({"name": cmd.name, "fields": cmd.fields})
        self._changed()

    def _changed(self):
        if self.autosave and self.state_path:
            self.save()

    def save(self, path: str | Path | None = None):
        path = Path(path or self.state_path)
        data = {
            "version": 1,
            "net_id": self.net_id,
            "devices": self.devices,
            "counters": dict(self.counters),
            "rng": self._rng.getstate()[1][:1],
        }
        fd, tmp = tempfile.mkstemp(prefix=".netserver-", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _load(self):
        data = json.loads(self.state_path.read_text())
        self.net_id = data.get("net_id", self.net_id)
        self.devices = data["devices"]
        self.counters = Counter(data.get("counters", {}))
        for eui, dev in self.devices.items():
            for key in ("session", "pending"):
                if dev.get(key):
                    self.by_addr[dev[key]["dev_addr"]] = eui
        # DevAddrs handed out before must not come back: reseed from what exists.
        self._rng.seed(f"netserver-reload:{sorted(self.by_addr)}:{self.counters.get('joins', 0)}")

    # ------------------------------------------------------------------ reporting

    def _record(self, t_us: int, kind: str, **fields) -> dict:
        rec = {"t": round(t_us / 1e6, 6), "type": kind}
        rec.update(fields)
        if self.keep_records:
            self.records.append(rec)
        self.counters[kind] += 1
        if kind in ("uplink", "join_request", "rejected"):
            self.last_verdict = rec
        return rec

    def _reject(self, t_us: int, reason: str, **fields):
        self.counters["rejected:" + reason] += 1
        self._record(t_us, "rejected", reason=reason, **fields)
        return None

    # ------------------------------------------------------------------ inspection (no side effects)

    def inspect(self, phy: bytes) -> dict:
        """Describe a frame with what the server knows, changing nothing: type, dev_eui, and for data frames
        fcnt, fport, decrypted payload and whether the MIC verifies. Used for frames no gateway decoded."""
        try:
            f = frames.parse(phy)
        except FrameError as e:
            return {"type": "malformed", "error": str(e)}
        if isinstance(f, frames.JoinRequest):
            eui = f.dev_eui.hex()
            dev = self.devices.get(eui)
            return {
                "type": "join_request",
                "dev_eui": eui,
                "dev_nonce": f.dev_nonce,
                "mic_ok": bool(dev) and f.mic_ok(bytes.fromhex(dev["app_key"])),
            }
        if isinstance(f, frames.DataFrame):
            out = {
                "type": "uplink" if f.uplink else "downlink",
                "dev_addr": f"{f.dev_addr:08x}",
                "fcnt": f.fcnt,
                "fport": f.fport,
                "confirmed": f.confirmed,
                "mic_ok": False,
                "payload": None,
            }
            eui = self.by_addr.get(f.dev_addr)
            if eui:
                out["dev_eui"] = eui
                dev = self.devices[eui]
                for s in (dev["session"], dev["pending"]):
                    if not s or s["dev_addr"] != f.dev_addr:
                        continue
                    last = s["fcnt_up"] if f.uplink else s["fcnt_down"] - 1
                    for fc in (frames.fcnt32(last, f.fcnt), frames.fcnt32(last, f.fcnt) - 0x10000):
                        if fc >= 0 and f.mic_ok(bytes.fromhex(s["nwk_skey"]), fc):
                            out.update(
                                fcnt=fc,
                                mic_ok=True,
                                payload=_hex(
                                    f.decrypt(bytes.fromhex(s["nwk_skey"]), bytes.fromhex(s["app_skey"]), fc)
                                ),
                            )
                            return out
            return out
        return {"type": "join_accept" if isinstance(f, frames.EncryptedJoinAccept) else "proprietary"}

    # ------------------------------------------------------------------ uplinks

    def receive(self, phy: bytes, *, t_us: int, freq_hz: int, dr: int, receptions: list) -> Downlink | None:
        """One uplink decoded by one or more gateways. `t_us`: end of its transmission; `receptions`:
        [(gateway, rssi, snr)] best first. Returns the downlink to send, or None."""
        phy = bytes(phy)
        self.last_verdict = None  # the record of what became of this frame: uplink, join_request or rejected
        receptions = [
            tuple(r) if not hasattr(r, "gateway") else (r.gateway, r.rssi, r.snr) for r in receptions
        ]
        try:
            f = frames.parse(phy)
        except FrameError as e:
            return self._reject(t_us, "malformed", detail=str(e), phy_payload=_hex(phy))
        if isinstance(f, frames.JoinRequest):
            return self._join(f, phy, t_us, freq_hz, dr, receptions)
        if isinstance(f, frames.DataFrame) and f.uplink:
            return self._uplink(f, phy, t_us, freq_hz, dr, receptions)
        return self._reject(
            t_us, "not an uplink", mtype=frames.MTYPE_NAMES.get(getattr(f, "mtype", 7)), phy_payload=_hex(phy)
        )

    # ------------------------------------------------------------------ joins

    def _fresh_dev_addr(self) -> int:
        nwk_id = self.net_id & 0x7F
        while True:
            a = (nwk_id << 25) | self._rng.randrange(1, 1 << 25)
            if a not in self.by_addr:
                return a

    def _join(self, jr: frames.JoinRequest, phy, t_us, freq_hz, dr, receptions):
        eui = jr.dev_eui.hex()
        dev = self.devices.get(eui)
        base = {"dev_eui": eui, "dev_nonce": jr.dev_nonce, "phy_payload": _hex(phy)}
        refused = self._join_refusal(jr, dev)
        if refused:
            return self._reject(t_us, refused, **base)
        self._record(t_us, "join_request", freq=freq_hz, dr=dr, **base)
        dev["dev_nonces"] = (dev["dev_nonces"] + [jr.dev_nonce])[-MAX_DEV_NONCES_KEPT:]
        dev["last_dev_nonce"] = (
            jr.dev_nonce if dev["last_dev_nonce"] is None else max(dev["last_dev_nonce"], jr.dev_nonce)
        )
        app_key = bytes.fromhex(dev["app_key"])
        addr = self._open_pending_session(eui, dev, app_key, jr.dev_nonce, t_us, dr)
        dl = self._join_accept(eui, dev, addr, app_key, t_us, freq_hz, dr, receptions)
        self._changed()
        return dl

    def _join_refusal(self, jr: frames.JoinRequest, dev: dict | None) -> str | None:
        """Why a join request is refused (the reason recorded), or None when it is accepted."""
        if dev is None:
            return "unknown DevEUI"
        if jr.join_eui.hex() != dev["join_eui"]:
            return "JoinEUI mismatch"
        if not jr.mic_ok(bytes.fromhex(dev["app_key"])):
            return "bad MIC"
        if jr.dev_nonce in dev["dev_nonces"]:
            return "DevNonce replay"
        last = dev["last_dev_nonce"]
        if self.dev_nonce_policy == "counter" and last is not None and jr.dev_nonce <= last:
            return "DevNonce not increasing"
        return None

    def _open_pending_session(self, eui: str, dev: dict, app_key: bytes, dev_nonce: int, t_us: int, dr: int):
        """The session a join opens, with a fresh DevAddr. It stays pending (the old one still works) until the
        device's first uplink on it shows that the join-accept arrived."""
        dev["join_nonce"] += 1
        dev["mac_queue"] = []  # commands meant for the previous session
        if dev["pending"]:
            self.by_addr.pop(dev["pending"]["dev_addr"], None)
        addr = self._fresh_dev_addr()
        nwk, app = crypto.session_keys(app_key, dev["join_nonce"], self.net_id, dev_nonce)
        dev["pending"] = {
            "dev_addr": addr,
            "nwk_skey": nwk.hex(),
            "app_skey": app.hex(),
            "fcnt_up": None,
            "fcnt_down": 0,
            "rx1_dr_offset": self.rx1_dr_offset,
            "rx2_dr": self.rx2_dr,
            "rx2_freq": region.RX2_FREQ_HZ,
            "rx_delay": self.rx_delay,
            "last_phy": None,
            "awaiting_ack": None,
            "dr": dr,
            "tx_power": 0,
            "nb_trans": 1,
            "snrs": [],
            "joined_t": round(t_us / 1e6, 6),
            "uplinks": 0,
        }
        self.by_addr[addr] = eui
        return addr

    def _join_accept(self, eui, dev, addr, app_key, t_us, freq_hz, dr, receptions) -> Downlink:
        ja = frames.JoinAccept(
            join_nonce=dev["join_nonce"],
            net_id=self.net_id,
            dev_addr=addr,
            rx1_dr_offset=self.rx1_dr_offset,
            rx2_dr=self.rx2_dr,
            rx_delay=self.rx_delay,
            cflist=frames.cflist_from_freqs(region.CFLIST_CHANNELS_HZ),
        )
        out = ja.build(app_key)
        if self.rx_window == "rx1":
            when, f, d, win = region.JOIN_ACCEPT_DELAY1_S, freq_hz, region.rx1_dr(dr, 0), "rx1"
        else:
            when, f, d, win = region.JOIN_ACCEPT_DELAY2_S, region.RX2_FREQ_HZ, region.RX2_DR, "rx2"
        dl = Downlink(
            eui,
            "join_accept",
            out,
            t_us + when * 1_000_000,
            f,
            d,
            win,
            receptions[0][0] if receptions else "",
            {"dev_addr": f"{addr:08x}", "join_nonce": dev["join_nonce"]},
        )
        self.counters["joins"] += 1
        self._record(
            dl.t_us,
            "join_accept",
            dev_eui=eui,
            dev_addr=f"{addr:08x}",
            join_nonce=dev["join_nonce"],
            freq=f,
            dr=d,
            window=win,
            phy_payload=_hex(out),
        )
        return dl

    # ------------------------------------------------------------------ data uplinks

    def _uplink(self, fr: frames.DataFrame, phy, t_us, freq_hz, dr, receptions):
        eui = self.by_addr.get(fr.dev_addr)
        base = {"dev_addr": f"{fr.dev_addr:08x}", "fcnt16": fr.fcnt, "phy_payload": _hex(phy)}
        if eui is None:
            return self._reject(t_us, "unknown DevAddr", **base)
        dev = self.devices[eui]
        base["dev_eui"] = eui
        sess, fc, retrans, refused = self._match_session(dev, fr)
        if sess is None:
            return self._reject(t_us, refused, **base)
        if retrans:
            if phy != bytes.fromhex(sess["last_phy"] or ""):
                return self._reject(t_us, "FCnt replay", **base)
            self.counters["retransmissions"] += 1
        if sess is dev["pending"]:
            # First uplink on the new session: the join-accept arrived; the old session is over.
            if dev["session"] and dev["session"]["dev_addr"] != sess["dev_addr"]:
                self.by_addr.pop(dev["session"]["dev_addr"], None)
            dev["session"], dev["pending"] = sess, None
        plain = fr.decrypt(bytes.fromhex(sess["nwk_skey"]), bytes.fromhex(sess["app_skey"]), fc)
        sess["fcnt_up"] = fc
        sess["last_phy"] = _hex(phy)
        sess["dr"] = dr
        rec = self._record_uplink(
            eui, base["dev_addr"], fr, fc, plain, phy, t_us, freq_hz, dr, retrans, receptions
        )
        answers: list[MacCommand] = []
        if not retrans:  # a retransmission was acted on when it first came
            answers = self._act_on_uplink(dev, sess, fr, fc, plain, rec, t_us, dr, receptions)
        need = fr.confirmed or answers or dev["mac_queue"] or dev["queue"] or fr.adr_ack_req
        dl = (
            self._downlink(dev, sess, t_us, freq_hz, dr, receptions, answers, ack=fr.confirmed)
            if need
            else None
        )
        self._changed()
        return dl

    def _match_session(self, dev: dict, fr: frames.DataFrame) -> tuple[dict | None, int | None, bool, str]:
        """The session (current, or pending after a join) whose key verifies the frame's MIC at a frame counter
        it may use, and that full 32-bit FCnt: (session, fcnt, retransmission, ""); or (None, None, False,
        the reason to reject it)."""
        refused = "bad MIC"
        for s in (dev["session"], dev["pending"]):
            if not s or s["dev_addr"] != fr.dev_addr:
                continue
            nwk = bytes.fromhex(s["nwk_skey"])
            last = s["fcnt_up"]
            cand = frames.fcnt32(last, fr.fcnt)
            if last is not None and cand == last:
                if fr.mic_ok(nwk, cand):
                    return s, cand, True, ""
                continue
            if last is not None and cand - last > MAX_FCNT_GAP:
                past = cand - 0x10000
                if past >= 0 and fr.mic_ok(nwk, past):
                    refused = "FCnt replay"
                elif fr.mic_ok(nwk, cand):
                    refused = "FCnt gap too large"
                continue
            if fr.mic_ok(nwk, cand):
                return s, cand, False, ""
        return None, None, False, refused

    def _record_uplink(
        self, eui, dev_addr, fr, fc, plain, phy, t_us, freq_hz, dr, retrans, receptions
    ) -> dict:
        return self._record(
            t_us,
            "uplink",
            dev_eui=eui,
            dev_addr=dev_addr,
            fcnt=fc,
            fport=fr.fport,
            payload=_hex(plain),
            confirmed=fr.confirmed,
            adr=fr.adr,
            adr_ack_req=fr.adr_ack_req,
            ack=fr.ack,
            freq=freq_hz,
            dr=dr,
            retransmission=retrans,
            gateways=len(receptions),
            rssi=receptions[0][1] if receptions else None,
            snr=receptions[0][2] if receptions else None,
            phy_payload=_hex(phy),
        )

    def _act_on_uplink(self, dev, sess, fr, fc, plain, rec, t_us, dr, receptions) -> list[MacCommand]:
        """What a new (not retransmitted) uplink makes happen: delivery, the fate of a confirmed downlink, the
        MAC commands' answers (returned), ADR and the periodic status request."""
        sess["uplinks"] = sess.get("uplinks", 0) + 1
        if fr.fport and fr.fport > 0:
            dev["uplinks"].append({"t": rec["t"], "fcnt": fc, "fport": fr.fport, "payload": _hex(plain)})
            del dev["uplinks"][: -self.keep_uplinks]
        self._settle_confirmed_downlink(rec["dev_eui"], dev, sess, fr.ack, t_us)
        answers: list[MacCommand] = []
        mac = fr.fopts if fr.fport != 0 else plain
        if mac:
            cmds, unknown = maccommands.decode(mac, uplink=True)
            if unknown:
                self.counters["unknown_mac"] += 1
                rec["unknown_mac"] = _hex(unknown)
            rec["mac"] = [{"name": c.name, **c.fields} for c in cmds]
            answers = self._answer_mac(dev, sess, cmds, t_us, dr, receptions)
        best_snr = receptions[0][2] if receptions else None
        if fr.adr and best_snr is not None:
            self._adr(dev, sess, best_snr, dr)
        if self.status_every and sess["uplinks"] % self.status_every == 0:
            self._queue_mac(dev, MacCommand("DevStatus"))
        return answers

    def _settle_confirmed_downlink(self, eui: str, dev, sess, ack: bool, t_us: int):
        """The uplink after a confirmed downlink acknowledges it, or not: then it goes back to the head of the
        queue, until it has been sent CONFIRMED_DOWN_TRIES times."""
        item = sess["awaiting_ack"]
        if not item:
            return
        sess["awaiting_ack"] = None
        if ack:
            self._record(t_us, "downlink_acked", dev_eui=eui, fcnt_down=item["fcnt_down"])
        elif item["tries"] < CONFIRMED_DOWN_TRIES:
            dev["queue"].insert(0, item)
        else:
            self._record(t_us, "downlink_failed", dev_eui=eui, fcnt_down=item["fcnt_down"])

    def _answer_mac(self, dev, sess, cmds, t_us, dr, receptions) -> list[MacCommand]:
        out = []
        sf = region.DATA_RATES.get(dr, (12, 125))[0]
        for c in cmds:
            if c.name == "LinkCheck":
                snr = receptions[0][2] if receptions else region.REQUIRED_SNR_DB[sf]
                margin = int(max(0, min(254, snr - region.REQUIRED_SNR_DB[sf])))
                out.append(MacCommand("LinkCheck", {"margin": margin, "gw_cnt": max(1, len(receptions))}))
            elif c.name == "DeviceTime":
                sec, frac = maccommands.gps_time(t_us / 1e6)
                out.append(MacCommand("DeviceTime", {"seconds": sec, "fraction": frac}))
            elif c.name == "LinkADR":
                want = sess.pop("adr_sent", None)
                if c.fields["power_ack"] and c.fields["dr_ack"] and c.fields["ch_mask_ack"]:
                    if want:
                        sess["tx_power"] = want["tx_power"]
                        sess["nb_trans"] = want["nb_trans"]
                    self.counters["adr_accepted"] += 1
                else:
                    self.counters["adr_refused"] += 1
                sess["snrs"] = []
            elif c.name == "DevStatus":
                dev["status"] = {"t": round(t_us / 1e6, 6), **c.fields}
            elif c.name == "NewChannel" and sess.get("new_channels_sent"):
                # answers come in the order of the requests of the last downlink
                idx, freq = sess["new_channels_sent"].pop(0)
                if c.fields["freq_ok"] and c.fields["dr_range_ok"]:
                    extra = sess.setdefault("extra_channels", {})
                    if freq:
                        extra[str(idx)] = freq
                    else:
                        extra.pop(str(idx), None)
            if c.name in ("RXParamSetup", "NewChannel", "DlChannel"):
                answers_seen = sess.setdefault("mac_answers", [])
                answers_seen.append({"name": c.name, **c.fields})
                del answers_seen[:-16]
        return out

    def _adr(self, dev, sess, snr: float, dr: int):
        """Semtech's ADR: from the best SNR of the last N uplinks, step DR up, then TX power down (or up)."""
        snrs = sess["snrs"]
        snrs.append(round(snr, 2))
        del snrs[: -self.adr_history]
        pending = sess.get("adr_sent")
        if pending and sess["uplinks"] - pending.get("at", 0) >= self.adr_history:
            sess.pop("adr_sent")  # never answered (the downlink was lost?): work it out again
            pending = None
        if len(snrs) < self.adr_history or pending:
            return
        sf = region.DATA_RATES[dr][0] if dr in region.DATA_RATES else 12
        margin = max(snrs) - region.REQUIRED_SNR_DB[sf] - self.adr_margin_db
        steps = int(margin // ADR_STEP_DB)
        new_dr, power = dr, sess["tx_power"]
        while steps > 0 and new_dr < 5:
            new_dr += 1
            steps -= 1
        while steps > 0 and power < MAX_TX_POWER_INDEX:
            power += 1
            steps -= 1
        while steps < 0 and power > 0:
            power -= 1
            steps += 1
        if (new_dr, power) == (dr, sess["tx_power"]):
            return
        n_ch = len(region.DEFAULT_CHANNELS_HZ) + len(region.CFLIST_CHANNELS_HZ)
        mask = (1 << n_ch) - 1
        for idx in sess.get("extra_channels", {}):  # channels added by NewChannelReq stay enabled
            mask |= 1 << int(idx)
        fields = {
            "dr": new_dr,
            "tx_power": power,
            "ch_mask": mask,
            "ch_mask_cntl": 0,
            "nb_trans": sess.get("nb_trans", 1),
        }
        sess["adr_sent"] = dict(fields, at=sess["uplinks"])
        self._queue_mac(dev, MacCommand("LinkADR", fields))
        self.counters["adr_requests"] += 1

    # ------------------------------------------------------------------ downlinks

    def _downlink(self, dev, sess, t_us, freq_hz, up_dr, receptions, answers, ack) -> Downlink | None:
        delay, freq, dr, win = self._receive_window(sess, freq_hz, up_dr)
        room = region.max_frm_payload(dr)
        mac, cmds = self._take_mac_commands(dev, sess, answers, room)
        item = self._take_queued_downlink(dev, mac, room)
        if item:  # the MAC commands ride in FOpts
            fport, payload, fopts = item["fport"], bytes.fromhex(item["payload"]), mac
        else:  # MAC commands alone go on FPort 0
            fport, payload, fopts = (0, mac, b"") if mac else (None, b"", b"")
        confirmed = bool(item and item["confirmed"])
        fcnt = sess["fcnt_down"]
        sess["fcnt_down"] = fcnt + 1
        fr = frames.DataFrame(
            mtype=frames.CONFIRMED_DOWN if confirmed else frames.UNCONFIRMED_DOWN,
            dev_addr=sess["dev_addr"],
            fcnt=fcnt,
            fport=fport,
            payload=payload,
            fopts=fopts,
            adr=True,
            ack=ack,
            fpending=bool(dev["queue"]),
        )
        phy = fr.build(bytes.fromhex(sess["nwk_skey"]), bytes.fromhex(sess["app_skey"]), fcnt)
        if confirmed:
            item["tries"] += 1
            item["fcnt_down"] = fcnt
            sess["awaiting_ack"] = item
        info = {
            "fcnt": fcnt,
            "fport": fport,
            "ack": ack,
            "confirmed": confirmed,
            "payload": _hex(payload),  # the FRMPayload in clear: application data, or MAC commands on FPort 0
            "mac": [c.name for c in cmds],
        }
        gw = receptions[0][0] if receptions else ""
        dl = Downlink(dev["dev_eui"], "downlink", phy, t_us + delay * 1_000_000, freq, dr, win, gw, info)
        self._record(
            dl.t_us,
            "downlink",
            dev_eui=dev["dev_eui"],
            fcnt=fcnt,
            fport=fport,
            ack=ack,
            confirmed=confirmed,
            payload=info["payload"],
            mac=[{"name": c.name, **c.fields} for c in cmds],
            freq=freq,
            dr=dr,
            window=win,
            phy_payload=_hex(phy),
        )
        return dl

    def _receive_window(self, sess, freq_hz, up_dr) -> tuple[int, int, int, str]:
        """(delay in s after the uplink, frequency, data rate, "rx1" or "rx2") of the window the server uses."""
        if self.rx_window == "rx1":
            return sess["rx_delay"] or 1, freq_hz, region.rx1_dr(up_dr, sess["rx1_dr_offset"]), "rx1"
        return (sess["rx_delay"] or 1) + 1, sess["rx2_freq"], sess["rx2_dr"], "rx2"

    def _take_mac_commands(self, dev, sess, answers, room) -> tuple[bytes, list[MacCommand]]:
        """The answers, then the queued commands: whole commands only, as many as the window's data rate
        carries (encoded, and the commands); the queued ones left over wait for the next downlink."""
        cmds = answers + [MacCommand(m["name"], m["fields"]) for m in dev["mac_queue"]]
        mac = b""
        sent = 0
        for c in cmds:
            enc = maccommands.encode([c], uplink=False)
            if len(mac) + len(enc) > room:
                break
            mac += enc
            sent += 1
        dev["mac_queue"] = [{"name": c.name, "fields": c.fields} for c in cmds[sent:] if c not in answers]
        cmds = cmds[:sent]
        # the node answers this downlink's NewChannelReqs in its next uplink, in this order
        sess["new_channels_sent"] = [
            [c.fields["ch_index"], c.fields["freq"]] for c in cmds if c.name == "NewChannel"
        ]
        return mac, cmds

    def _take_queued_downlink(self, dev, mac: bytes, room: int) -> dict | None:
        """The application downlink at the head of the queue if it fits beside the MAC commands (FOpts holds
        15 bytes), else None: the MAC commands go alone and it waits."""
        queue = dev["queue"]
        if len(mac) <= 15 and queue and len(bytes.fromhex(queue[0]["payload"])) <= room - len(mac):
            return queue.pop(0)
        return None

    def summary(self) -> dict:
        c = self.counters
        return {
            "devices": len(self.devices),
            "joins": c["joins"],
            "uplinks": c["uplink"],
            "downlinks": c["downlink"],
            "retransmissions": c["retransmissions"],
            "rejected": c["rejected"],
            "rejected_by_reason": {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith("rejected:")},
            "adr_requests": c["adr_requests"],
            "adr_accepted": c["adr_accepted"],
        }
