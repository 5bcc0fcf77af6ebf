# MAC commands (LoRaWAN 1.0.4, EU868) from a downlink's FOpts or FPort-0 payload. Loaded only when a downlink
# carries some. An unknown command ends the parsing (its length is unknown), as the spec says; a command whose
# values the node can't apply is refused in its answer and leaves the session as it was.
import time
from micropython import const
from lorawan import eu868

_GPS_UNIX = const(315964800 - 18)  # GPS epoch in unix seconds, minus the leap seconds GPS runs ahead of UTC

# payload length of each command by CID, network -> node (0xff: unknown to a class A EU868 node)
_DN = b"\xff\xff\x02\x04\x01\x04\x00\x05\x01\x01\x04\xff\xff\x05"
# node -> network (answers and requests the node sends)
_UP = b"\xff\xff\x00\x01\x00\x01\x02\x01\x00\x00\x01\xff\xff\x00"


def whole(out, lim):
    """Length of the longest run of whole node->network commands in `out` that fits in lim bytes."""
    i = 0
    while i < len(out):
        c = out[i]
        ln = _UP[c] if c < len(_UP) else 0xFF
        if ln == 0xFF or i + 1 + ln > lim:
            break
        i += 1 + ln
    return i


def _freq(a, i):
    """A 3-byte frequency (100 Hz units) as kHz, or -1 if it isn't a whole kHz in the EU868 band; 0 stays 0."""
    v = a[i] | (a[i + 1] << 8) | (a[i + 2] << 16)
    if v == 0:
        return 0
    if v % 10:
        return -1
    k = v // 10
    if k < eu868.FREQ_MIN_KHZ or k >= eu868.FREQ_MAX_KHZ:
        return -1
    return k


def run(link, c, snr):
    s = link.sess
    n = len(c)
    i = 0
    while i < n and link.sess is s:
        cid = c[i]
        ln = _DN[cid] if cid < len(_DN) else 0xFF
        if ln == 0xFF or i + 1 + ln > n:
            link._count("mac")
            return
        a = i + 1
        if cid == 0x03:
            i = _link_adr(link, c, i, n)
            continue
        if cid == 0x02:  # LinkCheckAns
            link._v["mg"] = c[a]
            link._v["gw"] = c[a + 1]
        elif cid == 0x04:  # DutyCycleReq
            s["dc"] = c[a] & 15
            _queue(link, "an", b"\x04")
        elif cid == 0x05:  # RXParamSetupReq
            off = (c[a] >> 4) & 7
            dr = c[a] & 15
            f = _freq(c, a + 1)
            st = (4 if off <= eu868.RX1_DR_OFFSET_MAX else 0) | (2 if dr <= eu868.DR_MAX else 0) | (1 if f > 0 else 0)
            if st == 7:
                s["o"] = off
                s["r2"] = [f, dr]
            else:
                link._count("param")
            _queue(link, "st", bytes((0x05, st)))
        elif cid == 0x06:  # DevStatusReq
            _dev_status(link, snr)
        elif cid == 0x07:  # NewChannelReq
            idx = c[a]
            f = _freq(c, a + 1)
            lo = c[a + 4] & 15
            hi = c[a + 4] >> 4
            ok_dr = lo <= hi <= eu868.DR_MAX
            ok_f = f >= 0 and (f == 0 or eu868.band(f) >= 0)
            if idx < 3 or idx >= 16:
                ok_dr = ok_f = False
            st = (2 if ok_dr else 0) | (1 if ok_f else 0)
            if st == 3:
                if f == 0:
                    s["ch"][idx] = 0
                    s["m"] &= ~(1 << idx)
                else:
                    s["ch"][idx] = [f, lo, hi, 0]
                    s["m"] |= 1 << idx
            else:
                link._count("param")
            _queue(link, "an", bytes((0x07, st)))
        elif cid == 0x08:  # RXTimingSetupReq
            s["rd"] = (c[a] & 15) or 1
            _queue(link, "st", b"\x08")
        elif cid == 0x0A:  # DlChannelReq
            idx = c[a]
            f = _freq(c, a + 1)
            up = idx < 16 and bool(s["ch"][idx])
            st = (2 if up else 0) | (1 if f > 0 else 0)
            if st == 3:
                s["ch"][idx][3] = f
            else:
                link._count("param")
            _queue(link, "st", bytes((0x0A, st)))
        elif cid == 0x0D:  # DeviceTimeAns
            secs = c[a] | (c[a + 1] << 8) | (c[a + 2] << 16) | (c[a + 3] << 24)
            _set_time(link, secs, c[a + 4])
        # 0x09 TxParamSetupReq is not used in EU868: skipped without an answer
        i = a + ln


