"""How much heap an app would need on a 32-bit board, estimated from what it holds on the 64-bit emulator.

The emulator's interpreter is 64-bit: a GC block is 32 B there and 16 B on a board (4 machine words), and a
pointer, small int or object header takes 8 B instead of 4, while byte data (bytes, str text, bytecode) takes the
same bytes on both. Doubling the board's heap (`boards.emulator_heap_kb`) is therefore right for pointer-heavy
objects and about twice too generous for byte data. This module measures the mix.

How: each app's scenario (hil/heap.py) runs on a copy of the firmware (hil.testing.firmware_with) whose main.py
first imports a probe. Before every call the node makes to the board (sensors, radio, pins but the cheap pin
reads), at every log line and at the end of every boot (each half of a wake) the probe collects garbage, prints the GC block table (`micropython.mem_info(1)`: every live allocation and
its size in blocks) and asks the emulator to look: the emulator reads each allocation's bytes from the interpreter's
memory (/proc/<pid>/mem) while the node waits for the reply. The first probe of every boot, before the firmware
is imported, gives the baseline (the shims and the boot driver: built into a board's image, no heap there).

Each allocation is classed by its words (`classify`): mostly pointers (into the heap or the interpreter's image)
and small tagged values -> a pointer object (lists, dicts, tuples, instances, functions, map tables, qstr pools):
its 32-bit size is half; otherwise byte data (or all zeros, a buffer not filled yet): the same bytes. Byte data
keeps its whole 64-bit block-rounded size (up to 31 B more than it uses): an upper bound, so the estimate errs
towards a larger need. Rounded up to 16 B blocks, summed: the firmware's live heap at each probe in both widths.
The estimate for a board is the measured 64-bit figure x the ratio at the probe where the firmware held the most,
corrected for the GC's own tables (2 bits + 1 bit per block: 3/259 of a 64-bit heap, 3/131 of a 32-bit one).

    python -m bench heap32           # per app: ratio, 64-bit figure -> 32-bit estimate per board
    python -m bench.heap32 --write   # and record them in boards/measured/heap.json ("estimate_32bit")
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

BLOCK_64 = 32  # MICROPY_BYTES_PER_GC_BLOCK = 4 * sizeof(mp_uint_t)
BLOCK_32 = 16
WORD_64 = 8
# GC tables per block: 2 bits of allocation table, 1 bit of finaliser table.
POOL_SHARE_64 = BLOCK_64 * 8 / (BLOCK_64 * 8 + 3)
POOL_SHARE_32 = BLOCK_32 * 8 / (BLOCK_32 * 8 + 3)
PROBE_KB = 128  # the heap the probe runs at: room for any app (hil.heap.HI_KB), so the run goes its usual way
# Tagged immediates (small ints, qstrs, None/True/False) of small values: word-like, like pointers.
SMALL = 1 << 20
# Ops not probed: pin reads come in polling loops and allocate nothing worth a look.
UNPROBED = ("pin_read", "heap32")

PROBE_SOURCE = """\
# heap32 probe (hil/heap32.py): before each board call, the live heap after a collection, for the emulator.
import gc
import micropython
import _hil

_call = _hil.call


def _look(at):
    gc.collect()
    micropython.mem_info(1)
    _call("heap32", at=at)


def _probed(op, **args):
    if op not in UNPROBED:
        _look(op)
    return _call(op, **args)


def _sent(obj):
    if obj["op"] == "end" or (obj["op"] == "ev" and obj["type"] == "log"):
        _look(obj["op"])
    _send(obj)


_send = _hil._send
_hil.call = _probed
_hil._send = _sent
_look("base")
""".replace("UNPROBED", repr(UNPROBED))


def blocks(nbytes: int, block: int) -> int:
    """GC blocks an allocation of `nbytes` takes (at least one)."""
    return max(1, -(-nbytes // block))


def size_32(nbytes_64: int, pointers: bool) -> int:
    """Bytes a 64-bit allocation of `nbytes_64` (block-rounded) takes on a 32-bit board, in 16 B blocks: a pointer
    object's words halve, byte data stays the same size."""
    need = nbytes_64 // 2 if pointers else nbytes_64
    return blocks(need, BLOCK_32) * BLOCK_32


