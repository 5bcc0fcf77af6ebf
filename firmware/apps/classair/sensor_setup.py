# ClassAir's rare sensor work, loaded only on the wakes that need it: bringing the sensor's own settings in line
# with the configuration, and a forced recalibration the network asked for.
from apps.classair.settings import get as _get


def configure(node, dev, frc):
    """The sensor's ASC and altitude as configured (persisted in the sensor only when they change), and a
    forced recalibration to `frc` ppm (or None)."""
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
    if frc:
        mod = "sensors.senseair_s8" if type(dev).__name__ == "S8" else "sensors.scd4x_extra"
        fn = __import__(mod, None, None, ("forced_recalibration",)).forced_recalibration
        node.log("classair: recalibrated to %d ppm, correction %d" % (frc, fn(dev, frc)))
