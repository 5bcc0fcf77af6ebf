# Emulated `machine` for the citynode board emulator (MicroPython unix port).
# Buses and pins forward to device models in the CPython supervisor; effects become events in its log.
import umachine
import _hil
from micropython import const

mem8 = umachine.mem8
mem16 = umachine.mem16
mem32 = umachine.mem32
PinBase = umachine.PinBase

# Reset causes, wake reasons and the rest that differs by port: set at boot by _configure() from the supervisor's
# table (hil/port_rules.py shim_view), so a name the port lacks is an AttributeError here too. The rules are one list
# read by position: on a board they are C code, and here every new name would be interned on the firmware's heap.
_P = [True, [], 19, True, None, True, None, None, 0, True, 0, 6, True, False]
_ENODEV = const(19)
_ETIMEDOUT = const(116)
_EIO = const(5)
_errnos = {"ENODEV": _ENODEV, "ETIMEDOUT": _ETIMEDOUT, "EIO": _EIO}


def _configure(p):
    global _P
    _P = p
    g = globals()
    for n in ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET"):
        g.pop(n, None)
    c = p[1]
    for i in range(0, len(c), 2):
        g[c[i]] = c[i + 1]
    # ports/esp32/modmachine.c: ESP_SLEEP_WAKEUP_EXT0 2, EXT1 3, TIMER 4; wake_reason() exists on esp32 only
    for n, v in (("PIN_WAKE", 2), ("EXT0_WAKE", 2), ("EXT1_WAKE", 3), ("TIMER_WAKE", 4), ("wake_reason", _wr)):
        if p[0]:
            g[n] = v
        else:
            g.pop(n, None)


def _bus_call(op, **args):
    try:
        return _hil.call(op, **args)
    except OSError as e:
        err = e.args[0]
        # a NACK: ENODEV on esp32 and stm32, EIO on rp2 (hil/port_rules.py I2C)
        raise OSError(_P[2] if err == "ENODEV" else _errnos.get(err, _EIO))


def _pin_id(p):
    if isinstance(p, Pin):
        return p._id
    return p


class Pin(PinBase):
    IN = const(1)
    OUT = const(3)
    OPEN_DRAIN = const(7)
    ALT = const(4)
    PULL_UP = const(1)
    PULL_DOWN = const(2)
    PULL_HOLD = const(4)
    IRQ_RISING = const(1)
    IRQ_FALLING = const(2)
    DRIVE_0 = const(0)
    DRIVE_1 = const(1)
    DRIVE_2 = const(2)
    DRIVE_3 = const(3)

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, alt=None, hold=None):
        self._id = id
        self._mode = self.IN
        self._pull = None
        self._value = 0
        self._hold = False
        self._irq = None
        self.init(mode, pull, value=value, hold=hold)

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, alt=None, hold=None):
        if hold is not None and not _P[5]:
            # Only the esp32 port has pin hold; rp2 and stm32 reject the argument.
            raise TypeError("unexpected keyword argument 'hold'")
        was_out = self._mode in (self.OUT, self.OPEN_DRAIN)
        if mode != -1:
            self._mode = mode
        if pull != -1:
            self._pull = pull
            if self._mode == self.IN and pull is not None:
                self._value = 1 if pull == self.PULL_UP else 0
        if hold is False and self._hold:
            self._hold = False
            _hil.event("pin_hold", pin=self._id, hold=False)
        if value is not None and not self._hold:
            self._value = 1 if value else 0
        is_out = self._mode in (self.OUT, self.OPEN_DRAIN)
        if is_out and (not was_out or value is not None):
            # An output drives its latch level from the moment it is configured, as on the chips.
            _hil.event("pin", pin=self._id, value=self._value)
        elif was_out and not is_out:
            _hil.event("pin", pin=self._id, value=None)
        if hold and not self._hold:
            # Set the level first, then latch it: the ESP32 port's order.
            self._hold = True
            _hil.event("pin_hold", pin=self._id, hold=True)

    def value(self, v=None):
        if v is None:
            if self._mode == self.IN and self._id in _hil.info.get("input_pins", ()):
                return _hil.call("pin_read", pin=self._id)["value"]
            return self._value
        v = 1 if v else 0
        if self._hold:
            # A held pin keeps its level until hold is released, as on an ESP32.
            return None
        if v != self._value:
            self._value = v
            if self._mode in (self.OUT, self.OPEN_DRAIN):
                _hil.event("pin", pin=self._id, value=v)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def high(self):
        self.value(1)

    def low(self):
        self.value(0)

    def toggle(self):
        self.value(1 - self._value)

    def mode(self, m=None):
        if m is None:
            return self._mode
        self._mode = m

    def pull(self, p=None):
        if p is None:
            return self._pull
        self._pull = p

    def irq(self, handler=None, trigger=IRQ_RISING | IRQ_FALLING, *, priority=1, wake=None, hard=False):
        self._irq = (handler, trigger)
        return self

    def __repr__(self):
        return "Pin(%r)" % (self._id,)


