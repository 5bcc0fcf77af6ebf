# ClassAir's clock: local time from UTC (the network's DeviceTime) with a fixed offset and the EU summer-time
# rule, whether a moment is in active hours, and when the next wake is due. Loaded for a moment in the halves
# of a wake that need it, never in the radio's.
from apps.classair.settings import get as _get


def _days_from_civil(y, m, d):
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _year(days):
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    return yoe + era * 400 + (1 if (5 * doy + 2) // 153 >= 10 else 0)


def _last_sunday(y, m, last):
    d = _days_from_civil(y, m, last)
    return d - ((d + 3) % 7 + 1) % 7


def utc_offset_s(node, unix):
    """Local time minus UTC at `unix`: the configured offset, plus an hour in EU summer time."""
    off = _get(node, "tz_min") * 60
    if _get(node, "dst") == "eu":
        y = _year(unix // 86400)
        # Summer time: last Sunday of March 01:00 UTC to last Sunday of October 01:00 UTC.
        if _last_sunday(y, 3, 31) * 86400 + 3600 <= unix < _last_sunday(y, 10, 31) * 86400 + 3600:
            off += 3600
    return off


def active(node, local):
    """Whether local time `local` (seconds) falls in the active hours of an active day."""
    day = local // 86400
    minute = (local % 86400) // 60
    return bool(_get(node, "active_days") >> ((day + 3) % 7) & 1) and (
        _get(node, "active_start_h") * 60 <= minute < _get(node, "active_end_h") * 60
    )


def next_wake(node, unix):
    """Unix time of the next measurement after `unix`, by the schedule."""
    off = utc_offset_s(node, unix)
    local = unix + off
    if active(node, local):
        step = _get(node, "interval_s")
        t = local - local % step + step
        if active(node, t) or not _get(node, "idle_interval_s"):
            return t - off  # with no idle measurements, the first wake after hours only puts the light out
    # Outside active hours (or leaving them): the idle rhythm, or the next start of active hours if sooner.
    step = _get(node, "idle_interval_s")
    best = None
    if step > 0:
        best = local - local % step + step
    # The next start of active hours, if it comes sooner (within a week).
    start = _get(node, "active_start_h") * 3600
    day = local // 86400
    for k in range(8):
        t = (day + k) * 86400 + start
        if t > local and active(node, t):
            if best is None or t < best:
                best = t
            break
    if best is None:
        best = local + 86400
    return best - off


def next_wake_at(node):
    """[unix time of the next wake or None while the network's time is unknown, the period until it is known]."""
    from lorawan import clock

    now = clock.now(node.store)
    return [None if now is None else next_wake(node, now), _get(node, "interval_s")]
