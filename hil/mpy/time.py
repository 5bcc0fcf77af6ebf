# Virtual `time` for the emulated board: sleeps return at once and advance the clock; ticks wrap as on a board.
import utime
import _hil
from micropython import const

# Board tick counters (ms, us, cpu alike) wrap at 2**30 (ESP32, RP2040, STM32); the unix port's at 2**62.
_PERIOD = const(1 << 30)
_HALF = const(1 << 29)


def ticks_us():
    return _hil.elapsed_us() & (_PERIOD - 1)


def ticks_ms():
    return (_hil.elapsed_us() // 1000) & (_PERIOD - 1)


def ticks_cpu():
    return _hil.elapsed_us() & (_PERIOD - 1)


def ticks_add(ticks, delta):
    return (ticks + delta) & (_PERIOD - 1)


def ticks_diff(end, start):
    return ((end - start + _HALF) & (_PERIOD - 1)) - _HALF


def sleep_us(us):
    if us > 0:
        _hil.advance(us)


def sleep_ms(ms):
    if ms > 0:
        _hil.advance(ms * 1000)


def sleep(s):
    if s > 0:
        _hil.advance(int(s * 1000000))


def time():
    return (_hil.now_us + _hil.rtc_offset_us) // 1000000


def time_ns():
    return (_hil.now_us + _hil.rtc_offset_us) * 1000


def gmtime(secs=None):
    return utime.gmtime(time() if secs is None else secs)


def localtime(secs=None):
    return utime.gmtime(time() if secs is None else secs)


def mktime(t):
    return utime.mktime(t)
