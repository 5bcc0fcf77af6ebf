# ClassAir's wake up to the uplink: measure, set the light, choose the one uplink of the wake and encode it.
# The first half of a wake (apps.classair.run): the radio's half runs after a soft reset, without this code.
import time
from micropython import const
from apps.classair_settings import get as _get
from node.modules import unload as _unload
from lorawan import clock  # the network's time and the session, read from the store without loading the MAC

_OFF = const(0)
_GREEN = const(1)
_ORANGE = const(2)
_RED = const(3)
_FAULT = const(4)
NAMES = ("off", "green", "orange", "red", "fault")
ENCODER = ("payload", "payload_classair", "cbor")  # the payload encoder and what it loads

_FLAG_SENSOR_FAULT = const(1)
_STATUS_MIN_S = const(84600)  # 23.5 h: the status settles on the first quiet wake of each evening
_STATUS_MAX_S = const(169200)  # 47 h: sent even in active hours if no quiet wake came


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


def _encode(kind, values, nxt, confirmed=False):
    import payload

    try:
        return ["up", payload.fport("classair", kind), payload.encode_uplink("classair", kind, values).hex(),
                confirmed, kind, nxt]
    finally:
        _unload(*ENCODER)  # the encoder (~15 KB with cbor and the role's table) goes before the next one loads


def wake(node):
    """Seconds to sleep (a quiet-hours wake: nothing to send), or the send's job for apps.classair.resume:
    ["up", fport, uplink hex, confirmed, kind, next_wake_at]."""
    st = node.store
    if not _get(node, "idle_interval_s"):
        now = clock.now(st)
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
    now = clock.now(st)
    joined = clock.joined(st)
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
    from apps.classair_time import next_wake_at

    nxt = next_wake_at(node)  # chosen now: the radio's half does not load the schedule
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
        return _encode("event", {"led": NAMES[level], "flags": flags, "co2_ppm": co2}, nxt, bool(_get(node, "confirmed")))
    if joined and due:
        st.set("st.t", t)
        st.delete("st.due")
        from apps.classair_cfg import status_values

        values = status_values(node)
        _unload("apps.classair_cfg")
        return _encode("status", values, nxt)
    return _encode(
        "periodic",
        {
            "co2_ppm": co2,
            "temp_c": reading[1] / 100 if reading and reading[1] is not None else None,
            "rh_pct": reading[2] / 100 if reading and reading[2] is not None else None,
            "led": NAMES[level] if level else "off",
            "flags": flags,
        },
        nxt,
    )
