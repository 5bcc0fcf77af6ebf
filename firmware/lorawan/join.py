# OTAA join (LoRaWAN 1.0.4): DevNonce is a counter reserved on flash before the request goes out, so a power
# cut can never make the node reuse one; a join-accept is taken only with a JoinNonce above the last accepted.
# Loaded only while the node has no session.
import time
from micropython import const
from lorawan import eu868, crypto

_TRIES = const(3)  # join-requests per send() call; the app's next wake tries again
_JITTER_MS = const(4000)  # random extra wait between tries (and before the first after a reset)
_DN_RESERVE = const(4)
# Join back-off (LoRaWAN 1.0.x, "retransmissions back-off"), in RTC memory ("lw.jb": [start, period, airtime
# ms]): airtime of join-requests since the join procedure started: 36 s in the first hour, 36 s in the next
# 10 hours, then 8.7 s per 24 hours.
_P1 = const(3600)
_P2 = const(39600)
_DAY = const(86400)
# DR of each successive try when the node is not told one (setting "dr"): fast first, then farther


def _eui(s):
    b = bytes.fromhex(s)
    if len(b) != 8:
        raise ValueError
    return bytes(reversed(b))  # the wire is little-endian


def run(link):
    """Try to join; True once a valid join-accept set up the session."""
    import random

    node = link.node
    cfg = node.config
    try:
        dev = _eui(cfg["dev_eui"])
        app = _eui(cfg["join_eui"])
        key = bytes.fromhex(cfg["app_key"])
        if len(key) != 16:
            raise ValueError
    except (KeyError, ValueError, TypeError):
        node.log("lorawan: no valid dev_eui/join_eui/app_key in config: not joining")
        link._count("nokeys")
        return False
    st = link.store
    v = link._v
    forced = node.setting("dr")
    c = crypto.cipher(key)
    for k in range(_TRIES):
        ja = v.get("ja", 0)
        dr = forced if forced is not None else b"\x05\x05\x04\x03\x02\x01\x00\x00"[ja if ja < 8 else 7]
        toa = eu868.time_on_air_ms(23, dr)
        w = _backoff_wait(st, toa, time.time())
        if w > 0:
            node.log("lorawan: join back-off: next try in %d s" % w)
            link._count("backoff")
            return False
        if k or not v.get("jr"):
            # randomised spacing between tries, and before the first one after a reset (a whole street of
            # nodes powering up together must not answer in step)
            time.sleep_ms(random.getrandbits(16) % _JITTER_MS + (1000 if k else 0))
        v["jr"] = 1
        ch = link._pick(23, dr, True)
        if ch is None:
            return False
        dn = st.next("lw.dn", _DN_RESERVE)  # on flash before it is ever sent
        if dn > 0xFFFF:
            node.log("lorawan: DevNonce exhausted")
            link._count("nokeys")
            return False
        req = bytearray(23)
        req[1:9] = app
        req[9:17] = dev
        req[17] = dn & 0xFF
        req[18] = dn >> 8
        req[19:23] = crypto.join_mic(c, memoryview(req)[:19])
        v["ja"] = ja + 1
        _backoff_record(st, toa, time.time())
        end = link._tx(req, ch[0], ch[1], ch[2], dr, 0)
        # RX1 on the request's channel, JOIN_ACCEPT_DELAY1 after it, then RX2
        acc = None
        for d, f, r in ((eu868.JOIN_ACCEPT_DELAY1, ch[3], eu868.rx1_dr(dr, 0)),
                        (eu868.JOIN_ACCEPT_DELAY1 + 1000, eu868.RX2_FREQ, eu868.RX2_DR)):
            p = link._listen(end, d, f, r, True)
            if p is not None:
                acc = _check(link, c, p)
                if acc is not None:
                    break
        link.radio().sleep()
        if acc is not None:
            _apply(link, key, acc, dn, dr)
            node.log("lorawan: joined devaddr=%08x dr=%d after %d tries" % (link.sess["a"], link.sess["dr"], ja + 1))
            return True
        link._count("nojoin")
    st.set("lw.v", v)
    return False


