"""The JavaScript payload codec for network servers, generated from the schema (`citynode codec`).

One self-contained ES5 script (no require/import; runs in The Things Stack's goja and ChirpStack v4's QuickJS):
`decodeUplink(input)`, `decodeDownlink(input)`, `encodeDownlink(input)`. It reads exactly what `fleet.payloads`
reads: same data, same warnings, and an error wherever the Python codec raises (tests run both on the same random
frames in Node.js). encodeDownlink refuses a downlink that breaks one of the role's rules between settings, in
the node's words, checking the settings it does not carry at their defaults.

Formats: "tts" returns `{data, warnings, errors}` (errors set = failed) and encodeDownlink `{bytes, fPort, warnings,
errors}`; "chirpstack" returns `{data, warnings}` / `{bytes}` and throws an Error on failure, which ChirpStack
reports as a codec error. The role of a downlink comes from `data.role`, else the device variable `role`
(ChirpStack), else the only role of a codec generated with `--app`.
"""

from __future__ import annotations

import json

from citynode.base import payload_schema as S

from fleet import payloads as P

FORMATS = ("tts", "chirpstack")


def _field(f: dict) -> dict:
    out = {"n": f["name"], "t": f["type"]}
    if f["type"] == "num":
        out.update(
            num=f["num"],
            den=f["den"],
            zw=f["zero_w"],
            wmin=f["wmin"],
            wmax=f["wmax"],
            min=f["min"],
            max=f["max"],
            res=f["res"],
            unit=f["unit"],
        )
    elif f["type"] in ("text", "bytes"):
        out["max_len"] = f["max_len"]
    elif f["type"] == "pack":
        out.update(
            sign=f.get("sign"),
            bits=f["bits"],
            parts=[
                {"n": p["name"], "shift": p["shift"], "bits": p["bits"], "k": p["kind"], "arg": p["arg"]}
                for p in f["parts"]
            ],
        )
    return out


def schema_json(roles: list[str]) -> dict:
    ports = {}
    config = {}
    for role in roles:
        for name, msg in P.MESSAGES[role].items():
            ports[str(msg.fport)] = {
                "role": role,
                "message": name,
                "dir": msg.direction,
                "fields": [_field(f) for f in msg.fields],
            }
            if msg.direction == "down":
                config[role] = msg.fport
    # The rules between settings, and the defaults of the settings they read (what a downlink that does not carry
    # one is checked against: the codec cannot know the node's own).
    rules, defaults = {}, {}
    for role in roles:
        rs = S.ROLES[role].get("rules", [])
        if rs:
            d = P.defaults(role)
            rules[role] = [
                {
                    "l": r["left"],
                    "op": r["op"],
                    "r": r["right"],
                    "off": r["offset"],
                    "uz": r["unless_zero"],
                    "text": S.rule_text(r, why=False),
                    "why": r["doc"],
                }
                for r in rs
            ]
            defaults[role] = {k: d[k] for r in rs for k in (r["left"], r["right"])}
    return {
        "version": S.VERSION,
        "ports": ports,
        "config": config,
        "rules": rules,
        "defaults": defaults,
    }


def generate(fmt: str = "tts", role: str | None = None, built_only: bool = False) -> str:
    """The codec script; every role of the schema, or with built_only those whose firmware exists (what a
    network server meets: `citynode codec` gives that)."""
    from citynode.base import roles as roles_mod

    if fmt not in FORMATS:
        raise P.PayloadError(f"unknown codec format {fmt!r} (formats: {', '.join(FORMATS)})")
    if role is not None and role not in P.MESSAGES:
        raise P.PayloadError(f"unknown role {role!r} (roles: {', '.join(P.ROLES)})")
    roles = [role] if role else list(roles_mod.BUILT if built_only else P.ROLES)
    schema = json.dumps(schema_json(roles), ensure_ascii=False, separators=(",", ":"))
    head = (
        f"// citynode payload codec, schema v{S.VERSION}, format {fmt}"
        f"{', role ' + role if role else ', roles ' + ', '.join(roles)}.\n"
        "// Generated from tools/citynode/base/payload_schema.py by `citynode codec`: do not edit. Documentation: docs/payloads.md\n"
    )
    return (
        head
        + f"var FORMAT = {json.dumps(fmt)};\nvar ROLE = {json.dumps(role)};\nvar SCHEMA = {schema};\n"
        + _JS
    )


