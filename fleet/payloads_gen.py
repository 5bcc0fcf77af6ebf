"""Generate the files the payload schema drives: the node's per-role tables, each built role's settings
(firmware/apps/<role>/settings.py) and docs/payloads.md.

    python -m fleet.payloads_gen          # rewrite them
    python -m fleet.payloads_gen --check  # exit 1 if any of them is stale

(The JavaScript codec is generated on demand: `citynode codec`.) Tests fail while a generated file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fleet import payloads as P
from fleet import payloads_schema as S

_KIND_CODES = {"uint": 0, "enum": 1, "flags": 2, "bool": 3, "steps": 4}
_OP_CODES = {"<": 0, "<=": 1}
_TYPE_CODES = {"num": 0, "bool": 1, "text": 2, "bytes": 3, "pack": 4}


def _flat(f: dict, consts: dict[tuple, str]) -> list:
    """One field as flat items (see firmware/payload.py); name tuples become shared module constants."""
    t = f["type"]
    if t == "num":
        return [0, f["name"], f["num"], f["den"], f["zero_w"], f["wmin"], f["wmax"]]
    if t == "bool":
        return [1, f["name"]]
    if t in ("text", "bytes"):
        return [_TYPE_CODES[t], f["name"], f["max_len"]]
    items = [4, f.get("sign"), len(f["parts"])]
    for p in f["parts"]:
        arg = None
        if p["kind"] in ("enum", "flags"):
            arg = _Const(consts.setdefault(tuple(p["arg"]), f"_N{len(consts)}"))
        elif p["kind"] == "steps":
            arg = tuple(x for step in p["arg"] for x in step)
        items += [p["name"], p["shift"], p["bits"], _KIND_CODES[p["kind"]], arg]
    return items


class _Const(str):
    def __repr__(self) -> str:
        return str(self)


def _wrap(items: list, indent: str) -> str:
    lines, line = [], indent
    for x in items:
        piece = repr(x) + ", "
        if len(line) + len(piece) > 110:
            lines.append(line.rstrip())
            line = indent
        line += piece
    lines.append(line.rstrip())
    return "\n".join(lines)


def firmware_table(role: str) -> str:
    consts: dict[tuple, str] = {}
    up, down = [], []
    for name, msg in P.MESSAGES[role].items():
        items = [x for f in msg.fields for x in _flat(f, consts)]
        if msg.direction == "up":
            up.append(f"    {name!r}: ({msg.fport}, (\n{_wrap(items, ' ' * 8)}\n    )),")
        else:
            down.append(f"    {msg.fport}: (\n{_wrap(items, ' ' * 8)}\n    ),")
    lines = [
        f"# Payload table of the {role} role: generated from fleet/payloads_schema.py (schema v{S.VERSION})",
        "# by `python -m fleet.payloads_gen`. Do not edit. Layout: firmware/payload.py; messages: docs/payloads.md.",
    ]
    lines += [f"{name} = {names!r}" for names, name in consts.items()]
    lines += ["UP = {", *up, "}", "DOWN = {", *down, "}"]
    rules = S.ROLES[role].get("rules", [])
    if rules:
        # (left, op, right, offset, unless left is 0, reason): checked by payload.check_config on the node
        lines.append("RULES = (")
        for r in rules:
            op = _OP_CODES[r["op"]]
            t = (r["left"], op, r["right"], r["offset"], r["unless_zero"], S.rule_text(r, why=False))
            lines.append(f"    {t!r},")
        lines.append(")")
    return "\n".join(lines) + "\n"


def role_settings(role: str) -> str:
    """apps/<role>/settings.py: the role's defaults and get(node, key), which every module of the role reads its
    settings through. Loaded in most halves of a wake: nothing else goes in it (heap)."""
    items = [f"    {k!r}: {v!r}," for k, v in P.defaults(role, link=False).items()]
    head = (
        f"# The {role} role's settings and their defaults: generated from fleet/payloads_schema.py (schema "
        f"v{S.VERSION})\n# by `python -m fleet.payloads_gen`. Do not edit. Ranges and rules: docs/payloads.md. A value "
        "applied by\n# downlink (in the store) wins over config.json, which wins over these. Every module of the role "
        "reads\n# its settings through get(); node.settings.role_default(node, key) finds them too.\n"
    )
    body = "\n".join(["DEFAULTS = {", *items, "}", "", "", "def get(node, key):"])
    return head + body + "\n    return node.setting(key, DEFAULTS[key])\n"


def outputs(root: Path) -> dict[Path, str]:
    from fleet import payloads_doc, roles

    out = {root / "firmware" / f"payload_{role}.py": firmware_table(role) for role in P.ROLES}
    for role in roles.BUILT:
        out[root / "firmware" / "apps" / role / "settings.py"] = role_settings(role)
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
