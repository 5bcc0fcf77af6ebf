# Senseair S8 (S8 LP 004-0-0053 and kin) NDIR CO2 sensor on a UART, Modbus RTU at 9600 8N1.
#
# The sensor measures on its own every 2 s; the host reads input register IR4 (CO2, ppm) with function 0x04 and
# IR1 (meter status: non-zero = a fault). Frames: address (0xFE = any sensor), function, data, CRC-16/Modbus
# (poly 0xA001 reflected, init 0xFFFF) sent low byte first. ABC is the period in hours in holding register HR32
# (0 = off); background calibration (the air is taken as 400 ppm) is HR2 = 0x7C06 after clearing HR1, and the
# sensor sets bit 5 of HR1 when done. Same interface as sensors.scd4x.SCD4x: measure() -> (co2, None, None), no
# temperature or humidity on this sensor.
import time
from micropython import const

_ANY = const(0xFE)
_READ_HOLDING = const(0x03)
_READ_INPUT = const(0x04)
_WRITE = const(0x06)
_IR_STATUS = const(0)
_IR_CO2 = const(3)
_IR_ID_HI = const(29)
_HR_ACK = const(0)
_HR_CMD = const(1)
_HR_ABC = const(31)
_CMD_BACKGROUND = const(0x7C06)
_ABC_HOURS = const(180)  # Senseair's default period
_TIMEOUT_MS = const(200)


class S8Error(Exception):
    def __init__(self, kind, msg):
        super().__init__(msg)
        self.kind = kind


def crc16(buf, n):
    crc = 0xFFFF
    for i in range(n):
        crc ^= buf[i]
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


class S8:
    periodic = False  # the S8 always measures: nothing to start or stop

    def __init__(self, uart):
        self._uart = uart
        self._out = bytearray(8)
        self._in = bytearray(9)

    def _request(self, fn, reg, value, nregs_out):
        o = self._out
        o[0] = _ANY
        o[1] = fn
        o[2] = reg >> 8
        o[3] = reg & 0xFF
        o[4] = value >> 8
        o[5] = value & 0xFF
        c = crc16(o, 6)
        o[6] = c & 0xFF
        o[7] = c >> 8
        while self._uart.any():
            self._uart.read()  # drop anything stale before a new question
        self._uart.write(o)
        want = 8 if fn == _WRITE else 5 + 2 * nregs_out
        got = 0
        t0 = time.ticks_ms()
        mv = memoryview(self._in)
        while got < want:
            n = self._uart.readinto(mv[got:want])
            if n:
                got += n
            elif time.ticks_diff(time.ticks_ms(), t0) > _TIMEOUT_MS:
                raise S8Error("absent", "S8 no answer" if not got else "S8 short answer")
            else:
                time.sleep_ms(10)
        b = self._in
        if crc16(b, want - 2) != b[want - 2] | (b[want - 1] << 8):
            raise S8Error("crc", "S8 CRC")
        if b[1] != fn:
            raise S8Error("failed", "S8 exception %d" % b[2])
        return (b[3] << 8) | b[4]

    def measure(self):
        if self._request(_READ_INPUT, _IR_STATUS, 1, 1):
            raise S8Error("failed", "S8 status 0x%04x" % self._request(_READ_INPUT, _IR_STATUS, 1, 1))
        return self._request(_READ_INPUT, _IR_CO2, 1, 1), None, None

    def set_asc(self, enabled):
        self._request(_WRITE, _HR_ABC, _ABC_HOURS if enabled else 0, 0)

    def asc(self):
        return self._request(_READ_HOLDING, _HR_ABC, 1, 1) != 0

    def set_altitude(self, metres):
        pass  # the S8 has no pressure compensation

    def persist(self):
        pass  # the S8 keeps its settings in EEPROM by itself

    def stop_periodic(self):
        pass

    def serial(self):
        hi = self._request(_READ_INPUT, _IR_ID_HI, 1, 1)
        return (hi << 16) | self._request(_READ_INPUT, _IR_ID_HI + 1, 1, 1)

    def background_calibration(self):
        """Take the present air as 400 ppm (outdoor air, or a room aired for a long while)."""
        self._request(_WRITE, _HR_ACK, 0, 0)
        self._request(_WRITE, _HR_CMD, _CMD_BACKGROUND, 0)
        time.sleep_ms(2500)
        if not self._request(_READ_HOLDING, _HR_ACK, 1, 1) & 0x20:
            raise S8Error("failed", "S8 calibration not acknowledged")


def forced_recalibration(dev, ppm):
    """The S8 recalibrates to 400 ppm only (background calibration); returns 0 (it reports no correction)."""
    if ppm != 400:
        raise S8Error("failed", "S8 calibrates to 400 ppm only")
    dev.background_calibration()
    return 0
