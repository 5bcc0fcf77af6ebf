# The node runtime every app shares: boot, one wake, persist, sleep. Never spins on a failure. A role (a package
# apps/<role>/ with wake.py) runs its wakes through the one pipeline (node/pipeline.py and the halves it hands
# over to: node/uplink.py, node/downlink.py, node/schedule.py); a tool app (counter, lorawan_probe) is run(node).
import gc
import sys
import machine
import time
from micropython import const

_WDT_MS = const(60000)
_BACKOFF_FIRST_S = const(30)
_BACKOFF_MAX_S = const(3600)
_MIN_SLEEP_MS = const(1000)
_WDT_MARGIN_MS = const(1000)  # a light-sleep slice ends this long before the watchdog would bite

# The node's reset causes, the same numbers on every port (the ESP32 port's; the status uplink reports them). Each
# port has its own set of machine constants (rp2 has only PWRON_RESET and WDT_RESET, stm32's SOFT_RESET is 0):
# cause() maps whichever the port has onto these.
_HARD = const(2)
_WDT = const(3)
_WOKE = const(4)  # the timer wake that follows a sleep
_CAUSES = ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET")  # 1, 2, ... in this order

# Ports that sleep light, never deep, with the watchdog running: an RP2040's deep sleep is a light sleep then a
# reset, and its watchdog firing in light sleep hangs the chip until a power cycle (micropython#17228); it ends in
# a reset that reads WDT_RESET and restarts the RTC at 2021-01-01. An STM32's deep sleep is standby, where the IWDG
# (32 s at most) runs on and the cause after it is not DEEPSLEEP_RESET on a WL. Light sleep keeps RAM, pins and
# the clock; the runtime wakes before the watchdog bites, feeds it, and starts the next wake with a soft reset.
_LIGHT_ONLY = ("rp2", "stm32")


class Node:
    """What an app gets: board, config, store, log; `link` when the app needs the network."""

    def __init__(self, board, config, store, wdt):
        self.board = board
        self.config = config
        self.role = config["app"]
        self.store = store
        self.quiet = True  # a role sets it False in its busy hours: the daily status then waits for a quiet wake
        self._wdt = wdt
        self.boot_ticks = time.ticks_ms()
        self.reset_cause = cause()
        self._link = None

    def log(self, msg):
        _log(msg)

    def feed(self):
        self._wdt.feed()

    def setting(self, key, default=None):
        """A setting: a downlink-applied value from the store wins over the provisioned config."""
        v = self.store.get("cfg." + key)
        if v is None:
            v = self.config.get(key, default)
        return v

    @property
    def link(self):
        if self._link is None:
            gc.collect()  # long-lived MAC code next: into the holes the app's garbage leaves
            from lorawan.link import Link

            self._link = Link(self)
        return self._link

    def resume_after_reset(self, state, to=None):
        """End this half of the wake with a soft reset; the app's resume(node, state) does the rest in a fresh
        interpreter (or the pipeline's half `to`: "u" uplink, "d" downlink, "t" schedule). Everything loaded so
        far (code, and the names no heap frees otherwise) is gone, so each half has the heap to itself. `state`
        goes through RTC memory: JSON types, a few hundred bytes at most."""
        self.store.set("rt.r", [state, self.boot_ticks, to])
        self.store.save(soft_reset=True)
        machine.soft_reset()


def cause():
    """machine.reset_cause() as one of this module's causes, whatever the port calls it."""
    c = machine.reset_cause()
    for i in range(5):
        if getattr(machine, _CAUSES[i], None) == c:
            return i + 1
    return _HARD


def _log(msg):
    # serial log: one line per event, stamped with milliseconds since boot
    print("[%d] %s" % (time.ticks_ms(), msg))


