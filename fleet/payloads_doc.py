"""docs/payloads.md, rendered from the schema (`python -m fleet.payloads_gen` writes it)."""

from __future__ import annotations

import re

from citynode.base import payload_schema as S

from fleet import payloads as P

HEADER = """\
# Payloads

<!-- Generated from tools/citynode/base/payload_schema.py by `python -m fleet.payloads_gen`: do not edit by hand. -->

Every message of every role, schema version {version}. One schema (`tools/citynode/base/payload_schema.py`) drives the node's
encoder (`firmware/payload.py` with the generated `firmware/payload_<role>.py`), the Python codec
(`fleet/payloads.py`, `citynode decode`, `citynode encode-downlink`), the JavaScript codec for The Things Stack and
ChirpStack (`citynode codec`) and this page.

## Firmware API (MicroPython)

```python
from payload import encode_uplink, decode_downlink, fport, FLAG_SENSOR_FAULT, FLAG_OUT_OF_RANGE, FLAG_LOW_BATTERY

data = encode_uplink("classair", "periodic",
                     {{"co2_ppm": 1127, "temp_c": 21.4, "rh_pct": 45.5, "led": "green", "flags": 0}})
dl = node.link.send(fport("classair", "periodic"), data)   # (fport, bytes) or None
if dl:
    try:
        cfg = decode_downlink("classair", dl[0], dl[1])    # {{"red_ppm": 800, "asc": True, ...}}: keys present only
    except ValueError as e:                                # wrong port, malformed, out of range: apply nothing
        node.log("bad downlink: %s" % e)
```

- `encode_uplink(role, kind, values) -> bytes`, kind `"periodic"`, `"event"` or `"status"`. Values are in the
  units the field names carry. A missing reading or `None` goes as CBOR null and sets `sensor_fault`; a reading
  outside its range is clamped to the range and sets `out_of_range` (both in the message's `flags`, if it has
  one): never wrapped. Enums take the name (`"red"`) or the code; `flags` is an int bit mask
  (`FLAG_SENSOR_FAULT` 1, `FLAG_OUT_OF_RANGE` 2, `FLAG_LOW_BATTERY` 4; role bits from 8, listed below);
  booleans packed in the sign or in bits take any truthy value. Text and bytes longer than their limit are cut.
- `fport(role, kind) -> int`, kind also `"config"` for the downlink port.
- `decode_downlink(role, fport, data) -> dict`: only the keys present (a partial update); numbers in units, enums
  by name, booleans as bool, bit masks as int. Raises `ValueError` (one line) on a wrong port, malformed CBOR, a
  wrong type, null, a value outside its range, a map key that is not an integer (`true`, `false`, `3.0` are
  not the keys 1, 0, 3), or an empty payload or one over 242 bytes: then apply nothing. Unknown integer keys (a
  newer schema) are ignored. `citynode decode` and the JavaScript codec refuse the same frames.
  Suggested: `node.store.set("cfg." + k, v, durable=True)` for each setting so `node.setting(k)` sees it;
  `command`, `calibrate` and `frc_ppm` are one-shot actions, not settings.
- The node imports `payload`, `cbor` and its own role's table only (`payload_<role>`, a few hundred bytes).

## Wire format

- **Uplinks** are CBOR sequences (RFC 8742): each field's CBOR item in order, no array head. **Downlinks** are one
  CBOR map with small integer keys (the field's position in its table below), every key optional.
- CBOR uses the preferred (shortest) serialisation. A number goes as the integer `round((value - zero) / res)`
  (half away from zero): `res` is the sensor's real resolution and `zero` a typical value, so typical readings
  take 1 or 2 bytes (an int from -24 to 23 is 1 byte, -256..255 is 2, -65536..65535 is 3). Decoding:
  `value = wire * res + zero`. No reading is `null`.
- A **pack** is one integer holding several small parts, the first part in the lowest bits. A pack may carry a
  boolean in its sign: true -> `n`, false -> `-1 - n` (CBOR major type 0 or 1, no extra byte).
- **Durations** (`steps`) fit one byte: code 0..59 = minutes, then 5-minute steps to 6 h (code 120), 30-minute
  steps to 48 h (code 204), 6-hour steps; code 255 means 14.75 days or more.
- **FPorts** come in blocks of ten per role: +0 periodic, +1 event, +2 status, +5 configuration downlink. The
  FPort alone names the role and the message, so one codec serves every device.
- **Versions**: appending a field at the end of a message keeps its FPort (older decoders ignore trailing items
  and warn; newer ones accept their absence). Any other change takes a new FPort in the role's block; the old
  message stays in the schema so nodes still in the field keep decoding.
- Every message is at most {max_bytes} bytes in the worst case (checked by the tests), so it fits EU868 DR0 (51 B)
  beside a full FOpts.
- Decoders (Python, JavaScript) return the fields by name, enums by name, flags as a list of names, bytes as hex;
  a value outside its range or an unexpected trailing item is a warning, not an error, on uplinks; on downlinks it
  is an error.

## Settings and rules

Each role's settings are listed after its messages, with their ranges and defaults: the ones a configuration
downlink carries (its key) and the ones only config.json sets. A setting nobody set has its default; a value from
a downlink wins over config.json. The **rules** between settings are checked over all of them, the node's
current ones where a downlink or a command does not give them: by the node before it applies a downlink (it
refuses the whole downlink and logs the broken rule), by `citynode encode-downlink` (which assumes the node has
the defaults unless told its values with `--node KEY=VALUE`) and the JavaScript codec's `encodeDownlink` (defaults)
before one is sent, and by `citynode emulate --config` and `citynode provision --set` for config.json. Built
roles get their defaults on the node from `firmware/apps/<role>/settings.py`, generated from the schema.
"""


