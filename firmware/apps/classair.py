# ClassAir: CO2 every quarter hour in a classroom, and a light the class trusts: green while the air is fine,
# red when it is time to open the windows (French guidance: act above 800 ppm), optionally orange between.
#
# One wake = one measurement. The light changes with hysteresis: red from `red_ppm`, green again only below
# `red_ppm - hysteresis_ppm`; the LED pins are held through deep sleep. Turning red, and the return to green,
# go out at once as an event uplink; other wakes send the periodic uplink; a status uplink goes once a day.
# Wakes follow a schedule in local time (from the network's DeviceTime, with a UTC offset and the EU summer-time
# rule): every `interval_s` in active hours, every `idle_interval_s` outside them (0: no measurement at all),
# aligned on the clock. Outside active hours the light is off. Until the time is known, every `interval_s`.
# A sensor that fails or is missing blinks both LEDs at each wake and then leaves them dark, and sets the
# sensor-fault flag in the uplink; the node keeps its link and schedule.
import time
from micropython import const

_OFF = const(0)
_GREEN = const(1)
_ORANGE = const(2)
_RED = const(3)
_FAULT = const(4)
NAMES = ("off", "green", "orange", "red", "fault")

_FLAG_SENSOR_FAULT = const(1)
_STATUS_EVERY_S = const(86400)
_BLINKS = const(3)
_BLINK_MS = const(150)

DEFAULTS = {
    "interval_s": 900,
    "idle_interval_s": 3600,
    "red_ppm": 800,
    "orange_ppm": 0,
    "hysteresis_ppm": 100,
    "active_start_h": 7,
    "active_end_h": 18,
    "active_days": 0x1F,
    "led_mode": "traffic",
    "asc": True,
    "altitude_m": 0,
    "tz_min": 60,
    "dst": "eu",
    "confirmed": False,
}


def _get(node, key):
    return node.setting(key, DEFAULTS[key])


# ---------------------------------------------------------------------- time of day


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


def _active(node, local):
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
    if _active(node, local):
        step = _get(node, "interval_s")
    else:
        step = _get(node, "idle_interval_s")
    best = None
    if step > 0:
        best = local - local % step + step
    # The next start of active hours, if it comes sooner (within a week).
    start = _get(node, "active_start_h") * 3600
    day = local // 86400
    for k in range(8):
        t = (day + k) * 86400 + start
        if t > local and _active(node, t):
            if best is None or t < best:
                best = t
            break
    if best is None:
        best = local + 86400
    return best - off


# ---------------------------------------------------------------------- light


def level_for(co2, current, red, orange, hyst):
    """The light's level for a reading: up as soon as a threshold is reached, down only past it minus hyst."""
    hi = (1 if orange and co2 >= orange else 0) + (1 if co2 >= red else 0)
    lo = (1 if orange and co2 >= orange - hyst else 0) + (1 if co2 >= red - hyst else 0)
    if not orange:
        hi, lo = hi * 2, lo * 2
    hi += 1
    lo += 1
    if current < _GREEN or current > _RED or hi >= current:
        return hi
    return min(current, lo)


def _pin(node, name, lit):
    import machine

    spec = node.board.led_pin(name, "classair")
    if spec is None:
        return
    v = 1 if lit != bool(spec.get("active_low", False)) else 0
    # Release the hold, drive the level, hold it again: the light stays through deep sleep.
    p = machine.Pin(spec["pin"], machine.Pin.OUT, value=v, hold=False)
    p.init(hold=True)


def show(node, state):
    mode = _get(node, "led_mode")
    if state == _FAULT:
        for i in range(2 * _BLINKS):
            _pin(node, "red", i % 2 == 0)
            _pin(node, "green", i % 2 == 1)
            time.sleep_ms(_BLINK_MS)
        red = green = False
    elif mode == "off" or state == _OFF:
        red = green = False
    else:
        red = state >= _ORANGE
        green = (state == _GREEN or state == _ORANGE) and mode != "red_only"
    _pin(node, "red", red)
    _pin(node, "green", green)


# ---------------------------------------------------------------------- sensor


def _sensor(node):
    spec = node.board.sensors("classair").get("co2")
    if spec is None:
        raise OSError("no co2 sensor in board.json")
    bus = node.board.bus_for(spec)
    if spec["chip"] == "senseair_s8":
        from sensors.senseair_s8 import S8

        return S8(bus)
    from sensors.scd4x import SCD4x

    return SCD4x(bus, spec.get("address", 0x62))