def model_64_32(kind: str, n: int) -> tuple[int, int]:
    """(64-bit bytes, 32-bit bytes) the model gives for a few objects of known layout, block-rounded, without the
    object's header allocation where it has one: a list's or tuple's n items ("items"), a bytes of n bytes
    ("bytes": the str/bytes header is 4 words, its data n + 1 bytes), a dict of n entries ("dict": its table,
    2 words per slot, n slots)."""
    if kind == "items":
        b64 = blocks(n * WORD_64, BLOCK_64) * BLOCK_64
        return b64, size_32(b64, True)
    if kind == "bytes":
        head = blocks(4 * WORD_64, BLOCK_64) * BLOCK_64
        data = blocks(n + 1, BLOCK_64) * BLOCK_64
        return head + data, size_32(head, True) + size_32(data, False)
    if kind == "dict":
        head = blocks(4 * WORD_64, BLOCK_64) * BLOCK_64
        table = blocks(2 * n * WORD_64, BLOCK_64) * BLOCK_64
        return head + table, size_32(head, True) + size_32(table, True)
    raise ValueError(kind)


def classify(data: bytes, ranges) -> bool:
    """True when the allocation's bytes look like a pointer object: at least half its nonzero 8-byte words are
    addresses in one of `ranges` ((lo, hi) mapped in the interpreter) or small tagged values. All zeros: False
    (a buffer not filled yet; byte data keeps its size, the safe side)."""
    n = len(data) // WORD_64
    words = [w for w in struct.unpack_from(f"<{n}Q", data) if w]
    if not words:
        return False
    like = sum(1 for w in words if w < SMALL or any(lo <= w < hi for lo, hi in ranges))
    return like * 2 >= len(words)


_LAYOUT = re.compile(r"GC memory layout; from ([0-9a-f]+):")
_LINE = re.compile(r"^([0-9a-f]{8}): (\S+)$")


def parse_table(dump: str) -> tuple[int, list[tuple[int, int]]]:
    """(pool start address, [(byte offset, blocks)] for every allocation) from a `mem_info(1)` dump."""
    found = list(_LAYOUT.finditer(dump))
    if not found:
        raise ValueError("no GC memory layout in the dump")
    m = found[-1]  # the last dump in the text
    start = int(m.group(1), 16)
    allocs: list[list[int]] = []
    for line in dump[m.end() :].splitlines():
        lm = _LINE.match(line.strip())
        if not lm:
            continue  # "(n lines all free)" and anything printed after the table
        base = int(lm.group(1), 16)
        for i, c in enumerate(lm.group(2)):
            if c == "=":  # a tail block: the allocation before it goes on
                if allocs:
                    allocs[-1][1] += 1
            elif c != ".":  # a head: h, or the type letter MicroPython knows it by (T, L, D, S, A, F, B, M)
                allocs.append([base + i * BLOCK_64, 1])
    return start, [(o, b) for o, b in allocs]


def _ranges(pid: int) -> list[tuple[int, int]]:
    out = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        lo, hi = line.split()[0].split("-")
        out.append((int(lo, 16), int(hi, 16)))
    return out


@dataclass
class Look:
    at: str  # the op the node was about to do ("base": before the firmware)
    boot: int
    live_64: int  # bytes, block-rounded
    live_32: int


def look(pid: int, dump: str, at: str, boot: int) -> Look:
    """The live heap in both widths, from the dump and the interpreter's memory (the node waits meanwhile)."""
    start, allocs = parse_table(dump)
    ranges = _ranges(pid)
    end = max((o + b * BLOCK_64 for o, b in allocs), default=0)
    with open(f"/proc/{pid}/mem", "rb") as mem:
        mem.seek(start)
        pool = mem.read(end)
    l64 = l32 = 0
    for off, nb in allocs:
        n64 = nb * BLOCK_64
        l64 += n64
        l32 += size_32(n64, classify(pool[off : off + n64], ranges))
    return Look(at, boot, l64, l32)


