# The half of a wake that applies a configuration downlink (node/uplink.py received it): decoded against the
# role's schema table (ranges), the rules between settings checked over the node's current settings, then applied
# as a whole or not at all: settings stored durably (node.setting sees them), one-shot fields kept for the role's
# next wake (node.settings.take), commands done; then the role's own hook, apps/<role>/downlink.py apply(node, cfg), if it
# has one.
from node.modules import unload


def resume(node, job):
    """job: [fport, payload hex]; returns the seconds to sleep (the schedule may just have changed)."""
    import payload

    role = node.role
    defaults = __import__("apps.%s.settings" % role, None, None, ("DEFAULTS",)).DEFAULTS
    try:
        cfg = payload.decode_downlink(role, job[0], bytes.fromhex(job[1]))
        why = payload.check_config(role, cfg, lambda k: node.setting(k, defaults.get(k)))
    except ValueError as e:
        cfg = None
        why = "bad downlink: %s" % e
    del payload
    unload("payload", "payload_" + role, "cbor")
    if why:
        node.log("%s: downlink refused: %s" % (role, why))
    else:
        _apply(node, cfg, defaults)
    del defaults
    st = node.store
    if st.get("reboot"):
        st.delete("reboot")
        # remembered: an rp2 reports every reset as WDT_RESET, and the next boot must not count it as one
        st.set("rt.x", 1, durable=True)
        st.save()
        import machine

        machine.reset()
    from node.schedule import next_wake_at, sleep_s

    return sleep_s(node, next_wake_at(node))


def _apply(node, cfg, defaults):
    st = node.store
    for k in cfg:
        v = cfg[k]
        if k == "command":
            if v == "status":
                st.set("st.due", 1)
            elif v == "reboot":
                st.set("reboot", 1)
            elif v == "rejoin":
                node.link.rejoin("the network asked")
        elif k in defaults:
            st.set("cfg." + k, v, durable=True)
        else:
            st.set("do." + k, v, durable=True)  # a one-shot: the role takes it at its next wake (node.settings.take)
    node.log("%s: config %r" % (node.role, cfg))
    try:
        hook = __import__("apps.%s.downlink" % node.role, None, None, ("apply",))
    except ImportError as e:
        if "downlink" not in str(e):
            raise
        return
    hook.apply(node, cfg)
    unload("apps.%s.downlink" % node.role)
