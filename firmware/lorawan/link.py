# The LoRaWAN 1.0.4 Class A link (EU868) an app uses: node.link.send(fport, payload, confirmed=False).
#
# State lives in node.store: the session "lw.s" (durable: DevAddr, keys, FCnt base, FCntDown, channels, DR,
# power, NbTrans, RX settings), FCntUp and DevNonce as reserved-ahead counters "#lw.fup" / "#lw.dn" (never reused,
# even across power cuts), the last JoinNonce "lw.jn" (durable), and in RTC memory only: link quality and
# pending MAC answers "lw.v", reject counters "lw.c", the duty-cycle ledger (duty.py) and join back-off (join.py).
#
# Duty cycle: an uplink goes on an enabled channel whose sub-band has room now; if none has, send() waits up to
# _DC_WAIT_MAX_S, and beyond that returns None without sending (counted as "deferred"): the app retries at its
# next wake. Joins obey the same ledger plus the join back-off.
import gc
import sys
import time
from micropython import const
from lorawan import eu868, crypto, duty
from lorawan.clock import EPOCH as _EPOCH, known as _known

_DC_WAIT_MAX_S = const(30)
_CONF_TRIES = const(3)  # a confirmed uplink goes at least this many times (NbTrans may ask for more)
_LOST_CONFIRMED = const(8)  # consecutive unacknowledged confirmed uplinks: the link is lost, rejoin
_LOST_ADR = const(288)  # ADR_ACK_LIMIT + 7 * ADR_ACK_DELAY uplinks without any downlink: rejoin
_TIME_RESYNC_S = const(86400)
_LINKCHECK_EVERY = const(96)
_FCNT_MAX = const(0xFFFFFFFF)
_CID_LINKCHECK = const(0x02)
_CID_DEVTIME = const(0x0D)


def _drop(name):
    # unload a module used once (join, MAC commands): its code leaves the heap until it is needed again
    sys.modules.pop("lorawan." + name, None)
    pkg = sys.modules.get("lorawan")
    if pkg is not None and hasattr(pkg, name):
        delattr(pkg, name)
    gc.collect()


