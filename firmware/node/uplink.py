# The radio's half of a wake (node/pipeline.py encoded the message): only the MAC and the radio driver are loaded.
# A downlink is applied in the next half (node/downlink.py); time the network just gave aligns the next wake
# (node/schedule.py).
import time
from lorawan import clock  # the network's time, read from the store (the MAC is not loaded for it)


def resume(node, job):
    """job: [fport, payload hex, confirmed, kind, next_wake_at]; returns the seconds to sleep."""
    st = node.store
    data = bytes.fromhex(job[1])
    try:
        dl = node.link.send(job[0], data, job[2])
    except Exception as e:  # noqa: BLE001 - the role's local work (a light) goes on without the network
        st.set("r.err", st.get("r.err", 0) + 1)
        node.log("%s: uplink failed: %s" % (node.role, e))
        dl = None
    else:
        node.log("%s: %s uplink %d B" % (node.role, job[3], len(data)))
    del data
    if dl:
        # decoding and applying it needs the payload codec: in a fresh interpreter again
        node.resume_after_reset([dl[0], dl[1].hex()], "d")
    nxt = job[4]
    if nxt[0] is None and clock.now(st) is not None:
        node.resume_after_reset(None, "t")  # this send brought the network's time
    return sleep_s(node, nxt)


def sleep_s(node, nxt):
    """Seconds to sleep for nxt (node.schedule.next_wake_at's answer), counting from this wake's boot."""
    now = clock.now(node.store)
    if nxt[0] is None or now is None:
        return nxt[1]
    awake = time.ticks_diff(time.ticks_ms(), node.boot_ticks) // 1000
    return max(60, nxt[0] - now + awake)
