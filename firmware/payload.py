# Payloads on the node: encode uplinks, decode configuration downlinks, from the role's generated table.
#
#   from payload import encode_uplink, decode_downlink, fport
#   data = encode_uplink("classair", "periodic", {"co2_ppm": 1127, "temp_c": 21.4, "rh_pct": 45.5,
#                                                 "led": "green", "flags": 0})
#   node.link.send(fport("classair", "periodic"), data)
#
# The schema is fleet/payloads_schema.py; `payload_<role>.py` is generated from it (only the node's own role is
# ever imported). docs/payloads.md lists every message. Wire format: uplinks are CBOR sequences of scaled
# integers, downlinks one CBOR map with small integer keys.
from micropython import const
import cbor

FLAG_SENSOR_FAULT = const(1)
FLAG_OUT_OF_RANGE = const(2)
FLAG_LOW_BATTERY = const(4)

# Field tuple kinds (see fleet/payloads_gen.py)
_NUM = const(0)
_BOOL = const(1)
_TEXT = const(2)
_BYTES = const(3)
_PACK = const(4)
# Pack part kinds
_UINT = const(0)
_ENUM = const(1)
_FLAGS = const(2)
_BOOLP = const(3)
_STEPS = const(4)

_tables = {}
_w = cbor.Writer(40)


def _table(role):
    t = _tables.get(role)
    if t is None:
        try:
            t = __import__("payload_" + role)
        except ImportError:
            raise ValueError("no payload table for role %s" % role)
        _tables[role] = t
    return t


def fport(role, kind):
    """The FPort of an uplink kind ("periodic", "event", "status") or of "config" downlinks."""
    t = _table(role)
    if kind == "config":
        for p in t.DOWN:
            return p
    return t.UP[kind][0]


def _rnd(x):
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def _wire(f, v):
    # (wire int within range, out of range?) for a _NUM field; never wraps.
    x = (v * f[3] - f[4]) / f[2]
    lo = f[5]
    hi = f[6]
    if x > hi + 1:
        return hi, True
    if x < lo - 1:
        return lo, True
    w = _rnd(x)
    if w > hi:
        return hi, True
    if w < lo:
        return lo, True
    return w, False


def _steps(table, bits, v):
    top = (1 << bits) - 1
    v = int(v)
    if v < 0:
        v = 0
    i = len(table) - 1
    while i >= 0:
        c0, v0, step = table[i]
        if v >= v0:
            c = c0 + (v - v0) // step
            return c if c < top else top
        i -= 1
    return 0


def _pack(f, values, extra):
    n = 0
    for p in f[2]:
        v = values.get(p[0])
        kind = p[3]
        top = (1 << p[2]) - 1
        if kind == _ENUM and isinstance(v, str):
            try:
                c = p[4].index(v)
            except ValueError:
                raise ValueError("%s: unknown value %s" % (p[0], v))
        elif kind == _BOOLP:
            c = 1 if v else 0
        elif kind == _STEPS:
            c = _steps(p[4], p[2], v or 0)
        else:
            c = int(v or 0)
            if kind == _FLAGS and p[0] == "flags":
                c = (c | extra) & top
        if c > top or c < 0:
            c = top if c > 0 else 0
            extra |= FLAG_OUT_OF_RANGE
        n |= c << p[1]
    if f[0] is not None and not values.get(f[0]):
        n = -1 - n
    return n, extra


def encode_uplink(role, kind, values):
    """The CBOR sequence for one uplink (bytes). Missing or None readings go as null and set sensor_fault;
    readings outside their range are clamped and set out_of_range (in the message's flags, if it has any)."""
    fields = _table(role).UP[kind][1]
    extra = 0
    for f in fields:
        if f[1] == _NUM:
            v = values.get(f[0])
            if v is None or v != v:
                extra |= FLAG_SENSOR_FAULT
            elif _wire(f, v)[1]:
                extra |= FLAG_OUT_OF_RANGE
    w = _w
    w.reset()
    for f in fields:
        t = f[1]
        if t == _PACK:
            n, extra = _pack(f, values, extra)
            w.int(n)
            continue
        v = values.get(f[0])
        if v is None or v != v:
            w.head(7, 22)
        elif t == _NUM:
            w.int(_wire(f, v)[0])
        elif t == _BOOL:
            w.head(7, 21 if v else 20)
        else:
            data = v.encode() if t == _TEXT else v
            k = len(data)
            if k > f[2]:
                k = f[2]
                if t == _TEXT:
                    while k > 0 and (data[k] & 0xC0) == 0x80:  # cut on a character boundary
                        k -= 1
            w.head(3 if t == _TEXT else 2, k)
            w.raw(memoryview(data)[:k])
    return w.getvalue()


def _num_value(f, x):
    n = x * f[2] + f[4]
    return n if f[3] == 1 else n / f[3]


def _decode(f, x, out):
    t = f[1]
    name = f[0]
    if x is None:
        raise ValueError("%s: null is not a value" % name)
    if t == _NUM:
        if type(x) is not int:
            raise ValueError("%s: expected an integer" % name)
        if x < f[5] or x > f[6]:
            raise ValueError("%s: %s outside its range" % (name, _num_value(f, x)))
        out[name] = _num_value(f, x)
    elif t == _BOOL:
        if x is not True and x is not False:
            raise ValueError("%s: expected a boolean" % name)
        out[name] = x
    elif t == _TEXT or t == _BYTES:
        if type(x) is not (str if t == _TEXT else bytes):
            raise ValueError("%s: wrong type" % name)
        if len(x) > f[2]:
            raise ValueError("%s: too long" % name)
        out[name] = x
    else:
        if type(x) is not int:
            raise ValueError("%s: expected an integer" % name)
        if f[0] is not None:
            out[f[0]] = x >= 0
            if x < 0:
                x = -1 - x
        elif x < 0:
            raise ValueError("negative value")
        bits = 0
        for p in f[2]:
            bits += p[2]
            c = (x >> p[1]) & ((1 << p[2]) - 1)
            kind = p[3]
            if kind == _ENUM:
                if c >= len(p[4]):
                    raise ValueError("%s: unknown code %d" % (p[0], c))
                out[p[0]] = p[4][c]
            elif kind == _BOOLP:
                out[p[0]] = c == 1
            elif kind == _STEPS:
                i = len(p[4]) - 1
                while p[4][i][0] > c:
                    i -= 1
                c0, v0, step = p[4][i]
                out[p[0]] = v0 + (c - c0) * step
            else:
                out[p[0]] = c
        if x >> bits:
            raise ValueError("value %d has unknown bits" % x)


def decode_downlink(role, port, data):
    """A configuration downlink -> {setting: value} for the keys present. ValueError if anything is wrong
    (then apply nothing). Keys this schema does not know (a newer one) are ignored."""
    fields = _table(role).DOWN.get(port)
    if fields is None:
        raise ValueError("FPort %d is not a %s downlink" % (port, role))
    m = cbor.loads(data)
    if type(m) is not dict:
        raise ValueError("downlink is not a CBOR map")
    out = {}
    n = len(fields)
    for k in m:
        if type(k) is int and 0 <= k < n:
            _decode(fields[k], m[k], out)
    return out
