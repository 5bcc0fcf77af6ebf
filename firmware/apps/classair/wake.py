# ClassAir's wake: measure, set the light, choose the message. The pipeline (node/pipeline.py) encodes and sends it.
from micropython import const
from apps.classair.settings import get as _get
from node.modules import unload as _unload
from lorawan import clock  # the network's time, read from the store without loading the MAC

_OFF = const(0)
_GREEN = const(1)
_ORANGE = const(2)
_RED = const(3)
_FAULT = const(4)
NAMES = ("off", "green", "orange", "red", "fault")

_FLAG_SENSOR_FAULT = const(1)


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


def wake(node):
    """Seconds to sleep (a quiet-hours wake: nothing to send), or the message: (kind, values)."""
    st = node.store
    if not _get(node, "idle_interval_s"):
        now = clock.now(st)
        if now is not None:
            from apps.classair.schedule import active as is_active, next_wake, utc_offset_s

            if not is_active(node, now + utc_offset_s(node, now)):
                # No measurements outside active hours: put the light out and sleep until they start.
                from apps.classair.led import show

                show(node, _OFF)
                node.log("classair: quiet hours, no measurement")
                return max(60, next_wake(node, now) - now)
    from apps.classair.sensor import measure

    reading = measure(node)  # first: the sensor code is dropped before the rest loads
    _unload("apps.classair.sensor")
    now = clock.now(st)
    active = True
    if now is not None:
        from apps.classair.schedule import active as is_active, utc_offset_s

        active = is_active(node, now + utc_offset_s(node, now))
        _unload("apps.classair.schedule")
    node.quiet = not active  # the daily status waits for an evening wake
    prev = st.get("lv", _OFF)
    flags = 0
    if reading is None:
        level = _OFF
        flags = _FLAG_SENSOR_FAULT
        shown = _FAULT if active else _OFF
    else:
        level = level_for(reading[0], prev, _get(node, "red_ppm"), _get(node, "orange_ppm"), _get(node, "hysteresis_ppm"))
        shown = level if active else _OFF
    from apps.classair.led import show

    show(node, shown)
    _unload("apps.classair.led")
    if reading is not None and level != prev:
        st.set("lv", level, durable=True)
    co2 = reading[0] if reading else None
    node.log(
        "classair: co2=%s t=%s rh=%s led=%s level=%s"
        % (co2, reading[1] if reading else None, reading[2] if reading else None, NAMES[shown], NAMES[level])
    )
    # An event when the light turns red or back to green; else the periodic reading.
    if reading is not None and prev >= _GREEN and ((level == _RED and prev < _RED) or (level == _GREEN and prev > _GREEN)):
        return "event", {"led": NAMES[level], "flags": flags, "co2_ppm": co2}
    return "periodic", {
        "co2_ppm": co2,
        "temp_c": reading[1] / 100 if reading and reading[1] is not None else None,
        "rh_pct": reading[2] / 100 if reading and reading[2] is not None else None,
        "led": NAMES[level] if level else "off",
        "flags": flags,
    }
