"""Sensirion SCD4x (SCD40/SCD41) CO2, temperature and humidity sensor, I2C 0x62: a byte-accurate model.

What the firmware sees, as on the chip (Sensirion SCD4x datasheet):
- 16-bit commands, MSB first; argument words carry a CRC-8 (poly 0x31, init 0xFF) the model checks: a bad CRC
  or an unknown command is not acknowledged (NACK). Answers are words with their CRC.
- Each command has an execution time; until it has passed the sensor NACKs everything (it is busy), and an
  answer read too early is NACKed too.
- Periodic measurement (5 s; low power 30 s) fills a one-sample buffer; read_measurement empties it, so a second
  read before the next sample is NACKed (no stale sample is ever served twice). While periodic measurement runs
  only read_measurement, get_data_ready_status, stop_periodic_measurement and set/get_ambient_pressure are
  accepted. Single shot (SCD41 only) takes 5 s during which only get_data_ready_status answers.
- get_data_ready_status: low 11 bits zero when no sample waits (0x8000), non-zero when one does (0x8006).
- Readings come from the world (`co2_ppm`, `temp_c`, `rh_pct`, `pressure_pa`) at the moment the sample completes,
  with the sensor's calibration error (`options.offset_ppm`), pressure compensation (the reading scales with the
  true pressure over the one the sensor assumes from set_ambient_pressure or set_sensor_altitude) and a small
  deterministic noise. Forced recalibration shifts the correction so the last reading would have read the
  reference; automatic self-calibration (ASC) pulls the lowest reading of each period to 400 ppm.
- Settings (temperature offset, altitude, ASC) live in RAM until persist_settings; a power cut or re-plugging
  restores the persisted ones. Calibration corrections are kept by the sensor itself.

Chip-specific faults besides the bus-level ones: ``frozen`` (the sensor keeps serving its last sample),
``selftest`` (self test reports a malfunction), ``crc`` (answers with corrupted CRC bytes). A world may also
schedule faults: if it has ``device_fault(name, chip, t_us)``, its answer applies unless a test set one.
"""

from __future__ import annotations

import hashlib

from hil.devices import I2CDevice

PERIOD_US = 5_000_000
LOW_POWER_PERIOD_US = 30_000_000
SINGLE_SHOT_US = 5_000_000

# command -> (execution time us, answer words or 0, takes an argument, allowed while periodic)
COMMANDS = {
    0x21B1: (1_000, 0, False, False),  # start_periodic_measurement
    0x21AC: (1_000, 0, False, False),  # start_low_power_periodic_measurement
    0xEC05: (1_000, 3, False, True),  # read_measurement
    0x3F86: (500_000, 0, False, True),  # stop_periodic_measurement
    0x241D: (1_000, 0, True, False),  # set_temperature_offset
    0x2318: (1_000, 1, False, False),  # get_temperature_offset
    0x2427: (1_000, 0, True, False),  # set_sensor_altitude
    0x2322: (1_000, 1, False, False),  # get_sensor_altitude
    0xE000: (1_000, 1, None, True),  # set (with argument) / get (without) ambient pressure
    0x362F: (400_000, 1, True, False),  # perform_forced_recalibration
    0x2416: (1_000, 0, True, False),  # set_automatic_self_calibration_enabled
    0x2313: (1_000, 1, False, False),  # get_automatic_self_calibration_enabled
    0xE4B8: (1_000, 1, False, True),  # get_data_ready_status
    0x3615: (800_000, 0, False, False),  # persist_settings
    0x3682: (1_000, 3, False, False),  # get_serial_number
    0x3639: (10_000_000, 1, False, False),  # perform_self_test
    0x3632: (1_200_000, 0, False, False),  # perform_factory_reset
    0x3646: (30_000, 0, False, False),  # reinit
    0x219D: (SINGLE_SHOT_US, 0, False, False),  # measure_single_shot (SCD41)
    0x2196: (50_000, 0, False, False),  # measure_single_shot_rht_only (SCD41)
    0x36E0: (1_000, 0, False, False),  # power_down (SCD41)
    0x36F6: (30_000, 0, False, False),  # wake_up (SCD41; not acknowledged)
    0x202F: (1_000, 1, False, False),  # get_sensor_variant
}
SCD41_ONLY = {0x219D, 0x2196, 0x36E0, 0x36F6}
ASC_TARGET_PPM = 400
ASC_INITIAL_H = 44
ASC_STANDARD_H = 156
DEFAULT_T_OFFSET_RAW = round(4.0 * 65535 / 175)
SELF_HEATING_C = 4.0  # the enclosure warms the sensor by about the default offset, so defaults read true


def crc8(data: bytes) -> int:
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def word(v: int) -> bytes:
    b = bytes(((v >> 8) & 0xFF, v & 0xFF))
    return b + bytes((crc8(b),))


def altitude_pressure_pa(alt_m: float) -> float:
    return 101325.0 * (1 - 2.25577e-5 * alt_m) ** 5.25588


