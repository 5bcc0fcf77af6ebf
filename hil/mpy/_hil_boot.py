# Entry point of the emulated board: what the ROM and MicroPython's boot do on a real one.
# HIL_MODE=process: one boot, then exit with a code the supervisor reads (42 deep sleep, 43 reset, ...).
# HIL_MODE=inprocess: after deep sleep, forget the firmware's modules and boot again in the same process.
import sys
import os
import gc
import io
import builtins
import _hil
import _hil_asyncio

sys.modules["_asyncio"] = _hil_asyncio  # asyncio's task queue on virtual time (see _hil_asyncio)
import machine  # noqa: F401 - the shims stay loaded across in-process boots
import time  # noqa: F401
import select  # noqa: F401

_real_open = builtins.open
_line = []


def _print(*args, sep=" ", end="\n", file=None):
    text = sep.join([str(a) for a in args]) + end
    if file is not None:
        file.write(text)
        return
    _serial_write(text)


def _serial_write(text):
    # The board's serial console: whole lines become `log` events stamped with virtual time.
    _line.append(text)
    if "\n" in text:
        joined = "".join(_line)
        _line.clear()
        parts = joined.split("\n")
        for p in parts[:-1]:
            _hil.event("log", line=p)
        if parts[-1]:
            _line.append(parts[-1])


class _CutFile:
    """A file whose writes stop mid-way when the injected power cut comes."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        allowed = _hil.write_budget(len(data))
        if 0 <= allowed < len(data):
            self._f.write(data[:allowed])
            self._f.close()
            _hil.power_cut()
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self._f.close()

    def __iter__(self):
        return iter(self._f)


def _open(path, mode="r", *args, **kw):
    f = _real_open(path, mode, *args, **kw)
    if _hil._writes_left >= 0 and ("w" in mode or "a" in mode or "+" in mode):
        return _CutFile(f)
    return f


builtins.print = _print
builtins.open = _open

_base_modules = set(sys.modules)
_base_modules.add("__main__")


def _traceback(e):
    buf = io.StringIO()
    sys.print_exception(e, buf)
    return buf.getvalue()


def _run_main():
    """Run /main.py once; say how the boot ended: (outcome, sleep_ms, detail)."""
    try:
        with _real_open("main.py") as f:
            src = f.read()
        exec(src, {"__name__": "__main__"})
        outcome = ("halt", 0, "main.py returned")
    except _hil.DeepSleep as e:
        outcome = ("deepsleep", e.args[0] if e.args else 0, "")
    except _hil.Reset:
        outcome = ("reset", 0, "")
    except _hil.SoftReset:
        outcome = ("soft_reset", 0, "")
    except _hil.WatchdogReset:
        outcome = ("watchdog", 0, "")
    except _hil.Locked:
        outcome = ("locked", 0, "")
    except SystemExit:
        raise
    except BaseException as e:  # noqa: B036 - on a board anything uncaught ends at the REPL
        text = _traceback(e)
        for ln in text.rstrip().split("\n"):
            _hil.event("log", line=ln)
        outcome = ("exception", 0, text)
    if outcome[0] in ("exception", "halt") and _hil.wdt_timeout_us:
        # Sitting at the REPL: the running watchdog bites once its timeout passes.
        _hil.now_us = max(_hil.now_us, _hil.wdt_fed_us + _hil.wdt_timeout_us)
        outcome = ("watchdog", 0, outcome[2])
    return outcome


_EXIT = {
    "deepsleep": _hil.EXIT_DEEPSLEEP,
    "reset": _hil.EXIT_RESET,
    "soft_reset": _hil.EXIT_SOFT_RESET,
    "watchdog": _hil.EXIT_WATCHDOG,
    "halt": _hil.EXIT_HALT,
    "exception": _hil.EXIT_HALT,
    "locked": _hil.EXIT_HALT,
}


def main():
    inprocess = os.getenv("HIL_MODE") == "inprocess"
    while True:
        _hil.boot()  # the board's port (constants, limits, errnos) came with the interpreter: machine.HIL_RULES
        outcome, ms, detail = _run_main()
        if _line:
            _serial_write("\n")
        # The firmware is done with this boot: free its modules before building the report, so a boot that
        # ended at the edge of the heap can still say how it ended.
        for name in list(sys.modules):
            if name not in _base_modules:
                del sys.modules[name]
        gc.collect()
        state = _hil.sleep_state()
        _hil._send({"op": "end", "t": _hil.now_us, "outcome": outcome, "ms": ms, "detail": detail,
                    "rtc_memory": state["rtc_memory"], "rtc_offset_us": state["rtc_offset_us"],
                    "wdt": state["wdt"], "boot_us": state["boot_us"]})
        if not inprocess or outcome in ("halt", "exception", "locked"):
            sys.exit(_EXIT[outcome])


main()
