# The emulated LoRa modem: same classes, constructors and sync API as micropython-lib's `lora` package
# (lora-sync + lora-sx126x / lora-sx127x / lora-stm32wl5), so the firmware's `import lora` runs unchanged.
# Pins and SPI are accepted and ignored. Frames travel to the supervisor (hil/radio.py in CPython) with the
# modem settings; time on air passes in virtual time through the _hil clock.
import time
import _hil
from micropython import const

_LDR_SYMBOL_US = const(16000)  # low data rate optimisation switches on at symbols this long (SF11/12, 125k)
_BW = ("7.8", "10.4", "15.6", "20.8", "31.25", "41.7", "62.5", "125", "250", "500")


class ConfigError(ValueError):
    def __init__(self, field):
        super().__init__("Invalid lora_cfg {}".format(field))


class RxPacket(bytearray):
    # The received payload, with metadata: ticks_ms at the end of reception, snr in dB x4, rssi in dBm.
    def __init__(self, payload, ticks_ms=None, snr=None, rssi=None, valid_crc=True):
        super().__init__(payload)
        self.ticks_ms = ticks_ms
        self.snr = snr
        self.rssi = rssi
        self.valid_crc = valid_crc
        self.crc_error = not valid_crc

    def __repr__(self):
        return "RxPacket({}, {}, {}, {}, {})".format(bytes(self), self.ticks_ms, self.snr, self.rssi, self.valid_crc)


