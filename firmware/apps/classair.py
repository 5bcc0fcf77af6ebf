# ClassAir: CO2 every quarter hour in a classroom, and a light the class trusts: green while the air is fine,
# red when it is time to open the windows (French guidance: act above 800 ppm), optionally orange between.
#
# One wake = one measurement. The light changes with hysteresis: red from `red_ppm`, green again only below
# `red_ppm - hysteresis_ppm`; the LED pins are held through deep sleep. Turning red, and the return to green,
# go out at once as an event uplink; other wakes send the periodic uplink, except once a day when the status
# uplink goes in its place (on a quiet evening wake): one uplink per wake, whatever happens.
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
_STATUS_MIN_S = const(84600)  # 23.5 h: the status settles on the first quiet wake of each evening
_STATUS_MAX_S = const(169200)  # 47 h: sent even in active hours if no quiet wake came

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


# ---------------------------------------------------------------------- sensor


def _unload(*names):
    # The driver's code is not needed once the sample is in: free its heap before the radio's is needed.
    import sys

    for n in names:
        if sys.modules.pop(n, None) is not None and "." in n:
            pkg, _, child = n.rpartition(".")
            try:
                delattr(sys.modules[pkg], child)  # the package keeps a reference to its submodule
            except (KeyError, AttributeError):
                pass


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
        _unload("apps.classair_cfg")


# ---------------------------------------------------------------------- one wake


def _joined(node):
    try:
        return node.link.joined
    except Exception:  # noqa: BLE001
        return False


def _link_time(node):
    try:
        return node.link.time()
    except Exception:  # noqa: BLE001
        return None


def run(node):
    st = node.store
    if not _get(node, "idle_interval_s"):
        now = _link_time(node)
        if now is not None:
            from apps.classair_time import active as is_active, next_wake, utc_offset_s

            if not is_active(node, now + utc_offset_s(node, now)):
                # No measurements outside active hours: put the light out and sleep until they start.
                from apps.classair_led import show

                show(node, _OFF)
                node.log("classair: quiet hours, no measurement")
                return max(60, next_wake(node, now) - now)
    from apps.classair_sensor import measure

    reading = measure(node)  # first: the sensor code is dropped before the link is loaded
    _unload("apps.classair_sensor")
    now = _link_time(node)
    joined = _joined(node)
    active = True
    if now is not None:
        from apps.classair_time import active as is_active, utc_offset_s

        active = is_active(node, now + utc_offset_s(node, now))
    prev = st.get("lv", _OFF)
    flags = 0
    if reading is None:
        level = _OFF
        flags = _FLAG_SENSOR_FAULT
        shown = _FAULT if active else _OFF
    else:
        level = level_for(reading[0], prev, _get(node, "red_ppm"), _get(node, "orange_ppm"), _get(node, "hysteresis_ppm"))
        shown = level if active else _OFF
    from apps.classair_led import show

    show(node, shown)
    _unload("apps.classair_time", "apps.classair_led")
    if reading is not None and level != prev:
        st.set("lv", level, durable=True)
    co2 = reading[0] if reading else None
    node.log(
        "classair: co2=%s t=%s rh=%s led=%s level=%s"
        % (co2, reading[1] if reading else None, reading[2] if reading else None, NAMES[shown], NAMES[level])
    )
    # One uplink per wake. An event when the light turns red or back to green; else, when due, the status (after
    # power-on, at the first wake outside active hours a day after the last one, or when the network asks; never
    # on the wake that joins); else the periodic reading.
    last = st.get("st.t")
    t = time.time()
    due = st.get("st.due") or last is None or t < last
    if not due and last is not None:
        due = (t - last >= _STATUS_MIN_S and not active) or t - last >= _STATUS_MAX_S
    if reading is not None and prev >= _GREEN and ((level == _RED and prev < _RED) or (level == _GREEN and prev > _GREEN)):
        _send(node, "event", {"led": NAMES[level], "flags": flags, "co2_ppm": co2}, bool(_get(node, "confirmed")))
    elif joined and due:
        st.set("st.t", t)
        st.delete("st.due")
        from apps.classair_cfg import status_values

        values = status_values(node)
        _unload("apps.classair_cfg")
        _send(node, "status", values)
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
    if st.get("reboot"):
        import machine

        st.delete("reboot")
        st.save()
        machine.reset()
    now = _link_time(node)
    if now is None:
        return _get(node, "interval_s")
    from apps.classair_time import next_wake

    awake = time.ticks_diff(time.ticks_ms(), node.boot_ticks) // 1000
    return max(60, next_wake(node, now) - now + awake)
