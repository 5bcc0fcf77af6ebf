# The emulated board's link to its CPython supervisor, and its virtual clock.
# Runs under the MicroPython unix port, imported by the machine/time/select shims and by _hil_boot.
#
# Wire format. To the supervisor: one JSON object per line. From the supervisor (replies to call() only):
# an 8-byte header b"%07d\n" giving the body length, then the JSON body. Two reads per reply, not one per byte.
import os
import sys
import json
from micropython import const

EXIT_DEEPSLEEP = const(42)
EXIT_RESET = const(43)
EXIT_WATCHDOG = const(44)
EXIT_POWERCUT = const(45)
EXIT_HALT = const(46)
EXIT_SOFT_RESET = const(47)

# Reading a clock costs virtual time, so a loop that polls ticks until a timeout ends without real waiting.
CLOCK_READ_COST_US = const(50)

_tx = open("/dev/fd/" + os.getenv("HIL_TX"), "wb")
_rx = open("/dev/fd/" + os.getenv("HIL_RX"), "rb")

# Virtual time in microseconds since 1970-01-01, owned here while the firmware runs, reported with every message.
now_us = 0
boot_us = 0
rtc_offset_us = 0  # board RTC = now_us + rtc_offset_us; unset RTC reads the epoch at power-on
info = {}  # the supervisor's boot reply: board, reset cause, RTC memory, pins it models, ...
rtc_memory = b""
wdt_timeout_us = 0
wdt_fed_us = 0
timers = []  # machine.Timer objects with a callback due in virtual time
_writes_left = -1  # power-cut injection: bytes of file writes allowed before the power goes


class DeepSleep(BaseException):
    pass


class Reset(BaseException):
    pass


class WatchdogReset(BaseException):
    pass


class SoftReset(BaseException):
    pass


class Locked(BaseException):
    """The chip hung (an RP2040 whose watchdog fired in lightsleep): nothing runs until a power cycle."""


def _send(obj):
    _tx.write(json.dumps(obj).encode() + b"\n")


def call(op, **args):
    args["op"] = op
    args["t"] = now_us
    _send(args)
    head = _rx.read(8)
    if not head:
        # The supervisor is gone: nothing sensible is left to do on this "board".
        sys.exit(1)
    body = _rx.read(int(head))
    reply = json.loads(body)
    if "kbd" in reply:
        # Ctrl-C on the serial bridge's port, delivered here, where the interpreter holds no lock.
        raise KeyboardInterrupt
    if "error" in reply:
        raise OSError(reply["error"])
    return reply


def event(kind, **fields):
    fields["op"] = "ev"
    fields["type"] = kind
    fields["t"] = now_us
    _send(fields)


def boot():
    """Handshake at the start of every boot: the supervisor says who we are and what survived."""
    global info, now_us, boot_us, rtc_offset_us, rtc_memory, wdt_timeout_us, timers, _writes_left
    info = call("boot")
    if "cwd" in info:
        os.chdir(info["cwd"])  # the board's flash: an interpreter in a pool boots many boards in turn
    now_us = info["t"]
    boot_us = info["ticks_origin_us"]  # tick counters start at the chip's reset, and run on through a soft reset
    rtc_offset_us = info["rtc_offset_us"]
    rtc_memory = bytes.fromhex(info["rtc_memory"])
    wdt_timeout_us = 0
    timers = []
    _writes_left = info.get("powercut_after_bytes", -1)
    return info


def advance(us):
    """Let `us` microseconds of virtual time pass: due timers fire, a starved watchdog bites."""
    global now_us
    end = now_us + us
    while True:
        due = None
        for t in timers:
            if t._due_us <= end and (due is None or t._due_us < due._due_us):
                due = t
        if due is None:
            break
        now_us = max(now_us, due._due_us)
        _check_watchdog()
        due._fire()
    now_us = end
    _check_watchdog()


def _check_watchdog():
    if wdt_timeout_us and now_us - wdt_fed_us > wdt_timeout_us:
        raise WatchdogReset()


def elapsed_us():
    """Microseconds since boot, unwrapped; the time shim wraps it as a board's tick counters wrap."""
    global now_us
    now_us += CLOCK_READ_COST_US
    _check_watchdog()
    return now_us - boot_us


def sleep_state():
    # the watchdog goes on counting through some ports' sleeps (hil/port_rules.py SLEEP): the supervisor needs it
    return {"rtc_memory": rtc_memory.hex(), "rtc_offset_us": rtc_offset_us, "wdt": [wdt_timeout_us, wdt_fed_us],
            "boot_us": boot_us}


def write_budget(n):
    """Power-cut injection: account for n bytes about to be written. Returns how many may be, -1 for all."""
    global _writes_left
    if _writes_left < 0:
        return -1
    allowed = min(n, _writes_left)
    _writes_left -= allowed
    return allowed


def power_cut():
    # Nothing is flushed or reported: the supervisor sees the exit code, as a board would lose power.
    sys.exit(EXIT_POWERCUT)
