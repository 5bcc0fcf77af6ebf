"""The Python payload codec, driven by `citynode.base.payload_schema` (on cbor2).

    decode(fport, data, role=None)         -> Decoded(role, message, direction, data, warnings)  any FPort
    decode_uplink(fport, data, role=None)  -> Decoded                                          uplinks only
    encode_uplink(role, message, values)   -> bytes   (what the node sends: the firmware encoder's twin)
    encode_downlink(role, values, node=None) -> (fport, bytes)  validated: ranges, then the role's rules over
                                                                  the node's settings (`node`, else defaults)
    decode_downlink(role, fport, data)     -> dict    (what the node accepts)
    check_config(role, new, get)           -> None | the broken rule in words (the node's payload.check_config)
    SETTINGS[app], defaults(app)           every setting of a role or tool app (compiled fields), their defaults

Malformed input raises PayloadError (a ValueError) with one line naming the problem. Decoded values are in the
schema's units, enums by name, flags as a list of names, bytes as hex; wire values outside a field's range or
items after the last known field are warnings, not errors (an uplink is never thrown away for them).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from fractions import Fraction

import cbor2
from citynode.base import payload_schema as S


class PayloadError(ValueError):
    """Bad payload or value: the message is one line for the user."""


# ---------------------------------------------------------------------------------------------------- compiling


@dataclass
class Message:
    role: str
    name: str
    fport: int
    direction: str  # "up" | "down"
    fields: list[dict]
    doc: str = ""
    version: int = S.VERSION


def _compile_field(f: dict) -> dict:
    f = dict(f)
    if f["type"] == "num":
        res = Fraction(str(f["res"]))
        zero = Fraction(str(f["zero"]))
        zw = zero * res.denominator
        if zw.denominator != 1:
            raise ValueError(f"{f['name']}: zero {f['zero']} is not a multiple of 1/{res.denominator}")
        f["num"], f["den"], f["zero_w"] = res.numerator, res.denominator, int(zw)
        f["wmin"] = wire_of(f, f["min"])
        f["wmax"] = wire_of(f, f["max"])
        if value_of(f, f["wmin"]) != f["min"] or value_of(f, f["wmax"]) != f["max"]:
            raise ValueError(f"{f['name']}: range ends are not multiples of the resolution")
    elif f["type"] == "pack":
        shift = 0
        parts = []
        for p in f["parts"]:
            p = dict(p, shift=shift)
            shift += p["bits"]
            if p["kind"] == "enum" and len(p["arg"]) > (1 << p["bits"]):
                raise ValueError(f"{p['name']}: {len(p['arg'])} names do not fit {p['bits']} bits")
            if p["kind"] == "flags" and len(p["arg"]) != p["bits"]:
                raise ValueError(f"{p['name']}: one bit per flag")
            parts.append(p)
        f["parts"] = parts
        f["bits"] = shift
    return f


def _compile() -> tuple[dict, dict]:
    by_role: dict[str, dict[str, Message]] = {}
    by_port: dict[int, Message] = {}
    for role, spec in S.ROLES.items():
        by_role[role] = {}
        for name, m in spec["messages"].items():
            msg = Message(
                role,
                name,
                m["fport"],
                m["dir"],
                [_compile_field(f) for f in m["fields"]],
                m.get("doc")
                or {
                    "status": "daily status",
                    "config": "configuration",
                    "periodic": "periodic measurements",
                }.get(name, ""),
            )
            if not 1 <= msg.fport <= 223:
                raise ValueError(f"{role} {name}: FPort {msg.fport} outside 1..223")
            if msg.fport in by_port:
                raise ValueError(f"FPort {msg.fport} used twice")
            names = [n for f in msg.fields for n in _names(f)]
            if len(set(names)) != len(names):
                raise ValueError(f"{role} {name}: a field name is used twice")
            if msg.direction == "down" and len(msg.fields) > 24:
                raise ValueError(f"{role} {name}: map keys must stay below 24 (one byte)")
            by_role[role][name] = msg
            by_port[msg.fport] = msg
    return by_role, by_port


def _names(f: dict) -> list[str]:
    if f["type"] == "pack":
        return ([f["sign"]] if f.get("sign") else []) + [p["name"] for p in f["parts"]]
    return [f["name"]]


def rnd(x: float) -> int:
    """Round half away from zero: the same in the firmware, here and in the JavaScript codec."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def wire_of(f: dict, v) -> int:
    return rnd((v * f["den"] - f["zero_w"]) / f["num"])


