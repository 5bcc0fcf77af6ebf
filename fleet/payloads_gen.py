"""Generate the files the payload schema drives: the node's per-role tables and docs/payloads.md.

    python -m fleet.payloads_gen          # rewrite firmware/payload_<role>.py and docs/payloads.md
    python -m fleet.payloads_gen --check  # exit 1 if any of them is stale

(The JavaScript codec is generated on demand: `citynode codec`.) Tests fail while a generated file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fleet import payloads as P
from fleet import payloads_schema as S

_KIND_CODES = {"uint": 0, "enum": 1, "flags": 2, "bool": 3, "steps": 4}
_TYPE_CODES = {"num": 0, "bool": 1, "text": 2, "bytes": 3, "pack": 4}


def _field_tuple(f: dict) -> tuple:
    t = f["type"]
    if t == "num":
        return (f["name"], 0, f["num"], f["den"], f["zero_w"], f["wmin"], f["wmax"])
    if t == "bool":
        return (f["name"], 1)
    if t in ("text", "bytes"):
        return (f["name"], _TYPE_CODES[t], f["max_len"])
    parts = tuple(
        (
            p["name"],
            p["shift"],
            p["bits"],
            _KIND_CODES[p["kind"]],
            tuple(tuple(x) if isinstance(x, (list, tuple)) else x for x in p["arg"]) if p["arg"] else None,
        )
        for p in f["parts"]
    )
    return (f.get("sign"), 4, parts)


def firmware_table(role: str) -> str:
    lines = [
        f"# Payload table of the {role} role: generated from fleet/payloads_schema.py (schema v{S.VERSION})",
        "# by `python -m fleet.payloads_gen`. Do not edit. Read by payload.py; see docs/payloads.md.",
        "UP = {",
    ]
    down = []
    for name, msg in P.MESSAGES[role].items():
        fields = ",\n".join(f"        {_field_tuple(f)!r}" for f in msg.fields)
        if msg.direction == "up":
            lines.append(f"    {name!r}: ({msg.fport}, (\n{fields},\n    )),")
        else:
            down.append(f"    {msg.fport}: (\n{fields},\n    ),")
    lines.append("}")
    lines.append("DOWN = {")
    lines += down
    lines.append("}")
    return "\n".join(lines) + "\n"


def outputs(root: Path) -> dict[Path, str]:
    from fleet import payloads_doc

    out = {root / "firmware" / f"payload_{role}.py": firmware_table(role) for role in P.ROLES}
    out[root / "docs" / "payloads.md"] = payloads_doc.render()
    return out


def stale(root: Path) -> list[Path]:
    return [p for p, text in outputs(root).items() if not p.exists() or p.read_text() != text]


def main(argv: list[str]) -> int:
    from citynode.paths import REPO_ROOT

    if "--check" in argv:
        bad = stale(REPO_ROOT)
        for p in bad:
            print(f"stale: {p.relative_to(REPO_ROOT)} (run python -m fleet.payloads_gen)")
        return 1 if bad else 0
    for p, text in outputs(REPO_ROOT).items():
        if not p.exists() or p.read_text() != text:
            tmp = p.with_suffix(p.suffix + ".tmp")
            tmp.write_text(text)
            tmp.replace(p)
            print(f"wrote {p.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
