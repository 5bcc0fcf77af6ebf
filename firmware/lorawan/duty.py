# Sub-band duty-cycle ledger and join back-off, in the store's RTC part (they survive deep sleep; a power cut is
# a reset, after which the spec's join back-off starts again anyway).
#
# Ledger: the last hour's transmissions as a flat list [base, band, t_end - base, ms, ...], t_end in whole seconds
# of time.time() (rounded up); transmissions close together on one sub-band share an entry (see record()). A transmission starting at `t` counts every entry that ended after
# t - 3600: so in ANY rolling hour the airtime per sub-band stays within its share (36 s at 1 %), and within the
# network's aggregated limit (DutyCycleReq) over all sub-bands.
from micropython import const
from lorawan import eu868

HOUR = const(3600)
MERGE_S = const(60)
KEY = "lw.dc"
JKEY = "lw.jb"

# Join back-off (LoRaWAN 1.0.x, "retransmissions back-off"): airtime of join-requests since the join procedure
# started: 36 s in the first hour, 36 s in the next 10 hours, then 8.7 s per 24 hours.
_P1 = const(3600)
_P2 = const(39600)
_DAY = const(86400)


def _entries(store, now):
    # stored as [base, band, t_end - base, ms, ...]; returned as absolute [band, t_end, ms, ...] of the last hour
    raw = store.get(KEY) or []
    out = []
    if not raw:
        return out
    base = raw[0]
    for i in range(1, len(raw) - 2, 3):
        t = base + raw[i + 1]
        if t > now + 2 * HOUR:
            t = now  # stamped in the future: the clock went back; keep counting it from now
        if t > now - HOUR:
            out.append(raw[i])
            out.append(t)
            out.append(raw[i + 2])
    return out


def _put(store, led):
    if not led:
        store.set(KEY, [])
        return
    base = led[1]
    raw = [base]
    for i in range(0, len(led), 3):
        raw.append(led[i])
        raw.append(led[i + 1] - base)
        raw.append(led[i + 2])
    store.set(KEY, raw)


def wait_s(store, band, ms, now, agg=0):
    """Seconds to wait before `ms` of airtime may start on sub-band `band` at time `now` (0 = now).
    `agg` is the network's aggregated duty-cycle exponent (airtime <= 1/2^agg of any hour, over all bands)."""
    led = _entries(store, now)
    lim = HOUR * 1000 // eu868.BANDS[band][2]
    w = _fit(led, band, lim, ms, now)
    if agg:
        w2 = _fit(led, -1, HOUR * 1000 >> agg, ms, now)
        if w2 > w:
            w = w2
    return w


def _fit(led, band, lim, ms, now):
    if ms > lim:
        return -1  # can never fit
    used = 0
    for i in range(0, len(led), 3):
        if band < 0 or led[i] == band:
            used += led[i + 2]
    if used + ms <= lim:
        return 0
    # drop the oldest entries until the new one fits: it may start an hour after the last dropped one ended
    for i in range(0, len(led), 3):
        if band < 0 or led[i] == band:
            used -= led[i + 2]
            if used + ms <= lim:
                return led[i + 1] + HOUR - now
    return 0


def record(store, band, ms, t_end):
    led = _entries(store, t_end)
    # a transmission ending in the same MERGE_S-second slot as the band's last entry joins it (airtime summed,
    # stamped with the later end): it counts up to MERGE_S s longer than it needs to, never shorter, and the
    # ledger stays small (at most HOUR / MERGE_S + 1 entries per sub-band, whatever the app does)
    for i in range(len(led) - 3, -1, -3):
        if led[i] == band:
            if t_end // MERGE_S == led[i + 1] // MERGE_S:
                led[i + 1] = t_end
                led[i + 2] += ms
                _put(store, led)
                return
            break
    led.append(band)
    led.append(t_end)
    led.append(ms)
    _put(store, led)


def used_ms(store, band, now):
    led = _entries(store, now)
    n = 0
    for i in range(0, len(led), 3):
        if led[i] == band:
            n += led[i + 2]
    return n


def _period(dt):
    """(index, airtime budget ms, end dt) of the join back-off period holding dt seconds since the start."""
    if dt < _P1:
        return 0, 36000, _P1
    if dt < _P2:
        return 1, 36000, _P2
    k = (dt - _P2) // _DAY
    return 2 + k, 8700, _P2 + _DAY * (k + 1)


def join_wait_s(store, ms, now):
    """Seconds until a join-request of `ms` airtime respects the back-off (0 = may go now)."""
    jb = store.get(JKEY)
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


def join_record(store, ms, now):
    jb = store.get(JKEY)
    if not jb or now < jb[0]:
        jb = [now, 0, 0]
    i = _period(now - jb[0])[0]
    if i != jb[1]:
        jb = [jb[0], i, 0]
    store.set(JKEY, [jb[0], i, jb[2] + ms])


def join_reset(store):
    store.delete(JKEY)


def shift(store, delta):
    """The MAC clock jumped by `delta` s (RTC set from DeviceTime): move the stamps with it."""
    raw = store.get(KEY)
    if raw:
        raw[0] += delta
        store.set(KEY, raw)
    jb = store.get(JKEY)
    if jb:
        store.set(JKEY, [jb[0] + delta, jb[1], jb[2]])