def clamped_wire(f: dict, v) -> tuple[int, bool]:
    """(wire value within the field's range, whether the reading was out of range): never wraps, never raises."""
    x = (v * f["den"] - f["zero_w"]) / f["num"]
    lo, hi = f["wmin"], f["wmax"]
    if x > hi + 1:
        return hi, True
    if x < lo - 1:
        return lo, True
    w = rnd(x)
    if w > hi:
        return hi, True
    if w < lo:
        return lo, True
    return w, False


def fmt(x) -> str:
    """A number as JavaScript's String() writes it (for the ranges our fields have): 20.0 -> '20'."""
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def value_of(f: dict, w: int):
    n = w * f["num"] + f["zero_w"]
    return n if f["den"] == 1 else n / f["den"]


MESSAGES, PORTS = _compile()
ROLES = list(MESSAGES)


def message(role: str, name: str) -> Message:
    if role not in MESSAGES:
        raise PayloadError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    if name not in MESSAGES[role]:
        raise PayloadError(f"{role} has no message {name!r} (messages: {', '.join(MESSAGES[role])})")
    return MESSAGES[role][name]


def config_message(role: str) -> Message:
    return message(role, "config")


def fport(role: str, name: str) -> int:
    return message(role, name).fport


# ----------------------------------------------------------------------------------------------- pack helpers


def steps_encode(table, bits: int, v) -> int:
    top = (1 << bits) - 1
    v = max(0, int(v))
    for c0, v0, step in reversed(table):
        if v >= v0:
            return min(top, c0 + (v - v0) // step)
    return 0


def steps_decode(table, code: int) -> int:
    for c0, v0, step in reversed(table):
        if code >= c0:
            return v0 + (code - c0) * step
    return 0


# ------------------------------------------------------------------------------------------ uplink (node twin)


def encode_uplink(role: str, name: str, values: dict) -> bytes:
    """Exactly what firmware/payload.py sends for these values (clamping and flagging included)."""
    msg = message(role, name)
    extra = 0
    for f in msg.fields:
        if f["type"] == "num":
            v = values.get(f["name"])
            if v is None or v != v:
                extra |= 1
            elif clamped_wire(f, v)[1]:
                extra |= 2
    items = []
    for f in msg.fields:
        t = f["type"]
        v = values.get(f["name"]) if t != "pack" else None
        if t == "num":
            items.append(None if v is None or v != v else clamped_wire(f, v)[0])
        elif t == "bool":
            items.append(None if v is None else bool(v))
        elif t in ("text", "bytes"):
            if v is None:
                items.append(None)
            else:
                data = v.encode() if t == "text" else bytes(v)
                if len(data) > f["max_len"]:
                    cut = f["max_len"]
                    if t == "text":
                        while cut > 0 and (data[cut] & 0xC0) == 0x80:
                            cut -= 1
                    data = data[:cut]
                items.append(data.decode() if t == "text" else data)
        else:
            n, extra = _pack_encode(f, values, extra, strict=False)
            items.append(n)
    return b"".join(cbor2.dumps(x, canonical=True) for x in items)


def _pack_encode(f: dict, values: dict, extra: int, strict: bool) -> tuple[int, int]:
    n = 0
    for p in f["parts"]:
        v = values.get(p["name"])
        top = (1 << p["bits"]) - 1
        k = p["kind"]
        if k == "enum":
            if isinstance(v, str):
                if v not in p["arg"]:
                    raise PayloadError(f"{p['name']}: {v!r} is not one of {', '.join(p['arg'])}")
                c = p["arg"].index(v)
            else:
                c = _int(p, v or 0, strict)
        elif k == "flags":
            if isinstance(v, (list, tuple, set)):
                c = 0
                for nm in v:
                    if nm not in p["arg"]:
                        raise PayloadError(f"{p['name']}: unknown flag {nm!r} (flags: {', '.join(p['arg'])})")
                    c |= 1 << p["arg"].index(nm)
            else:
                c = _int(p, v or 0, strict)
            if p["name"] == "flags":
                c |= extra
            c &= top
        elif k == "bool":
            if strict and not isinstance(v, bool):
                raise PayloadError(f"{p['name']}: expected true or false, got {v!r}")
            c = 1 if v else 0
        elif k == "steps":
            c = steps_encode(p["arg"], p["bits"], v or 0)
        else:
            c = _int(p, v or 0, strict)
        if c > top or c < 0:
            if strict:
                raise PayloadError(f"{p['name']}: {c} outside 0..{top}")
            c = max(0, min(top, c))
            extra |= 2
        n |= c << p["shift"]
    if f.get("sign"):
        if strict and not isinstance(values.get(f["sign"]), bool):
            raise PayloadError(f"{f['sign']}: expected true or false")
        if not values.get(f["sign"]):
            n = -1 - n
    return n, extra


def _int(p: dict, v, strict: bool) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if strict:
            raise PayloadError(f"{p['name']}: expected an integer, got {v!r}")
        return int(v)
    return v


@dataclass
class Decoded:
    role: str
    message: str
    direction: str
    fport: int
    data: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"role": self.role, "message": self.message, **self.data}


