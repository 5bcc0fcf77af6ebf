"""Sensirion SHT4x (SHT40/41/45) temperature and humidity sensor, I2C 0x44.

Protocol (datasheet): write one command byte; after the measurement time, read 6 bytes: T msb, lsb, CRC,
RH msb, lsb, CRC. CRC-8 poly 0x31, init 0xFF. Reading before the measurement is done is NACKed.
T = -45 + 175 * raw / 65535 (C), RH = -6 + 125 * raw / 65535 (%, clipped by the host).
"""

from __future__ import annotations

from hil.devices import I2CDevice

# command -> measurement time in us (high, medium, low repeatability); 0x89 serial number; 0x94 soft reset
MEASURE_US = {0xFD: 8300, 0xF6: 4500, 0xE0: 1700}
SERIAL = 0x89
SOFT_RESET = 0x94


def crc8(data: bytes) -> int:
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _word(v: int) -> bytes:
    b = bytes(((v >> 8) & 0xFF, v & 0xFF))
    return b + bytes((crc8(b),))


class Model(I2CDevice):
    chip = "sht4x"

    def __init__(self, board, name, spec):
        super().__init__(board, name, spec)
        self._ready_at = None
        self._out = b""
        self._pending = None
        self.serial = int(self.options.get("serial", 0x0A1B2C3D))

    def write(self, data: bytes, t_us: int) -> bool:
        cmd = data[0]
        if cmd in MEASURE_US:
            self._pending = cmd
            self._ready_at = t_us + MEASURE_US[cmd]
            self._out = b""
            return True
        if cmd == SERIAL:
            self._ready_at = t_us + 1000
            self._pending = None
            self._out = _word(self.serial >> 16) + _word(self.serial & 0xFFFF)
            return True
        if cmd == SOFT_RESET:
            self._pending, self._out, self._ready_at = None, b"", t_us + 1000
            return True
        return False  # unknown command: NACK

    def read(self, n: int, t_us: int) -> bytes | None:
        if self._ready_at is None or t_us < self._ready_at:
            return None  # still measuring: the sensor NACKs its address
        if self._pending is not None:
            t = float(self.world.value("temp_c", t_us))
            rh = float(self.world.value("rh_pct", t_us))
            raw_t = max(0, min(65535, round((t + 45) * 65535 / 175)))
            raw_rh = max(0, min(65535, round((rh + 6) * 65535 / 125)))
            self._out = _word(raw_t) + _word(raw_rh)
            self._pending = None
        out, self._ready_at = self._out[:n], None
        return out