def _link_adr(link, c, i, n):
    # a contiguous block of LinkADRReq from c[i], applied as one (all or nothing); one answer per request;
    # returns the index after the block
    s = link.sess
    j = i
    while j + 5 <= n and c[j] == 0x03:
        j += 5
    chans = s["ch"]
    mask = s["m"]
    ok_ch = True
    for k in range(i, j, 5):
        cntl = (c[k + 4] >> 4) & 7
        if cntl == 0:
            mask = c[k + 2] | (c[k + 3] << 8)
        elif cntl == 6:
            mask = 0
            for b in range(16):
                if chans[b]:
                    mask |= 1 << b
        else:
            ok_ch = False
    if ok_ch:
        if mask == 0:
            ok_ch = False
        for b in range(16):
            if (mask >> b) & 1 and not chans[b]:
                ok_ch = False
    last = j - 5
    dr = c[last + 1] >> 4
    pw = c[last + 1] & 15
    nt = c[last + 4] & 15
    m = mask if ok_ch else s["m"]
    ok_dr = dr == 15
    if dr <= eu868.DR_MAX:
        for b in range(16):
            if (m >> b) & 1 and chans[b] and chans[b][1] <= dr <= chans[b][2]:
                ok_dr = True
    ok_pw = pw == 15 or pw <= eu868.TXPOWER_MAX_INDEX
    st = (4 if ok_pw else 0) | (2 if ok_dr else 0) | (1 if ok_ch else 0)
    if st == 7:
        s["m"] = mask
        if s.get("adr", 1):
            if dr != 15:
                s["dr"] = dr
            if pw != 15:
                s["pw"] = pw
        if nt:
            s["nt"] = nt
    else:
        link._count("adr")
    for k in range(i, j, 5):
        _queue(link, "an", bytes((0x03, st)))
    return j


def _dev_status(link, snr):
    m = snr if -32 <= snr <= 31 else (-32 if snr < 0 else 31)
    # battery 1..254 between the board's empty and full voltages, 255: can't measure
    b = link.node.board.spec.get("battery")
    try:
        mv = link.node.board.battery_mv()
    except Exception:  # noqa: BLE001 - an ADC fault reads as "can't measure"
        mv = None
    if mv is None or not b:
        v = 255
    else:
        lo = b.get("empty_mv", 3300)
        hi = b.get("full_mv", 4200)
        v = 1 if mv <= lo else 254 if mv >= hi else 1 + (mv - lo) * 253 // (hi - lo)
    _queue(link, "an", bytes((0x06, v, m & 0x3F)))


def _queue(link, k, data):
    # "an": answers kept in the store, so they go out with the next uplink, maybe after a deep sleep; "st": the
    # sticky ones, repeated until a downlink comes
    q = link._v.get(k, "")
    if len(q) // 2 + len(data) <= 15:
        link._v[k] = q + bytes(data).hex()


def _set_time(link, t, f):
    """DeviceTimeAns: the network's GPS time at the end of the uplink that asked; set the RTC, and move the duty
    ledger's and the join back-off's stamps with the clock."""
    from lorawan.link import _EPOCH

    # t: GPS seconds, f: fractions of 1/256 s
    unix_ms = (t + _GPS_UNIX) * 1000 + time.ticks_diff(time.ticks_ms(), link._tx_end) + (f * 1000) // 256
    old = time.time()
    try:
        import machine

        g = time.gmtime(unix_ms // 1000 - _EPOCH)
        # weekday: 0-6 from Monday on esp32 and rp2, 1-7 on stm32 (ports/stm32/rtc.c pyb_rtc_datetime)
        wd = g[6] + (1 if link.node.board.spec.get("port") == "stm32" else 0)
        machine.RTC().datetime((g[0], g[1], g[2], wd, g[3], g[4], g[5], (unix_ms % 1000) * 1000))
    except Exception as e:  # noqa: BLE001 - a port without a settable RTC keeps no time of day
        link.node.log("lorawan: RTC not set: %s" % e)
        return
    delta = time.time() - old
    st = link.store
    if delta:
        raw = st.get("lw.dc")
        if raw:
            raw[0] += delta
            st.set("lw.dc", raw)
        jb = st.get("lw.jb")
        if jb:
            st.set("lw.jb", [jb[0] + delta, jb[1], jb[2]])
    link._v["tk"] = 1
    link._v["ts"] = time.time()