class _RejectTags(dict):
    # Our CBOR subset has no tags: make every semantic tag (bignums, dates, shared values...) an error.
    def get(self, key, default=None):
        return _reject_tag

    def __getitem__(self, key):
        return _reject_tag

    def __contains__(self, key):
        return True


def _reject_tag(*_a):
    raise PayloadError("CBOR tags are not used in citynode payloads")


def cbor_items(data: bytes) -> list:
    """The items of a CBOR sequence, refusing what our subset does not use."""
    fp = io.BytesIO(data)
    dec = cbor2.CBORDecoder(
        fp, semantic_decoders=_RejectTags(), allow_indefinite=False, allow_duplicate_keys=False
    )
    items = []
    while fp.tell() < len(data):
        try:
            items.append(dec.decode())
        except cbor2.CBORDecodeEOF:
            raise PayloadError("CBOR data truncated") from None
        except cbor2.CBORDecodeError as e:
            cause = e.__cause__ or e.__context__
            if isinstance(cause, PayloadError):
                raise PayloadError(str(cause)) from None
            raise PayloadError(f"malformed CBOR: {_one_line(e)}") from None
        except (ValueError, TypeError, OverflowError) as e:
            raise PayloadError(f"malformed CBOR: {_one_line(e)}") from None
    for x in items:
        _check_plain(x)
    return items


def _one_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _check_plain(x, depth=0):
    # Integers beyond 32 bits are no citynode field's and would not survive JavaScript's doubles: refused.
    if isinstance(x, int) and not isinstance(x, bool) and not -(2**32) <= x < 2**32:
        raise PayloadError("CBOR integer too large")
    if x is None or isinstance(x, (bool, int, float, bytes, str)):
        return
    if isinstance(x, (list, tuple)) and depth < 16:
        for y in x:
            _check_plain(y, depth + 1)
        return
    if isinstance(x, dict) and depth < 16:
        for k, y in x.items():
            if not (k is None or isinstance(k, (bool, int, float, bytes, str))):
                raise PayloadError("CBOR map key must be a plain value")
            _check_plain(k, depth + 1)
            _check_plain(y, depth + 1)
        return
    raise PayloadError(f"CBOR value of a kind citynode payloads do not use ({type(x).__name__})")


def _kind(x) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "a boolean"
    if isinstance(x, int):
        return "an integer"
    if isinstance(x, float):
        return "a float"
    if isinstance(x, str):
        return "text"
    if isinstance(x, bytes):
        return "bytes"
    if isinstance(x, (list, tuple)):
        return "an array"
    return "a map"