def _wake(node, resume):
    """This boot's part of the wake: seconds to sleep."""
    if resume is None:
        # only the configured app's package is imported: a node never loads the others
        app = __import__("apps." + node.role, None, None, ("run",))
        if hasattr(app, "run"):
            return app.run(node)  # a tool app
        del app  # a role: its package holds no code, its wake is apps/<role>/wake.py
        from node.pipeline import run

        return run(node)
    to = resume[2] if len(resume) > 2 else None
    if to == "u":
        from node.uplink import resume as half
    elif to == "d":
        from node.downlink import resume as half
    elif to == "t":
        from node.schedule import resume as half
    else:
        half = __import__("apps." + node.role, None, None, ("resume",)).resume
    return half(node, resume[0])


def main():
    for wdt_ms in (_WDT_MS, 32000, 8000):  # the longest the chip takes: any on an ESP32, ~32 s STM32, 8.3 s RP2040
        try:
            wdt = machine.WDT(timeout=wdt_ms)
            break
        except ValueError:
            pass
    from node.store import Store
    from node.board import load as load_board

    st = Store()
    why = cause()  # a soft reset leaves the chip's cause as it was (except on stm32: SOFT_RESET)
    resume = st.get("rt.r")  # [state, boot ticks]: the second half of a wake (Node.resume_after_reset)
    light = st.get("rt.w")  # the last wake ended in a light sleep: this is a timer wake
    if light:
        why = _WOKE
    elif st.get("rt.x"):
        why = _HARD  # a reset the network asked for (node/downlink.py): whatever the port reports
        st.delete("rt.x")
    if resume is not None or light:
        st.delete("rt.r")
        st.delete("rt.w")
        st.save()  # once only: a crash or reset from here on is a wake of its own, counted as such
    elif why == _WDT:
        st.set("wdt_resets", st.get("wdt_resets", 0) + 1, durable=True)
    port = None
    try:
        from node import config, version

        cfg = config.load()
        v = version.VERSION
        # needed once per wake (config reader, version string): their code goes now
        del config, version, sys.modules["node.config"], sys.modules["node.version"]
        for k in ("config", "version"):
            delattr(sys.modules["node"], k)
        brd = load_board()
        port = brd.spec.get("port")
        node = Node(brd, cfg, st, wdt)
        node.reset_cause = why
        if resume is None:
            _log("citynode boot v=%s board=%s app=%s cause=%d" % (v, brd.id, cfg["app"], why))
        else:
            _log("citynode resume app=%s" % cfg["app"])
            if 0 <= time.ticks_diff(node.boot_ticks, resume[1]) < 600000:
                node.boot_ticks = resume[1]  # ticks run on through a soft reset: the period counts both halves
        gc.collect()
        sleep_ms = int(_wake(node, resume) * 1000)
        if st.get("crashes_in_row"):
            st.set("crashes_in_row", 0, durable=True)
        # Keep the app's period: time spent awake comes off the sleep.
        sleep_ms -= time.ticks_diff(time.ticks_ms(), node.boot_ticks)
    except Exception as e:  # noqa: BLE001 - every failure ends in a logged, counted, backed-off reboot
        print("[%d] error in app: %s: %s" % (time.ticks_ms(), type(e).__name__, e))
        sys.print_exception(e)
        n = st.get("crashes_in_row", 0) + 1
        st.set("crashes_in_row", n, durable=True)
        st.set("crashes", st.get("crashes", 0) + 1, durable=True)
        sleep_ms = min(_BACKOFF_FIRST_S << min(n - 1, 8), _BACKOFF_MAX_S) * 1000
        _log("crash %d in a row: retry in %d s" % (n, sleep_ms // 1000))
    st.save()
    wdt.feed()
    ms = max(_MIN_SLEEP_MS, sleep_ms)
    if port in _LIGHT_ONLY or port is None:
        # Sleep light in slices the watchdog allows (RAM, pins and the clock kept), then begin the next wake in a
        # fresh interpreter. Without a board (a crash before it loaded) the port is unknown: light is safe on all.
        k = wdt_ms - _WDT_MARGIN_MS
        while ms > 0:
            if k > ms:
                k = ms
            machine.lightsleep(k)
            wdt.feed()
            ms -= k
        st.set("rt.w", 1)
        st.save(soft_reset=True)
        machine.soft_reset()
    machine.deepsleep(ms)
