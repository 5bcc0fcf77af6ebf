# ClassAir's rare work, loaded only on the wakes that need it: bringing the sensor's own settings in line with
# the configuration, applying a configuration downlink, and the daily status uplink.
from apps.classair_settings import DEFAULTS, get as _get


def configure(node, dev):
    """The sensor's ASC and altitude as configured (persisted in the sensor only when they change), and a
    forced recalibration the network asked for."""
    st = node.store
    want = [1 if _get(node, "asc") else 0, _get(node, "altitude_m")]
    if st.get("s.set") != want and hasattr(dev, "set_asc"):
        dev.stop_periodic()  # a sensor left measuring (node reset mid-way) takes no settings
        dev.set_asc(want[0])
        dev.set_altitude(want[1])
        dev.persist()
        st.set("s.set", want, durable=True)
        node.log("classair: sensor asc=%d altitude=%d m" % (want[0], want[1]))
        if st.get("s.sn") is None:
            st.set("s.sn", dev.serial(), durable=True)
    frc = st.get("s.frc")
    if frc:
        st.delete("s.frc")
        mod = "sensors.senseair_s8" if type(dev).__name__ == "S8" else "sensors.scd4x_extra"
        fn = __import__(mod, None, None, ("forced_recalibration",)).forced_recalibration
        node.log("classair: recalibrated to %d ppm, correction %d" % (frc, fn(dev, frc)))


def downlink(node, payload, dl):
    """Validate a configuration downlink as a whole, then store each setting durably (node.setting sees it)."""
    st = node.store
    try:
        cfg = payload.decode_downlink("classair", dl[0], dl[1])
    except ValueError as e:
        node.log("classair: bad downlink: %s" % e)
        return False
    red = cfg.get("red_ppm", _get(node, "red_ppm"))
    orange = cfg.get("orange_ppm", _get(node, "orange_ppm"))
    hyst = cfg.get("hysteresis_ppm", _get(node, "hysteresis_ppm"))
    start = cfg.get("active_start_h", _get(node, "active_start_h"))
    end = cfg.get("active_end_h", _get(node, "active_end_h"))
    if (orange and orange >= red) or hyst >= red - 400 or start >= end:
        node.log("classair: downlink refused: inconsistent settings %r" % (cfg,))
        return False
    for k in cfg:
        v = cfg[k]
        if k == "command":
            if v == "status":
                st.set("st.due", 1)
            elif v == "reboot":
                st.set("reboot", 1)
            elif v == "rejoin":
                node.link.rejoin("the network asked")
        elif k == "frc_ppm":
            st.set("s.frc", v, durable=True)
        elif k in DEFAULTS:
            st.set("cfg." + k, v, durable=True)
    node.log("classair: config %r" % (cfg,))
    return True


def apply(node, port, data):
    """The wake's half that applies a configuration downlink; returns the seconds to sleep."""
    import payload
    from apps.classair import sleep_s
    from apps.classair_time import next_wake_at
    from node.modules import unload

    downlink(node, payload, (port, data))
    del payload
    unload("payload", "payload_classair", "cbor")
    st = node.store
    if st.get("reboot"):
        import machine

        st.delete("reboot")
        st.save()
        machine.reset()
    return sleep_s(node, next_wake_at(node))  # the schedule may just have changed


def status_values(node):
    from node.version import VERSION

    st = node.store
    sn = st.get("s.sn")
    return {
        "battery_mv": node.board.battery_mv(),
        "fw": VERSION[:10],
        "reset_cause": node.reset_cause,
        "crashes": min(65535, st.get("crashes", 0)),
        "wdt_resets": min(65535, st.get("wdt_resets", 0)),
        "radio_errors": min(65535, st.get("r.err", 0)),
        "sensor_errors": min(65535, st.get("s.err", 0)),
        "sensor_serial": sn.to_bytes(6, "big") if sn else None,
    }
