"""docs/payloads.md, rendered from the schema (`python -m fleet.payloads_gen` writes it)."""

from __future__ import annotations

from fleet import payloads as P
from fleet import payloads_schema as S

HEADER = """\
# Payloads

<!-- Generated from fleet/payloads_schema.py by `python -m fleet.payloads_gen`: do not edit by hand. -->

Every message of every role, schema version {version}. One schema (`fleet/payloads_schema.py`) drives the node's
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
  wrong type, null, or a value outside its range: then apply nothing. Unknown keys (a newer schema) are ignored.
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
    return "\n".join(out).rstrip() + "\n"
