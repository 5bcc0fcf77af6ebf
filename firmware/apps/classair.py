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
import gc
import time

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


# the payload encoder and what it loads: dropped whenever the radio is about to need the heap
ENCODER = ("payload", "payload_classair", "cbor")


def _get(node, key):
    return node.setting(key, DEFAULTS[key])


def _unload(*names):
    # Code not needed for the rest of the wake: free its heap before the radio's is needed.
    import sys

    for n in names:
        if sys.modules.pop(n, None) is not None and "." in n:
            pkg, _, child = n.rpartition(".")
            try:
                delattr(sys.modules[pkg], child)  # the package keeps a reference to its submodule
            except (KeyError, AttributeError):
                pass


def run(node):
    # The wake's own code (apps.classair_wake: sensor, light, which uplink, its bytes) is dropped before the
    # radio sends: only this module stays resident beside the link.
    from apps.classair_wake import wake

    up = wake(node)
    del wake  # the function holds its module: drop both
    _unload("apps.classair_wake", "node.board_hw", "node.version")
    if type(up) is int:
        return up
    port, data, confirmed, kind = up
    gc.collect()
    st = node.store
    try:
        dl = node.link.send(port, data, confirmed)
    except Exception as e:  # noqa: BLE001 - the light works without the network
        st.set("r.err", st.get("r.err", 0) + 1)
        node.log("classair: uplink failed: %s" % e)
        dl = None
    else:
        node.log("classair: %s uplink %d B" % (kind, len(data)))
    del data, up
    node.release_link()  # the rest of the wake fits beside the app alone
    if dl:
        import payload
        from apps.classair_cfg import downlink

        downlink(node, payload, dl)
        del payload
        _unload("apps.classair_cfg", *ENCODER)
    if st.get("reboot"):
        import machine

        st.delete("reboot")
        st.save()
        machine.reset()
    from lorawan import clock

    now = clock.now(st)
    if now is None:
        return _get(node, "interval_s")
    from apps.classair_time import next_wake

    awake = time.ticks_diff(time.ticks_ms(), node.boot_ticks) // 1000
    return max(60, next_wake(node, now) - now + awake)
