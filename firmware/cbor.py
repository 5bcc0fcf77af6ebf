# CBOR (RFC 8949) for the node: the subset citynode sends and receives.
#
# Types: ints (-2**64 .. 2**64-1), bytes, str, list/tuple, dict, bool, None, float. Encoding is the preferred
# (shortest) serialisation: shortest heads, floats in the shortest of half/single/double that holds the value
# exactly, NaN as f97e00, map keys sorted length-first (as RFC 8949 4.2.3) so equal values give equal bytes.
# No tags, no indefinite lengths, no other simple values: the decoder rejects them with ValueError.
#
# A CBOR sequence (RFC 8742) is items back to back with no array head: `dumps_seq`, `loads_seq`.
# Frugal: a Writer keeps one growing bytearray and writes heads and floats into it in place; `dumps` reuses a
# module-level writer, so encoding a payload allocates only the result. The decoder walks a memoryview.
import struct

_F = 0xE0  # major type 7 head byte base


class Writer:
    """Encodes into one reusable buffer. `reset()`, `add(obj)`..., then `getvalue()` (a new bytes)."""

    def __init__(self, size=64):
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.n = 0

    def reset(self):
        self.n = 0

    def getvalue(self):
        return bytes(self.mv[: self.n])

    def _room(self, k):
        need = self.n + k
        if need > len(self.buf):
            size = len(self.buf) * 2
            while size < need:
                size *= 2
            nb = bytearray(size)
            nb[0 : self.n] = self.mv[0 : self.n]
            self.buf = nb
            self.mv = memoryview(nb)

    def head(self, major, n):
        self._room(9)
        b = self.buf
        i = self.n
        m = major << 5
        if n < 24:
            b[i] = m | n
            self.n = i + 1
            return
        if n < 0x100:
            b[i] = m | 24
            b[i + 1] = n
            self.n = i + 2
            return
        if n < 0x10000:
            b[i] = m | 25
            k = 2
        elif n < 0x100000000:
            b[i] = m | 26
            k = 4
        elif n < 0x10000000000000000:
            b[i] = m | 27
            k = 8
        else:
            raise ValueError("int too large for CBOR")
        j = i + k
        while j > i:
            b[j] = n & 0xFF
            n >>= 8
            j -= 1
        self.n = i + 1 + k

    def int(self, v):
        if v >= 0:
            self.head(0, v)
        else:
            self.head(1, -1 - v)

    def raw(self, data):
        k = len(data)
        self._room(k)
        self.buf[self.n : self.n + k] = data
        self.n += k

    def float(self, x):
        self._room(9)
        b = self.buf
        i = self.n
        if x != x:  # NaN: the canonical quiet NaN as a half
            b[i] = _F | 25
            b[i + 1] = 0x7E
            b[i + 2] = 0
            self.n = i + 3
            return
        struct.pack_into(">f", b, i + 1, x)
        if struct.unpack_from(">f", b, i + 1)[0] == x:
            h = _half(struct.unpack_from(">I", b, i + 1)[0])
            if h >= 0:
                b[i] = _F | 25
                b[i + 1] = h >> 8
                b[i + 2] = h & 0xFF
                self.n = i + 3
            else:
                b[i] = _F | 26
                self.n = i + 5
            return
        b[i] = _F | 27
        struct.pack_into(">d", b, i + 1, x)
        self.n = i + 9

    def add(self, obj, depth=0):
        if obj is None:
            self.head(7, 22)
        elif obj is True:
            self.head(7, 21)
        elif obj is False:
            self.head(7, 20)
        elif isinstance(obj, int):
            self.int(obj)
        elif isinstance(obj, float):
            self.float(obj)
        elif isinstance(obj, str):
            data = obj.encode()
            self.head(3, len(data))
            self.raw(data)
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            self.head(2, len(obj))
            self.raw(obj)
        elif isinstance(obj, (list, tuple)):
            if depth > 15:
                raise ValueError("CBOR nesting too deep")
            self.head(4, len(obj))
            for x in obj:
                self.add(x, depth + 1)
        elif isinstance(obj, dict):
            if depth > 15:
                raise ValueError("CBOR nesting too deep")
            self.head(5, len(obj))
            if len(obj) < 2:
                for k in obj:
                    self.add(k, depth + 1)
                    self.add(obj[k], depth + 1)
                return
            # Deterministic order: by encoded key, shorter first, then bytewise.
            keys = []
            for k in obj:
                keys.append((_key_bytes(k), k))
            keys.sort(key=_key_order)
            for kb, k in keys:
                self.raw(kb)
                self.add(obj[k], depth + 1)
        else:
            raise ValueError("cannot encode %s in CBOR" % type(obj).__name__)


def _key_bytes(k):
    w = Writer(16)
    w.add(k)
    return w.getvalue()


def _key_order(item):
    return (len(item[0]), item[0])