class _Modem:
    _SF_MIN = 6
    _POWER = (-9, 22)

    def __init__(self, lora_cfg=None, ant_sw=None):
        self._ant_sw = ant_sw
        self._freq_khz = 0
        self._sf = 7
        self._bw = "125"
        self._bw_hz = 125000
        self._cr = 5
        self._preamble = 12
        self._syncword = 0x12
        self._iq_tx = False
        self._iq_rx = False
        self._crc = True
        self._ih = False
        self._power = 14
        self._sleeping = True
        self.crc_errors = 0
        self.rx_crc_error = False
        if lora_cfg:
            self.configure(lora_cfg)

    def configure(self, lora_cfg):
        c = lora_cfg
        if "freq_khz" in c:
            f = c["freq_khz"]
            if f <= 0:
                raise ConfigError("freq_khz")
            self._freq_khz = f
        if "sf" in c:
            sf = c["sf"]
            if sf < self._SF_MIN or sf > 12:
                raise ConfigError("sf")
            self._sf = sf
        if "bw" in c:
            bw = c["bw"]
            if not isinstance(bw, str):
                bw = str(bw)
            if bw not in _BW:
                raise ConfigError("bw")
            self._bw = bw
            self._bw_hz = int(float(bw) * 1000)
        if "coding_rate" in c:
            cr = c["coding_rate"]
            if cr < 5 or cr > 8:
                raise ConfigError("coding_rate")
            self._cr = cr
        if "preamble_len" in c:
            self._preamble = c["preamble_len"]
        if "syncword" in c:
            self._syncword = c["syncword"]
        if "invert_iq_tx" in c:
            self._iq_tx = bool(c["invert_iq_tx"])
        if "invert_iq_rx" in c:
            self._iq_rx = bool(c["invert_iq_rx"])
        if "crc_en" in c:
            self._crc = bool(c["crc_en"])
        if "implicit_header" in c:
            self._ih = bool(c["implicit_header"])
        if "output_power" in c:
            lo, hi = self._power_range(c)
            p = int(c["output_power"])
            self._power = lo if p < lo else hi if p > hi else p
        self._configure_extra(c)

    def _power_range(self, c):
        return self._POWER

    def _configure_extra(self, c):
        pass

    # -- time on air (SX126x/SX127x datasheets, Semtech AN1200.13), integer maths as the real drivers do

    def _t_sym_us(self):
        return 1000000 * (1 << self._sf) // self._bw_hz

    def get_n_symbols_x4(self, payload_len):
        bits = 8 * payload_len + (16 if self._crc else 0) - 4 * self._sf + 8 + (0 if self._ih else 20)
        if bits < 0:
            bits = 0
        bps = 4 * (self._sf - (2 if self._t_sym_us() >= _LDR_SYMBOL_US else 0))
        return 17 + 4 * (self._preamble + 8 + ((bits + bps - 1) // bps) * self._cr)

    def get_time_on_air_us(self, payload_len):
        return self._t_sym_us() * self.get_n_symbols_x4(payload_len) // 4

    # -- the sync API

    def _params(self):
        return {
            "freq_khz": self._freq_khz,
            "sf": self._sf,
            "bw": self._bw,
            "cr": self._cr,
            "preamble": self._preamble,
            "syncword": self._syncword,
            "crc": self._crc,
            "ih": self._ih,
        }

    def send(self, packet, tx_at_ms=None):
        if tx_at_ms is not None:
            wait = time.ticks_diff(tx_at_ms, time.ticks_ms())
            if wait > 0:
                time.sleep_ms(wait)
        self._sleeping = False
        if self._ant_sw:
            self._ant_sw.tx(self._power > 14)
        p = self._params()
        p["data"] = bytes(packet).hex()
        p["power"] = self._power
        p["iq"] = self._iq_tx
        p["toa_us"] = self.get_time_on_air_us(len(packet))
        _hil.call("lora_tx", **p)
        _hil.advance(p["toa_us"])
        if self._ant_sw:
            self._ant_sw.idle()
        return time.ticks_ms()

    def recv(self, timeout_ms=None, rx_length=0xFF, rx_packet=None):
        self._sleeping = False
        if self._ant_sw:
            self._ant_sw.rx()
        p = self._params()
        p["iq"] = self._iq_rx
        p["timeout_ms"] = timeout_ms
        r = _hil.call("lora_rx", **p)
        while "data" not in r and r.get("wait_us") is None:
            # Listening with no timeout and nothing will ever come: the board blocks here, as a real one
            # would, until its watchdog bites (or the supervisor's wall-clock kill if it has none).
            _hil.advance(1000000)
        if "data" not in r:
            _hil.advance(r["wait_us"])
            if self._ant_sw:
                self._ant_sw.idle()
            return None
        end = r["end_us"]
        if end > _hil.now_us:
            _hil.advance(end - _hil.now_us)
        if self._ant_sw:
            self._ant_sw.idle()
        data = bytes.fromhex(r["data"])
        if self._ih and rx_length < len(data):
            data = data[:rx_length]
        ticks = time.ticks_ms()
        if rx_packet is not None and len(rx_packet) == len(data):
            rx_packet[:] = data
            rx_packet.ticks_ms = ticks
            rx_packet.snr = r["snr"]
            rx_packet.rssi = r["rssi"]
            rx_packet.valid_crc = True
            rx_packet.crc_error = False
            return rx_packet
        return RxPacket(data, ticks, r["snr"], r["rssi"])

    def standby(self):
        self._sleeping = False
        if self._ant_sw:
            self._ant_sw.idle()

    def sleep(self, warm_start=True):
        self._sleeping = True
        if self._ant_sw:
            self._ant_sw.idle()

    def is_idle(self):
        return True


class SX1262(_Modem):
    def __init__(self, spi, cs, busy, dio1=None, dio2_rf_sw=True, dio3_tcxo_millivolts=None,
                 dio3_tcxo_start_time_us=1000, reset=None, lora_cfg=None, ant_sw=None):
        if dio3_tcxo_millivolts and (dio3_tcxo_millivolts < 1600 or dio3_tcxo_millivolts > 3300):
            raise ValueError("dio3_tcxo_millivolts out of range")
        super().__init__(lora_cfg, ant_sw)


class SX1261(SX1262):
    _POWER = (-17, 15)


class WL55SubGhzModem(_Modem):
    def __init__(self, lora_cfg=None, tcxo_millivolts=1700, ant_sw=None):
        self._hp = False
        super().__init__(lora_cfg, ant_sw)

    def _power_range(self, c):
        if "tx_ant" in c:
            self._hp = c["tx_ant"] == "PA_BOOST"
        return (-9, 22) if self._hp else (-17, 15)


class _SX127x(_Modem):
    _POWER = (2, 20)

    def __init__(self, spi, cs, dio0=None, dio1=None, reset=None, lora_cfg=None, ant_sw=None):
        super().__init__(lora_cfg, ant_sw)

    def _configure_extra(self, c):
        if "rx_boost" in c:
            # The real lora-sx127x reads both keys together: rx_boost alone raises KeyError('lna_boost_hf').
            c["lna_boost_hf"]


class SX1276(_SX127x):
    pass


class SX1277(_SX127x):
    pass


class SX1278(_SX127x):
    pass


class SX1279(_SX127x):
    pass