def _decode_field(f: dict, x, out: dict, warnings: list[str], strict: bool) -> None:
    """Wire item -> named values in `out`. strict (downlinks): out of range is an error, null is refused."""
    t = f["type"]
    name = f["name"]
    if x is None:
        if strict:
            raise PayloadError(f"{name}: null is not a value")
        for n in _names(f):
            out[n] = None
        return
    if t == "num":
        if isinstance(x, bool) or not isinstance(x, int):
            raise PayloadError(f"{name}: expected an integer, got {_kind(x)}")
        if not f["wmin"] <= x <= f["wmax"]:
            msg = f"{name}: {fmt(value_of(f, x))} outside {fmt(f['min'])}..{fmt(f['max'])}"
            if strict:
                raise PayloadError(msg)
            warnings.append(msg)
        out[name] = value_of(f, x)
    elif t == "bool":
        if not isinstance(x, bool):
            raise PayloadError(f"{name}: expected a boolean, got {_kind(x)}")
        out[name] = x
    elif t == "text":
        if not isinstance(x, str):
            raise PayloadError(f"{name}: expected text, got {_kind(x)}")
        if len(x.encode()) > f["max_len"]:
            if strict:
                raise PayloadError(f"{name}: longer than {f['max_len']} bytes")
            warnings.append(f"{name}: longer than {f['max_len']} bytes")
        out[name] = x
    elif t == "bytes":
        if not isinstance(x, bytes):
            raise PayloadError(f"{name}: expected bytes, got {_kind(x)}")
        if len(x) > f["max_len"]:
            if strict:
                raise PayloadError(f"{name}: longer than {f['max_len']} bytes")
            warnings.append(f"{name}: longer than {f['max_len']} bytes")
        out[name] = x.hex()
    else:
        if isinstance(x, bool) or not isinstance(x, int):
            raise PayloadError(f"{name}: expected an integer, got {_kind(x)}")
        if f.get("sign"):
            out[f["sign"]] = x >= 0
            if x < 0:
                x = -1 - x
        elif x < 0:
            raise PayloadError(f"{name}: negative value {x}")
        if x >> f["bits"]:
            msg = f"{name}: value {x} has bits above bit {f['bits'] - 1}"
            if strict:
                raise PayloadError(msg)
            warnings.append(msg)
        for p in f["parts"]:
            c = (x >> p["shift"]) & ((1 << p["bits"]) - 1)
            k = p["kind"]
            if k == "enum":
                if c < len(p["arg"]):
                    out[p["name"]] = p["arg"][c]
                else:
                    if strict:
                        raise PayloadError(f"{p['name']}: unknown code {c}")
                    warnings.append(f"{p['name']}: unknown code {c}")
                    out[p["name"]] = c
            elif k == "flags":
                out[p["name"]] = [p["arg"][i] for i in range(p["bits"]) if c >> i & 1]
            elif k == "bool":
                out[p["name"]] = bool(c)
            elif k == "steps":
                out[p["name"]] = steps_decode(p["arg"], c)
            else:
                out[p["name"]] = c


def _find(fport: int, role: str | None) -> Message:
    if isinstance(fport, bool) or not isinstance(fport, int) or not 1 <= fport <= 223:
        raise PayloadError(f"FPort {fport!r} is not an application port (1..223)")
    msg = PORTS.get(fport)
    if msg is None:
        raise PayloadError(f"FPort {fport} carries no citynode message")
    if role is not None and msg.role != role:
        if role not in MESSAGES:
            raise PayloadError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
        raise PayloadError(f"FPort {fport} is {msg.role} {msg.name}, not a {role} message")
    return msg


MAX_FRM_BYTES = 242  # the most a LoRaWAN frame carries (EU868 DR5-7: N = 250 less FHDR and FPort)