def measure(node):
    """(co2, temp 0.01 C, rh 0.01 %) or None, with the error logged and counted."""
    st = node.store
    try:
        dev = _sensor(node)
        if st.get("s.set") != [1 if _get(node, "asc") else 0, _get(node, "altitude_m")] or st.get("s.frc"):
            from apps.classair_cfg import configure

            configure(node, dev)
        r = dev.measure()
        st.set("s.ok", 1)
        return r
    except Exception as e:  # noqa: BLE001 - any sensor failure becomes the fault light and a flag
        st.set("s.err", st.get("s.err", 0) + 1, durable=st.get("s.ok") != 0)
        st.set("s.ok", 0)
        st.delete("s.set")  # a sensor plugged back in starts from its own stored settings
        node.log("classair: sensor error: %s" % e)
        return None
    finally:
        _unload("sensors", "sensors.scd4x", "sensors.scd4x_extra", "sensors.senseair_s8", "apps.classair_cfg")


def _unload(*names):
    # The driver's code is not needed once the sample is in: free its heap before the radio's is needed.
    import sys

    for n in names:
        sys.modules.pop(n, None)


# ---------------------------------------------------------------------- network


def _send(node, kind, values, confirmed=False):
    st = node.store
    try:
        import payload

        data = payload.encode_uplink("classair", kind, values)
        dl = node.link.send(payload.fport("classair", kind), data, confirmed)
    except Exception as e:  # noqa: BLE001 - the light works without the network
        st.set("r.err", st.get("r.err", 0) + 1)
        node.log("classair: uplink failed: %s" % e)
        return
    node.log("classair: %s uplink %d B" % (kind, len(data)))
    if dl:
        from apps.classair_cfg import downlink

        downlink(node, payload, dl)


# ---------------------------------------------------------------------- one wake


def _link_time(node):
    try:
        return node.link.time()
    except Exception:  # noqa: BLE001
        return None


def run(node):
    st = node.store
    reading = measure(node)  # first: the sensor driver is dropped before the link is loaded
    now = _link_time(node)
    active = True if now is None else _active(node, now + utc_offset_s(node, now))
    prev = st.get("lv", _OFF)
    flags = 0
    if reading is None:
        level = _OFF
        flags = _FLAG_SENSOR_FAULT
        shown = _FAULT if active else _OFF
    else:
        level = level_for(reading[0], prev, _get(node, "red_ppm"), _get(node, "orange_ppm"), _get(node, "hysteresis_ppm"))
        shown = level if active else _OFF
    show(node, shown)
    if reading is not None and level != prev:
        st.set("lv", level, durable=True)
    co2 = reading[0] if reading else None
    node.log(
        "classair: co2=%s t=%s rh=%s led=%s level=%s"
        % (co2, reading[1] if reading else None, reading[2] if reading else None, NAMES[shown], NAMES[level])
    )
    if reading is not None and prev >= _GREEN and ((level == _RED and prev < _RED) or (level == _GREEN and prev > _GREEN)):
        _send(node, "event", {"led": NAMES[level], "flags": flags, "co2_ppm": co2}, bool(_get(node, "confirmed")))
    else:
        _send(
            node,
            "periodic",
            {
                "co2_ppm": co2,
                "temp_c": reading[1] / 100 if reading and reading[1] is not None else None,
                "rh_pct": reading[2] / 100 if reading and reading[2] is not None else None,
                "led": NAMES[level] if level else "off",
                "flags": flags,
            },
        )
    # Daily status: at power-on, once a day by the RTC, or when the network asks.
    last = st.get("st.t")
    t = time.time()
    if st.get("st.due") or last is None or t - last >= _STATUS_EVERY_S or t < last:
        st.set("st.t", t)
        st.delete("st.due")
        from apps.classair_cfg import status

        status(node)
    if st.get("reboot"):
        import machine

        st.delete("reboot")
        st.save()
        machine.reset()
    now = _link_time(node)
    if now is None:
        return _get(node, "interval_s")
    awake = time.ticks_diff(time.ticks_ms(), node.boot_ticks) // 1000
    return max(60, next_wake(node, now) - now + awake)
