"""The settings of a node app (a role or a tool app) as config.json or a user gives them, checked against the
schema: the one check `citynode emulate --config`, `citynode provision --set` and `citynode encode-downlink
--node` use.

    parse(app, "red_ppm=900")             -> ("red_ppm", 900)      typed by the setting (SettingError if bad)
    check(app, {"red_ppm": 900, ...})     -> {"red_ppm": 900, ...}  every key known, every value in its range,
                                                                    on its resolution, one of its choices; the
                                                                    role's rules over defaults < base < these

Values may be given typed (JSON) or as text (command lines): text parses by the setting's type (integers, numbers
at the setting's resolution, a choice by name, booleans true/false/1/0). Errors are one line (SettingError, a
ValueError). The settings, ranges, defaults and rules are in fleet/payloads_schema.py; docs/payloads.md lists them.
"""

from __future__ import annotations

from fleet import payloads as P
from fleet import payloads_schema as S


class SettingError(ValueError):
    """A bad setting: the message is one line for the user."""


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def names(app: str) -> list[str]:
    return list(P.SETTINGS.get(app, {}))


def _field(app: str, key: str) -> dict:
    f = P.SETTINGS.get(app, {}).get(key)
    if f is not None:
        return f
    if app in P.MESSAGES and key in P.one_shots(app):
        raise SettingError(
            f"{key} is a one-shot action, not a setting: send it by downlink (citynode encode-downlink)"
        )
    raise SettingError(f"{app} has no setting {key!r} (settings: {', '.join(names(app)) or 'none'})")


def _kind(f: dict) -> str:
    return f["parts"][0]["kind"] if f["type"] == "pack" else f["type"]


def parse_value(f: dict, raw: str):
    """Text -> a value of the setting's type (not yet range-checked)."""
    kind, low = _kind(f), raw.strip().lower()
    if kind == "bool":
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise SettingError(f"{f['name']}: expected true or false (or 1/0), got {raw!r}")
    if kind == "enum":
        names_ = f["parts"][0]["arg"]
        if raw.strip() in names_:
            return raw.strip()
        raise SettingError(f"{f['name']}: {raw!r} is not one of {', '.join(names_)}")
    try:
        return int(low, 0)
    except ValueError:
        pass
    try:
        if kind == "num":
            return float(low)
        raise ValueError
    except ValueError:
        what = "a number" if kind == "num" else "an integer (0x.. and 0b.. accepted)"
        raise SettingError(f"{f['name']}: expected {what}, got {raw!r}") from None


def parse(app: str, item: str) -> tuple[str, object]:
    """'red_ppm=900' -> ('red_ppm', 900): the key known to the app, the value typed (range checked by check())."""
    if "=" not in item:
        raise SettingError(f"expected KEY=VALUE, got {item!r}")
    key, raw = (s.strip() for s in item.split("=", 1))
    return key, parse_value(_field(app, key), raw)


def _valid(app: str, key: str, v) -> bool:
    f = P.SETTINGS.get(app, {}).get(key)
    try:
        return f is not None and P.check_value(f, v) == v
    except P.PayloadError:
        return False


def check(
    app: str,
    given: dict,
    base: dict | None = None,
    *,
    rules: bool = True,
    base_is: str = "in the node's config",
) -> dict:
    """The given settings, checked and normalised as the node holds them (a number on its resolution, int when
    that is whole; a choice by name). Values given as text are parsed first. With rules, the role's rules are
    checked over its defaults, then `base` (the settings the node keeps, e.g. its current config.json), then these:
    a rule none of the given settings takes part in is not theirs to break, and is left alone when there is a base.
    """
    out = {}
    for key, v in given.items():
        f = _field(app, key)
        if isinstance(v, str) and _kind(f) != "enum":
            v = parse_value(f, v)
        try:
            out[key] = P.check_value(f, v)
        except P.PayloadError as e:
            raise SettingError(str(e)) from None
    if rules and app in P.MESSAGES:
        kept = {k: v for k, v in (base or {}).items() if _valid(app, k, v)}
        for r in S.ROLES[app].get("rules", ()):
            if base is not None and r["left"] not in out and r["right"] not in out:
                continue
            broken = P.broken_rule(app, out, kept, [r])
            if broken:
                rule, reason, assumed = broken
                from_base = {k: kept[k] for k in (rule["left"], rule["right"]) if k in kept and k not in out}
                msg = str(P.RuleError(rule, reason, assumed, "{} by default"))
                if from_base:
                    pairs = ", ".join(f"{k}={P.fmt(v)}" for k, v in from_base.items())
                    msg += f"; {pairs} {base_is}"
                raise SettingError(msg)
    return out