def _check_size(data: bytes) -> None:
    if not data:
        raise PayloadError("the payload is empty (every citynode message has at least one byte)")
    if len(data) > MAX_FRM_BYTES:
        raise PayloadError(f"{len(data)} bytes: no LoRaWAN frame carries more than {MAX_FRM_BYTES} bytes")


def decode(fport: int, data: bytes, role: str | None = None) -> Decoded:
    """Decode a frame on any of our FPorts (uplink or downlink)."""
    msg = _find(fport, role)
    _check_size(data)
    if msg.direction == "down":
        return Decoded(msg.role, msg.name, "down", fport, *_decode_down(msg, data))
    items = cbor_items(data)
    out: dict = {}
    warnings: list[str] = []
    for f, x in zip(msg.fields, items, strict=False):
        _decode_field(f, x, out, warnings, strict=False)
    if len(items) < len(msg.fields):
        warnings.append(f"frame ends before {msg.fields[len(items)]['name']}")
    elif len(items) > len(msg.fields):
        warnings.append(f"{len(items) - len(msg.fields)} items after the last known field ignored")
    return Decoded(msg.role, msg.name, "up", fport, out, warnings)


def decode_uplink(fport: int, data: bytes, role: str | None = None) -> Decoded:
    d = decode(fport, data, role)
    if d.direction != "up":
        raise PayloadError(f"FPort {fport} is a downlink port ({d.role} {d.message})")
    return d


def _decode_down(msg: Message, data: bytes) -> tuple[dict, list[str]]:
    items = cbor_items(data)
    if len(items) != 1 or not isinstance(items[0], dict):
        raise PayloadError(f"{msg.role} {msg.name} is one CBOR map")
    out: dict = {}
    warnings: list[str] = []
    m = items[0]
    for k in m:
        if type(k) is not int:  # true, false, 3.0 equal 1, 0, 3 as dict keys: the node refuses them too
            raise PayloadError(f"{msg.role} {msg.name}: map key {k!r} is not an integer")
        if not 0 <= k < len(msg.fields):
            warnings.append(f"unknown key {k} ignored")
    for key, f in enumerate(msg.fields):
        if key in m:
            _decode_field(f, m[key], out, warnings, strict=True)
    return out, warnings


def decode_downlink(role: str, fport: int, data: bytes) -> dict:
    """What the node does with a downlink: the settings present, or PayloadError."""
    msg = _find(fport, role)
    if msg.direction != "down":
        raise PayloadError(f"FPort {fport} is not a downlink port of {role}")
    _check_size(data)
    return _decode_down(msg, data)[0]


def encode_downlink(
    role: str, values: dict, node: dict | None = None, *, rules: bool = True
) -> tuple[int, bytes]:
    """Validated configuration downlink: (fport, bytes). Unknown names or out-of-range values: PayloadError; a
    downlink that would break one of the role's rules: RuleError, checked as the node checks it (on the values it
    decodes, over its other settings: `node`, the ones known, else the role's defaults). rules=False sends it
    anyway (tests: what the node does with it)."""
    msg = config_message(role)
    known = {n: (i, f) for i, f in enumerate(msg.fields) for n in _names(f)}
    for n in values:
        if n not in known:
            raise PayloadError(f"{role} has no setting {n!r} (settings: {', '.join(known)})")
    m = {}
    for key, f in enumerate(msg.fields):
        names = _names(f)
        if not any(n in values for n in names):
            continue
        t = f["type"]
        v = values.get(f["name"])
        if t == "num":
            m[key] = wire_of(f, _check_num(f, v))
        elif t == "bool":
            m[key] = _check_bool(f, v)
        elif t == "text":
            if not isinstance(v, str) or len(v.encode()) > f["max_len"]:
                raise PayloadError(f"{f['name']}: expected text of at most {f['max_len']} bytes")
            m[key] = v
        elif t == "bytes":
            if not isinstance(v, (bytes, bytearray)) or len(v) > f["max_len"]:
                raise PayloadError(f"{f['name']}: expected at most {f['max_len']} bytes")
            m[key] = bytes(v)
        else:
            m[key] = _pack_encode(f, values, 0, strict=True)[0]
    if not m:
        raise PayloadError(f"nothing to send: give at least one {role} setting")
    data = cbor2.dumps(m, canonical=True)
    if rules:
        node = node or {}
        broken = broken_rule(role, _decode_down(msg, data)[0], node)
        if broken:
            r, reason, assumed = broken
            raise RuleError(r, reason, assumed, ASSUMED_NODE)
    return msg.fport, data


