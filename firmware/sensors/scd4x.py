# Sensirion SCD4x (SCD40, SCD41) photoacoustic CO2 sensor with temperature and humidity, I2C address 0x62.
#
# Protocol (Sensirion SCD4x datasheet): every command is a 16-bit word, MSB first; arguments and answers are
# 16-bit words each followed by a CRC-8 (polynomial 0x31, init 0xFF). After a command the host waits the
# command's execution time before it reads the answer; a sensor that is busy or has no new data does not
# acknowledge (NACK), which the I2C object reports as OSError.
#
# Low power: the SCD41 measures on demand (measure_single_shot, 5 s) and idles between; the SCD40 has no
# single shot, so measure() falls back to starting periodic measurement, taking one sample and stopping it.
# Readings are integers: CO2 in ppm, temperature in 0.01 C, relative humidity in 0.01 %.
import time
from micropython import const

ADDRESS = const(0x62)

_START_PERIODIC = const(0x21B1)
_START_LOW_POWER = const(0x21AC)
_READ = const(0xEC05)
_STOP = const(0x3F86)
_SET_ALTITUDE = const(0x2427)
_SET_ASC = const(0x2416)
_READY = const(0xE4B8)
_PERSIST = const(0x3615)
_SERIAL = const(0x3682)
_SINGLE_SHOT = const(0x219D)

# Execution times (ms) from the datasheet.
_T_SHORT = const(1)
_T_STOP = const(500)
_T_PERSIST = const(800)
_T_SINGLE = const(5000)
_T_PERIOD = const(5000)
_POLL_MS = const(100)


class SCD4xError(Exception):
    """A failed exchange with the sensor. `kind`: "absent" (no answer), "busy", "crc", "invalid", "failed"."""

    def __init__(self, kind, msg):
        super().__init__(msg)
        self.kind = kind


def crc8(buf, start=0, end=2):
    crc = 0xFF
    for i in range(start, end):
        crc ^= buf[i]
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class SCD4x:
    def __init__(self, i2c, address=ADDRESS):
        self._i2c = i2c
        self._addr = address
        self._out = bytearray(5)
        self._in = bytearray(9)
        self._mv = memoryview(self._in)
        self.periodic = False  # True while periodic measurement runs (only a few commands are allowed then)
        self.single_shot = True  # cleared once the sensor refuses single shot (an SCD40)

    # ------------------------------------------------------------------ raw exchange

    def _send(self, cmd, arg=None):
        o = self._out
        o[0] = cmd >> 8
        o[1] = cmd & 0xFF
        n = 2
        if arg is not None:
            o[2] = (arg >> 8) & 0xFF
            o[3] = arg & 0xFF
            o[4] = crc8(o, 2, 4)
            n = 5
        try:
            self._i2c.writeto(self._addr, memoryview(o)[:n])
        except OSError:
            raise SCD4xError("absent", "SCD4x NACK 0x%04x" % cmd)

    def _read(self, cmd, words):
        n = words * 3
        try:
            self._i2c.readfrom_into(self._addr, self._mv[:n])
        except OSError:
            raise SCD4xError("busy", "SCD4x no data 0x%04x" % cmd)
        b = self._in
        for i in range(0, n, 3):
            if crc8(b, i, i + 2) != b[i + 2]:
                raise SCD4xError("crc", "SCD4x CRC 0x%04x" % cmd)

    def _word(self, i):
        return (self._in[3 * i] << 8) | self._in[3 * i + 1]

    def _query(self, cmd, words=1, delay_ms=_T_SHORT, arg=None):
        self._send(cmd, arg)
        time.sleep_ms(delay_ms)
        self._read(cmd, words)
        return self._word(0)

    def command(self, cmd, delay_ms=_T_SHORT, arg=None):
        self._send(cmd, arg)
        time.sleep_ms(delay_ms)

    # ------------------------------------------------------------------ measurement

    def start_periodic(self, low_power=False):
        self.command(_START_LOW_POWER if low_power else _START_PERIODIC)
        self.periodic = True

    def stop_periodic(self):
        self.command(_STOP, _T_STOP)
        self.periodic = False

    def data_ready(self):
        return (self._query(_READY) & 0x07FF) != 0

    def read_measurement(self):
        """(co2 ppm, temperature 0.01 C, RH 0.01 %) of the newest sample; SCD4xError if there is none."""
        self._query(_READ, 3)
        co2 = self._word(0)
        if co2 == 0:
            raise SCD4xError("invalid", "SCD4x CO2 0")
        t = -4500 + (17500 * self._word(1) + 32767) // 65535
        rh = (10000 * self._word(2) + 32767) // 65535
        return co2, t, rh

    def _wait_ready(self, max_ms):
        waited = 0
        while waited <= max_ms:
            try:
                if self.data_ready():
                    return True
            except SCD4xError as e:
                if e.kind != "busy" and e.kind != "absent":
                    raise
            time.sleep_ms(_POLL_MS)
            waited += _POLL_MS
        return False

    def measure_single_shot(self):
        """SCD41: one CO2, T and RH measurement on demand (5 s), the sensor idle before and after."""
        self.command(_SINGLE_SHOT, _T_SINGLE)
        if not self._wait_ready(1000):
            raise SCD4xError("failed", "SCD4x no sample")
        return self.read_measurement()

    def measure(self):
        """One fresh sample, whatever the sensor's mode: single shot where it exists, else one periodic sample."""
        if self.periodic:
            if not self._wait_ready(_T_PERIOD + 1000):
                raise SCD4xError("failed", "SCD4x no sample")
            return self.read_measurement()
        if self.single_shot:
            try:
                return self.measure_single_shot()
            except SCD4xError as e:
                if e.kind != "absent":
                    raise
            # Refused: still in periodic mode from an earlier run, or an SCD40. Stop and try once more.
            self.stop_periodic()
            try:
                return self.measure_single_shot()
            except SCD4xError as e:
                if e.kind != "absent":
                    raise
            self.single_shot = False
        self.start_periodic()
        try:
            time.sleep_ms(_T_PERIOD)
            if not self._wait_ready(1000):
                raise SCD4xError("failed", "SCD4x no sample")
            return self.read_measurement()
        finally:
            self.stop_periodic()

    # ------------------------------------------------------------------ settings used at every power-on

    def set_asc(self, enabled):
        self.command(_SET_ASC, arg=1 if enabled else 0)

    def set_altitude(self, metres):
        self.command(_SET_ALTITUDE, arg=metres)

    def persist(self):
        self.command(_PERSIST, _T_PERSIST)

    def serial(self):
        """48-bit serial number."""
        self._query(_SERIAL, 3)
        return (self._word(0) << 32) | (self._word(1) << 16) | self._word(2)


# Calibration, compensation and maintenance (forced recalibration, pressure, self test, ...) are in
# sensors/scd4x_extra.py: a node imports them only on the rare wake that needs them.