Signal = umachine.Signal


class I2C:
    def __init__(self, id=-1, *, scl=None, sda=None, freq=400000, timeout=50000):
        if id != -1 and (scl is not None or sda is not None) and not _P[3]:
            # ports/stm32/machine_i2c.c: a hardware bus's pins are fixed by the build
            raise ValueError("explicit choice of scl/sda is not implemented")
        self._bus = {"id": id, "scl": _pin_id(scl), "sda": _pin_id(sda)}
        self._freq = freq

    def init(self, *, scl=None, sda=None, freq=400000):
        self._freq = freq

    def deinit(self):
        pass

    def scan(self):
        return _bus_call("i2c_scan", bus=self._bus)["found"]

    def writeto(self, addr, buf, stop=True):
        r = _bus_call("i2c", bus=self._bus, addr=addr, w=bytes(buf).hex(), r=0)
        return len(buf) if r.get("ack", True) else 0

    def readfrom(self, addr, nbytes, stop=True):
        return bytes.fromhex(_bus_call("i2c", bus=self._bus, addr=addr, w="", r=nbytes)["data"])

    def readfrom_into(self, addr, buf, stop=True):
        data = self.readfrom(addr, len(buf), stop)
        buf[: len(data)] = data

    def writevto(self, addr, vector, stop=True):
        out = b""
        for b in vector:
            out += bytes(b)
        return self.writeto(addr, out, stop)

    def _mem_addr(self, memaddr, addrsize):
        return memaddr.to_bytes(addrsize // 8, "big")

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        r = _bus_call("i2c", bus=self._bus, addr=addr, w=self._mem_addr(memaddr, addrsize).hex(), r=nbytes)
        return bytes.fromhex(r["data"])

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        data = self.readfrom_mem(addr, memaddr, len(buf), addrsize=addrsize)
        buf[: len(data)] = data

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self.writeto(addr, self._mem_addr(memaddr, addrsize) + bytes(buf))


class SoftI2C(I2C):
    def __init__(self, scl, sda, *, freq=400000, timeout=50000):
        self._bus = {"id": -1, "scl": _pin_id(scl), "sda": _pin_id(sda)}
        self._freq = freq


class SPI:
    MSB = const(0)
    LSB = const(1)

    def __init__(self, id=-1, baudrate=1000000, *, polarity=0, phase=0, bits=8, firstbit=0, sck=None, mosi=None, miso=None):
        self._bus = {"id": id, "sck": _pin_id(sck)}

    def init(self, *args, **kw):
        pass

    def deinit(self):
        pass

    def _xfer(self, out):
        return bytes.fromhex(_bus_call("spi", bus=self._bus, w=bytes(out).hex())["data"])

    def write(self, buf):
        self._xfer(buf)

    def read(self, n, write=0):
        return self._xfer(bytes([write]) * n)

    def readinto(self, buf, write=0):
        data = self._xfer(bytes([write]) * len(buf))
        buf[:] = data

    def write_readinto(self, wbuf, rbuf):
        rbuf[:] = self._xfer(wbuf)


SoftSPI = SPI


class UART:
    def __init__(self, id, baudrate=9600, bits=8, parity=None, stop=1, *, tx=None, rx=None, timeout=0, **kw):
        self._bus = {"id": id, "tx": _pin_id(tx), "rx": _pin_id(rx)}
        self._baud = baudrate
        self._timeout_ms = timeout
        self._buf = b""

    def init(self, baudrate=9600, bits=8, parity=None, stop=1, *, timeout=None, **kw):
        self._baud = baudrate
        if timeout is not None:
            self._timeout_ms = timeout

    def deinit(self):
        pass

    def write(self, buf):
        _bus_call("uart_write", bus=self._bus, w=bytes(buf).hex(), baud=self._baud)
        # Bytes take time on the wire: 10 bits a byte.
        _hil.advance(len(buf) * 10000000 // self._baud)
        return len(buf)

    def _fill(self, wait_ms):
        r = _bus_call("uart_read", bus=self._bus, wait_ms=wait_ms)
        self._buf += bytes.fromhex(r["data"])
        if r.get("waited_us"):
            _hil.advance(r["waited_us"])

    def any(self):
        if not self._buf:
            self._fill(0)
        return len(self._buf)

    def read(self, n=-1):
        if len(self._buf) < n or n < 0:
            self._fill(self._timeout_ms)
        if not self._buf:
            return None
        if n < 0:
            n = len(self._buf)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def readinto(self, buf, n=-1):
        n = len(buf) if n < 0 else n
        data = self.read(n)
        if not data:
            return None
        buf[: len(data)] = data
        return len(data)

    def readline(self):
        if b"\n" not in self._buf:
            self._fill(self._timeout_ms)
        i = self._buf.find(b"\n")
        if i < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[: i + 1], self._buf[i + 1 :]
        return out or None

    def flush(self):
        pass

    def txdone(self):
        return True

    def _hil_ready(self):
        return 1 if self.any() else 0


class ADC:
    ATTN_0DB = const(0)
    ATTN_2_5DB = const(1)
    ATTN_6DB = const(2)
    ATTN_11DB = const(3)
    WIDTH_12BIT = const(3)

    def __init__(self, pin, *, atten=None):
        self._pin = _pin_id(pin)

    def atten(self, a):
        pass

    def width(self, w):
        pass

    def read_uv(self):
        return _bus_call("adc", pin=self._pin)["uv"]

    def read_u16(self):
        # Full scale 3.3 V: good enough for a battery divider reading.
        return min(65535, self.read_uv() * 65535 // 3300000)

    def read(self):
        return self.read_u16() >> 4


class PWM:
    def __init__(self, pin, *, freq=1000, duty_u16=0, **kw):
        self._pin = _pin_id(pin)
        self._freq = freq
        self._duty = duty_u16
        _hil.event("pwm", pin=self._pin, freq=freq, duty_u16=duty_u16)

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._freq = f
        _hil.event("pwm", pin=self._pin, freq=f, duty_u16=self._duty)

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        self._duty = d
        _hil.event("pwm", pin=self._pin, freq=self._freq, duty_u16=d)

    def deinit(self):
        _hil.event("pwm", pin=self._pin, freq=0, duty_u16=0)


class I2S:
    RX = const(0)
    TX = const(1)
    MONO = const(0)
    STEREO = const(1)

    def __init__(self, id, *, sck=None, ws=None, sd=None, mode=0, bits=16, format=0, rate=16000, ibuf=4096, **kw):
        self._bus = {"id": id, "sck": _pin_id(sck)}
        self._bits = bits
        self._rate = rate

    def readinto(self, buf):
        r = _bus_call("i2s_read", bus=self._bus, n=len(buf), bits=self._bits, rate=self._rate)
        data = bytes.fromhex(r["data"])
        buf[: len(data)] = data
        # Samples arrive in real time: reading them takes as long as they last.
        _hil.advance(len(data) * 8 * 1000000 // (self._bits * self._rate))
        return len(data)

    def deinit(self):
        pass


class RTC:
    def __init__(self, id=0):
        pass

    def init(self, dt):
        self.datetime(dt[:3] + (0,) + dt[3:6] + (0,))

    def datetime(self, dt=None):
        import utime

        now_s = (_hil.now_us + _hil.rtc_offset_us) // 1000000
        if dt is None:
            t = utime.gmtime(now_s)
            wd = t[6]
            return (t[0], t[1], t[2], wd, t[3], t[4], t[5], ((_hil.now_us + _hil.rtc_offset_us) % 1000000))
        if not _P[10] <= dt[3] <= _P[11]:
            # rp2: rtc_set_datetime() refuses it (OSError); stm32 writes a weekday the RTC calls forbidden
            _hil.event("port_misuse", what="RTC.datetime weekday %d" % dt[3])
            if _P[13]:
                raise OSError(22)
        secs = utime.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0))
        sub = dt[7] if len(dt) > 7 and _P[12] else 0  # rp2 and stm32 drop the sub-seconds
        _hil.rtc_offset_us = secs * 1000000 + sub - _hil.now_us
        _hil.event("rtc_set", unix=secs)

    def memory(self, data=None):
        if data is None:
            return _hil.rtc_memory
        limit = _hil.info["board"]["rtc_memory_bytes"]
        if len(data) > limit:
            raise ValueError("RTC memory holds %d bytes" % limit)
        _hil.rtc_memory = bytes(data)


class WDT:
    def __init__(self, id=0, timeout=5000):
        top = _P[4]  # hil/port_rules.py WDT_MAX_MS
        if timeout < 1 or (top is not None and timeout > top):
            raise ValueError("WDT timeout out of range")
        _hil.wdt_timeout_us = timeout * 1000
        _hil.wdt_fed_us = _hil.now_us
        _hil.event("wdt_start", timeout_ms=timeout)

    def feed(self):
        _hil.wdt_fed_us = _hil.now_us


class Timer:
    ONE_SHOT = const(0)
    PERIODIC = const(1)

    def __init__(self, id=-1, **kw):
        self._cb = None
        if kw:
            self.init(**kw)

    def init(self, *, mode=PERIODIC, period=-1, freq=-1, callback=None, tick_hz=1000):
        if freq > 0:
            period = 1000 // freq
        self._period_us = max(1, period) * 1000
        self._mode = mode
        self._cb = callback
        self._due_us = _hil.now_us + self._period_us
        if self not in _hil.timers:
            _hil.timers.append(self)

    def _fire(self):
        if self._mode == self.PERIODIC:
            self._due_us += self._period_us
        else:
            self.deinit()
        if self._cb:
            self._cb(self)

    def deinit(self):
        if self in _hil.timers:
            _hil.timers.remove(self)


def deepsleep(ms=0):
    if _P[7] is not None and ms > _P[7]:
        # rp2: "sleep too long" (modmachine.c); stm32: "wakeup value too large" (rtc.c pyb_rtc_wakeup)
        raise ValueError("sleep too long")
    raise _hil.DeepSleep(ms)


def lightsleep(ms=0):
    if ms <= 0:
        return
    if _P[6] is not None and ms > _P[6]:
        raise ValueError("sleep too long")
    _hil.event("lightsleep", ms=ms)
    wdt = _P[8]  # the watchdog in lightsleep: 0 stops, 1 runs on, 2 locks the chip when it fires
    if _hil.wdt_timeout_us and wdt and _hil.now_us + ms * 1000 - _hil.wdt_fed_us > _hil.wdt_timeout_us:
        if wdt == 2:
            # micropython#17228: the RP2040's watchdog fires in lightsleep and the chip hangs until a power cycle
            _hil.now_us = _hil.wdt_fed_us + _hil.wdt_timeout_us
            raise _hil.Locked()
    if not wdt:
        _hil.wdt_fed_us += ms * 1000  # the ESP32's task watchdog does not count while the chip sleeps
    if not _P[9]:
        _hil.boot_us += ms * 1000  # stm32 Stop mode: SysTick stops, ticks_ms() does not count the sleep
    _hil.advance(ms * 1000)


def idle():
    _hil.advance(1000)


def reset():
    raise _hil.Reset()


def soft_reset():
    raise _hil.SoftReset()


def reset_cause():
    return _hil.info["reset_cause"]


def _wr():
    return _hil.info["wake_reason"]


def unique_id():
    return bytes.fromhex(_hil.info["unique_id"])  # 6, 8 or 12 bytes by port (hil/port_rules.py UNIQUE_ID_BYTES)


def freq(f=None):
    if f is None:
        return 240000000


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


def time_pulse_us(pin, pulse_level, timeout_us=1000000):
    r = _hil.call("pulse", pin=_pin_id(pin), level=pulse_level, timeout_us=timeout_us)
    _hil.advance(max(0, r["us"]) + 100)
    return r["us"]


def bootloader():
    raise _hil.Reset()


_r = __import__("os").getenv("HIL_RULES")  # the board's port (hil/port_rules.py shim_view), as the interpreter starts
if _r:
    _configure(__import__("json").loads(_r))
del _r