def probe(board, app: str) -> list[Look]:
    """Run `app`'s scenario (hil/heap.py) on `board` with the probe: every look, in order."""
    from citynode.base.paths import FIRMWARE_DIR

    from hil import heap
    from hil.emulator import EmulatedBoard
    from hil.network import attach_network
    from hil.testing import firmware_with

    sc = heap.SCENARIOS[app]
    main = (FIRMWARE_DIR / "main.py").read_text()
    looks: list[Look] = []
    with tempfile.TemporaryDirectory(prefix="citynode-heap32-") as tmp:
        fw = firmware_with(
            Path(tmp) / "fw", {"heap32probe.py": PROBE_SOURCE, "main.py": "import heap32probe\n" + main}
        )
        b = EmulatedBoard(
            board,
            app,
            flash_dir=Path(tmp) / "flash",
            config=dict(sc.config),
            world=sc.world,
            start=sc.start,
            heap_kb=PROBE_KB,
            mode=heap.MODE,
            firmware_dir=fw,
        )
        state = {"read": 0, "boot": 0, "pid": None}

        def on_look(msg):
            it = b._it
            if state["pid"] != it.proc.pid:
                state.update(pid=it.proc.pid, read=0, boot=state["boot"] + 1)
            it.stdio.seek(state["read"])
            text = it.stdio.read().decode(errors="replace")
            state["read"] = it.stdio.tell()
            it.stdio.seek(0, os.SEEK_END)
            looks.append(look(it.proc.pid, text, msg.get("at", "?"), state["boot"]))
            return {}

        b.handlers["heap32"] = on_look
        try:
            if sc.network:
                attach_network(b)
            r = b.run(hours=sc.hours, wakes=sc.wakes)
        finally:
            b.close()
    if r.halted:
        raise RuntimeError(f"{app} on {board}: the probe run halted: {r.halted.strip()[-300:]}")
    return looks


@dataclass
class Mix:
    """The firmware's live heap at its high-water mark (the look where it held the most, less its boot's
    baseline), in both widths."""

    peak_64: int
    peak_32: int
    at: str
    looks: int

    @property
    def ratio(self) -> float:
        return self.peak_32 / self.peak_64


def mix(looks: list[Look]) -> Mix:
    base = {lk.boot: lk for lk in looks if lk.at == "base"}
    best = None
    for lk in looks:
        if lk.at == "base" or lk.boot not in base:
            continue
        fw64, fw32 = lk.live_64 - base[lk.boot].live_64, lk.live_32 - base[lk.boot].live_32
        if best is None or fw64 > best.peak_64:
            best = Mix(fw64, fw32, lk.at, len(looks))
    if best is None:
        raise ValueError("no look after a baseline")
    return best


def estimate_kb(need_64_kb: int, ratio: float) -> int:
    """The 32-bit heap (KB) for a measured 64-bit need: the need's pool share x ratio, as a 32-bit heap."""
    return math.ceil(need_64_kb * POOL_SHARE_64 * ratio / POOL_SHARE_32)


def measure_one(pair) -> tuple[str, str, Mix]:
    board, app = pair
    return board, app, mix(probe(board, app))


def measure(todo: list[tuple[str, str]]) -> dict:
    """{app: {board: Mix}} for every (board id, app) in `todo`; in parallel."""
    from concurrent.futures import ProcessPoolExecutor

    out: dict = {}
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        for board, app, m in ex.map(measure_one, todo):
            out.setdefault(app, {})[board] = m
    return {app: dict(sorted(per.items())) for app, per in sorted(out.items())}


ABOUT = (
    "32-bit estimate (hil/heap32.py): the firmware's live heap at its high-water mark in the scenario, each "
    "allocation classed as pointers (half on 32-bit) or byte data (same bytes), in 16 B blocks; ratio = 32-bit / "
    "64-bit bytes; heap_kb = the measured 64-bit figure x ratio, as a 32-bit heap. An estimate, not a measurement "
    "on a board."
)


def record(mixes: dict, figures: dict) -> dict:
    """`figures` (boards/measured/heap.json) with each app's "estimate_32bit": {"about", "ratio": {board},
    "heap_kb": {board}} from `mixes`."""
    out = json.loads(json.dumps(figures))
    for app, per in mixes.items():
        rec = out["apps"][app]
        need = rec["heap_kb"]
        rec["estimate_32bit"] = {
            "about": ABOUT,
            "ratio": {b: round(m.ratio, 3) for b, m in per.items()},
            "peak_kb": {b: [round(m.peak_64 / 1024, 1), round(m.peak_32 / 1024, 1)] for b, m in per.items()},
            "heap_kb": {
                b: None if need.get(b) is None else estimate_kb(need[b], round(m.ratio, 3))
                for b, m in per.items()
            },
        }
    return out