def _range(f: dict) -> str:
    if f["type"] == "num":
        step = f"{f['res']} {f['unit']}".strip()
        zero = f", zero {f['zero']}" if f["zero"] else ""
        return f"{f['min']}..{f['max']} {f['unit']} (step {step}{zero})".replace("  ", " ")
    if f["type"] == "bool":
        return "true/false"
    if f["type"] in ("text", "bytes"):
        return f"{f['type']}, at most {f['max_len']} bytes"
    return ""


def _part_desc(p: dict) -> str:
    k = p["kind"]
    if k == "enum":
        return ", ".join(f"{i} {n}" for i, n in enumerate(p["arg"]))
    if k == "flags":
        return ", ".join(f"{1 << i} {n}" for i, n in enumerate(p["arg"]))
    if k == "bool":
        return "0/1"
    if k == "steps":
        return "minutes, 1-byte duration code"
    return f"0..{(1 << p['bits']) - 1}"


def _rows(msg: P.Message) -> list[str]:
    rows = []
    for i, f in enumerate(msg.fields):
        pos = f"key {i}" if msg.direction == "down" else str(i)
        if f["type"] != "pack":
            rows.append(f"| {pos} | `{f['name']}` | {_range(f)} | {f['doc']} |")
            continue
        parts = []
        if f.get("sign"):
            parts.append(f"`{f['sign']}` in the sign (>= 0: true)")
        for p in f["parts"]:
            bits = (
                f"bit {p['shift']}" if p["bits"] == 1 else f"bits {p['shift']}..{p['shift'] + p['bits'] - 1}"
            )
            parts.append(f"`{p['name']}` {bits}: {_part_desc(p)}")
        name = f"`{f['name']}`" if len(f["parts"]) > 1 or f.get("sign") else f"`{f['parts'][0]['name']}`"
        rows.append(
            f"| {pos} | {name} | {'; '.join(parts)} | {f['doc'] or '; '.join(p['doc'] for p in f['parts'] if p['doc'])} |"
        )
    return rows


def _values(f: dict) -> str:
    if f["type"] == "pack":
        p = f["parts"][0]
        return ", ".join(p["arg"]) if p["kind"] == "enum" else _part_desc(p)
    if f["type"] == "num":
        step = f" (step {f['res']})" if f["res"] != 1 else ""
        return f"{f['min']}..{f['max']} {f['unit']}".rstrip() + step
    return _range(f)


def _default(f: dict) -> str:
    d = f.get("default")
    if d is None:
        return "none"
    if isinstance(d, bool):
        return "true" if d else "false"
    return f"{d} {f['unit']}".rstrip() if f["type"] == "num" else str(d)


def settings_section(app: str, keys: dict[str, int], rules: list[dict], one_shots: list[str]) -> list[str]:
    link = {f["name"] for f in S.LINK_SETTINGS}
    out = ["| setting | values | default | set by | meaning |", "|---|---|---|---|---|"]
    for name, f in P.SETTINGS[app].items():
        if name in link:
            continue
        by = f"downlink key {keys[name]}, config.json" if name in keys else "config.json"
        out.append(f"| `{name}` | {_values(f)} | {_default(f)} | {by} | {f['doc']} |")
    out.append("")
    if one_shots:
        out.append(
            f"One-shot actions (a downlink only, no default): {', '.join(f'`{n}`' for n in one_shots)}.\n"
        )
    if rules:
        out.append("Rules:\n")
        out += [f"- {S.rule_text(r)}" for r in rules]
        out.append("")
    if any(n in link for n in P.SETTINGS[app]):
        out.append("And the LoRaWAN link's settings (below).\n")
    return out


def render() -> str:
    from fleet import payloads_compare

    out = [HEADER.format(version=S.VERSION, max_bytes=S.MAX_BYTES)]
    out.append("## Sizes\n")
    out.append(
        "Bytes of application payload for the same reading (LoRaWAN adds 13 B to each); worst case is the "
        "largest frame the message can produce. Generated by `fleet/payloads_compare.py`; "
        "`make bench` checks the goals.\n"
    )
    out.append(payloads_compare.markdown_table())
    for role, spec in S.ROLES.items():
        out.append(f"\n## {role}\n\n{spec['doc']}.\n")
        for name, msg in P.MESSAGES[role].items():
            arrow = "uplink" if msg.direction == "up" else "downlink"
            out.append(
                f"### {role} {name}: FPort {msg.fport}, {arrow}, worst case "
                f"{P.worst_case_size(msg)} B\n\n{msg.doc[:1].upper() + msg.doc[1:]}.\n"
            )
            out.append("| # | field | values | meaning |\n|---|---|---|---|")
            out += _rows(msg)
            out.append("")
        cfg = P.config_message(role)
        keys = {n: i for i, f in enumerate(cfg.fields) for n in P._names(f)}
        out.append(f"### {role} settings\n")
        out += settings_section(role, keys, spec.get("rules", []), P.one_shots(role))
    out.append("\n## Tool apps\n")
    out.append("Firmware apps that are not roles: no payload of the schema, never provisioned as a role.\n")
    for app, spec in S.TOOL_APPS.items():
        out.append(f"### {app}\n\n{spec['doc'][:1].upper() + spec['doc'][1:]}.\n")
        out += settings_section(app, {}, [], [])
    out.append("\n## LoRaWAN link settings\n")
    out.append(
        "Every app on the network (the roles, lorawan_probe) takes these in config.json; the node's MAC reads them.\n"
    )
    out.append("| setting | values | default | meaning |\n|---|---|---|---|")
    for f in map(P._compile_field, S.LINK_SETTINGS):
        out.append(f"| `{f['name']}` | {_values(f)} | {_default(f)} | {f['doc']} |")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).rstrip() + "\n"
