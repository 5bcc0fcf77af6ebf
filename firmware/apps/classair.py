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
# A wake with an uplink runs in halves, each in a fresh interpreter (Node.resume_after_reset): the first measures,
# sets the light and encodes (apps.classair_wake); the second sends, with only the MAC loaded; a downlink is
# applied in a third. None of them carries the others' code or names, so the node fits a small MCU's heap.
# Settings and their defaults: apps/classair_settings.py.
import time
from lorawan import clock  # the network's time, read from the store (the MAC is not loaded for it)


def run(node):
    from apps.classair_wake import wake

    job = wake(node)  # seconds to sleep, or the second half's job: ["up", fport, hex, confirmed, kind, next]
    if type(job) is int:
        return job
    node.resume_after_reset(job)


def resume(node, job):
    """The later halves of a wake: ["up", ...] sends what the first half encoded; ["dl", fport, hex] applies
    a downlink (apps.classair_cfg); ["t"] works out the schedule once the network has given the time."""
    if job[0] == "dl":
        from apps.classair_cfg import apply

        return apply(node, job[1], bytes.fromhex(job[2]))
    if job[0] == "t":
        from apps.classair_time import next_wake_at

        return sleep_s(node, next_wake_at(node))
    st = node.store
    data = bytes.fromhex(job[2])
    try:
        dl = node.link.send(job[1], data, job[3])
    except Exception as e:  # noqa: BLE001 - the light works without the network
        st.set("r.err", st.get("r.err", 0) + 1)
        node.log("classair: uplink failed: %s" % e)
        dl = None
    else:
        node.log("classair: %s uplink %d B" % (job[4], len(data)))
    del data
    if dl:
        # decoding and applying it needs the payload codec: in a fresh interpreter again
        node.resume_after_reset(["dl", dl[0], dl[1].hex()])
    nxt = job[5]  # the next wake, chosen before the send: the schedule's code stays out of this half
    if nxt[0] is None and clock.now(st) is not None:
        node.resume_after_reset(["t"])  # this send brought the network's time: align the next wake on it
    return sleep_s(node, nxt)


def sleep_s(node, nxt):
    """Seconds to sleep for nxt = [unix time of the next wake or None, period while the time is unknown]."""
    now = clock.now(node.store)
    if nxt[0] is None or now is None:
        return nxt[1]
    awake = time.ticks_diff(time.ticks_ms(), node.boot_ticks) // 1000
    return max(60, nxt[0] - now + awake)