class Link:
    def __init__(self, node, modem=None):
        self.node = node
        self.store = node.store
        self._modem = modem
        self._radio = None
        s = self.store.get("lw.s")
        if s is not None:
            ok = isinstance(s, dict) and isinstance(s.get("ch"), list) and len(s["ch"]) == 16
            if ok:
                for k in ("a", "nk", "ak", "fb", "fd", "dr", "pw", "nt", "m", "o", "r2", "rd"):
                    if k not in s:
                        ok = False
                ok = ok and 0 <= s["dr"] <= eu868.DR_MAX
            if not ok:
                node.log("lorawan: stored session unreadable: rejoin")
                s = None
                self.store.delete("lw.s")
        self.sess = s
        self._v = self.store.get("lw.v") or {}
        self._c = self.store.get("lw.c") or {}
        self._ciph = None
        self._tx_end = 0
        if node.board.spec.get("cryptolib", True) is False:
            crypto.native = False
        try:
            import os
            import random

            random.seed(int.from_bytes(os.urandom(4), "little"))
        except Exception:  # noqa: BLE001 - no hardware RNG: the port's default seed will do
            pass

    # ------------------------------------------------------------------ public API

    @property
    def joined(self):
        return self.sess is not None

    def send(self, fport, payload, confirmed=False):
        """Send an uplink (joining first if needed); return the downlink as (fport, bytes) or None."""
        if not 1 <= fport <= 223:
            raise ValueError("fport 1..223")
        if self._radio is None:
            gc.collect()  # the driver is long-lived: let it land in the holes the app's garbage leaves
            self.radio()  # the driver first: long-lived code loaded before the short-lived join, less fragmentation
        if self.sess is None:
            from lorawan import join

            ok = join.run(self)
            del join
            _drop("join")
            if not ok:
                return None
        s = self.sess
        dr = s["dr"]
        n = len(payload)
        if n > eu868.MAX_FRM[dr]:
            self.node.log("lorawan: %d B too long for DR%d" % (n, dr))
            self._count("big")
            return None
        # FOpts: pending MAC answers (sticky ones first), DeviceTimeReq when the time is unknown or a day old,
        # LinkCheckReq every _LINKCHECK_EVERY uplinks; whole commands only, within 15 bytes and the DR's room
        v = self._v
        o = bytearray()
        if v.get("st"):
            o += bytes.fromhex(v["st"])
        if v.get("an"):
            o += bytes.fromhex(v["an"])
        if not _known(v) or time.time() - v.get("ts", 0) > _TIME_RESYNC_S:
            o.append(_CID_DEVTIME)
        if v.get("lc", 0) <= 0:
            o.append(_CID_LINKCHECK)
            v["lc"] = _LINKCHECK_EVERY
        else:
            v["lc"] -= 1
        k = eu868.MAX_FRM[dr] - n
        if k > 15:
            k = 15
        if len(o) > k:
            from lorawan import maccmd

            o = o[: maccmd.whole(o[:k], k)]  # answers are 1..2 bytes, requests 1
        fcnt = self.store.next("lw.fup", 16) - s["fb"]
        if fcnt > _FCNT_MAX:
            self.rejoin("fcnt")
            return None
        b = self._frame(confirmed, fcnt, o, fport, payload)
        an, ad = v.get("an"), v.get("ad")
        v.pop("an", None)
        v.pop("ad", None)
        got = self._exchange(b, confirmed)
        if got is None:
            # deferred by the duty cycle, nothing went out: the answers and the ACK wait for the next uplink
            if an:
                v["an"] = an
            if ad:
                v["ad"] = ad
        self._after(got, confirmed)
        self._save()
        if got is None or got is True:
            return None
        if got[0]:
            return got[0], got[1]
        return None

    def time(self):
        """Unix seconds of the network's clock (from DeviceTime), or None until the network has told it."""
        if not _known(self._v):
            return None
        return time.time() + _EPOCH

    def status(self):
        s = self.sess or {}
        return {
            "joined": self.sess is not None,
            "dr": s.get("dr"),
            "fcnt_up": self.store.peek("lw.fup") - s["fb"] if s else None,
            "rssi": self._v.get("rs"),
            "snr": self._v.get("sn"),
            "margin": self._v.get("mg"),
            "gateways": self._v.get("gw"),
            "rejected": self._c,
        }

    # ------------------------------------------------------------------ internals

    def radio(self):
        if self._radio is None:
            from lorawan.radio import Radio

            self._radio = Radio(self.node.board.spec["radio"], self._modem)
        return self._radio

    def _count(self, k):
        self._c[k] = self._c.get(k, 0) + 1
        self.store.set("lw.c", self._c)

    def _save(self):
        s = self.sess
        if s is not None:
            # the store keeps flash's copy as JSON text: no snapshot of the session to make here
            self.store.set("lw.s", s, durable=True)
        self.store.set("lw.v", self._v)

    def rejoin(self, k):
        """Forget the session (the link is lost, or the network asked): the next send joins again."""
        self.node.log("lorawan: link lost (%s): rejoin" % k)
        self.sess = None
        self._ciph = None
        self._v = {}
        self.store.delete("lw.s")
        self.store.set("lw.v", self._v)
        self._count("rejoin")

    def _frame(self, confirmed, fcnt, o, fport, payload):
        s = self.sess
        a = s["a"]
        lo = len(o)
        n = len(payload)
        b = bytearray(13 + lo + n)
        b[0] = 0x80 if confirmed else 0x40
        b[1] = a & 0xFF
        b[2] = (a >> 8) & 0xFF
        b[3] = (a >> 16) & 0xFF
        b[4] = (a >> 24) & 0xFF
        fc = lo
        if s.get("adr", 1):
            fc |= 0x80
            if self._v.get("ac", 0) >= eu868.ADR_ACK_LIMIT:
                fc |= 0x40
        if self._v.get("ad"):
            fc |= 0x20  # ACK of a confirmed downlink
        b[5] = fc
        b[6] = fcnt & 0xFF
        b[7] = (fcnt >> 8) & 0xFF
        b[8 : 8 + lo] = o
        b[8 + lo] = fport
        b[9 + lo : 9 + lo + n] = payload
        if self._ciph is None:  # (NwkSKey, AppSKey) ciphers, made once per session and wake
            self._ciph = (crypto.cipher(bytes.fromhex(s["nk"])), crypto.cipher(bytes.fromhex(s["ak"])))
        nwk, app = self._ciph
        crypto.crypt(app, 0, a, fcnt, b, 9 + lo, 9 + lo + n)
        b[-4:] = crypto.mic(nwk, 0, a, fcnt, memoryview(b)[:-4])
        return b

    def _pick(self, n, dr, join=False):
        """(freq_khz, band, airtime_ms) of a channel free to send n bytes at dr now (waiting if need be), or
        None if the duty cycle leaves no room soon enough."""
        import random

        toa = eu868.time_on_air_ms(n, dr)
        s = self.sess
        agg = s.get("dc", 0) if s else 0
        best = None
        cands = []
        if s is None or join:
            chans = [(f, 0, 5, 0) for f in eu868.DEFAULT_FREQS]
            mask = 7
        else:
            chans = s["ch"]
            mask = s["m"]
            ok = 0
            for i in range(len(chans)):
                if chans[i] and (mask >> i) & 1 and chans[i][1] <= dr <= chans[i][2]:
                    ok = 1
            if not ok:
                mask = 7  # nothing enabled can carry this DR: the default channels always can
        for i in range(len(chans)):
            c = chans[i]
            if not c or not (mask >> i) & 1 or not c[1] <= dr <= c[2]:
                continue
            bd = eu868.band(c[0])
            if bd < 0:
                continue
            w = duty.wait_s(self.store, bd, toa, time.time(), agg)
            if w < 0:
                continue
            if w == 0:
                cands.append((c[0], bd, c[3] or c[0]))
            elif best is None or w < best[0]:
                best = (w, c[0], bd, c[3] or c[0])
        if cands:
            f, bd, rx = cands[random.getrandbits(8) % len(cands)]
            return f, bd, toa, rx
        if best is None or best[0] > _DC_WAIT_MAX_S:
            self._count("deferred")
            self.node.log("lorawan: duty cycle: deferred")
            return None
        w = best[0] + 1
        while w > 0:  # in steps the shortest watchdog (an RP2040's 8 s) outlasts
            self.node.feed()
            time.sleep_ms(min(w, 4) * 1000)
            w -= 4
        return best[1], best[2], toa, best[3]

    def _tx(self, b, freq, k, t, dr, p):
        # b: the frame, k: its sub-band, t: its airtime (ms), p: the TX power index
        end = self.radio().tx(b, freq, dr, p)
        self._tx_end = end
        # stamp the ledger with the end of the transmission, rounded up to a whole second
        duty.record(self.store, k, t, time.time() + 1)
        return end

    def _exchange(self, b, confirmed):
        """Transmit (NbTrans times, or until acknowledged), open RX1/RX2 after each. Returns the downlink
        (fport, payload, ack) of the last transmission that got one, True if nothing came back, None if the duty
        cycle deferred the first transmission."""
        import random

        s = self.sess
        tries = s["nt"]
        if confirmed and tries < _CONF_TRIES:
            tries = _CONF_TRIES
        got = True
        for k in range(tries):
            if k:
                time.sleep_ms(eu868.ACK_TIMEOUT_MIN + random.getrandbits(11))  # ACK_TIMEOUT 1..3 s
            dr = s["dr"]
            ch = self._pick(len(b), dr)
            if ch is None:
                return None if k == 0 else got
            end = self._tx(b, ch[0], ch[1], ch[2], dr, s["pw"])
            # RX1 on the uplink's channel (or its DlChannel frequency) at DR - RX1DROffset, then RX2
            d = s["rd"] * 1000
            dl = self._listen(end, d, ch[3], eu868.rx1_dr(dr, s["o"]))
            if dl is None:
                dl = self._listen(end, d + 1000, s["r2"][0], s["r2"][1])
            if dl is not None:
                got = dl
                if not confirmed or dl[2]:
                    break
            if self.sess is None:
                break
        self.radio().sleep()
        return got

    def _listen(self, end, d, freq, dr, join=False):
        sym = eu868.symbol_us(dr)
        early = (4 * sym) // 1000 + 10  # open 4 symbols (+10 ms) early
        w = time.ticks_diff(time.ticks_add(end, d - early), time.ticks_ms())
        self.node.feed()  # a join waits 5 + 6 s for its windows: more than an RP2040's watchdog lasts unfed
        if w > 0:
            time.sleep_ms(w)
        pkt = self.radio().rx(freq, dr, 2 * early + (8 * sym) // 1000 + 20)
        if pkt is None:
            return None
        if join:
            return pkt
        return self._accept(pkt)

    def _accept(self, p):
        """Check and apply a downlink: (fport or 0, payload bytes or None, ack) or None if it is not ours/valid."""
        n = len(p)
        if n < 12:
            self._count("short")
            return None
        mt = p[0] >> 5
        if mt != 3 and mt != 5:
            self._count("type")
            return None
        s = self.sess
        a = p[1] | (p[2] << 8) | (p[3] << 16) | (p[4] << 24)
        if a != s["a"]:
            self._count("addr")
            return None
        fc = p[5]
        fol = fc & 15
        if n < 12 + fol:
            self._count("short")
            return None
        exp = s["fd"] + 1
        f = (exp & ~0xFFFF) | p[6] | (p[7] << 8)
        if f < exp:
            f += 0x10000
        if f - exp > eu868.MAX_FCNT_GAP or f > _FCNT_MAX:
            self._count("replay")
            return None
        if self._ciph is None:  # (NwkSKey, AppSKey) ciphers, made once per session and wake
            self._ciph = (crypto.cipher(bytes.fromhex(s["nk"])), crypto.cipher(bytes.fromhex(s["ak"])))
        nwk, app = self._ciph
        if crypto.mic(nwk, 1, a, f, memoryview(p)[: n - 4]) != bytes(p[n - 4 :]):
            self._count("mic")
            return None
        port = p[8 + fol] if n > 12 + fol else -1
        if port == 0 and fol:
            self._count("fopts")  # MAC commands in both FOpts and FRMPayload: not allowed
            return None
        s["fd"] = f
        v = self._v
        v["ac"] = 0
        v.pop("st", None)  # a downlink came: sticky answers have been heard
        if mt == 5:
            v["ad"] = 1
        v["rs"] = p.rssi if hasattr(p, "rssi") else None
        snr = (p.snr // 4) if hasattr(p, "snr") else 0
        v["sn"] = snr
        data = None
        if port >= 0:
            data = bytearray(p[9 + fol : n - 4])
            crypt_key = nwk if port == 0 else app
            crypto.crypt(crypt_key, 1, a, f, data, 0, len(data))
        if fol or port == 0:
            from lorawan import maccmd

            if fol:
                maccmd.run(self, memoryview(p)[8 : 8 + fol], snr)
            if port == 0:
                maccmd.run(self, data, snr)
            del maccmd
            _drop("maccmd")
        self._count("ok")
        return (port if port > 0 else 0, bytes(data) if port > 0 else None, bool(fc & 0x20))

    def _after(self, got, confirmed):
        """ADR back-off and the rejoin policy, after an uplink and its receive windows."""
        s = self.sess
        if s is None:
            return
        v = self._v
        if got is None:
            return  # nothing was sent
        if got is True:
            ac = v.get("ac", 0) + 1
            v["ac"] = ac
            over = ac - eu868.ADR_ACK_LIMIT
            if s.get("adr", 1) and over > 0 and over % eu868.ADR_ACK_DELAY == 0:
                # no answer to ADRACKReq: regain the link step by step (power, then DR, then default channels)
                if s["pw"]:
                    s["pw"] = 0
                    s["nt"] = 1
                elif s["dr"] > 0:
                    s["dr"] -= 1
                else:
                    s["m"] |= 7
            if ac >= _LOST_ADR:
                self.rejoin("no downlink")
                return
        if confirmed:
            if got is not True and got[2]:
                v["nc"] = 0
            else:
                v["nc"] = v.get("nc", 0) + 1
                if v["nc"] >= _LOST_CONFIRMED:
                    self.rejoin("no ack")
