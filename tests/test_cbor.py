"""firmware/cbor.py under the real MicroPython unix port, against cbor2, on random values (both directions).

Each hypothesis example is a whole batch of values run in ONE MicroPython process, so the suite stays fast.
Values cross the process boundary in a small tagged text format parsed by the same code on both sides (floats as
the hex of their IEEE double), so neither direction trusts the code under test to carry the values.
"""

from __future__ import annotations

import io
import math

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil.mpyrun import MicroPythonError

# Runs in CPython (exec) and in MicroPython: show(value) -> text, parse(text) -> value.
TAGGED = r"""
import binascii, struct

def show(v):
    if v is None:
        return "N"
    if v is True:
        return "T"
    if v is False:
        return "F"
    t = type(v)
    if t is int:
        return "i%d;" % v
    if t is float:
        return "f" + binascii.hexlify(struct.pack(">d", v)).decode() + ";"
    if t is bytes:
        return "b" + binascii.hexlify(v).decode() + ";"
    if t is str:
        return "s" + binascii.hexlify(v.encode()).decode() + ";"
    if t is list:
        return "[" + "".join(show(x) for x in v) + "]"
    if t is dict:
        return "{" + "".join(show(k) + show(v[k]) for k in v) + "}"
    raise TypeError("show: %r" % (t,))

def parse(s, i=0):
    c = s[i]
    if c == "N":
        return None, i + 1
    if c == "T":
        return True, i + 1
    if c == "F":
        return False, i + 1
    if c == "[":
        out = []
        i += 1
        while s[i] != "]":
            v, i = parse(s, i)
            out.append(v)
        return out, i + 1
    if c == "{":
        out = {}
        i += 1
        while s[i] != "}":
            k, i = parse(s, i)
            v, i = parse(s, i)
            out[k] = v
        return out, i + 1
    j = s.index(";", i)
    body = s[i + 1:j]
    if c == "i":
        return int(body), j + 1
    raw = binascii.unhexlify(body)
    if c == "f":
        return struct.unpack(">d", raw)[0], j + 1
    if c == "b":
        return raw, j + 1
    return raw.decode(), j + 1
"""

# MicroPython side: read commands from stdin, one per line.
MPY_DRIVER = (
    TAGGED
    + r"""
import sys, cbor
while True:
    line = sys.stdin.readline()
    if not line:
        break
    op, arg = line.strip().split(" ", 1) if " " in line.strip() else (line.strip(), "")
    try:
        if op == "E":
            print(binascii.hexlify(cbor.dumps(parse(arg)[0])).decode())
        elif op == "S":
            v = parse(arg)[0]
            print(binascii.hexlify(cbor.dumps_seq(v)).decode())
        elif op == "D":
            print(show(cbor.loads(binascii.unhexlify(arg))))
        elif op == "Q":
            print(show(cbor.loads_seq(binascii.unhexlify(arg))))
    except ValueError as e:
        print("ERR " + str(e))
"""
)

_ns: dict = {}
exec(TAGGED, _ns)
show, parse = _ns["show"], _ns["parse"]

ints = st.integers(min_value=-(2**64), max_value=2**64 - 1)
interesting_ints = st.sampled_from(
    [
        0,
        23,
        24,
        255,
        256,
        65535,
        65536,
        2**32 - 1,
        2**32,
        2**64 - 1,
        -1,
        -24,
        -25,
        -256,
        -257,
        -65536,
        -65537,
        -(2**64),
    ]
)
floats = st.floats(allow_nan=True, allow_infinity=True) | st.floats(width=16) | st.floats(width=32)
scalars = (
    ints
    | interesting_ints
    | floats
    | st.binary(max_size=40)
    | st.text(max_size=30)
    | st.booleans()
    | st.none()
)
values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=6)
        | st.dictionaries(st.integers(-300, 300) | st.text(max_size=5), kids, max_size=6)
    ),
    max_leaves=20,
)


def canonical(v) -> bytes:
    return cbor2.dumps(v, canonical=True)


def run_driver(mpy, lines: list[str]) -> list[str]:
    out = mpy(MPY_DRIVER, stdin=("\n".join(lines) + "\n").encode())
    got = out.splitlines()
    assert len(got) == len(lines), out
    return got


class _RejectTags(dict):
    """cbor2 semantic decoders that refuse every tag: the subset has none."""

    def get(self, key, default=None):
        return self._reject

    def __getitem__(self, key):
        return self._reject

    def __contains__(self, key):
        return True

    @staticmethod
    def _reject(*a):
        raise ValueError("tag")


REFUSED = object()


def cbor2_subset_loads(data: bytes):
    """cbor2's reading of `data` if it is one item of our subset, else REFUSED."""
    dec = cbor2.CBORDecoder(
        io.BytesIO(data), semantic_decoders=_RejectTags(), allow_indefinite=False, allow_duplicate_keys=False
    )
    try:
        v = dec.decode()
        if dec.fp.read(1):
            return REFUSED
    except Exception:  # noqa: BLE001 - any cbor2 refusal means "not in the subset"
        return REFUSED

    def plain(x):
        if x is None or isinstance(x, (bool, int, float, bytes, str)):
            return True
        if isinstance(x, list):
            return all(plain(y) for y in x)
        if isinstance(x, dict):
            return all(plain(k) and plain(y) for k, y in x.items())
        return False

    return v if plain(v) else REFUSED


