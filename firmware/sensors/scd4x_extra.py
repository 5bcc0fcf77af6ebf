# SCD4x calibration, compensation and maintenance: the commands a node needs rarely (a downlink asks for a
# forced recalibration, a technician runs the self test), kept out of sensors/scd4x.py so the every-wake path
# loads less. Each function takes an SCD4x object; execution times and encodings are the datasheet's.
import time
from micropython import const
from sensors.scd4x import SCD4xError

_SET_T_OFFSET = const(0x241D)
_GET_T_OFFSET = const(0x2318)
_GET_ALTITUDE = const(0x2322)
_PRESSURE = const(0xE000)
_FRC = const(0x362F)
_GET_ASC = const(0x2313)
_SELF_TEST = const(0x3639)
_FACTORY_RESET = const(0x3632)
_REINIT = const(0x3646)
_POWER_DOWN = const(0x36E0)
_WAKE_UP = const(0x36F6)


def forced_recalibration(dev, ppm):
    """Calibrate to a reference concentration the sensor has measured for 3 minutes; returns the correction
    (ppm) it applied. The sensor must be idle: periodic measurement is stopped first."""
    if dev.periodic:
        dev.stop_periodic()
    w = dev._query(_FRC, 1, 400, ppm)
    if w == 0xFFFF:
        raise SCD4xError("failed", "SCD4x refused recalibration (measure 3 min first)")
    return w - 0x8000


def self_test(dev):
    """10 s built-in test; True when the sensor reports no malfunction."""
    return dev._query(_SELF_TEST, 1, 10000) == 0


def set_pressure(dev, pa):
    """Ambient pressure compensation (overrides the altitude); allowed during periodic measurement."""
    dev.command(_PRESSURE, arg=(pa + 50) // 100)


def pressure(dev):
    return dev._query(_PRESSURE) * 100


def altitude(dev):
    return dev._query(_GET_ALTITUDE)


def asc(dev):
    return dev._query(_GET_ASC) == 1


def set_temperature_offset(dev, centi_c):
    dev.command(_SET_T_OFFSET, arg=(centi_c * 65535 + 8750) // 17500)


def temperature_offset(dev):
    """Offset in 0.01 C."""
    return (dev._query(_GET_T_OFFSET) * 17500 + 32767) // 65535


def reinit(dev):
    dev.command(_REINIT, 30)


def factory_reset(dev):
    dev.command(_FACTORY_RESET, 1200)


def power_down(dev):
    dev.command(_POWER_DOWN)


def wake_up(dev):
    # The sensor does not acknowledge wake_up: a NACK here is expected.
    try:
        dev._send(_WAKE_UP)
    except SCD4xError:
        pass
    time.sleep_ms(30)