_JS = r"""
function CodecError(message) { this.message = message; }
function fail(message) { throw new CodecError(message); }
function isInt(x) { return typeof x === "number"; }   // decoded floats are boxed: {f: value}
function isFloat(x) { return x !== null && typeof x === "object" && "f" in x; }
function isBytes(x) { return x !== null && typeof x === "object" && "b" in x; }
function isMap(x) { return x !== null && typeof x === "object" && "m" in x; }
function pow2(n) { return Math.pow(2, n); }

// ---------------------------------------------------------------- CBOR (RFC 8949), the subset citynode uses
function need(st, k) { if (st.i + k > st.b.length) fail("CBOR data truncated"); }
function uintN(st, k) { need(st, k); var n = 0; for (var j = 0; j < k; j++) n = n * 256 + st.b[st.i++]; return n; }
function halfValue(h) {
  var e = (h >> 10) & 31, m = h & 1023, v;
  if (e === 0) v = m * pow2(-24);
  else if (e === 31) v = m === 0 ? Infinity : NaN;
  else v = (m + 1024) * pow2(e - 25);
  return h & 0x8000 ? -v : v;
}
function floatValue(st, k) {
  if (k === 2) return halfValue(uintN(st, 2));
  if (k === 4) {
    var u = uintN(st, 4), s = u >= 0x80000000 ? -1 : 1, e = Math.floor(u / 0x800000) & 255, m = u % 0x800000;
    if (e === 255) return m === 0 ? s * Infinity : NaN;
    return s * (e === 0 ? m * pow2(-149) : (m + 0x800000) * pow2(e - 150));
  }
  var hi = uintN(st, 4), lo = uintN(st, 4), sg = hi >= 0x80000000 ? -1 : 1, ex = Math.floor(hi / 0x100000) & 2047;
  var mant = (hi % 0x100000) * 4294967296 + lo;
  if (ex === 2047) return mant === 0 ? sg * Infinity : NaN;
  return sg * (ex === 0 ? mant * pow2(-1074) : (mant / 4503599627370496 + 1) * pow2(ex - 1023));
}
function utf8(st, n) {
  var b = st.b, i = st.i, end = i + n, out = "";
  while (i < end) {
    var c = b[i++], cp, more, min;
    if (c < 0x80) { out += String.fromCharCode(c); continue; }
    if (c >= 0xc2 && c < 0xe0) { cp = c & 31; more = 1; min = 0x80; }
    else if (c >= 0xe0 && c < 0xf0) { cp = c & 15; more = 2; min = 0x800; }
    else if (c >= 0xf0 && c < 0xf5) { cp = c & 7; more = 3; min = 0x10000; }
    else fail("CBOR text is not UTF-8");
    if (i + more > end) fail("CBOR text is not UTF-8");
    for (var j = 0; j < more; j++) {
      var d = b[i++];
      if ((d & 0xc0) !== 0x80) fail("CBOR text is not UTF-8");
      cp = cp * 64 + (d & 63);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) fail("CBOR text is not UTF-8");
    if (cp >= 0x10000) { cp -= 0x10000; out += String.fromCharCode(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023)); }
    else out += String.fromCharCode(cp);
  }
  st.i = end;
  return out;
}
function hex(b, from, to) {
  var s = "";
  for (var i = from; i < to; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s;
}
function keyId(k) {
  if (typeof k === "boolean") return "n" + (k ? 1 : 0);
  if (isInt(k)) return "n" + k;
  if (isFloat(k)) return k.f !== k.f ? null : "n" + (k.f === 0 ? 0 : k.f);
  if (typeof k === "string") return "s" + k;
  if (isBytes(k)) return "b" + k.b;
  if (k === null) return "z";
  fail("CBOR map key must be a plain value");
}
function item(st, depth) {
  need(st, 1);
  var ib = st.b[st.i++], major = ib >> 5, ai = ib & 31;
  if (major === 7) {
    if (ai === 20) return false;
    if (ai === 21) return true;
    if (ai === 22) return null;
    if (ai >= 25 && ai <= 27) return {f: floatValue(st, 1 << (ai - 24))};
    fail("CBOR simple value " + ai + " not supported");
  }
  if (ai >= 28) fail("CBOR indefinite length or reserved head");
  if (major === 6) { if (ai >= 24) uintN(st, 1 << (ai - 24)); fail("CBOR tags are not used in citynode payloads"); }
  var n;
  if (ai < 24) n = ai;
  else if (ai === 27) {
    if (major < 2) fail("CBOR integer too large");
    var high = uintN(st, 4);
    n = uintN(st, 4);
    if (high) fail("CBOR data truncated");
  } else n = uintN(st, 1 << (ai - 24));
  if (major === 0) return n;
  if (major === 1) return -1 - n;
  if (major === 2 || major === 3) {
    need(st, n);
    if (major === 3) return utf8(st, n);
    var h = hex(st.b, st.i, st.i + n);
    st.i += n;
    return {b: h};
  }
  if (depth >= 16) fail("CBOR nesting too deep");
  if (n > st.b.length - st.i) fail("CBOR data truncated");
  var j;
  if (major === 4) {
    var arr = [];
    for (j = 0; j < n; j++) arr.push(item(st, depth + 1));
    return arr;
  }
  var pairs = [], seen = {};
  for (j = 0; j < n; j++) {
    var k = item(st, depth + 1), id = keyId(k), v = item(st, depth + 1);
    if (id !== null) {
      if (seen.hasOwnProperty(id)) fail("CBOR map has a duplicate key");
      seen[id] = true;
    }
    pairs.push([k, v]);
  }
  return {m: pairs};
}
function cborItems(bytes) {
  var st = {b: bytes, i: 0}, out = [];
  while (st.i < bytes.length) out.push(item(st, 0));
  return out;
}
function head(out, major, n) {
  var m = major << 5;
  if (n < 24) out.push(m | n);
  else if (n < 256) out.push(m | 24, n);
  else if (n < 65536) out.push(m | 25, n >> 8, n & 255);
  else out.push(m | 26, Math.floor(n / 16777216) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255);
}
function encodeInt(out, v) { if (v >= 0) head(out, 0, v); else head(out, 1, -1 - v); }
function encodeUtf8(out, s) {
  var bytes = [];
  for (var i = 0; i < s.length; i++) {
    var c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      var d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
    }
    if (c < 0x80) bytes.push(c);
    else if (c < 0x800) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else bytes.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return bytes;
}
function utf8Length(s) { return encodeUtf8([], s).length; }

// ---------------------------------------------------------------- fields
function rnd(x) { return x >= 0 ? Math.floor(x + 0.5) : -Math.floor(-x + 0.5); }
function valueOf(f, w) { var n = w * f.num + f.zw; return f.den === 1 ? n : n / f.den; }
function wireOf(f, v) { return rnd((v * f.den - f.zw) / f.num); }
function kindOf(x) {
  if (x === null) return "null";
  if (typeof x === "boolean") return "a boolean";
  if (isInt(x)) return "an integer";
  if (isFloat(x)) return "a float";
  if (typeof x === "string") return "text";
  if (isBytes(x)) return "bytes";
  if (x instanceof Array) return "an array";
  return "a map";
}
function names(f) {
  if (f.t !== "pack") return [f.n];
  var out = f.sign ? [f.sign] : [];
  for (var i = 0; i < f.parts.length; i++) out.push(f.parts[i].n);
  return out;
}
function stepsDecode(table, code) {
  for (var i = table.length - 1; i >= 0; i--) if (code >= table[i][0]) return table[i][1] + (code - table[i][0]) * table[i][2];
  return 0;
}
function decodeField(f, x, out, warnings, strict) {
  var name = f.n, i;
  if (x === null) {
    if (strict) fail(name + ": null is not a value");
    var ns = names(f);
    for (i = 0; i < ns.length; i++) out[ns[i]] = null;
    return;
  }
  if (f.t === "num") {
    if (!isInt(x)) fail(name + ": expected an integer, got " + kindOf(x));
    if (x < f.wmin || x > f.wmax) {
      var msg = name + ": " + String(valueOf(f, x)) + " outside " + String(f.min) + ".." + String(f.max);
      if (strict) fail(msg);
      warnings.push(msg);
    }
    out[name] = valueOf(f, x);
  } else if (f.t === "bool") {
    if (typeof x !== "boolean") fail(name + ": expected a boolean, got " + kindOf(x));
    out[name] = x;
  } else if (f.t === "text" || f.t === "bytes") {
    var isText = f.t === "text";
    if (isText ? typeof x !== "string" : !isBytes(x)) fail(name + ": expected " + (isText ? "text" : "bytes") + ", got " + kindOf(x));
    if ((isText ? utf8Length(x) : x.b.length / 2) > f.max_len) {
      if (strict) fail(name + ": longer than " + f.max_len + " bytes");
      warnings.push(name + ": longer than " + f.max_len + " bytes");
    }
    out[name] = isText ? x : x.b;
  } else {
    if (!isInt(x)) fail(name + ": expected an integer, got " + kindOf(x));
    if (f.sign) {
      out[f.sign] = x >= 0;
      if (x < 0) x = -1 - x;
    } else if (x < 0) fail(name + ": negative value " + x);
    if (Math.floor(x / pow2(f.bits)) > 0) {
      var m2 = name + ": value " + x + " has bits above bit " + (f.bits - 1);
      if (strict) fail(m2);
      warnings.push(m2);
    }
    for (i = 0; i < f.parts.length; i++) {
      var p = f.parts[i], c = Math.floor(x / pow2(p.shift)) % pow2(p.bits);
      if (p.k === "enum") {
        if (c < p.arg.length) out[p.n] = p.arg[c];
        else {
          if (strict) fail(p.n + ": unknown code " + c);
          warnings.push(p.n + ": unknown code " + c);
          out[p.n] = c;
        }
      } else if (p.k === "flags") {
        var fl = [];
        for (var j = 0; j < p.bits; j++) if (Math.floor(c / pow2(j)) % 2) fl.push(p.arg[j]);
        out[p.n] = fl;
      } else if (p.k === "bool") out[p.n] = c === 1;
      else if (p.k === "steps") out[p.n] = stepsDecode(p.arg, c);
      else out[p.n] = c;
    }
  }
}
function findMessage(fPort) {
  if (typeof fPort !== "number" || fPort % 1 !== 0 || fPort < 1 || fPort > 223) fail("FPort " + fPort + " is not an application port (1..223)");
  var msg = SCHEMA.ports[String(fPort)];
  if (!msg) fail("FPort " + fPort + " carries no citynode message");
  return msg;
}
function decodeFrame(bytes, fPort) {
  var msg = findMessage(fPort);
  bytes = bytes || [];
  if (!bytes.length) fail("the payload is empty (every citynode message has at least one byte)");
  if (bytes.length > 242) fail(bytes.length + " bytes: no LoRaWAN frame carries more than 242 bytes");
  var items = cborItems(bytes), data = {role: msg.role, message: msg.message}, warnings = [], i;
  if (msg.dir === "down") {
    if (items.length !== 1 || !isMap(items[0])) fail(msg.role + " " + msg.message + " is one CBOR map");
    var pairs = items[0].m, n = msg.fields.length;
    for (i = 0; i < pairs.length; i++) {
      var k = pairs[i][0];
      // true, false, 3.0 are not the keys 1, 0, 3: refused, as the node and the fleet codec refuse them
      if (!isInt(k)) fail(msg.role + " " + msg.message + ": a map key is not an integer");
      if (k < 0 || k >= n) warnings.push("unknown key " + k + " ignored");
    }
    for (var key = 0; key < n; key++) {
      for (i = 0; i < pairs.length; i++) {
        if (pairs[i][0] === key) { decodeField(msg.fields[key], pairs[i][1], data, warnings, true); break; }
      }
    }
    return {msg: msg, data: data, warnings: warnings};
  }
  for (i = 0; i < items.length && i < msg.fields.length; i++) decodeField(msg.fields[i], items[i], data, warnings, false);
  if (items.length < msg.fields.length) warnings.push("frame ends before " + msg.fields[items.length].n);
  else if (items.length > msg.fields.length) warnings.push((items.length - msg.fields.length) + " items after the last known field ignored");
  return {msg: msg, data: data, warnings: warnings};
}
function roleOf(input, data) {
  var role = data && data.role;
  if (!role && input.variables && input.variables.role) role = input.variables.role;
  if (!role) role = ROLE;
  if (!role) fail("say which role: data.role (or the device variable role)");
  if (!SCHEMA.config.hasOwnProperty(role)) fail("unknown role " + role);
  return role;
}
function encodeConfig(role, values) {
  var msg = SCHEMA.ports[String(SCHEMA.config[role])], fields = msg.fields, known = {}, i, j, key;
  for (i = 0; i < fields.length; i++) { var ns = names(fields[i]); for (j = 0; j < ns.length; j++) known[ns[j]] = true; }
  for (key in values) {
    if (!values.hasOwnProperty(key) || key === "role") continue;
    if (!known.hasOwnProperty(key)) fail(role + " has no setting '" + key + "'");
  }
  var out = [], count = 0, body = [];
  for (i = 0; i < fields.length; i++) {
    var f = fields[i], ns2 = names(f), present = false;
    for (j = 0; j < ns2.length; j++) if (values.hasOwnProperty(ns2[j])) present = true;
    if (!present) continue;
    var v = values[f.n];
    head(body, 0, i);
    count++;
    if (f.t === "num") {
      if (typeof v !== "number" || !isFinite(v)) fail(f.n + ": expected a number");
      if (v < f.min || v > f.max) fail(f.n + ": " + v + " outside " + f.min + ".." + f.max + " " + f.unit);
      var w = wireOf(f, v), back = valueOf(f, w);
      if (back !== v && Math.abs(back - v) > 1e-9 * Math.max(1, Math.abs(v))) fail(f.n + ": " + v + " is not a multiple of " + f.res + " " + f.unit);
      encodeInt(body, w);
    } else if (f.t === "bool") {
      if (typeof v !== "boolean") fail(f.n + ": expected true or false");
      body.push(v ? 0xf5 : 0xf4);
    } else if (f.t === "text") {
      if (typeof v !== "string") fail(f.n + ": expected text");
      var tb = encodeUtf8([], v);
      if (tb.length > f.max_len) fail(f.n + ": expected text of at most " + f.max_len + " bytes");
      head(body, 3, tb.length);
      for (j = 0; j < tb.length; j++) body.push(tb[j]);
    } else if (f.t === "bytes") {
      if (typeof v !== "string" || !/^([0-9a-fA-F]{2})*$/.test(v) || v.length / 2 > f.max_len) fail(f.n + ": expected hex of at most " + f.max_len + " bytes");
      head(body, 2, v.length / 2);
      for (j = 0; j < v.length; j += 2) body.push(parseInt(v.substr(j, 2), 16));
    } else {
      var n = 0;
      for (j = 0; j < f.parts.length; j++) {
        var p = f.parts[j], pv = values[p.n], top = pow2(p.bits) - 1, c;
        if (pv === undefined) pv = null;
        if (p.k === "enum" && typeof pv === "string") {
          c = p.arg.indexOf(pv);
          if (c < 0) fail(p.n + ": '" + pv + "' is not one of " + p.arg.join(", "));
        } else if (p.k === "flags" && pv instanceof Array) {
          c = 0;
          for (var q = 0; q < pv.length; q++) {
            var bit = p.arg.indexOf(pv[q]);
            if (bit < 0) fail(p.n + ": unknown flag " + pv[q]);
            c = c | (1 << bit);
          }
        } else if (p.k === "bool") {
          if (typeof pv !== "boolean") fail(p.n + ": expected true or false");
          c = pv ? 1 : 0;
        } else if (p.k === "steps") {
          c = 0;
          var mins = Math.max(0, Math.floor(pv || 0));
          for (var s = p.arg.length - 1; s >= 0; s--) if (mins >= p.arg[s][1]) { c = Math.min(top, p.arg[s][0] + Math.floor((mins - p.arg[s][1]) / p.arg[s][2])); break; }
        } else {
          if (pv === null) pv = 0;
          if (typeof pv !== "number" || pv % 1 !== 0) fail(p.n + ": expected an integer");
          c = pv;
        }
        if (c < 0 || c > top) fail(p.n + ": " + c + " outside 0.." + top);
        n += c * pow2(p.shift);
      }
      if (f.sign) {
        if (typeof values[f.sign] !== "boolean") fail(f.sign + ": expected true or false");
        if (!values[f.sign]) n = -1 - n;
      }
      encodeInt(body, n);
    }
  }
  if (!count) fail("nothing to send: give at least one " + role + " setting");
  head(out, 5, count);
  var fPort = SCHEMA.config[role], bytes = out.concat(body);
  checkRules(role, decodeFrame(bytes, fPort).data);
  return {fPort: fPort, bytes: bytes};
}
// The role's rules over the settings as the node decodes them, the others at their defaults (the node's own are
// not known here): the node refuses a downlink that breaks one, with the same words (firmware/payload.py).
function checkRules(role, data) {
  var rules = SCHEMA.rules[role] || [], d = SCHEMA.defaults[role];
  for (var i = 0; i < rules.length; i++) {
    var r = rules[i], assumed = [];
    var a = data.hasOwnProperty(r.l) ? data[r.l] : (assumed.push(r.l + "=" + String(d[r.l])), d[r.l]);
    if (r.uz && !a) continue;
    var b = (data.hasOwnProperty(r.r) ? data[r.r] : (assumed.push(r.r + "=" + String(d[r.r])), d[r.r])) + r.off;
    if (r.op === "<" ? a < b : a <= b) continue;
    var text = r.text + " (" + r.l + "=" + String(a) + ", " + r.r + "=" + String(b - r.off) + ")";
    if (r.why) text += ": " + r.why;
    if (assumed.length) text += "; assumed the node's " + assumed.join(", ") + " (the default" + (assumed.length > 1 ? "s" : "") + ")";
    fail(text);
  }
}
function result(fn) {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
    if (FORMAT === "chirpstack") throw new Error(e.message);
    return {errors: [e.message], warnings: []};
  }
}

// ---------------------------------------------------------------- the network server's entry points
function decodeUplink(input) {
  return result(function () {
    var r = decodeFrame(input.bytes, input.fPort);
    if (r.msg.dir !== "up") fail("FPort " + input.fPort + " is a downlink port (" + r.msg.role + " " + r.msg.message + ")");
    return FORMAT === "chirpstack" ? {data: r.data, warnings: r.warnings} : {data: r.data, warnings: r.warnings, errors: []};
  });
}
function decodeDownlink(input) {
  return result(function () {
    var r = decodeFrame(input.bytes, input.fPort);
    if (r.msg.dir !== "down") fail("FPort " + input.fPort + " is an uplink port (" + r.msg.role + " " + r.msg.message + ")");
    return FORMAT === "chirpstack" ? {data: r.data, warnings: r.warnings} : {data: r.data, warnings: r.warnings, errors: []};
  });
}
function encodeDownlink(input) {
  return result(function () {
    var data = input.data || {}, role = roleOf(input, data), r = encodeConfig(role, data);
    return FORMAT === "chirpstack" ? {bytes: r.bytes} : {bytes: r.bytes, fPort: r.fPort, warnings: [], errors: []};
  });
}
"""
