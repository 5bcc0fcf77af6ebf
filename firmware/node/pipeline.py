# The one wake pipeline every role runs (the first half of a wake; node/runtime.py calls it):
#   the role's wake(node) measures and decides (a light, an alarm, which message) and returns seconds to sleep
#   (nothing to send) or the message (kind, values); the role's code then leaves the heap;
#   the daily status takes a periodic message's place when due; the message is encoded (the encoder loads and
#   leaves); the next wake is chosen (node/schedule.py); and the send runs in a fresh interpreter with only the
#   MAC loaded (node/uplink.py), a downlink in another (node/downlink.py). One uplink per wake, whatever happens.
import sys
import time
from micropython import const
from lorawan import clock  # whether a session is stored, without loading the MAC
from node.modules import unload

_STATUS_MIN_S = const(84600)  # 23.5 h: the status settles on the first quiet wake of each evening
_STATUS_MAX_S = const(169200)  # 47 h: sent even in busy hours if no quiet wake came


def run(node):
    pkg = "apps." + node.role
    msg = __import__(pkg + ".wake", None, None, ("wake",)).wake(node)
    # the role's code (its package and whatever of it the wake loaded) goes before the encoder comes in
    unload(*[k for k in sys.modules if k == pkg or k.startswith(pkg + ".")])
    if type(msg) is int:
        return msg
    kind, values = msg
    del msg
    st = node.store
    if kind == "periodic" and clock.joined(st) and _status_due(node, st):
        # never on the wake that joins: the first uplink of a session is the role's reading
        st.set("st.t", time.time())
        st.delete("st.due")
        kind = "status"
        values = _status_values(node)
    from node.settings import role_default

    job = _encode(node.role, kind, values, kind == "event" and bool(role_default(node, "confirmed")))
    del values
    from node.schedule import next_wake_at

    job.append(next_wake_at(node))  # chosen now: the radio's half does not load the schedule
    unload("node.schedule", "node.settings")
    node.resume_after_reset(job, "u")


def _status_due(node, st):
    """After power-on, when the network asked, or at the first quiet wake a day after the last status."""
    last = st.get("st.t")
    t = time.time()
    if st.get("st.due") or last is None or t < last:
        return True
    return (t - last >= _STATUS_MIN_S and node.quiet) or t - last >= _STATUS_MAX_S


def _status_values(node):
    from node.version import VERSION

    st = node.store
    sn = st.get("s.sn")
    v = {
        "battery_mv": node.board.battery_mv(),
        "fw": VERSION[:10],
        "reset_cause": node.reset_cause,
        "crashes": min(65535, st.get("crashes", 0)),
        "wdt_resets": min(65535, st.get("wdt_resets", 0)),
        "radio_errors": min(65535, st.get("r.err", 0)),
        "sensor_errors": min(65535, st.get("s.err", 0)),
        "sensor_serial": sn.to_bytes(6, "big") if sn else None,
    }
    unload("node.version")
    return v


def _encode(role, kind, values, confirmed):
    """[fport, payload hex, confirmed, kind]; the encoder (~15 KB with cbor and the role's table) leaves after."""
    import payload

    try:
        return [payload.fport(role, kind), payload.encode_uplink(role, kind, values).hex(), confirmed, kind]
    finally:
        unload("payload", "payload_" + role, "cbor")
