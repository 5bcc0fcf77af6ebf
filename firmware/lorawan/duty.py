# Sub-band duty-cycle ledger, in the store's RTC part ("lw.dc") (it survives deep sleep; a power cut is a reset, after which
# the spec's join back-off starts again anyway). The join back-off lives in join.py (only joins need it), the
# clock shift after DeviceTime in maccmd.py.
#
# Ledger: the last hour's transmissions as a flat list [base, band, t_end - base, ms, ...], t_end in whole seconds
# of time.time() (rounded up); transmissions close together on one sub-band share an entry (see record()). A
# transmission starting at `t` counts every entry that ended after t - 3600: so in ANY rolling hour the airtime
# per sub-band stays within its share (36 s at 1 %), and within the network's aggregated limit (DutyCycleReq)
# over all sub-bands.
from micropython import const
from lorawan import eu868

_HOUR = const(3600)
_MERGE_S = const(60)


def _entries(store, t):
    # stored as [base, band, t_end - base, ms, ...]; returned as absolute [band, t_end, ms, ...] of the last hour
    raw = store.get("lw.dc") or []
    out = []
    if not raw:
        return out
    base = raw[0]
    for i in range(1, len(raw) - 2, 3):
        e = base + raw[i + 1]
        if e > t + 2 * _HOUR:
            e = t  # stamped in the future: the clock went back; keep counting it from now
        if e > t - _HOUR:
            out.append(raw[i])
            out.append(e)
            out.append(raw[i + 2])
    return out


def wait_s(store, band, ms, t, a=0):
    """Seconds to wait before `ms` of airtime may start on sub-band `band` at time `t` (0 = now).
    `a` is the network's aggregated duty-cycle exponent (airtime <= 1/2^a of any hour, over all bands)."""
    led = _entries(store, t)
    w = _fit(led, band, _HOUR * 1000 // eu868.BANDS[3 * band + 2], ms, t)
    if a:
        w2 = _fit(led, -1, _HOUR * 1000 >> a, ms, t)
        if w2 > w:
            w = w2
    return w


def _fit(v, band, e, ms, t):
    # v: the ledger, e: the limit (ms of airtime per hour), t: now
    if ms > e:
        return -1  # can never fit
    used = 0
    for i in range(0, len(v), 3):
        if band < 0 or v[i] == band:
            used += v[i + 2]
    if used + ms <= e:
        return 0
    # drop the oldest entries until the new one fits: it may start an hour after the last dropped one ended
    for i in range(0, len(v), 3):
        if band < 0 or v[i] == band:
            used -= v[i + 2]
            if used + ms <= e:
                return v[i + 1] + _HOUR - t
    return 0


def record(store, band, ms, t):
    """Airtime `ms` on sub-band `band`, ending at `t` (whole seconds, rounded up)."""
    led = _entries(store, t)
    # a transmission ending in the same _MERGE_S-second slot as the band's last entry joins it (airtime summed,
    # stamped with the later end): it counts up to _MERGE_S s longer than it needs to, never shorter, and the
    # ledger stays small (at most _HOUR / _MERGE_S + 1 entries per sub-band, whatever the app does)
    new = True
    for i in range(len(led) - 3, -1, -3):
        if led[i] == band:
            if t // _MERGE_S == led[i + 1] // _MERGE_S:
                led[i + 1] = t
                led[i + 2] += ms
                new = False
            break
    if new:
        led.append(band)
        led.append(t)
        led.append(ms)
    # stored as [base, band, t_end - base, ms, ...] (small numbers: a compact RTC image)
    base = led[1]
    raw = [base]
    for i in range(0, len(led), 3):
        raw.append(led[i])
        raw.append(led[i + 1] - base)
        raw.append(led[i + 2])
    store.set("lw.dc", raw)