def _check_num(f: dict, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise PayloadError(f"{f['name']}: expected a number, got {v!r}")
    if not f["min"] <= v <= f["max"]:
        raise PayloadError(f"{f['name']}: {v} outside {f['min']}..{f['max']} {f['unit']}".rstrip())
    w = wire_of(f, v)
    if value_of(f, w) != v and abs(value_of(f, w) - v) > 1e-9 * max(1, abs(v)):
        raise PayloadError(f"{f['name']}: {v} is not a multiple of {f['res']} {f['unit']}".rstrip())
    return v


def _check_bool(f: dict, v) -> bool:
    if not isinstance(v, bool):
        raise PayloadError(f"{f['name']}: expected true or false, got {v!r}")
    return v


# ------------------------------------------------------------------------------------------ settings and rules


ASSUMED_NODE = "assumed the node's {} (the default{s})"


class RuleError(PayloadError):
    """A set of settings breaks one of the role's rules. `reason` is what the node logs when it refuses the same
    (payload.check_config); the message adds the rule's why and which values were not given but assumed."""

    def __init__(self, rule: dict, reason: str, assumed: dict, assumed_as: str = "{} by default"):
        self.rule, self.reason, self.assumed = rule, reason, assumed
        super().__init__(self.text(assumed_as))

    def text(self, assumed_as: str) -> str:
        """The refusal in one line; assumed_as says how the assumed values were assumed: "{}" takes them
        ("red_ppm=800"), "{s}" is "s" for more than one."""
        text = self.reason + (f": {self.rule['doc']}" if self.rule["doc"] else "")
        if self.assumed:
            pairs = ", ".join(f"{k}={fmt(v)}" for k, v in self.assumed.items())
            text += "; " + assumed_as.format(pairs, s="s" if len(self.assumed) > 1 else "")
        return text


def check_value(f: dict, v):
    """One setting's value, checked against its field (range, resolution, choices) and normalised as the node
    holds it: a number on its resolution (int when the resolution is), an enum by name. PayloadError if bad."""
    t = f["type"]
    if t == "num":
        _check_num(f, v)
        return value_of(f, wire_of(f, v))
    if t == "bool":
        return _check_bool(f, v)
    if t != "pack" or len(f["parts"]) != 1 or f.get("sign"):
        raise PayloadError(f"{f['name']}: not a setting")
    p = f["parts"][0]
    if p["kind"] == "enum" and not isinstance(v, str):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < len(p["arg"]):
            raise PayloadError(f"{p['name']}: {v!r} is not one of {', '.join(p['arg'])}")
        return p["arg"][v]
    _pack_encode(f, {p["name"]: v}, 0, strict=True)
    if p["kind"] == "flags" and isinstance(v, (list, tuple, set)):
        return sum(1 << p["arg"].index(n) for n in set(v))
    return v


def broken_rule(role: str, new: dict, node: dict, rules=None) -> tuple[dict, str, dict] | None:
    """The first of the role's rules (or of `rules`) that `new` (settings as the node decodes them) breaks over the
    node's other settings (`node`, else the role's defaults): (rule, reason as the node says it, {key: default}
    assumed)."""
    d = defaults(role)
    assumed: dict = {}

    def get(k):
        if k in node:
            return node[k]
        assumed[k] = d[k]
        return d[k]

    for r in S.ROLES[role].get("rules", ()) if rules is None else rules:
        assumed.clear()
        why = check_config(role, new, get, [r])
        if why:
            return r, why, dict(assumed)
    return None


def check_config(role: str, new: dict, get, rules=None) -> str | None:
    """None if the settings `new`, over the node's others (get(key)), keep the role's rules; else the broken rule
    in words: exactly firmware/payload.py's check_config, which the node runs on every configuration downlink."""
    for r in S.ROLES[role].get("rules", ()) if rules is None else rules:
        a = new[r["left"]] if r["left"] in new else get(r["left"])
        if r["unless_zero"] and not a:
            continue
        b = (new[r["right"]] if r["right"] in new else get(r["right"])) + r["offset"]
        if not (a < b if r["op"] == "<" else a <= b):
            return f"{S.rule_text(r, why=False)} ({r['left']}={fmt(a)}, {r['right']}={fmt(b - r['offset'])})"
    return None


def _compile_settings() -> dict[str, dict[str, dict]]:
    """{app: {setting: compiled field}} for every role and tool app: the role's config fields that have a default
    (the rest are one-shot actions), its node-only settings, the link's; a tool app's own. Defaults and rules are
    checked here, so a schema mistake fails at import."""
    out: dict[str, dict[str, dict]] = {}
    for app, spec in list(S.ROLES.items()) + list(S.TOOL_APPS.items()):
        fields = []
        if app in S.ROLES:
            fields += [f for f in MESSAGES[app]["config"].fields if f.get("default") is not None]
            fields += [_compile_field(f) for f in spec.get("settings", []) + S.LINK_SETTINGS]
        else:
            fields += [_compile_field(f) for f in spec.get("settings", [])]
        settings: dict[str, dict] = {}
        for f in fields:
            if f["name"] in settings:
                raise ValueError(f"{app}: setting {f['name']} declared twice")
            if f.get("default") is not None:
                try:
                    if check_value(f, f["default"]) != f["default"]:
                        raise PayloadError("not as the node holds it")
                except PayloadError as e:
                    raise ValueError(f"{app}: the default of {f['name']}: {e}") from None
            settings[f["name"]] = f
        for r in spec.get("rules", []):
            for k in (r["left"], r["right"]):
                if k not in settings or settings[k]["type"] != "num" or settings[k].get("default") is None:
                    raise ValueError(f"{app}: rule on {k}: not a number setting with a default")
        out[app] = settings
    return out


SETTINGS = _compile_settings()


def defaults(app: str, link: bool = True) -> dict:
    """Every setting of a role or tool app that has a default -> its default (what the node assumes unset).
    link=False: the app's own, without the LoRaWAN link's (the node's MAC holds those)."""
    skip = () if link else {f["name"] for f in S.LINK_SETTINGS}
    return {
        n: f["default"] for n, f in SETTINGS[app].items() if f.get("default") is not None and n not in skip
    }


def one_shots(role: str) -> list[str]:
    """A role's config fields that are actions, not settings: sent once, never stored (command, frc_ppm, ...)."""
    return [n for f in config_message(role).fields for n in _names(f) if f.get("default") is None]


for _role in S.ROLES:
    _why = check_config(_role, defaults(_role), defaults(_role).get)
    if _why:
        raise ValueError(f"{_role}: its defaults break its rules: {_why}")


# ------------------------------------------------------------------------------------------------ size analysis


def _cbor_len_int(w: int) -> int:
    n = w if w >= 0 else -1 - w
    return 1 if n < 24 else 2 if n < 256 else 3 if n < 65536 else 5 if n < 2**32 else 9


def worst_case_size(msg: Message) -> int:
    """The largest frame this message can produce (every field at its widest encoding)."""
    sizes = []
    for f in msg.fields:
        t = f["type"]
        if t == "num":
            s = max(_cbor_len_int(f["wmin"]), _cbor_len_int(f["wmax"]))
        elif t == "bool":
            s = 1
        elif t in ("text", "bytes"):
            s = _cbor_len_int(f["max_len"]) + f["max_len"]
        else:
            top = (1 << f["bits"]) - 1
            s = _cbor_len_int(-1 - top if f.get("sign") else top)
        sizes.append(s)
    if msg.direction == "down":
        return _cbor_len_int(len(sizes)) + sum(1 + s for s in sizes)  # every key (< 24) present
    return sum(sizes)
