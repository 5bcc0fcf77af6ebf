# What an app may ask of the link without loading the MAC (~13 KB of code): is a session stored, and the network's
# time (from DeviceTime). Read from the store keys the link keeps; Link.joined and Link.time() say the same.
import time

# unix seconds of the port's time.time() zero (0 where the epoch is 1970, 946684800 where it is 2000)
EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0


def joined(store):
    return store.get("lw.s") is not None


def known(v):
    """Whether the RTC still has the network's time: set (tk) and not gone back since (a chip reset restarts an
    RP2040's RTC at 2021-01-01, a power-on an STM32's at 2015-01-01)."""
    return bool(v and v.get("tk") and time.time() >= v.get("ts", 0))


def now(store):
    """Unix seconds of the network's clock, or None until the network has told it."""
    return time.time() + EPOCH if known(store.get("lw.v")) else None