class Model(I2CDevice):
    chip = "scd4x"
    extra_faults = ("frozen", "selftest", "crc")

    def __init__(self, board, name, spec):
        self._fault = None
        super().__init__(board, name, spec)
        self.variant = self.options.get("variant", "scd41")
        uid = getattr(board, "unique_id", b"\0" * 6)
        self.serial = int(
            self.options.get(
                "serial", int.from_bytes(hashlib.sha256(uid + name.encode()).digest()[:6], "big")
            )
        )
        self.offset_ppm = float(self.options.get("offset_ppm", 0.0))  # the sensor's calibration error
        self.noise_ppm = float(self.options.get("noise_ppm", 5.0))
        self.correction_ppm = 0.0  # FRC and ASC corrections, kept by the sensor
        self.eeprom = {"t_offset": DEFAULT_T_OFFSET_RAW, "altitude": 0, "asc": 1}
        self.log: list[tuple[int, int, str]] = []  # (t_us, command, outcome): what the firmware asked
        self.samples = 0
        self._was_absent = False
        self._power_on()
        if hasattr(board, "log"):
            board.log.listeners.append(self._on_board_event)

    # ------------------------------------------------------------------ faults, power

    @property
    def fault(self):
        if self._fault is not None:
            return self._fault
        sched = getattr(self.world, "device_fault", None)
        f = sched(self.name, self.chip, self.board.t_us) if sched else None
        if f == "absent":
            self._was_absent = True
        elif self._was_absent:
            self._was_absent = False
            self._power_on()  # plugged back in: the sensor boots afresh
        return f

    @fault.setter
    def fault(self, value):
        self._fault = value

    def _on_board_event(self, ev):
        if ev.get("type") == "powercut":
            self._power_on()

    def _power_on(self):
        self.mode = "idle"  # idle | periodic | low_power | single | sleep
        self.settings = dict(self.eeprom)
        self.pressure_raw = 0  # 0: use the altitude
        self.busy_until = 0
        self.answer: bytes | None = None
        self.answer_at = 0
        self.sample: tuple[int, int, int] | None = None  # waiting in the buffer
        self.last_sample: tuple[int, int, int] | None = None
        self.last_ppm_uncorrected: float | None = None
        self.periodic_start = 0
        self.periodic_n = 0
        self.single_due = None
        self.asc_hours = 0.0
        self.asc_min: float | None = None
        self.asc_periods = 0

    # ------------------------------------------------------------------ readings

    def _noise(self, t_us: int) -> float:
        h = hashlib.blake2b(f"{self.serial}:{t_us // 1_000_000}".encode(), digest_size=4).digest()
        return (int.from_bytes(h, "big") / 2**32 * 2 - 1) * self.noise_ppm

    def _assumed_pa(self) -> float:
        if self.pressure_raw:
            return self.pressure_raw * 100.0
        return altitude_pressure_pa(self.settings["altitude"])

    def _measure(self, t_us: int, rht_only: bool = False, asc_hours: float = 0.0):
        """A sample completes at t_us: what the sensor puts in its buffer."""
        w = self.world
        temp = float(w.value("temp_c", t_us)) + SELF_HEATING_C - self.settings["t_offset"] * 175 / 65535
        rh = float(w.value("rh_pct", t_us))
        raw_t = max(0, min(65535, round((temp + 45) * 65535 / 175)))
        raw_rh = max(0, min(65535, round(rh * 65535 / 100)))
        if rht_only:
            self.sample = (0, raw_t, raw_rh)
            return
        true_ppm = float(w.value("co2_ppm", t_us))
        try:
            pa = float(w.value("pressure_pa", t_us))
        except KeyError:
            pa = 101325.0
        ppm = true_ppm * pa / self._assumed_pa() + self.offset_ppm + self._noise(t_us)
        self.last_ppm_uncorrected = ppm
        ppm += self.correction_ppm
        self.samples += 1
        if self.settings["asc"]:
            self._asc_step(ppm, asc_hours)
        if self.fault == "frozen" and self.last_sample is not None:
            self.sample = self.last_sample  # stuck: the same bytes again
            return
        self.sample = (max(1, min(40000, round(ppm))), raw_t, raw_rh)
        self.last_sample = self.sample

    def _asc_step(self, ppm: float, hours: float):
        self.asc_min = ppm if self.asc_min is None else min(self.asc_min, ppm)
        self.asc_hours += hours
        period = ASC_INITIAL_H if self.asc_periods == 0 else ASC_STANDARD_H
        if self.asc_hours >= period:
            self.correction_ppm += ASC_TARGET_PPM - self.asc_min
            self.asc_periods += 1
            self.asc_hours, self.asc_min = 0.0, None

    def _catch_up(self, t_us: int):
        """Complete the samples due by t_us."""
        if self.mode in ("periodic", "low_power"):
            period = PERIOD_US if self.mode == "periodic" else LOW_POWER_PERIOD_US
            n = (t_us - self.periodic_start) // period
            if n > self.periodic_n:
                self.periodic_n = n
                self._measure(self.periodic_start + n * period, asc_hours=period / 3.6e9)
        elif self.mode == "single" and t_us >= self.single_due[0]:
            due, rht_only = self.single_due
            self.mode, self.single_due = "idle", None
            # ASC counts single shots as if taken every 5 minutes (the datasheet's assumption).
            self._measure(due, rht_only=rht_only, asc_hours=5 / 60)

    def _ready_word(self) -> int:
        return 0x8006 if self.sample is not None else 0x8000

    # ------------------------------------------------------------------ the bus

    def write(self, data: bytes, t_us: int) -> bool:
        self._catch_up(t_us)
        if len(data) < 2:
            return False
        cmd = (data[0] << 8) | data[1]
        ok = self._command(cmd, data[2:], t_us)
        self.log.append((t_us, cmd, "ack" if ok else "nack"))
        return ok

    def _command(self, cmd: int, args: bytes, t_us: int) -> bool:
        spec = COMMANDS.get(cmd)
        if spec is None or (cmd in SCD41_ONLY and self.variant != "scd41"):
            return False
        if self.mode == "sleep":
            if cmd == 0x36F6:
                self.mode = "idle"
                self.busy_until = t_us + spec[0]
            return False  # asleep: nothing is acknowledged, not even wake_up
        if t_us < self.busy_until:
            return False
        if self.mode == "single" and cmd != 0xE4B8:
            return False
        if self.mode in ("periodic", "low_power") and not spec[3]:
            return False
        exec_us, words, takes_arg, _ = spec
        if takes_arg is None:  # ambient pressure: set with an argument, get without
            takes_arg = len(args) > 0
            words = 0 if takes_arg else 1
        arg = None
        if takes_arg:
            if len(args) != 3 or crc8(args[:2]) != args[2]:
                return False
            arg = (args[0] << 8) | args[1]
        elif args:
            return False
        self.answer = None
        self.answer_at = t_us + exec_us
        answer = self._execute(cmd, arg, t_us, exec_us)
        if answer is False:
            return False
        if words:
            self.answer = answer
        if cmd not in (0xEC05, 0xE4B8, 0xE000, 0x219D, 0x2196):
            self.busy_until = t_us + exec_us
        return True

    def _execute(self, cmd: int, arg: int | None, t_us: int, exec_us: int):
        s = self.settings
        if cmd == 0x21B1 or cmd == 0x21AC:
            self.mode = "periodic" if cmd == 0x21B1 else "low_power"
            self.periodic_start, self.periodic_n = t_us, 0
            self.sample = None
        elif cmd == 0xEC05:
            if self.sample is None:
                return b""  # acknowledged, but the read is NACKed: no new sample
            sample, self.sample = self.sample, None
            return b"".join(word(v) for v in sample)
        elif cmd == 0x3F86:
            self.mode = "idle"
        elif cmd == 0x241D:
            s["t_offset"] = arg
        elif cmd == 0x2318:
            return word(s["t_offset"])
        elif cmd == 0x2427:
            s["altitude"] = arg
        elif cmd == 0x2322:
            return word(s["altitude"])
        elif cmd == 0xE000:
            if arg is None:
                return word(self.pressure_raw or round(self._assumed_pa() / 100))
            if not 700 <= arg <= 1200:
                return False
            self.pressure_raw = arg
        elif cmd == 0x362F:
            if self.last_ppm_uncorrected is None:
                return word(0xFFFF)
            new = arg - self.last_ppm_uncorrected
            delta = round(new - self.correction_ppm)
            self.correction_ppm = new
            return word((0x8000 + delta) & 0xFFFF)
        elif cmd == 0x2416:
            s["asc"] = 1 if arg else 0
        elif cmd == 0x2313:
            return word(s["asc"])
        elif cmd == 0xE4B8:
            return word(self._ready_word())
        elif cmd == 0x3615:
            self.eeprom = dict(s)
        elif cmd == 0x3682:
            v = self.serial
            return word(v >> 32) + word((v >> 16) & 0xFFFF) + word(v & 0xFFFF)
        elif cmd == 0x3639:
            return word(0x0001 if self.fault == "selftest" else 0)
        elif cmd == 0x3632:
            self.eeprom = {"t_offset": DEFAULT_T_OFFSET_RAW, "altitude": 0, "asc": 1}
            self.correction_ppm = 0.0
            self._power_on()
        elif cmd == 0x3646:
            keep = self.correction_ppm
            self._power_on()
            self.correction_ppm = keep
        elif cmd == 0x219D or cmd == 0x2196:
            self.mode = "single"
            self.sample = None
            self.single_due = (t_us + exec_us, cmd == 0x2196)
        elif cmd == 0x36E0:
            self.mode = "sleep"
        elif cmd == 0x202F:
            return word(0x1000 if self.variant == "scd41" else 0x0000)
        return b""

    def read(self, n: int, t_us: int) -> bytes | None:
        self._catch_up(t_us)
        if self.mode == "sleep" or not self.answer or t_us < self.answer_at:
            return None  # busy, nothing asked, or no new sample: the address is not acknowledged
        out = self.answer
        if self.fault == "crc":
            out = bytes(b ^ 0x5A if i % 3 == 2 else b for i, b in enumerate(out))
        self.answer = None
        return (out + b"\xff" * n)[:n]
