# Virtual `select`: when nothing registered is ready, poll() lets the timeout pass in virtual time, which makes
# asyncio's sleeps virtual. Emulated streams (UART) say whether they are ready through `_hil_ready()`.
import uselect
import _hil

POLLIN = uselect.POLLIN
POLLOUT = uselect.POLLOUT
POLLERR = uselect.POLLERR
POLLHUP = uselect.POLLHUP


class _Poll:
    def __init__(self):
        self._objs = {}

    def register(self, obj, mask=POLLIN | POLLOUT):
        self._objs[id(obj)] = [obj, mask]

    def modify(self, obj, mask):
        self._objs[id(obj)][1] = mask

    def unregister(self, obj):
        self._objs.pop(id(obj), None)

    def _ready(self):
        out = []
        for obj, mask in self._objs.values():
            ev = 0
            ready = getattr(obj, "_hil_ready", None)
            if ready is not None:
                ev = ready() & mask
            else:
                ev = mask & POLLOUT
            if ev:
                out.append((obj, ev))
        return out

    def ipoll(self, timeout=-1, flags=0):
        ready = self._ready()
        if not ready and timeout != 0:
            if timeout < 0:
                # Waiting forever on nothing that can ever become ready: on a board this hangs.
                raise _hil.WatchdogReset() if _hil.wdt_timeout_us else OSError("poll: waits forever")
            _hil.advance(timeout * 1000)
            ready = self._ready()
        return iter(ready)

    def poll(self, timeout=-1):
        return list(self.ipoll(timeout))


def poll():
    return _Poll()


def select(rlist, wlist, xlist, timeout=None):
    p = _Poll()
    for o in rlist:
        p.register(o, POLLIN)
    for o in wlist:
        p.register(o, POLLOUT)
    ready = p.poll(-1 if timeout is None else int(timeout * 1000))
    r = [o for o, ev in ready if ev & POLLIN]
    w = [o for o, ev in ready if ev & POLLOUT]
    return r, w, []