def _ident(link, c):
    # a short fingerprint of (JoinEUI, DevEUI, AppKey) that reveals nothing of the key
    cfg = link.node.config
    return crypto.join_mic(c, (cfg["join_eui"] + cfg["dev_eui"]).encode()).hex()


def _check(link, c, p):
    n = len(p)
    if (n != 17 and n != 33) or p[0] != 0x20:
        link._count("short" if n < 17 else "type")
        return None
    p = crypto.decrypt_accept(c, p)
    if crypto.join_mic(c, memoryview(p)[: n - 4]) != bytes(p[n - 4 :]):
        link._count("mic")
        return None
    jn = p[1] | (p[2] << 8) | (p[3] << 16)
    last = link.store.get("lw.jn")
    # the last JoinNonce counts for the identity it came with (re-provisioning starts afresh)
    if last is not None and last[0] == _ident(link, c) and jn <= last[1]:
        link._count("joinnonce")
        return None
    return p


def _apply(link, key, p, n, dr):
    st = link.store
    nwk, app = crypto.session_keys(key, p[1:4], p[4:7], n)
    a = p[7] | (p[8] << 8) | (p[9] << 16) | (p[10] << 24)
    dl = p[11]
    ch = [0] * 16
    for i in range(3):
        ch[i] = [eu868.DEFAULT_FREQS[i], 0, 5, 0]
    mask = 7
    if len(p) == 33 and p[28] == 0:  # CFList type 0: frequencies of channels 3..7
        for i in range(5):
            o = 13 + 3 * i
            v = p[o] | (p[o + 1] << 8) | (p[o + 2] << 16)
            f = v // 10
            if v and not v % 10 and eu868.band(f) >= 0:
                ch[3 + i] = [f, 0, 5, 0]
                mask |= 1 << (3 + i)
    node = link.node
    forced = node.setting("dr")
    off = (dl >> 4) & 7
    r2 = dl & 15
    link.sess = {
        "a": a,
        "nk": nwk.hex(),
        "ak": app.hex(),
        "fb": st.peek("lw.fup"),
        "fd": -1,
        "dr": forced if forced is not None else dr,
        "pw": 0,
        "nt": 1,
        "ch": ch,
        "m": mask,
        "o": off if off <= eu868.RX1_DR_OFFSET_MAX else 0,
        "r2": [eu868.RX2_FREQ, r2 if r2 <= eu868.DR_MAX else eu868.RX2_DR],
        "rd": (p[12] & 15) or 1,
        "dc": 0,
        "adr": 0 if node.setting("adr", True) is False else 1,
    }
    link._ciph = None
    st.set("lw.jn", [_ident(link, crypto.cipher(key)), p[1] | (p[2] << 8) | (p[3] << 16)], durable=True)
    v = link._v
    for k in ("ja", "ac", "nc", "st", "ad", "lc"):
        v.pop(k, None)
    st.delete("lw.jb")
    link._save()
    st.save()  # the session is on flash before the first uplink uses it


def _period(dt):
    """(index, airtime budget ms, end dt) of the join back-off period holding dt seconds since the start."""
    if dt < _P1:
        return 0, 36000, _P1
    if dt < _P2:
        return 1, 36000, _P2
    k = (dt - _P2) // _DAY
    return 2 + k, 8700, _P2 + _DAY * (k + 1)


def _backoff_wait(store, ms, now):
    """Seconds until a join-request of `ms` airtime respects the back-off (0 = may go now)."""
    jb = store.get("lw.jb")
    if not jb:
        return 0
    t0, p, used = jb
    dt = now - t0
    if dt < 0:
        return 0
    i, budget, end = _period(dt)
    if i != p:
        used = 0
    if used + ms <= budget:
        return 0
    return end - dt


def _backoff_record(store, ms, now):
    jb = store.get("lw.jb")
    if not jb or now < jb[0]:
        jb = [now, 0, 0]
    i = _period(now - jb[0])[0]
    if i != jb[1]:
        jb = [jb[0], i, 0]
    store.set("lw.jb", [jb[0], i, jb[2] + ms])
