# The node runtime every role shares: boot, one app cycle, persist, sleep. Never spins on a failure.
import machine
import time
from micropython import const
from node import log as _log
from node.version import VERSION

WDT_TIMEOUT_MS = const(60000)
BACKOFF_FIRST_S = const(30)
BACKOFF_MAX_S = const(3600)
MIN_SLEEP_MS = const(1000)


class Node:
    """What an app gets: board, config, store, log; `link` when the app needs the network."""

    def __init__(self, board, config, store, wdt):
        self.board = board
        self.config = config
        self.store = store
        self._wdt = wdt
        self.log = _log.log
        self.boot_ticks = time.ticks_ms()
        self.reset_cause = machine.reset_cause()
        self._link = None

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
            from lorawan.link import Link

            self._link = Link(self)
        return self._link


def _app(name):
    # Only the configured role's module is imported: a node never loads the others.
    return __import__("apps." + name, None, None, ("run",)).run


def main():
    wdt = machine.WDT(timeout=WDT_TIMEOUT_MS)
    from node import store as store_mod
    from node import board as board_mod
    from node import config as config_mod

    st = store_mod.Store()
    cause = machine.reset_cause()
    if cause == machine.WDT_RESET:
        st.set("wdt_resets", st.get("wdt_resets", 0) + 1, durable=True)
    try:
        cfg = config_mod.load()
        brd = board_mod.load()
        _log.log("citynode boot v=%s board=%s app=%s cause=%d" % (VERSION, brd.id, cfg["app"], cause))
        node = Node(brd, cfg, st, wdt)
        sleep_ms = int(_app(cfg["app"])(node) * 1000)
        if st.get("crashes_in_row"):
            st.set("crashes_in_row", 0, durable=True)
        # Keep the app's period: time spent awake comes off the sleep.
        sleep_ms -= time.ticks_diff(time.ticks_ms(), node.boot_ticks)
    except Exception as e:  # noqa: BLE001 - every failure ends in a logged, counted, backed-off reboot
        _log.exception(e, "app")
        n = st.get("crashes_in_row", 0) + 1
        st.set("crashes_in_row", n, durable=True)
        st.set("crashes", st.get("crashes", 0) + 1, durable=True)
        sleep_ms = min(BACKOFF_FIRST_S << min(n - 1, 8), BACKOFF_MAX_S) * 1000
        _log.log("crash %d in a row: retry in %d s" % (n, sleep_ms // 1000))
    st.save()
    wdt.feed()
    machine.deepsleep(max(MIN_SLEEP_MS, sleep_ms))
