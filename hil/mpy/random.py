# Emulated `random`: the port's own (urandom), seeded by the supervisor at each boot from the board's seed and the
# virtual time, so two runs with the same seed are the same run (join jitter, channel choice, ACK timeouts: the
# heap a wake needs depends on them). A board seeds from its hardware RNG, and so does the firmware, through
# os.urandom: here that seed is ignored.
from urandom import choice, getrandbits, randint, random, randrange, uniform  # noqa: F401
import urandom
import _hil

urandom.seed((_hil.info or {}).get("rnd", 0))


def seed(n=None):
    pass