SETTINGS = settings(
    max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False
)


@SETTINGS
@given(st.lists(values, min_size=20, max_size=40))
def test_encoder_matches_cbor2_preferred_serialisation(mpy, batch):
    got = run_driver(mpy, ["E " + show(v) for v in batch])
    for v, hexed in zip(batch, got, strict=True):
        assert hexed == canonical(v).hex(), (v, hexed)


@SETTINGS
@given(st.lists(values, min_size=20, max_size=40), st.booleans())
def test_decoder_reads_cbor2_output(mpy, batch, preferred):
    # cbor2's default (non-canonical) output uses 8-byte floats and insertion-ordered keys: read that too.
    enc = [canonical(v) if preferred else cbor2.dumps(v) for v in batch]
    got = run_driver(mpy, ["D " + e.hex() for e in enc])
    for v, text in zip(batch, got, strict=True):
        assert not text.startswith("ERR"), (v, text)
        back = parse(text)[0]
        assert canonical(back) == canonical(v), (v, back)


@SETTINGS
@given(st.lists(values, min_size=1, max_size=40))
def test_sequences_both_ways(mpy, batch):
    seq = b"".join(canonical(v) for v in batch)
    enc, dec = run_driver(mpy, ["S " + show(batch), "Q " + seq.hex()])
    assert enc == seq.hex()  # RFC 8742: items back to back, no array head
    assert canonical(parse(dec)[0]) == canonical(batch)


@SETTINGS
@given(
    st.lists(st.tuples(values, st.integers(0, 10**6), st.integers(0, 255)), min_size=10, max_size=25),
    st.lists(st.binary(min_size=1, max_size=12), min_size=20, max_size=40),
)
def test_malformed_input_is_a_value_error_and_agrees_with_cbor2(mpy, mutations, junk):
    frames = []
    for v, pos, byte in mutations:
        e = bytearray(canonical(v))
        if len(e) > 1:
            frames.append(bytes(e[: pos % len(e)]))  # truncated: always malformed
        e[pos % len(e)] = byte
        frames.append(bytes(e))  # one byte changed: may or may not stay well formed
    frames += junk
    got = run_driver(mpy, ["D " + f.hex() for f in frames])
    for f, text in zip(frames, got, strict=True):
        ref = cbor2_subset_loads(f)
        if text.startswith("ERR"):
            assert ref is REFUSED, (
                f.hex(),
                text,
            )  # ours refuses only what cbor2 finds malformed or outside the subset
        else:
            assert ref is not REFUSED, (f.hex(), text)
            assert canonical(parse(text)[0]) == canonical(ref), f.hex()


def test_preferred_serialisation_examples(mpy):
    cases = [
        0,
        23,
        24,
        -24,
        -25,
        65535,
        65536,
        2**64 - 1,
        -(2**64),
        1.5,
        100000.0,
        1.1,
        -0.0,
        math.inf,
        5.960464477539063e-08,
        65504.0,
        "ü",
        b"",
        [],
        {},
        {1: 2, "a": [True, None]},
    ]
    got = run_driver(mpy, ["E " + show(v) for v in cases] + ["E " + show(math.nan)])
    assert got[:-1] == [canonical(v).hex() for v in cases]
    assert got[-1] == "f97e00"


BAD_TEXT = [
    "64f4908080",
    "62c0af",
    "63eda080",
]  # above U+10FFFF, overlong, surrogate: MicroPython accepts them


def test_refusals_name_the_problem(mpy):
    got = run_driver(
        mpy, ["D " + h for h in ["c24105", "9f01ff", "f7", "18", "62c328", "a20102010304", "01", *BAD_TEXT]]
    )
    assert got[0] == "ERR CBOR tags not supported"
    assert got[1].startswith("ERR CBOR indefinite")
    assert got[2] == "ERR CBOR simple value 23 not supported"
    assert got[3] == "ERR CBOR data truncated"
    assert got[4] == "ERR CBOR text is not UTF-8"
    assert got[5] == "ERR CBOR map has a duplicate key"
    assert got[6] == "i1;"
    assert got[7:] == ["ERR CBOR text is not UTF-8"] * 3
    with pytest.raises(MicroPythonError):
        mpy("import cbor\ncbor.dumps(2**64)")


def test_encoding_a_payload_reuses_its_buffer(mpy):
    # After a warm-up, encoding a 5-item sequence allocates only the result: a bytes object (two 32-byte GC
    # blocks on the 64-bit unix port) and the memoryview slice it is copied from.
    out = mpy(
        "import cbor, gc\n"
        "v = [1127, 14, -9, 1, None]\n"
        "cbor.dumps_seq(v)\n"
        "gc.collect(); gc.disable()\n"
        "a = gc.mem_free()\n"
        "for _ in range(100):\n"
        "    cbor.dumps_seq(v)\n"
        "print(a - gc.mem_free())\n"
    )
    assert int(out) <= 100 * 96 + 64, out
