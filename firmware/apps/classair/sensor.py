# ClassAir's measurement: the board's CO2 sensor (SCD4x or Senseair S8), its settings brought in line with the
# configuration when they differ, one sample. Loaded only while measuring, with the driver.
from apps.classair.settings import get as _get
from node.modules import unload as _unload


def _sensor(node):
    spec = node.board.sensors("classair").get("co2")
    if spec is None:
        raise OSError("no co2 sensor in board.json")
    bus = node.board.bus_for(spec)
    if spec["chip"] == "senseair_s8":
        from sensors.senseair_s8 import S8

        return S8(bus)
    from sensors.scd4x import SCD4x

    return SCD4x(bus, spec.get("address", 0x62))


def measure(node):
    """(co2, temp 0.01 C, rh 0.01 %) or None, with the error logged and counted."""
    st = node.store
    try:
        dev = _sensor(node)
        from node.settings import take

        frc = take(node, "frc_ppm")  # a recalibration the network asked for: tried once
        if st.get("s.set") != [1 if _get(node, "asc") else 0, _get(node, "altitude_m")] or frc:
            from apps.classair.sensor_setup import configure

            configure(node, dev, frc)
        r = dev.measure()
        st.set("s.ok", 1)
        return r
    except Exception as e:  # noqa: BLE001 - any sensor failure becomes the fault light and a flag
        st.set("s.err", st.get("s.err", 0) + 1, durable=st.get("s.ok") != 0)
        st.set("s.ok", 0)
        st.delete("s.set")  # a sensor plugged back in starts from its own stored settings
        node.log("classair: sensor error: %s" % e)
        return None
    finally:
        _unload("sensors", "sensors.scd4x", "sensors.scd4x_extra", "sensors.senseair_s8", "apps.classair.sensor_setup")