def _half(u):
    # IEEE single bits -> half bits when the value is exactly a half (normal, subnormal, zero, inf), else -1.
    s = (u >> 16) & 0x8000
    e = (u >> 23) & 0xFF
    m = u & 0x7FFFFF
    if e == 0xFF:
        return s | 0x7C00  # inf (NaN never gets here)
    if e == 0:
        return s if m == 0 else -1
    e -= 127
    if -14 <= e <= 15:
        if m & 0x1FFF:
            return -1
        return s | ((e + 15) << 10) | (m >> 13)
    if -24 <= e < -14:
        sig = m | 0x800000
        sh = -1 - e  # value = sig * 2**(e-23) = k * 2**-24 with k = sig >> sh
        if sig & ((1 << sh) - 1):
            return -1
        return s | (sig >> sh)
    return -1


def _unhalf(h):
    e = (h >> 10) & 0x1F
    m = h & 0x3FF
    if e == 0:
        v = m * 5.960464477539063e-08  # 2**-24
    elif e == 31:
        v = float("inf") if m == 0 else float("nan")
    else:
        v = (m | 0x400) * 2.0 ** (e - 25)
    return -v if h & 0x8000 else v


_W = Writer(64)


def dumps(obj):
    """The CBOR encoding of `obj` (bytes)."""
    _W.reset()
    _W.add(obj)
    return _W.getvalue()


def dumps_seq(items):
    """A CBOR sequence (RFC 8742): each item's encoding, back to back."""
    _W.reset()
    for x in items:
        _W.add(x)
    return _W.getvalue()


def _arg(mv, i, ai):
    # The head's argument (ai = additional info) and the index after it.
    if ai < 24:
        return ai, i
    if ai == 24:
        k = 1
    elif ai == 25:
        k = 2
    elif ai == 26:
        k = 4
    elif ai == 27:
        k = 8
    else:
        raise ValueError("CBOR indefinite length or reserved head")
    if i + k > len(mv):
        raise ValueError("CBOR data truncated")
    n = 0
    for j in range(i, i + k):
        n = (n << 8) | mv[j]
    return n, i + k


def _check_utf8(b):
    # Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF): MicroPython's own check is looser.
    j = 0
    end = len(b)
    while j < end:
        c = b[j]
        j += 1
        if c < 0x80:
            continue
        if 0xC2 <= c < 0xE0:
            k = 1
            cp = c & 0x1F
            lo = 0x80
        elif 0xE0 <= c < 0xF0:
            k = 2
            cp = c & 0x0F
            lo = 0x800
        elif 0xF0 <= c < 0xF5:
            k = 3
            cp = c & 0x07
            lo = 0x10000
        else:
            raise ValueError("CBOR text is not UTF-8")
        if j + k > end:
            raise ValueError("CBOR text is not UTF-8")
        while k:
            d = b[j]
            if d & 0xC0 != 0x80:
                raise ValueError("CBOR text is not UTF-8")
            cp = (cp << 6) | (d & 0x3F)
            j += 1
            k -= 1
        if cp < lo or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
            raise ValueError("CBOR text is not UTF-8")


def decode(mv, i=0, depth=0):
    """Decode one item from memoryview/bytes `mv` at index i: (value, index after it). ValueError if malformed."""
    if i >= len(mv):
        raise ValueError("CBOR data truncated")
    ib = mv[i]
    major = ib >> 5
    ai = ib & 0x1F
    i += 1
    if major == 7:
        if ai == 20:
            return False, i
        if ai == 21:
            return True, i
        if ai == 22:
            return None, i
        if 25 <= ai <= 27:
            k = 1 << (ai - 24)
            if i + k > len(mv):
                raise ValueError("CBOR data truncated")
            if ai == 25:
                return _unhalf((mv[i] << 8) | mv[i + 1]), i + 2
            return struct.unpack_from(">f" if ai == 26 else ">d", mv, i)[0], i + k
        raise ValueError("CBOR simple value %d not supported" % ai)
    n, i = _arg(mv, i, ai)
    if major == 0:
        return n, i
    if major == 1:
        return -1 - n, i
    if major == 2 or major == 3:
        if i + n > len(mv):
            raise ValueError("CBOR data truncated")
        v = bytes(mv[i : i + n])
        if major == 3:
            _check_utf8(v)
            v = v.decode()
        return v, i + n
    if major == 6:
        raise ValueError("CBOR tags not supported")
    if depth > 15:
        raise ValueError("CBOR nesting too deep")
    if n > len(mv) - i:  # each element takes at least one byte: refuse absurd counts before allocating
        raise ValueError("CBOR data truncated")
    if major == 4:
        out = []
        for _ in range(n):
            v, i = decode(mv, i, depth + 1)
            out.append(v)
        return out, i
    out = {}
    for _ in range(n):
        k, i = decode(mv, i, depth + 1)
        if isinstance(k, (list, dict)):
            raise ValueError("CBOR map key must be a plain value")
        v, i = decode(mv, i, depth + 1)
        if k in out:
            raise ValueError("CBOR map has a duplicate key")
        out[k] = v
    return out, i


def loads(data):
    """Decode exactly one item; ValueError if malformed or if bytes are left over."""
    mv = memoryview(data)
    v, i = decode(mv, 0)
    if i != len(mv):
        raise ValueError("CBOR data has %d trailing bytes" % (len(mv) - i))
    return v


def loads_seq(data):
    """Decode a CBOR sequence (RFC 8742) into a list of items."""
    mv = memoryview(data)
    out = []
    i = 0
    while i < len(mv):
        v, i = decode(mv, i)
        out.append(v)
    return out
