"""Payload sizes: the node's own encoder (real MicroPython) on representative readings, the schema's worst cases,
and ours against CayenneLPP, compact JSON and the best vendor frame (fleet/payloads_compare.py, docs/payloads.md).

    python -m bench payloads
"""

from __future__ import annotations

import cbor2
from citynode.base import payload_schema as S

from fleet import payloads as P
from fleet import payloads_compare as C
from hil.mpyrun import run_mpy

_MPY = r"""
import sys, binascii, cbor, payload
while True:
    line = sys.stdin.readline().strip()
    if not line:
        break
    role, kind, values = cbor.loads(binascii.unhexlify(line))
    print(len(payload.encode_uplink(role, kind, values)))
"""

GOALS = [  # (role, message, goal bytes, what the issue compares with)
    ("classair", "periodic", 10, "aim 8; Elsys 13, AM103 14, LPP 14, Nexelec 7"),
    ("parking", "event", 2, "Nwave 1"),
    ("bin", "periodic", 9, "EM310-UDL 10"),
    ("sonometer", "periodic", 16, "WS302: 3 levels in 12"),
    ("greenhouse", "periodic", 14, "EM500-SMTC 14 with fewer fields"),
]


def node_sizes() -> dict[tuple[str, str], int]:
    """Bytes the firmware encoder really produces for each uplink example."""
    ups = [(m.role, m.name) for r in P.MESSAGES.values() for m in r.values() if m.direction == "up"]
    lines = [cbor2.dumps([r, n, C.EXAMPLES[(r, n)]]).hex() for r, n in ups]
    out = run_mpy(_MPY, stdin=("\n".join(lines) + "\n").encode()).split()
    return {k: int(v) for k, v in zip(ups, out, strict=True)}


def run():
    sizes = node_sizes()
    rows = []
    for role, name, goal, ref in GOALS:
        typical = sizes[(role, name)]
        worst = P.worst_case_size(P.message(role, name))
        rows.append(
            (
                f"{role} {name}: typical / worst case ({ref})",
                f"{typical} / {worst} B",
                f"<= {goal} B",
                worst <= goal and typical <= goal,
            )
        )
    worst_all = max(P.worst_case_size(m) for r in P.MESSAGES.values() for m in r.values())
    rows.append(
        (
            "largest message, worst case (DR0 with full FOpts)",
            f"{worst_all} B",
            f"<= {S.MAX_BYTES} B",
            worst_all <= S.MAX_BYTES,
        )
    )
    for r in C.rows():
        if r["message"] != "periodic":
            continue
        v = r["vendor"]
        vendor = f", {v[0]} {v[1]}" if v else ""
        rows.append(
            (
                f"{r['role']} periodic: ours / CayenneLPP / JSON{vendor}",
                f"{sizes[(r['role'], 'periodic')]} / {r['lpp']} / {r['json']}{' / ' + str(v[1]) if v else ''} B",
                "< CayenneLPP",
                sizes[(r["role"], "periodic")] < r["lpp"],
            )
        )
    return rows
