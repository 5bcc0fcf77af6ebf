"""Senseair S8 NDIR CO2 sensor on a UART (Modbus RTU, 9600 8N1): a byte-accurate model.

Requests are 8-byte Modbus RTU frames (address 0xFE or the sensor's own 0x68, function, register, value or count,
CRC-16/Modbus low byte first); a frame with a bad CRC or for another address gets no answer, an unknown function
or register gets a Modbus exception (function | 0x80, code 1 or 2). The answer is ready about 25 ms after the
request's last byte (bytes then flow at the line rate). Registers modelled: IR1 meter status, IR4 CO2 (ppm, from
the world's `co2_ppm` sampled every 2 s, plus the sensor's offset and its ABC/background corrections), IR30/31
sensor id; HR1 acknowledgement (bit 5: background calibration done), HR2 command (0x7C06: background
calibration, the present air taken as 400 ppm), HR32 ABC period in hours (0 = off). Faults: the bus ones, plus
``status`` (IR1 reports a fault bit).
"""

from __future__ import annotations

from hil.devices import UARTDevice

ANSWER_DELAY_US = 25_000
CALIBRATION_US = 2_000_000
SAMPLE_US = 2_000_000


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def frame(body: bytes) -> bytes:
    c = crc16(body)
    return body + bytes((c & 0xFF, c >> 8))


class Model(UARTDevice):
    chip = "senseair_s8"
    extra_faults = ("status",)

    def __init__(self, board, name, spec):
        super().__init__(board, name, spec)
        self.offset_ppm = float(self.options.get("offset_ppm", 0.0))
        self.correction_ppm = 0.0
        self.sensor_id = int(self.options.get("sensor_id", 0x0A0B0C0D))
        self.holding = {0: 0, 1: 0, 31: 180}
        self.calibrate_at: int | None = None
        self._rx = b""
        self._out = b""
        self._out_at = 0
        self.requests = 0

    def _co2(self, t_us: int) -> int:
        t = t_us - t_us % SAMPLE_US
        ppm = float(self.world.value("co2_ppm", t)) + self.offset_ppm + self.correction_ppm
        return max(0, min(10000, round(ppm)))

    def _tick(self, t_us: int):
        if self.calibrate_at is not None and t_us >= self.calibrate_at:
            self.calibrate_at = None
            self.correction_ppm += 400 - self._co2(t_us)
            self.holding[0] |= 0x20

    def write(self, data: bytes, t_us: int) -> None:
        self._rx += data
        while len(self._rx) >= 8:
            req, self._rx = self._rx[:8], self._rx[8:]
            self._answer(req, t_us)

    def _answer(self, req: bytes, t_us: int):
        self._tick(t_us)
        if req[0] not in (0xFE, 0x68) or crc16(req[:6]) != req[6] | (req[7] << 8):
            return  # not for us, or damaged: silence
        self.requests += 1
        fn, reg, val = req[1], (req[2] << 8) | req[3], (req[4] << 8) | req[5]
        if fn == 0x04:
            regs = {
                0: 0x0040 if self.fault == "status" else 0,
                3: self._co2(t_us),
                29: self.sensor_id >> 16,
                30: self.sensor_id & 0xFFFF,
            }
        elif fn == 0x03:
            regs = self.holding
        elif fn == 0x06:
            if reg not in self.holding:
                body = bytes((req[0], fn | 0x80, 2))
            else:
                self.holding[reg] = val
                if reg == 1 and val == 0x7C06:
                    self.calibrate_at = t_us + CALIBRATION_US
                body = req[:6]
            self._queue(frame(body), t_us)
            return
        else:
            self._queue(frame(bytes((req[0], fn | 0x80, 1))), t_us)
            return
        if val < 1 or any(reg + i not in regs for i in range(val)):
            self._queue(frame(bytes((req[0], fn | 0x80, 2))), t_us)
            return
        data = b"".join(regs[reg + i].to_bytes(2, "big") for i in range(val))
        self._queue(frame(bytes((req[0], fn, len(data))) + data), t_us)

    def _queue(self, data: bytes, t_us: int):
        self._out = data
        self._out_at = t_us + ANSWER_DELAY_US

    def read_available(self, t_us: int, wait_us: int) -> tuple[bytes, int]:
        self._tick(t_us)
        if not self._out:
            return b"", wait_us
        if t_us + wait_us < self._out_at:
            return b"", wait_us
        waited = max(0, self._out_at - t_us)
        out, self._out = self._out, b""
        return out, waited
