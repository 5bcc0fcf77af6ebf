"""`citynode decode --fport N HEX`: read a citynode payload (uplink or downlink) with names, units and flags."""

from __future__ import annotations

import json

import click

from citynode.cli import role_option


def parse_hex(text: str) -> bytes:
    from citynode.cli import UserError

    cleaned = "".join(text.split()).replace(":", "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise UserError(f"payload is not hex: {text!r}") from None


def _show(value, unit: str) -> str:
    if isinstance(value, list):
        return ", ".join(value) if value else "-"
    if value is None:
        return "null (no reading)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value} {unit}".rstrip()


@click.command()
@click.option(
    "--fport", "-p", type=int, required=True, help="the frame's FPort (it names the role and message)"
)
@role_option("--app", "role", default=None, what="check the frame belongs to this role")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option(
    "--base64", "is_b64", is_flag=True, help="the payload is base64 (as ChirpStack shows it), not hex"
)
@click.argument("payload", nargs=-1, required=True)
def cli(fport, role, as_json, is_b64, payload):
    """Decode a payload given in hex (spaces allowed): fields by name with units, flags spelled out."""
    import base64
    import binascii

    from citynode.base import roles
    from citynode.cli import UserError
    from fleet import payloads as P

    if is_b64:
        try:
            data = base64.b64decode("".join(payload), validate=True)
        except (binascii.Error, ValueError):
            raise UserError(f"payload is not base64: {' '.join(payload)!r}") from None
    else:
        data = parse_hex(" ".join(payload))
    try:
        d = P.decode(fport, data, role)
    except P.PayloadError as e:
        raise UserError(str(e)) from None
    try:
        roles.check(d.role, option=f"FPort {fport} is {d.role}'s:")
    except roles.UnknownRole as e:
        raise UserError(str(e)) from None
    if as_json:
        click.echo(json.dumps({**d.as_dict(), "fport": fport, "warnings": d.warnings}, ensure_ascii=False))
        return
    msg = P.message(d.role, d.message)
    arrow = "uplink" if d.direction == "up" else "downlink"
    click.echo(f"{d.role} {d.message} ({arrow}, FPort {fport}, {len(data)} bytes, schema v{msg.version})")
    info = {}
    for f in msg.fields:
        if f["type"] == "pack":
            if f.get("sign"):
                info[f["sign"]] = ("", f["doc"])
            for p in f["parts"]:
                info[p["name"]] = ("min" if p["kind"] == "steps" else "", p["doc"] or f["doc"])
        else:
            info[f["name"]] = (f.get("unit", ""), f["doc"])
    width = max((len(k) for k in d.data), default=0)
    for k, v in d.data.items():
        unit, doc = info.get(k, ("", ""))
        shown = _show(v, unit)
        click.echo(f"  {k.ljust(width)}  {shown.ljust(14)}  {doc}".rstrip())
    for w in d.warnings:
        click.echo(f"  warning: {w}")
